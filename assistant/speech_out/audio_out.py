"""Interruptible playback of a mono clip through PortAudio (sounddevice)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import ModuleType

import numpy as np

from base.errors import AudioError

log = logging.getLogger(__name__)

POLL_SECONDS = 0.005  # how often a playing clip looks at its cancel event
_HINT = (
    "Check that a speaker or headphones are connected and not muted. On Linux install "
    "libportaudio2 (and libasound2-plugins for PulseAudio/PipeWire)."
)


def _sounddevice() -> ModuleType:
    """Import sounddevice lazily: a missing PortAudio becomes an AudioError, not an ImportError."""
    try:
        import sounddevice
    except OSError as exc:
        raise AudioError(f"The sound library PortAudio could not be loaded ({exc}).",
                         _HINT) from exc
    return sounddevice


def resample(samples: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """Linear resampling of a mono float32 signal (good enough for speech)."""
    if rate == new_rate or samples.size == 0:
        return samples.astype(np.float32, copy=False)
    count = max(1, round(samples.size * new_rate / rate))
    positions = np.arange(count, dtype=np.float64) * (rate / new_rate)
    return np.interp(positions, np.arange(samples.size), samples).astype(np.float32)


class _Feeder:
    """PortAudio callback that hands out the clip block by block, then stops the stream."""

    def __init__(self, samples: np.ndarray, callback_stop: type[Exception]) -> None:
        self.samples = samples
        self.offset = 0
        self.started = threading.Event()
        self._stop = callback_stop

    def __call__(self, outdata: np.ndarray, frames: int, time: object, status: object) -> None:
        self.started.set()
        chunk = self.samples[self.offset:self.offset + frames]
        outdata[: chunk.size, 0] = chunk
        outdata[chunk.size:, 0] = 0.0
        self.offset += chunk.size
        if self.offset >= self.samples.size:
            raise self._stop


def play(
    samples: np.ndarray,
    sample_rate: int,
    cancel: threading.Event,
    on_start: Callable[[], None] | None = None,
    device: int | str | None = None,
) -> bool:
    """Play mono float32 samples; return True if played to the end, False if cancelled.

    Cancelling aborts the stream, which drops what is buffered, so the sound stops at once.
    on_start is called from this thread when PortAudio asks for the first block.
    """
    if samples.size == 0 or cancel.is_set():
        return not cancel.is_set()
    sd = _sounddevice()
    samples = np.clip(np.asarray(samples, dtype=np.float32).reshape(-1), -1.0, 1.0)
    done = threading.Event()
    try:
        stream, feeder = _open(sd, samples, sample_rate, device, done)
    except sd.PortAudioError as exc:
        raise AudioError(f"Sound could not be played ({exc}).", _HINT) from exc
    announced = False
    try:
        stream.start()
        while not done.wait(POLL_SECONDS):
            if cancel.is_set():
                stream.abort()
                return False
            if not announced and feeder.started.is_set():
                announced = True
                if on_start is not None:
                    on_start()
        if not announced and on_start is not None:
            on_start()
        return True
    except sd.PortAudioError as exc:
        raise AudioError(f"Sound playback failed ({exc}).", _HINT) from exc
    finally:
        stream.close(ignore_errors=True)


def _open(sd: ModuleType, samples: np.ndarray, rate: int, device: int | str | None,
          done: threading.Event) -> tuple[object, _Feeder]:
    """Open an output stream at the clip's rate, or at the device's own rate if it refuses."""
    try:
        feeder = _Feeder(samples, sd.CallbackStop)
        stream = sd.OutputStream(samplerate=rate, channels=1, dtype="float32", device=device,
                                 latency="low", callback=feeder, finished_callback=done.set)
        return stream, feeder
    except sd.PortAudioError:
        info = sd.query_devices(device, "output")
        device_rate = int(info["default_samplerate"])
        if device_rate == rate:
            raise
        log.info("output device refuses %d Hz; resampling to %d Hz", rate, device_rate)
        feeder = _Feeder(resample(samples, rate, device_rate), sd.CallbackStop)
        stream = sd.OutputStream(samplerate=device_rate, channels=1, dtype="float32",
                                 device=device, latency="low", callback=feeder,
                                 finished_callback=done.set)
        return stream, feeder
