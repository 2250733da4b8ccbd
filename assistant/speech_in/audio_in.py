"""Microphone input: a sounddevice recorder (16 kHz mono float32) and voice-activity end-pointing.

Callbacks (`on_level`) run on PortAudio's audio thread: they must be quick and must not touch Qt
objects (emit a queued signal or put the value on a queue instead).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from base.audio import SAMPLE_RATE
from base.errors import AudioError

log = logging.getLogger(__name__)

LEVEL_INTERVAL = 0.05  # seconds of audio per on_level call (20 meter updates a second)
# The input buffer, in seconds. A PulseAudio null sink's monitor (and so the tests' microphone)
# loses the first quarter of it of every sound that starts playing into the sink (measured with
# a 1 s noise burst: 70 ms lost at 0.3 s, 20 ms at 0.1 s, 10 ms at 0.05 s); smaller buffers mean
# more callbacks (40 a second at 0.1 s) and less time for the audio thread to get the GIL.
INPUT_LATENCY = 0.1
LIVE_DELAY = 0.15  # a block taken at most this long ago: the microphone delivers in real time

_CHECK_HINT = (
    "Check that the microphone is connected and not used by another program, and that "
    "ScreenSight is allowed to use the microphone (system privacy settings)."
)

_LOST_HINT = "Check that it is still connected, or choose another microphone in Settings."


@dataclass
class Recording:
    """Audio captured from the microphone, as 16 kHz mono float32 samples in [-1, 1]."""

    pcm: np.ndarray
    sample_rate: int = SAMPLE_RATE
    started_at: float = 0.0  # time.monotonic()
    ended_at: float = 0.0
    device: str = ""
    peak: float = 0.0
    rms: float = 0.0
    truncated: bool = False  # the length cap was reached

    @property
    def seconds(self) -> float:
        return len(self.pcm) / self.sample_rate

    @property
    def digital_silence(self) -> bool:
        """Only exact zeros: a muted input, or (macOS) microphone access denied."""
        return self.peak == 0.0


class MicrophoneLostError(AudioError):
    """The microphone went away while recording; `recording` holds what was captured before."""

    def __init__(self, message: str, hint: str, recording: Recording) -> None:
        super().__init__(message, hint)
        self.recording = recording


def _sounddevice() -> Any:
    """The sounddevice module, or an AudioError when PortAudio itself is missing."""
    try:
        import sounddevice
    except OSError as exc:
        raise AudioError(
            f"The audio library PortAudio could not be loaded ({exc}).",
            "Reinstall ScreenSight, or install PortAudio (libportaudio2 on Debian and Ubuntu).",
        ) from exc
    return sounddevice


def _device_id(device: dict[str, Any], hostapis: Any) -> str:
    return f"{hostapis[device['hostapi']]['name']}:{device['name']}"


def list_input_devices(refresh: bool = False) -> list[tuple[str, str]]:
    """(id, name) of every input device; `refresh` re-scans (only while no stream is open)."""
    sd = _sounddevice()
    if refresh:
        # sounddevice's documented way to see devices plugged in after start-up.
        sd._terminate()
        sd._initialize()
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
    except sd.PortAudioError as exc:
        raise AudioError(f"The list of microphones could not be read ({exc}).", _CHECK_HINT) from exc
    return [(_device_id(d, hostapis), d["name"]) for d in devices if d["max_input_channels"] > 0]


def _resolve_device(sd: Any, wanted: str | int | None) -> tuple[int, str]:
    """PortAudio index and name of the wanted input: None = default, index, id, name or part."""
    devices = sd.query_devices()
    hostapis = sd.query_hostapis()
    inputs = [(i, d) for i, d in enumerate(devices) if d["max_input_channels"] > 0]
    if not inputs:
        raise AudioError(
            "No microphone was found.",
            "Connect a microphone, check that the sound system (PulseAudio or PipeWire) is "
            "running and that ScreenSight may use the microphone, then try again.",
        )
    if wanted is None or wanted == "":
        default = sd.default.device[0]
        for i, d in inputs:
            if i == default:
                return i, d["name"]
        return inputs[0][0], inputs[0][1]["name"]
    if isinstance(wanted, int):
        for i, d in inputs:
            if i == wanted:
                return i, d["name"]
    else:
        text = wanted.strip().lower()
        for match in (
            lambda i, d: _device_id(d, hostapis).lower() == text,
            lambda i, d: d["name"].lower() == text,
            lambda i, d: text in d["name"].lower(),
        ):
            for i, d in inputs:
                if match(i, d):
                    return i, d["name"]
    names = ", ".join(d["name"] for _, d in inputs)
    raise AudioError(
        f"The microphone {wanted!r} was not found.",
        f"Choose another microphone in Settings (available: {names}).",
    )


def resample(pcm: np.ndarray, src_rate: int, dst_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited resampling with numpy only (windowed-sinc low-pass, then interpolation)."""
    x = np.asarray(pcm, dtype=np.float64)
    if src_rate == dst_rate or len(x) == 0:
        return x.astype(np.float32)
    if dst_rate < src_rate:
        cutoff = 0.45 * dst_rate / src_rate  # cycles per input sample; input Nyquist is 0.5
        taps = 32 * math.ceil(src_rate / dst_rate) * 2 + 1
        n = np.arange(taps) - (taps - 1) / 2
        kernel = 2 * cutoff * np.sinc(2 * cutoff * n) * np.blackman(taps)
        kernel /= kernel.sum()
        size = 1 << (len(x) + taps - 1).bit_length()
        full = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(kernel, size), size)
        x = full[(taps - 1) // 2 : (taps - 1) // 2 + len(x)]
    count = int(round(len(x) * dst_rate / src_rate))
    positions = np.arange(count) * (src_rate / dst_rate)
    return np.interp(positions, np.arange(len(x)), x).astype(np.float32)


@dataclass
class _Capture:
    """What one start()..stop() collects; shared between the caller and the audio thread."""

    rate: int
    channels: int
    cap_frames: int
    device: str
    started_at: float
    chunks: list[np.ndarray] = field(default_factory=list)
    frames: int = 0
    truncated: bool = False
    stopping: bool = False
    lost: bool = False
    status_errors: int = 0
    last_audio_at: float = 0.0
    level_sum: float = 0.0  # squares of the samples since the last on_level call
    level_count: int = 0
    live_at: int = -1  # frames captured before the first block that arrived in real time
    delay: float = 0.0  # how long before its delivery the latest block was taken (seconds)
    taken_until: float = 0.0  # time.monotonic() when the latest sample captured was taken


class Recorder:
    """Records one utterance at a time from a microphone through sounddevice (PortAudio)."""

    def __init__(self, device: str | int | None = None, max_seconds: float = 30.0,
                 on_level: Callable[[float], None] | None = None,
                 capture_rate: int | None = None) -> None:
        """`on_level` gets the RMS (0..1) of every 50 ms of audio, on the audio thread;
        `capture_rate` forces a device rate (resampled to 16 kHz), otherwise 16 kHz is used
        where the device can."""
        if max_seconds <= 0:
            raise ValueError("max_seconds must be positive")
        self.device = device
        self.max_seconds = max_seconds
        self.on_level = on_level
        self.capture_rate = capture_rate
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)  # notified as each block is stored
        self._stream: Any = None
        self._capture: _Capture | None = None

    # -- public API -------------------------------------------------------------------------

    @property
    def recording(self) -> bool:
        """True from start() until stop() or cancel(), even if the device went away meanwhile."""
        return self._stream is not None

    @property
    def active(self) -> bool:
        """True while audio is still arriving (not lost, not at the length cap)."""
        cap = self._capture
        return self._stream is not None and cap is not None and not (cap.lost or cap.truncated)

    @property
    def error(self) -> AudioError | None:
        """The device-lost error once it happened, while still recording."""
        cap = self._capture
        if cap is not None and cap.lost:
            return AudioError(f"The microphone {cap.device!r} stopped working.", _LOST_HINT)
        return None

    @property
    def captured_seconds(self) -> float:
        cap = self._capture
        return cap.frames / cap.rate if cap is not None else 0.0

    @property
    def live(self) -> bool:
        """True once a block arrived at most LIVE_DELAY after it was taken. Until then the sound
        system may still be handing over a backlog, and drops part of it (measured on a
        PulseAudio null sink: the first block 2.1 s after the stream opened, taken 0.8 s
        before, then 0.5 s of the next second of audio lost while catching up)."""
        cap = self._capture
        return cap is not None and cap.live_at >= 0

    @property
    def taken_until(self) -> float:
        """time.monotonic() when the latest sample captured was taken (0 before the first)."""
        cap = self._capture
        return cap.taken_until if cap is not None else 0.0

    @property
    def started_at(self) -> float:
        """time.monotonic() when the stream was opened (the first sample is taken later)."""
        return self._capture.started_at if self._capture is not None else 0.0

    @property
    def rate(self) -> int:
        """The rate the device delivers (16000 unless resampling)."""
        return self._capture.rate if self._capture is not None else SAMPLE_RATE

    def start(self) -> None:
        """Open the input stream and start recording; AudioError if the microphone cannot."""
        if self._stream is not None:
            raise RuntimeError("already recording")
        sd = _sounddevice()
        try:
            index, name = _resolve_device(sd, self.device)
            rate, channels = self._pick_format(sd, index, name)
        except sd.PortAudioError as exc:
            raise AudioError(f"The microphone could not be opened ({exc}).", _CHECK_HINT) from exc
        cap = _Capture(rate=rate, channels=channels, cap_frames=int(self.max_seconds * rate),
                       device=name, started_at=time.monotonic())
        cap.last_audio_at = cap.started_at
        try:
            stream = sd.InputStream(
                device=index, samplerate=rate, channels=channels, dtype="float32",
                latency=INPUT_LATENCY,
                callback=lambda data, frames, when, status: self._on_audio(sd, cap, data, when,
                                                                           status),
                finished_callback=lambda: self._on_finished(cap),
            )
            stream.start()
        except sd.PortAudioError as exc:
            raise AudioError(
                f"The microphone {name!r} could not be opened ({exc}).", _CHECK_HINT
            ) from exc
        self._capture = cap
        self._stream = stream

    def stop(self, tail_seconds: float = 0.0) -> Recording:
        """Stop and return the audio. Raises MicrophoneLostError (carrying the audio captured
        so far as `.recording`) if the microphone went away during the recording.

        tail_seconds: keep recording that much longer first, so the sound spoken just before the
        call, still on its way through the audio system's buffers, is not cut off."""
        if tail_seconds > 0:
            self._wait_for_frames(self.captured_seconds + tail_seconds, deadline=tail_seconds + 1.0)
        cap = self._close()
        recording = self._build(cap)
        if cap.lost:
            raise _lost_error(cap.device, recording)
        return recording

    def _wait_for_frames(self, seconds: float, deadline: float) -> None:
        """Until `seconds` of audio were captured, the stream ended, or `deadline` seconds passed."""
        cap = self._capture
        if cap is None:
            return
        give_up = time.monotonic() + deadline
        with self._arrived:
            while cap.frames < seconds * cap.rate and not cap.lost and self._stream is not None:
                remaining = give_up - time.monotonic()
                if remaining <= 0:
                    return
                self._arrived.wait(remaining)

    def cancel(self) -> None:
        """Stop and throw the audio away; never raises for a lost device."""
        if self._stream is not None:
            self._close(abort=True)

    def new_blocks(self, since: int) -> tuple[list[np.ndarray], int]:
        """Blocks captured after block number `since` (at `rate`), and the next block number."""
        cap = self._capture
        if cap is None:
            return [], since
        with self._lock:
            blocks = cap.chunks[since:]
            return blocks, since + len(blocks)

    def samples(self) -> np.ndarray:
        """The audio captured so far, at 16 kHz (a copy; the recording goes on)."""
        cap = self._capture
        if cap is None:
            return np.zeros(0, dtype=np.float32)
        with self._lock:
            chunks = list(cap.chunks)
        raw = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
        return resample(raw, cap.rate, SAMPLE_RATE) if cap.rate != SAMPLE_RATE else raw

    # -- internals --------------------------------------------------------------------------

    def _pick_format(self, sd: Any, index: int, name: str) -> tuple[int, int]:
        """16 kHz mono where the device can; else its own rate (resampled) and/or 2 channels."""
        info = sd.query_devices(index)
        rates = [self.capture_rate] if self.capture_rate else [SAMPLE_RATE]
        rates.append(int(info["default_samplerate"]))
        channel_options = [1] + ([2] if info["max_input_channels"] >= 2 else [])
        last: Exception | None = None
        for rate in rates:
            for channels in channel_options:
                try:
                    sd.check_input_settings(device=index, samplerate=rate, channels=channels,
                                            dtype="float32")
                    return rate, channels
                except sd.PortAudioError as exc:
                    last = exc
        raise AudioError(
            f"The microphone {name!r} supports none of the sample rates tried "
            f"({', '.join(str(r) for r in rates)} Hz): {last}.",
            "Choose another microphone in Settings.",
        )

    def _report_levels(self, cap: _Capture, block: np.ndarray, full: bool) -> None:
        """One level per LEVEL_INTERVAL of audio, however large the blocks the device delivers."""
        step = max(1, int(cap.rate * LEVEL_INTERVAL))
        start = 0
        while start < len(block):
            piece = block[start:start + step - cap.level_count]
            start += len(piece)
            cap.level_sum += float(np.dot(piece, piece))
            cap.level_count += len(piece)
            if cap.level_count >= step or (full and start >= len(block)):
                level = math.sqrt(cap.level_sum / cap.level_count)
                cap.level_sum, cap.level_count = 0.0, 0
                try:
                    self.on_level(min(level, 1.0))
                except Exception:  # noqa: BLE001 - a broken meter must not kill the recording
                    log.exception("on_level callback failed")

    def _on_audio(self, sd: Any, cap: _Capture, data: np.ndarray, when: Any, status: Any) -> None:
        """PortAudio thread: store the block, report its level, stop at the length cap."""
        block = data[:, 0].copy() if cap.channels == 1 else data.mean(axis=1).astype(np.float32)
        taken, now = getattr(when, "inputBufferAdcTime", 0.0), getattr(when, "currentTime", 0.0)
        with self._lock:
            if status:
                cap.status_errors += 1
            cap.delay = now - taken if taken and now else 0.0  # 0: the host does not say
            if cap.live_at < 0 and cap.delay <= LIVE_DELAY:
                cap.live_at = cap.frames
            cap.taken_until = time.monotonic() - cap.delay + len(block) / cap.rate
            room = cap.cap_frames - cap.frames
            block = block[: max(room, 0)]
            if len(block):
                cap.chunks.append(block)
                cap.frames += len(block)
                cap.last_audio_at = time.monotonic()
            full = cap.frames >= cap.cap_frames
            if full:
                cap.truncated = True
            self._arrived.notify_all()
        if self.on_level is not None and len(block):
            self._report_levels(cap, block, full)
        if full:
            raise sd.CallbackStop

    def _on_finished(self, cap: _Capture) -> None:
        """PortAudio thread: the stream ended; if nobody asked it to, the device went away."""
        with self._lock:
            if not cap.stopping and not cap.truncated:
                cap.lost = True

    def _close(self, abort: bool = False) -> _Capture:
        stream, cap = self._stream, self._capture
        if stream is None or cap is None:
            raise RuntimeError("not recording")
        sd = _sounddevice()
        with self._lock:
            cap.stopping = True
        try:
            if abort:
                stream.abort()
            else:
                stream.stop()
        except sd.PortAudioError as exc:
            log.warning("stopping the input stream failed: %s", exc)
        finally:
            try:
                stream.close()
            except sd.PortAudioError as exc:
                log.warning("closing the input stream failed: %s", exc)
            self._stream = None
        return cap

    def _build(self, cap: _Capture) -> Recording:
        with self._lock:
            chunks = list(cap.chunks)
        raw = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
        pcm = resample(raw, cap.rate, SAMPLE_RATE) if cap.rate != SAMPLE_RATE else raw
        pcm = np.clip(pcm, -1.0, 1.0).astype(np.float32, copy=False)
        return Recording(
            pcm=pcm,
            sample_rate=SAMPLE_RATE,
            started_at=cap.started_at,
            ended_at=time.monotonic(),
            device=cap.device,
            peak=float(np.max(np.abs(pcm))) if len(pcm) else 0.0,
            rms=float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) if len(pcm) else 0.0,
            truncated=cap.truncated,
        )


