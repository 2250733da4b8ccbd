"""Speech engines behind one interface, like NVDA's synth drivers: pyttsx3, WAV, silent, spy.

Speaking is two steps so that utterance N+1 can be synthesized while N plays:
`synthesize(text)` starts synthesis and returns a Future of an Utterance, `play(utterance, cancel)`
plays it and returns as soon as `cancel` is set. `speak(text, cancel)` does both.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
import threading
import time
import wave
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from assistant.speech_out import audio_out
from base.audio import MAX_SPEECH_RATE, MIN_SPEECH_RATE
from base.errors import ConfigError, SpeechError

log = logging.getLogger(__name__)

ENGINE_KINDS = ("pyttsx3", "wav", "silent", "spy")
CANCEL_POLL_SECONDS = 0.01
SYNTH_TIMEOUT_SECONDS = 30.0
SYNTH_ATTEMPTS = 2
EMPTY_GRACE_SECONDS = 0.5  # a finished run whose file still holds no audio after this is empty
DEFAULT_SAMPLE_RATE = 22050

# pyttsx3 keeps one engine per driver per process and espeak-ng is a process-wide C library:
# this lock makes sure only one synthesis runs at a time even if two engines exist.
_SYNTH_LOCK = threading.Lock()

T = TypeVar("T")


@dataclass
class Voice:
    """A voice an engine offers; languages are codes like "en-us"."""

    id: str
    name: str
    languages: list[str] = field(default_factory=list)


@dataclass
class Clip:
    """Synthesized speech: float32 mono samples in -1..1."""

    samples: np.ndarray
    sample_rate: int

    @property
    def duration(self) -> float:
        return self.samples.size / self.sample_rate if self.sample_rate else 0.0


@dataclass
class Utterance:
    """A text ready to play; clip is None for engines that make no sound."""

    text: str
    clip: Clip | None = None


def wait_result(future: Future[T], cancel: threading.Event) -> T | None:
    """The future's result, or None (and the future cancelled) as soon as cancel is set."""
    while True:
        if cancel.is_set():
            future.cancel()
            return None
        try:
            return future.result(timeout=CANCEL_POLL_SECONDS)
        except FutureTimeout:
            continue
        except CancelledError:
            return None


def _done(value: T) -> Future[T]:
    future: Future[T] = Future()
    future.set_result(value)
    return future


class TTSEngine(ABC):
    """One speech engine: configure it, synthesize and play utterances, close it."""

    name: str = ""

    @abstractmethod
    def configure(self, *, voice: str | None = None, rate: int | None = None,
                  volume: float | None = None) -> None:
        """Change voice (id, name or language code), rate (words per minute), volume (0..1)."""

    @abstractmethod
    def voices(self) -> list[Voice]:
        """The voices this engine can use."""

    def synthesize(self, text: str) -> Future[Utterance]:
        """Start synthesizing text (in call order) and return the Utterance to come."""
        return _done(Utterance(text))

    @abstractmethod
    def play(self, utterance: Utterance, cancel: threading.Event,
             on_start: Callable[[], None] | None = None) -> None:
        """Play a synthesized utterance; return when done or within ~50 ms of cancel being set.

        on_start is called (from the calling thread) when its first audio starts.
        """

    def speak(self, text: str, cancel: threading.Event) -> None:
        """Synthesize and play text; blocks until spoken or cancelled."""
        utterance = wait_result(self.synthesize(text), cancel)
        if utterance is not None and not cancel.is_set():
            self.play(utterance, cancel)

    @abstractmethod
    def close(self) -> None:
        """Release the engine; calling it twice is harmless."""


