"""Voice questions through the engine: the image is encoded while the user is still talking."""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import Future

import numpy as np
import pytest
from PIL import Image

from assistant.capture import ImageBackend
from assistant.engine import Engine, EngineListener, Request
from assistant.model_loading import Ready, SpeechModelLoader
from assistant.speech_in.audio_in import Recording


class Listener(EngineListener):
    def __init__(self):
        self.results = []
        self.questions = []

    def on_question(self, request_id, question):
        self.questions.append(question)

    def on_finished(self, result):
        self.results.append(result)


def _spoken_question() -> np.ndarray:
    wav = subprocess.run(["espeak-ng", "--stdout", "what does the red error say"], capture_output=True,
                         check=True).stdout
    samples = np.frombuffer(wav[44:], dtype=np.int16).astype(np.float32) / 32768
    # espeak-ng speaks at 22050 Hz; the recognizer takes 16 kHz
    positions = np.arange(0, len(samples), 22050 / 16000)
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)


@pytest.fixture
def engine_with_voice(tiny_vlm, tiny_moonshine_dir):
    listener = Listener()
    backend = ImageBackend(_busy_screen())
    engine = Engine(Ready(tiny_vlm), capture=lambda: backend, listener=listener,
                    transcriber=SpeechModelLoader(str(tiny_moonshine_dir), threads=1))
    yield engine, listener
    engine.close()


def test_image_is_encoded_while_the_user_talks(engine_with_voice, tiny_vlm):
    engine, listener = engine_with_voice
    audio: Future = Future()
    calls = tiny_vlm.vision_encoder_calls
    engine.submit(Request(mode="ask", target="window", audio=audio, max_new_tokens=4, speak=False))
    deadline = time.monotonic() + 60
    while engine.conversation is None or engine.conversation.context is None:
        assert time.monotonic() < deadline, "the screenshot was not encoded within 60 s"
        time.sleep(0.05)  # polling interval of a wait with a deadline
    pcm = _spoken_question()
    audio.set_result(Recording(pcm=pcm, sample_rate=16000, started_at=0.0, ended_at=1.0, device="test",
                               peak=float(np.abs(pcm).max()), rms=float(np.sqrt(np.mean(pcm**2))),
                               truncated=False))
    assert engine.wait_idle(120)
    (result,) = listener.results
    marks = result.trace.marks
    assert marks["encoded"] < marks["speech_end"] <= marks["transcribed"]
    assert tiny_vlm.vision_encoder_calls == calls + 1
    # the seeded random-weight recognizer turns the question into some (nonsense) words
    assert result.error is None
    assert result.question and listener.questions == [result.question]
    assert result.text


def test_silent_microphone_is_explained(engine_with_voice):
    engine, listener = engine_with_voice
    audio: Future = Future()
    audio.set_result(Recording(pcm=np.zeros(16000, dtype=np.float32), sample_rate=16000, started_at=0.0,
                               ended_at=1.0, device="test", peak=0.0, rms=0.0, truncated=False))
    engine.submit(Request(mode="ask", target="window", audio=audio, speak=False))
    assert engine.wait_idle(60)
    error = listener.results[-1].error
    assert error is not None and "microphone" in error.message.lower()


def test_cancelled_recording_cancels_the_request(engine_with_voice):
    engine, listener = engine_with_voice
    audio: Future = Future()
    engine.submit(Request(mode="ask", target="window", audio=audio, speak=False))
    audio.cancel()
    assert engine.wait_idle(60)
    assert listener.results[-1].cancelled


def _busy_screen() -> Image.Image:
    """Noise: not a flat colour, so the engine really asks the model."""
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (600, 800, 3), dtype=np.uint8))