def find_tone(pcm: np.ndarray, tone: np.ndarray, threshold: float = 0.35) -> int | None:
    """Where a known tone (same rate) starts in `pcm` (may be negative: cut off at the start),
    by normalised cross-correlation; None when nothing matches `threshold` (0..1) or better."""
    x = np.asarray(pcm, dtype=np.float64)
    t = np.asarray(tone, dtype=np.float64)
    n = len(t)
    tone_norm = float(np.sqrt(np.dot(t, t)))
    if n == 0 or len(x) == 0 or tone_norm == 0.0:
        return None
    padded = np.concatenate([np.zeros(n - 1), x, np.zeros(n - 1)])
    size = 1 << (len(padded) + n - 1).bit_length()
    full = np.fft.irfft(np.fft.rfft(padded, size) * np.conj(np.fft.rfft(t, size)), size)
    dots = full[: len(padded) - n + 1]  # dots[k] = <padded[k:k+n], t>
    energy = np.concatenate([[0.0], np.cumsum(padded * padded)])
    norms = np.sqrt(np.maximum(energy[n:] - energy[:-n], 0.0)) * tone_norm
    scores = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 1e-9)
    best = int(np.argmax(scores))
    if scores[best] < threshold:
        return None
    return best - (n - 1)


def tone_span(pcm: np.ndarray, rate: int, tone: np.ndarray, tone_rate: int,
              search_seconds: float, tail_seconds: float = 0.08) -> tuple[int, int] | None:
    """The samples a known tone (an earcon the microphone heard from the speaker) covers in the
    first `search_seconds` of `pcm`, with a short echo tail; None where it is not there.

    A tone whose playback stuttered (output underruns on a busy machine: measured, the 0.14 s
    start tone spread over 0.23 s in pieces) is taken in whole: the frames next to the best match
    that hold nothing but the tone's frequencies (or digital silence), up to one tone length on
    either side, belong to it. The end may lie beyond `pcm` (audio not captured yet)."""
    template = resample(tone, tone_rate, rate) if tone_rate != rate else np.asarray(tone, np.float32)
    search = np.asarray(pcm, dtype=np.float32)[: int(max(search_seconds, 0.0) * rate)]
    found = find_tone(search, template)
    if found is None:
        return None
    frame = max(1, int(0.01 * rate))
    band = _tone_band(template, frame)
    first, end = max(0, found), found + len(template)
    start = first
    while start - frame >= max(0, found - len(template)):  # backwards from the match
        kind = _frame_kind(pcm[start - frame:start], band)
        if kind == "other":
            break
        start -= frame
        if kind == "tone":
            first = start
    stop = end
    while stop + frame <= min(len(pcm), end + len(template)):  # forwards from the match
        kind = _frame_kind(pcm[stop:stop + frame], band)
        if kind == "other":
            break
        stop += frame
        if kind == "tone":
            end = stop
    return max(0, first - frame), end + int(tail_seconds * rate)