def resolve_voice(wanted: str, voices: list[Voice]) -> Voice:
    """Find a voice by id, by name, or by language code ("de", "pt-br"); SpeechError if none."""
    key = wanted.strip().lower()
    for match in (
        lambda v: v.id.lower() == key,
        lambda v: v.name.lower() == key,
        lambda v: key in (lang.lower() for lang in v.languages),
        lambda v: key in (lang.lower().split("-")[0] for lang in v.languages),
        lambda v: v.id.lower().rsplit("/", 1)[-1] == key,
    ):
        found = [v for v in voices if match(v)]
        if found:
            return found[0]
    examples = ", ".join(v.id for v in voices[:5])
    raise SpeechError(f"There is no voice {wanted!r}.",
                      f"Use a voice id or name from the voice list (e.g. {examples}) "
                      "or a language code such as en or de.")


def _wav_complete(path: Path) -> bool:
    """True when `path` is a WAV whose header already counts all the audio the file holds."""
    try:
        with wave.open(str(path), "rb") as wav:
            frames, width, channels = wav.getnframes(), wav.getsampwidth(), wav.getnchannels()
        return frames > 0 and path.stat().st_size >= 44 + frames * width * channels
    except (OSError, wave.Error, EOFError):
        return False


def clip_from_wav(path: Path) -> Clip:
    """Read a PCM WAV file into a mono float32 Clip."""
    with wave.open(str(path), "rb") as wav:
        width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
        raw = wav.readframes(wav.getnframes())
    if width == 1:
        samples = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        samples = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 4:
        samples = np.frombuffer(raw, "<i4").astype(np.float32) / 2147483648.0
    else:
        raise SpeechError(f"The speech engine wrote {8 * width}-bit audio, which is not supported.",
                          "Choose another voice or speech engine.")
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return Clip(np.ascontiguousarray(samples, dtype=np.float32), rate)


def _install_hint() -> str:
    if sys.platform.startswith("linux"):
        return ("Install espeak-ng (e.g. `sudo apt install espeak-ng libespeak-ng1`), "
                "or run with --no-speak.")
    if sys.platform == "darwin":
        return "Reinstall ScreenSight (pyttsx3 needs pyobjc for macOS voices), or use --no-speak."
    return "Reinstall ScreenSight (pyttsx3 needs comtypes for Windows voices), or use --no-speak."


def _quiet_print(*args: object, **kwargs: object) -> None:
    """Replaces print() inside pyttsx3's espeak driver, which prints each saved file to stdout."""
    log.debug("pyttsx3: %s", " ".join(str(a) for a in args))


