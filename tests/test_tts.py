"""Speech engines with the real parts: pyttsx3 + espeak-ng, PortAudio into the PulseAudio null sink."""

from __future__ import annotations

import subprocess
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from assistant.speech_out import audio_out
from assistant.speech_out.tts import (
    Pyttsx3Engine,
    SilentEngine,
    SpyEngine,
    Utterance,
    WavFileEngine,
    clip_from_wav,
    make_tts_engine,
    resolve_voice,
    wait_result,
)
from base.errors import ConfigError, SpeechError

LONG_TEXT = ("This sentence is long on purpose, so that speech is still going on when the test "
             "asks it to stop, and the recording can show that the speaker went quiet. ") * 2
SILENCE_RMS = 0.002
SPEECH_RMS = 0.01


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0


class SinkRecorder:
    """Records the "speaker" null sink's monitor with parec; each block keeps its arrival time."""

    RATE = 16000

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            ["parec", "-d", "speaker.monitor", "--raw", "--format=s16le", f"--rate={self.RATE}",
             "--channels=1", "--latency-msec=20"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        self._blocks: list[tuple[float, np.ndarray]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        while True:
            data = self._proc.stdout.read1(3200)
            if not data:
                return
            block = np.frombuffer(data[: len(data) // 2 * 2], "<i2").astype(np.float32) / 32768
            with self._lock:
                self._blocks.append((time.monotonic(), block))

    def samples(self, after: float = 0.0) -> np.ndarray:
        """Everything recorded that arrived after the monotonic time `after`."""
        with self._lock:
            parts = [block for when, block in self._blocks if when > after]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def wait_for_sound(self, timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if rms(self.samples()) > SPEECH_RMS:
                return True
            time.sleep(0.05)
        return False

    def wait_for_seconds(self, seconds: float, after: float, timeout: float = 15.0) -> np.ndarray:
        """Wait until `seconds` of audio arrived after `after`; return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.samples(after)
            if got.size >= seconds * self.RATE:
                return got
            time.sleep(0.05)
        return self.samples(after)

    def close(self) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=5)
        self._thread.join(timeout=5)


@pytest.fixture
def recorder():
    rec = SinkRecorder()
    yield rec
    rec.close()


@pytest.fixture(scope="module")
def engine():
    eng = Pyttsx3Engine()
    yield eng
    eng.close()


def test_wav_engine_writes_real_speech(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    eng = make_tts_engine("wav", wav_path=path)
    starts: list[str] = []
    try:
        for text in ("Hello from ScreenSight.", "A second sentence follows."):
            utterance = wait_result(eng.synthesize(text), threading.Event())
            eng.play(utterance, threading.Event(), on_start=lambda t=text: starts.append(t))
    finally:
        eng.close()
    clip = clip_from_wav(path)
    assert starts == ["Hello from ScreenSight.", "A second sentence follows."]
    assert 1.5 < clip.duration < 10
    assert rms(clip.samples) > 0.02
    # Speech has pauses and loud parts: not a constant tone, not noise.
    frames = clip.samples[: clip.samples.size // 441 * 441].reshape(-1, 441)
    loudness = np.sqrt(np.mean(frames**2, axis=1))
    assert (loudness < SILENCE_RMS).any() and (loudness > 0.05).any()


def test_wav_file_is_valid_even_when_nothing_was_said(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    WavFileEngine(path).close()
    with wave.open(str(path)) as wav:
        assert wav.getnframes() == 0 and wav.getnchannels() == 1


def test_wav_engine_refuses_a_folder_it_cannot_write(tmp_path: Path) -> None:
    with pytest.raises(SpeechError, match="Cannot write"):
        WavFileEngine(tmp_path / "missing-folder" / "out.wav")


def test_voices_rate_and_volume_change_the_speech(engine: Pyttsx3Engine) -> None:
    voices = engine.voices()
    assert len(voices) > 10
    assert any(lang.startswith("en") for v in voices for lang in v.languages)
    text = "The quick brown fox jumps over the lazy dog."
    never = threading.Event()

    def clip(**settings: object):
        engine.configure(**settings)
        return wait_result(engine.synthesize(text), never).clip

    normal = clip(rate=175, volume=1.0)
    fast = clip(rate=350)
    quiet = clip(rate=175, volume=0.25)
    engine.configure(volume=1.0)
    assert fast.duration < normal.duration * 0.75
    assert rms(quiet.samples) == pytest.approx(rms(normal.samples) * 0.25, rel=0.05)


def test_voice_by_language_code(engine: Pyttsx3Engine) -> None:
    voices = engine.voices()
    german = resolve_voice("de", voices)
    assert "de" in german.languages
    engine.configure(voice="de")
    try:
        german_clip = wait_result(engine.synthesize("Guten Tag."), threading.Event()).clip
        assert rms(german_clip.samples) > SPEECH_RMS
    finally:
        engine.configure(voice="en")


def test_unknown_voice_and_bad_settings_are_clear_errors(engine: Pyttsx3Engine) -> None:
    with pytest.raises(SpeechError, match="no voice 'klingon-xx'"):
        engine.configure(voice="klingon-xx")
    with pytest.raises(SpeechError, match="out of range"):
        engine.configure(rate=5)
    with pytest.raises(SpeechError, match="out of range"):
        engine.configure(volume=2.0)


def test_text_without_words_gives_an_empty_clip(engine: Pyttsx3Engine) -> None:
    utterance = wait_result(engine.synthesize(" ... "), threading.Event())
    assert utterance.clip is not None and utterance.clip.samples.size == 0
    started = []
    engine.play(utterance, threading.Event(), on_start=lambda: started.append(1))
    assert started == []  # returned without opening the sound output: there was nothing to play


def test_pyttsx3_engine_plays_into_the_speaker_sink(engine: Pyttsx3Engine, recorder) -> None:
    started = threading.Event()
    engine.play(wait_result(engine.synthesize("Testing the speaker."), threading.Event()),
                threading.Event(), on_start=started.set)
    assert started.is_set()
    assert recorder.wait_for_sound(), "no sound reached the speaker sink"


def test_stop_silences_the_sink(engine: Pyttsx3Engine, recorder) -> None:
    utterance = wait_result(engine.synthesize(LONG_TEXT), threading.Event())
    assert utterance.clip.duration > 12  # far longer than the test lets it play
    cancel = threading.Event()
    player = threading.Thread(target=engine.play, args=(utterance, cancel))
    player.start()
    assert recorder.wait_for_sound(), "no sound reached the speaker sink"
    cancel.set()
    player.join(timeout=5)
    assert not player.is_alive()
    stopped = time.monotonic()
    after = recorder.wait_for_seconds(1.0, after=stopped + 0.3)
    assert after.size >= 0.9 * SinkRecorder.RATE
    assert rms(after) < SILENCE_RMS


def test_speak_blocks_until_cancelled(engine: Pyttsx3Engine, recorder) -> None:
    cancel = threading.Event()
    speaking = threading.Thread(target=engine.speak, args=(LONG_TEXT, cancel))
    speaking.start()
    assert recorder.wait_for_sound()
    assert speaking.is_alive()  # the text lasts far longer than it took to hear it
    cancel.set()
    speaking.join(timeout=5)
    assert not speaking.is_alive()
    after = recorder.wait_for_seconds(1.0, after=time.monotonic() + 0.3)
    assert rms(after) < SILENCE_RMS


def test_audio_out_resamples_and_reports_start() -> None:
    tone = np.sin(np.linspace(0, 2 * np.pi * 440, 22050)).astype(np.float32)
    resampled = audio_out.resample(tone, 22050, 44100)
    assert resampled.size == 44100 and abs(rms(resampled) - rms(tone)) < 0.01
    started = []
    assert audio_out.play(tone[:2205], 22050, threading.Event(), on_start=lambda: started.append(1))
    assert started == [1]
    cancelled = threading.Event()
    cancelled.set()
    assert audio_out.play(tone, 22050, cancelled) is False


def test_silent_and_spy_engines() -> None:
    silent = make_tts_engine("silent")
    assert isinstance(silent, SilentEngine) and silent.voices() == []
    quiet = wait_result(silent.synthesize("Nothing to hear."), threading.Event())
    assert quiet.text == "Nothing to hear." and quiet.clip is None  # nothing was synthesized
    started = []
    silent.play(quiet, threading.Event(), on_start=lambda: started.append(1))
    assert started == []  # and nothing was played
    spy = make_tts_engine("spy")
    assert isinstance(spy, SpyEngine)
    spy.configure(rate=200, voice="en")
    spy.speak("Recorded.", threading.Event())
    assert spy.texts() == ["Recorded."] and spy.spoken[0].completed
    assert spy.settings == {"rate": 200, "voice": "en"}
    spy.close()
    assert spy.closed


def test_make_engine_errors() -> None:
    with pytest.raises(ConfigError, match="Use one of"):
        make_tts_engine("festival")
    with pytest.raises(ConfigError, match="--wav"):
        make_tts_engine("wav")


def test_a_missing_driver_says_what_to_install() -> None:
    with pytest.raises(SpeechError) as info:
        Pyttsx3Engine(driver="no_such_driver")
    assert info.value.hint


def test_a_closed_engine_refuses_work() -> None:
    eng = Pyttsx3Engine()
    eng.close()
    eng.close()  # twice is harmless: no exception
    with pytest.raises(SpeechError, match="closed"):
        eng.synthesize("Too late.")


def test_wait_result_gives_up_when_cancelled() -> None:
    from concurrent.futures import Future

    never: Future[Utterance] = Future()
    cancel = threading.Event()
    threading.Timer(0.05, cancel.set).start()
    assert wait_result(never, cancel) is None
    assert never.cancelled()