def _tone_band(template: np.ndarray, frame: int) -> np.ndarray:
    """The spectrum bins (of a Hann-windowed `frame`) that hold a tone's energy."""
    window = np.hanning(frame)
    whole = len(template) // frame * frame
    frames = np.asarray(template[:whole], np.float64).reshape(-1, frame) * window
    power = np.sum(np.abs(np.fft.rfft(frames, 4 * frame, axis=1)) ** 2, axis=0)
    return power >= 0.01 * power.max()


def _frame_kind(samples: np.ndarray, band: np.ndarray) -> str:
    """"silence" (digital), "tone" (80 % of the energy in the tone's bins; a piece cut off by an
    underrun still has 85 %) or "other"."""
    x = np.asarray(samples, np.float64)
    if np.sqrt(np.mean(x * x)) < 1e-4:
        return "silence"
    power = np.abs(np.fft.rfft(x * np.hanning(len(x)), 2 * (len(band) - 1))) ** 2
    return "tone" if power[band].sum() >= 0.8 * power.sum() else "other"


def tone_cut_off_at_end(pcm: np.ndarray, rate: int, tone: np.ndarray, tone_rate: int,
                        threshold: float = 0.9, min_seconds: float = 0.002) -> int | None:
    """Where a tone starts that the end of `pcm` cut off (the recording stopped while a sound
    server that fell behind was mixing it in), or None.

    `find_tone` scores a window against the whole tone, so the first 25 ms of it (the soft edge
    and a little more) score below its threshold although they are the tone: here the end of
    `pcm` is matched against the tone's beginning alone, at least `min_seconds` of it."""
    t = resample(tone, tone_rate, rate) if tone_rate != rate else np.asarray(tone, np.float64)
    t = np.asarray(t, np.float64)
    x = np.asarray(pcm, np.float64)
    best, best_score = None, threshold
    for length in range(max(1, int(min_seconds * rate)), min(len(t), len(x)) + 1):
        tail, head = x[len(x) - length:], t[:length]
        norms = float(np.sqrt(np.dot(tail, tail) * np.dot(head, head)))
        score = float(np.dot(tail, head)) / norms if norms > 1e-12 else 0.0
        if score >= best_score:  # the best match: a sine repeats itself every period
            best, best_score = len(x) - length, score
    return best