class Pyttsx3Synth:
    """pyttsx3 used only to synthesize WAV clips, always from its own single worker thread.

    pyttsx3 is not thread-safe and its espeak playback cannot be interrupted, so it never
    plays anything here: every utterance is saved to a WAV file and read back.
    """

    def __init__(self, driver: str | None = None) -> None:
        self._executor: ThreadPoolExecutor | None = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="tts-synth")
        self._dir = Path(tempfile.mkdtemp(prefix="screensight-tts-"))
        self._engine: object | None = None
        self._finished = threading.Event()
        self._voices: list[Voice] | None = None
        self._volume = 1.0
        self._count = 0
        self._espeak = False
        self._token: object = None
        try:
            start = self._executor.submit(self._start, driver)  # type: ignore[union-attr]
            start.result(timeout=SYNTH_TIMEOUT_SECONDS)
        except FutureTimeout as exc:
            self.close(wait=False)
            raise SpeechError("The speech engine did not start.", _install_hint()) from exc
        except SpeechError:
            self.close()
            raise

    def _start(self, driver: str | None) -> None:
        try:
            import pyttsx3

            engine = pyttsx3.init(driver)
        except (ImportError, OSError, RuntimeError, KeyError, ValueError, AttributeError) as exc:
            raise SpeechError(f"The speech engine could not start ({exc}).",
                              _install_hint()) from exc
        espeak_module = sys.modules.get("pyttsx3.drivers.espeak")
        if espeak_module is not None:
            espeak_module.print = _quiet_print  # type: ignore[attr-defined]
        self._espeak = getattr(engine, "driver_name", "") == "espeak"
        self._token = engine.connect("finished-utterance", self._on_finished)
        self._engine = engine
        # pyttsx3 keeps one engine per driver for the whole process, with whatever text and
        # file an earlier user left in it; one real synthesis resets that state and leaves its
        # start-up queue empty, so every later runAndWait waits for its own synthesis.
        self._synthesize("Ready.")

    def _on_finished(self, name: object = None, completed: bool = True) -> None:
        self._finished.set()

    def submit(self, text: str) -> Future[Utterance]:
        """Queue text for synthesis; utterances are made in the order they were asked for."""
        executor = self._executor
        if executor is None:
            raise SpeechError("The speech engine is closed.", "Start speech again.")
        return executor.submit(lambda: Utterance(text, self._synthesize(text)))

    def _synthesize(self, text: str) -> Clip:
        engine = self._engine
        if engine is None:
            raise SpeechError("The speech engine is closed.", "Start speech again.")
        if not any(ch.isalnum() for ch in text):
            return Clip(np.zeros(0, np.float32), DEFAULT_SAMPLE_RATE)
        self._count += 1
        path = self._dir / f"utterance-{self._count}.wav"
        with _SYNTH_LOCK:
            deadline = time.monotonic() + SYNTH_TIMEOUT_SECONDS
            for _attempt in range(SYNTH_ATTEMPTS):
                self._finished.clear()
                engine.save_to_file(text, str(path))
                engine.runAndWait()
                if self._wait_for_audio(path, deadline):
                    break
                # pyttsx3's espeak driver can take a late end-of-speech of an earlier run for
                # this one and write an empty file, then drop this run's audio: say it again.
                log.info("the speech engine wrote no audio; synthesizing again")
                path.unlink(missing_ok=True)
            else:
                raise SpeechError("The speech engine did not produce any audio.",
                                  "Try another voice, or restart ScreenSight.")
        try:
            clip = clip_from_wav(path)
        except (wave.Error, EOFError) as exc:
            raise SpeechError(f"The speech engine wrote a broken audio file ({exc}).",
                              "Try another voice, or restart ScreenSight.") from exc
        finally:
            path.unlink(missing_ok=True)
        if self._volume != 1.0:
            clip.samples = clip.samples * np.float32(self._volume)
        return clip

    def _wait_for_audio(self, path: Path, deadline: float) -> bool:
        """Wait until `path` holds this run's audio: True; False when the run ended without any."""
        ended_empty_at = 0.0
        while True:
            if not self._espeak and path.exists():
                return True  # SAPI5 and NSSS write synchronously and may not report the end
            if self._finished.is_set() and _wav_complete(path):
                return True
            now = time.monotonic()
            if self._finished.is_set() and path.exists():
                ended_empty_at = ended_empty_at or now
                if now - ended_empty_at > EMPTY_GRACE_SECONDS:
                    return False
            if now > deadline:
                raise SpeechError("The speech engine did not produce any audio.",
                                  "Try another voice, or restart ScreenSight.")
            if self._finished.is_set():
                time.sleep(0.005)  # finished, but the file may still be being written
            else:
                self._finished.wait(CANCEL_POLL_SECONDS)

    def configure(self, voice: str | None, rate: int | None, volume: float | None) -> None:
        """Apply settings on the synth thread, after the utterances already queued."""
        executor = self._executor
        if executor is None:
            raise SpeechError("The speech engine is closed.", "Start speech again.")
        executor.submit(self._configure, voice, rate, volume).result()

    def _configure(self, voice: str | None, rate: int | None, volume: float | None) -> None:
        engine = self._engine
        if engine is None:
            return
        if voice:
            chosen = resolve_voice(voice, self._voice_list())
            engine.setProperty("voice", chosen.id)
        if rate is not None:
            if not MIN_SPEECH_RATE <= rate <= MAX_SPEECH_RATE:
                raise SpeechError(f"Speech rate {rate} is out of range.",
                                  f"Use {MIN_SPEECH_RATE} to {MAX_SPEECH_RATE} words per minute.")
            engine.setProperty("rate", int(rate))
        if volume is not None:
            if not 0.0 <= volume <= 1.0:
                raise SpeechError(f"Volume {volume} is out of range.", "Use 0.0 to 1.0.")
            self._volume = float(volume)

    def voices(self) -> list[Voice]:
        executor = self._executor
        if executor is None:
            return []
        return list(executor.submit(self._voice_list).result())

    def _voice_list(self) -> list[Voice]:
        if self._voices is None:
            found = self._engine.getProperty("voices") if self._engine is not None else []
            self._voices = [
                Voice(id=str(v.id), name=str(v.name or v.id),
                      languages=[_language(lang) for lang in (v.languages or [])])
                for v in found
            ]
        return self._voices

    def close(self, wait: bool = True) -> None:
        """Stop the worker thread (queued synthesis is dropped) and remove the temp folder."""
        executor = self._executor
        if executor is None:
            return
        self._executor = None
        executor.submit(self._release)
        executor.shutdown(wait=wait, cancel_futures=True)
        shutil.rmtree(self._dir, ignore_errors=True)

    def _release(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None and self._token is not None:
            engine.disconnect(self._token)


def _language(lang: object) -> str:
    """Voice languages as text: pyttsx3 gives str, or bytes with a leading priority byte."""
    if isinstance(lang, bytes):
        return lang.lstrip(b"\x00\x01\x02\x03\x04\x05").decode("utf-8", errors="ignore")
    return str(lang)


class _SynthEngine(TTSEngine):
    """An engine whose utterances are synthesized by pyttsx3 on its own thread."""

    def __init__(self, driver: str | None = None) -> None:
        self._synth = Pyttsx3Synth(driver)
        self._closed = False

    def configure(self, *, voice: str | None = None, rate: int | None = None,
                  volume: float | None = None) -> None:
        self._synth.configure(voice, rate, volume)

    def voices(self) -> list[Voice]:
        return self._synth.voices()

    def synthesize(self, text: str) -> Future[Utterance]:
        if self._closed:
            raise SpeechError("The speech engine is closed.", "Start speech again.")
        return self._synth.submit(text)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._synth.close()


class Pyttsx3Engine(_SynthEngine):
    """The default: pyttsx3 voices (espeak-ng, SAPI5, NSSS) played through PortAudio."""

    name = "pyttsx3"

    def __init__(self, driver: str | None = None, device: int | str | None = None) -> None:
        super().__init__(driver)
        self._device = device

    def play(self, utterance: Utterance, cancel: threading.Event,
             on_start: Callable[[], None] | None = None) -> None:
        clip = utterance.clip
        if clip is None or clip.samples.size == 0:
            return
        audio_out.play(clip.samples, clip.sample_rate, cancel, on_start, device=self._device)


class WavFileEngine(_SynthEngine):
    """Synthesizes like Pyttsx3Engine but appends all speech to one WAV file (16-bit mono)."""

    name = "wav"

    def __init__(self, path: Path, driver: str | None = None) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._rate: int | None = None
        try:
            self._file = open(self.path, "wb")  # closed in _close_writer
        except OSError as exc:
            raise SpeechError(f"Cannot write the audio file {self.path} ({exc.strerror}).",
                              "Choose a folder you can write to.") from exc
        self._writer: wave.Wave_write | None = wave.open(self._file, "wb")
        self._writer.setnchannels(1)
        self._writer.setsampwidth(2)
        try:
            super().__init__(driver)
        except SpeechError:
            self._close_writer()
            raise

    def play(self, utterance: Utterance, cancel: threading.Event,
             on_start: Callable[[], None] | None = None) -> None:
        clip = utterance.clip
        if clip is None or clip.samples.size == 0 or cancel.is_set():
            return
        with self._lock:
            if self._writer is None:
                raise SpeechError("The audio file is already closed.", "Start speech again.")
            if self._rate is None:
                self._rate = clip.sample_rate
                self._writer.setframerate(self._rate)
            if on_start is not None:
                on_start()
            samples = audio_out.resample(clip.samples, clip.sample_rate, self._rate)
            pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
            try:
                self._writer.writeframes(pcm.tobytes())
            except OSError as exc:
                raise SpeechError(f"Cannot write the audio file {self.path} ({exc.strerror}).",
                                  "Check the free disk space.") from exc

    def _close_writer(self) -> None:
        with self._lock:
            if self._writer is not None:
                if self._rate is None:
                    self._writer.setframerate(DEFAULT_SAMPLE_RATE)
                writer, self._writer = self._writer, None
                failure: OSError | None = None
                for finish in (writer.close, self._file.close):
                    try:
                        finish()
                    except OSError as exc:  # the last bytes could not be written
                        failure = failure or exc
                if failure is not None:
                    raise SpeechError(f"Cannot write the audio file {self.path} ({failure.strerror}).",
                                      "Check the free disk space.") from failure

    def close(self) -> None:
        super().close()
        self._close_writer()


class SilentEngine(TTSEngine):
    """Speaks nothing and returns at once (for --no-speak and text-only output)."""

    name = "silent"

    def configure(self, *, voice: str | None = None, rate: int | None = None,
                  volume: float | None = None) -> None:
        return None

    def voices(self) -> list[Voice]:
        return []

    def play(self, utterance: Utterance, cancel: threading.Event,
             on_start: Callable[[], None] | None = None) -> None:
        return None

    def close(self) -> None:
        return None


@dataclass
class SpokenText:
    """What a SpyEngine was asked to play, and when (time.monotonic)."""

    text: str
    started: float
    finished: float = 0.0
    completed: bool = False


class SpyEngine(TTSEngine):
    """For tests: records every text it plays and when; can pretend speech takes time or fails."""

    name = "spy"

    def __init__(self, seconds_per_char: float = 0.0, fail_on: str | None = None) -> None:
        self.seconds_per_char = seconds_per_char
        self.fail_on = fail_on
        self.spoken: list[SpokenText] = []
        self.settings: dict[str, object] = {}
        self.closed = False
        self._lock = threading.Lock()

    def configure(self, *, voice: str | None = None, rate: int | None = None,
                  volume: float | None = None) -> None:
        given = {"voice": voice, "rate": rate, "volume": volume}
        with self._lock:
            self.settings.update({k: v for k, v in given.items() if v is not None})

    def voices(self) -> list[Voice]:
        return [Voice("spy", "Spy", ["en"])]

    def play(self, utterance: Utterance, cancel: threading.Event,
             on_start: Callable[[], None] | None = None) -> None:
        if self.fail_on is not None and self.fail_on in utterance.text:
            raise SpeechError(f"The spy engine was told to fail on {utterance.text!r}.")
        record = SpokenText(utterance.text, time.monotonic())
        with self._lock:
            self.spoken.append(record)
        if on_start is not None:
            on_start()
        record.completed = not cancel.wait(self.seconds_per_char * len(utterance.text))
        record.finished = time.monotonic()

    def texts(self) -> list[str]:
        with self._lock:
            return [record.text for record in self.spoken]

    def close(self) -> None:
        self.closed = True


def make_tts_engine(kind: str, wav_path: Path | None = None) -> TTSEngine:
    """Build an engine by kind: "pyttsx3", "wav" (needs wav_path), "silent" or "spy"."""
    if kind == "pyttsx3":
        return Pyttsx3Engine()
    if kind == "wav":
        if wav_path is None:
            raise ConfigError("The WAV speech engine needs a file to write.", "Give --wav FILE.")
        return WavFileEngine(wav_path)
    if kind == "silent":
        return SilentEngine()
    if kind == "spy":
        return SpyEngine()
    raise ConfigError(f"Unknown speech engine {kind!r}.", f"Use one of {', '.join(ENGINE_KINDS)}.")


