"""Audio and speech faults: the answer is still shown, the user is told what broke, the app goes on.

Each test states what the user sees and hears. The CLI runs as a subprocess where the fault
must be set up before PortAudio starts (a sound server that is not there) and where the
process must survive it; the engine runs in-process for the rest.
"""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import Future
from pathlib import Path

import pytest
from PIL import Image

from assistant.capture import ImageBackend
from assistant.engine import Engine, EngineListener, Request
from assistant.model_loading import Ready
from assistant.speech_out.speaker import Speaker
from assistant.speech_out.tts import Pyttsx3Engine, SpyEngine
from base.errors import AudioError, SpeechError
from benchmark.fixed_length import FixedLengthAnswers
from tests.helpers import dialog_picture, run_cli

BLACK_MESSAGE = "The screen is black."


_cli = run_cli


@pytest.fixture(scope="module")
def picture(tmp_path_factory) -> Path:
    return dialog_picture(tmp_path_factory.mktemp("faults") / "dialog.png", "Remove the printer?",
                          size=(640, 400))


class Recorder(EngineListener):
    def __init__(self) -> None:
        self.results: list = []
        self.pieces: dict[int, list[str]] = {}

    def on_text(self, request_id: int, piece: str) -> None:
        self.pieces.setdefault(request_id, []).append(piece)

    def on_finished(self, result) -> None:
        self.results.append(result)


@pytest.fixture(scope="module")
def no_sound_server(picture, tiny_vlm_dir):
    """The CLI with speech on, a sound server that is not there, and two follow-up questions."""
    env = os.environ.copy()
    env.pop("PULSE_RUNTIME_PATH", None)
    env["PULSE_SERVER"] = "unix:/nonexistent/screensight-no-pulse"
    return _cli("describe", "--image", str(picture), "--model", str(tiny_vlm_dir), "--json",
                "--max-tokens", "8", "-q", "What does it ask?", "-q", "Is there a button?",
                env=env)


def test_no_output_device_text_is_still_shown_and_the_user_is_told(no_sound_server):
    out = no_sound_server
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)
    assert len(results) == 2  # both questions answered after the first playback failed
    assert all(r["text"] and not r["cancelled"] for r in results)
    assert "speech failed: Sound could not be played" in out.stderr
    assert "Check that a speaker or headphones are connected" in out.stderr


def test_no_output_device_prints_no_traceback(no_sound_server):
    assert "Traceback" not in no_sound_server.stderr


# ------------------------------------------------------------------------------- WAV on a full disk


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_speech_file_on_a_full_disk_is_a_message_not_a_crash(picture, tiny_vlm_dir):
    out = _cli("describe", "--image", str(picture), "--model", str(tiny_vlm_dir), "--wav", "/dev/full",
               "--max-tokens", "8")
    assert out.stdout.strip()  # the answer was shown
    assert "Cannot write the audio file /dev/full" in out.stderr
    assert "Check the free disk space" in out.stderr
    assert "Traceback" not in out.stderr
    assert out.returncode in (0, 1)


# ------------------------------------------------------------------------------- TTS engine faults


def test_speech_engine_that_cannot_start_is_a_clear_error():
    # A driver this platform does not have: what a broken or missing speech engine looks like.
    driver = "espeak" if sys.platform in ("win32", "darwin") else "nsss"
    with pytest.raises(SpeechError) as caught:
        Pyttsx3Engine(driver=driver)
    assert caught.value.message.startswith("The speech engine could not start")
    assert caught.value.hint  # says what to install, or to run with --no-speak


@pytest.fixture
def make_engine(tiny_vlm):
    made = []

    def make(tts, image):
        errors: list[Exception] = []
        listener = Recorder()
        speaker = Speaker(tts, on_error=errors.append)
        backend = ImageBackend(image)
        engine = Engine(Ready(FixedLengthAnswers(tiny_vlm)), capture=lambda: backend, speaker=speaker,
                        listener=listener)
        made.append((engine, speaker))
        return engine, speaker, listener, errors, backend

    yield make
    for engine, speaker in made:
        engine.close()
        speaker.close()


def test_speech_failing_mid_answer_reports_once_and_delivers_the_text(make_engine, picture):
    spy = SpyEngine(fail_on="black")
    engine, speaker, listener, errors, _ = make_engine(spy, Image.new("RGB", (800, 600), "black"))
    engine.submit(Request(mode="describe", target="screen"))
    assert engine.wait_idle(60) and speaker.wait_idle(30)
    (result,) = listener.results
    assert result.error is None and result.text.startswith(BLACK_MESSAGE)  # shown in full
    assert len(errors) == 1 and isinstance(errors[0], SpeechError)  # said once, clearly
    spoken = spy.texts()
    assert spoken and all("black" not in s for s in spoken)  # the rest was still spoken
    # The next request is answered and spoken as usual.
    engine.submit(Request(mode="describe", target="file", image_path=picture, max_new_tokens=6))
    assert engine.wait_idle(60) and speaker.wait_idle(30)
    last = listener.results[-1]
    assert last.error is None and last.text
    assert " ".join(spy.texts()[len(spoken):]).split() == last.text.split()
    assert len(errors) == 1


def test_closed_speech_engine_reports_every_utterance_and_text_still_arrives(make_engine, picture):
    tts = Pyttsx3Engine()
    engine, speaker, listener, errors, _ = make_engine(tts, Image.open(picture).convert("RGB"))
    tts.close()  # the real engine dies under the speaker (e.g. espeak-ng crashed)
    for _ in range(2):
        engine.submit(Request(mode="describe", target="screen", max_new_tokens=6))
        assert engine.wait_idle(60) and speaker.wait_idle(30)
    assert [r.error for r in listener.results] == [None, None]
    assert all(r.text for r in listener.results)
    assert errors and all(isinstance(e, SpeechError) for e in errors)
    assert "closed" in errors[0].message


# ------------------------------------------------------------------------------- microphone faults


def test_microphone_failing_during_a_voice_question_is_said_and_the_next_request_works(
        make_engine, picture):
    spy = SpyEngine()
    engine, speaker, listener, errors, _ = make_engine(spy, Image.open(picture).convert("RGB"))
    audio: Future = Future()
    engine.submit(Request(mode="ask", target="screen", audio=audio, max_new_tokens=4))
    audio.set_exception(AudioError("The microphone 'USB headset' stopped working.",
                                   "Check that it is still connected, or choose another microphone."))
    assert engine.wait_idle(60)
    failed = listener.results[-1]
    assert isinstance(failed.error, AudioError) and "stopped working" in failed.error.message
    engine.submit(Request(mode="ask", target=None, question="What does it ask?", max_new_tokens=4))
    assert engine.wait_idle(60) and speaker.wait_idle(30)
    assert listener.results[-1].error is None and listener.results[-1].text