def mute_tone(recording: Recording, tone: np.ndarray, tone_rate: int, search_seconds: float,
              tail_seconds: float = 0.08) -> tuple[int, int] | None:
    """Zero a known tone (see `tone_span`) in the first `search_seconds` of a recording, and the
    beginning of one that the recording's end cut off (see `tone_cut_off_at_end`); the zeroed
    sample span (from the first zeroed sample to the last), or None. `peak` and `rms` keep
    describing what the microphone delivered."""
    pcm, rate = recording.pcm, recording.sample_rate
    spans = []
    cut_off = tone_cut_off_at_end(pcm, rate, tone, tone_rate)
    if cut_off is not None:  # first: the whole-tone match would place a cut-off tone imprecisely
        spans.append((cut_off, len(pcm)))
        pcm[cut_off:] = 0.0
    before = pcm[:cut_off]  # a view: zeroing it zeroes the recording
    span = tone_span(before, rate, tone, tone_rate, search_seconds, tail_seconds)
    if span is not None:
        spans.append((span[0], min(len(before), span[1])))
        before[spans[-1][0]:spans[-1][1]] = 0.0
    if not spans:
        return None
    return min(first for first, _ in spans), max(last for _, last in spans)


def _lost_error(device: str, recording: Recording) -> MicrophoneLostError:
    return MicrophoneLostError(
        f"The microphone {device!r} stopped working after {recording.seconds:.1f} seconds "
        "of recording.",
        _LOST_HINT,
        recording,
    )


class EndPointer:
    """Energy-gate voice-activity end-pointing: speech heard, then `silence_ms` of quiet.

    A frame is speech when it is louder than both `threshold_db` (dBFS) and the noise floor
    (the quietest frame of the last `floor_ms`) plus `margin_db`. Speech counts as started after
    `min_speech_ms` of speech frames within one utterance (short clicks do not count).
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, silence_ms: float = 800.0,
                 min_speech_ms: float = 150.0, frame_ms: float = 30.0,
                 threshold_db: float = -45.0, margin_db: float = 12.0,
                 floor_ms: float = 3000.0) -> None:
        self.sample_rate = sample_rate
        self.frame = max(1, int(sample_rate * frame_ms / 1000))
        self.threshold_db = threshold_db
        self.margin_db = margin_db
        self._silence_frames = max(1, math.ceil(silence_ms / frame_ms))
        self._speech_frames = max(1, math.ceil(min_speech_ms / frame_ms))
        self._floor_frames = max(1, math.ceil(floor_ms / frame_ms))
        self.reset()

    def reset(self) -> None:
        self._pending = np.zeros(0, dtype=np.float32)
        self._recent: deque[float] = deque(maxlen=self._floor_frames)
        self._speech_run = 0
        self._quiet_run = 0
        self.speech_started = False
        self.done = False
        self.speech_frames = 0

    @property
    def speech_seconds(self) -> float:
        return self.speech_frames * self.frame / self.sample_rate

    def feed(self, block: np.ndarray) -> bool:
        """Add samples; True once speech was heard and then silence lasted `silence_ms`."""
        if self.done:
            return True
        samples = np.asarray(block, dtype=np.float32).reshape(-1)
        data = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        whole = len(data) // self.frame
        self._pending = data[whole * self.frame :].copy()
        if whole == 0:
            return False
        frames = data[: whole * self.frame].astype(np.float64).reshape(whole, self.frame)
        levels = 10 * np.log10(np.mean(frames * frames, axis=1) + 1e-12)
        for level in levels:
            if self._step(float(level)):
                self.done = True
                return True
        return False

    def _step(self, level: float) -> bool:
        self._recent.append(level)
        floor = max(min(self._recent), -90.0)
        if level > max(self.threshold_db, floor + self.margin_db):
            self._speech_run += 1
            self._quiet_run = 0
            if self.speech_started:
                self.speech_frames += 1
            elif self._speech_run >= self._speech_frames:
                self.speech_started = True
                self.speech_frames += self._speech_run
            return False
        self._speech_run = 0
        if self.speech_started:
            self._quiet_run += 1
            return self._quiet_run >= self._silence_frames
        return False


def record_until_silence(recorder: Recorder, endpointer: EndPointer | None = None,
                         no_speech_seconds: float = 8.0, stall_seconds: float = 5.0,
                         cancel: threading.Event | None = None,
                         poll_seconds: float = 0.03) -> Recording | None:
    """Toggle mode: record until speech then silence, the length cap, or `no_speech_seconds`
    of audio without speech. Returns None if `cancel` is set. Raises AudioError if the
    microphone stops sending audio for `stall_seconds`, MicrophoneLostError if it goes away."""
    if not recorder.recording:
        recorder.start()
    pointer = endpointer or EndPointer(sample_rate=recorder.rate)
    if pointer.sample_rate != recorder.rate:
        raise ValueError(f"the EndPointer runs at {pointer.sample_rate} Hz, "
                         f"the microphone at {recorder.rate} Hz")
    seen = 0
    last_new = time.monotonic()
    while True:
        if cancel is not None and cancel.is_set():
            recorder.cancel()
            return None
        blocks, seen_now = recorder.new_blocks(seen)
        if blocks:
            last_new = time.monotonic()
        seen = seen_now
        if any(pointer.feed(block) for block in blocks) or pointer.done:
            break
        if not recorder.active:
            break  # the length cap or a lost device: stop() reports which
        if not pointer.speech_started and recorder.captured_seconds >= no_speech_seconds:
            break
        if time.monotonic() - last_new > stall_seconds:
            recorder.cancel()
            raise AudioError(
                f"The microphone sent no sound for {stall_seconds:.0f} seconds.",
                _CHECK_HINT,
            )
        time.sleep(poll_seconds)
    return recorder.stop()
