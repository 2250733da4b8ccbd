"""Voice questions from the app: push-to-talk with a real microphone path (espeak-ng into the
PulseAudio "mic" null sink, recorded through PortAudio), a tiny random Moonshine recognizer,
the level meter, earcons (also played into the microphone, as a laptop's microphone hears its
speaker), a missing microphone or speech model, and a status line that always ends."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import time
import wave

import numpy as np
import pytest
from PySide6.QtCore import Qt

from assistant.capture import ImageBackend
from assistant.config import Settings
from assistant.history import HistoryStore
from assistant.hotkeys import ManualHotkeys
from assistant.model_loading import VisionSlot
from assistant.speech_out import earcons
from base.errors import CaptureError
from tests.helpers import pixel_cache_off
from tests.ui_scene import show_scene
from ui.controller import AppController
from ui.main_window import MainWindow
from ui.push_to_talk import CANCELLED, LISTENING_HOLD, SPEECH_MISSING, THINKING, PushToTalk

pytestmark = pytest.mark.skipif(
    not (shutil.which("paplay") and shutil.which("espeak-ng") and shutil.which("pactl")
         and os.environ.get("PULSE_RUNTIME_PATH")),
    reason="needs the test PulseAudio, paplay, pactl and espeak-ng")

QUESTION = "what does the red error say"
UNFINISHED = (LISTENING_HOLD, "Listening…", THINKING)


@pytest.fixture(scope="module")
def question_wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("voice") / "question.wav"
    subprocess.run(["espeak-ng", "-w", str(path), QUESTION], check=True)
    return path


@pytest.fixture(scope="module")
def vision(tiny_vlm_dir):
    return VisionSlot(str(tiny_vlm_dir), quantize=False)


@pytest.fixture
def make_app(qtbot, tmp_path, monkeypatch, vision, tiny_vlm_dir, tiny_moonshine_dir):
    monkeypatch.setenv("SCREENSIGHT_TTS", "spy")
    scene = show_scene(qtbot)
    made = []

    def make(capture=None, **changes) -> AppController:
        settings = dataclasses.replace(Settings(vision_model=str(tiny_vlm_dir), quantize=False,
                                                speech_model=str(tiny_moonshine_dir), earcons=False,
                                                microphone="pulse"),
                                       **changes)
        window = MainWindow()
        qtbot.addWidget(window)
        app = AppController(settings, window, ManualHotkeys(), settings_file=tmp_path / "s.toml",
                            history=HistoryStore(False, path=tmp_path / "h.jsonl"), vision=vision,
                            capture=capture)
        app.max_tokens = 8
        app.voice = PushToTalk(app)
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()
    scene.close()


@pytest.fixture
def speaker_heard_by_microphone():
    """Sounds played on the default output go into the microphone, as on a laptop."""
    subprocess.run(["pactl", "set-default-sink", "mic"], check=True)
    yield
    subprocess.run(["pactl", "set-default-sink", "speaker"], check=True)


class _NoScreen(ImageBackend):
    """A screen that cannot be captured (a compositor refusing, a lost display)."""

    def _open(self):
        raise CaptureError("The screen could not be captured.", "Try again.")


def _wav_samples(path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as wav:
        frames = wav.readframes(wav.getnframes())
        return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768, wav.getframerate()


def _voiced_seconds(pcm: np.ndarray, rate: int, level_db: float = -40.0) -> float:
    """Seconds of 20 ms frames louder than `level_db` dBFS."""
    frame = int(rate * 0.02)
    frames = pcm[: len(pcm) // frame * frame].astype(np.float64).reshape(-1, frame)
    levels = 10 * np.log10(np.mean(frames * frames, axis=1) + 1e-12)
    return float(np.sum(levels > level_db)) * 0.02


def _status(app: AppController) -> str:
    return app.window.status_label.text()


def _say_into_microphone(wav) -> None:
    subprocess.run(["paplay", "-d", "mic", str(wav)], check=True, timeout=30)


def _press_and_wait_until_listening(qtbot, app: AppController) -> None:
    """Press the talk key the way the hotkey listener does; return once "speak now"."""
    app.voice.microphone_warm.result(timeout=10)  # the app opened its microphone at start
    if app.voice.warming is not None:  # and its sound output
        assert app.voice.warming.finished.wait(10)
    with qtbot.waitSignal(app.voice.listening, timeout=10_000):
        app.hotkeys.press("push-to-talk")  # queued to the Qt thread, like the real listener's


def test_hold_to_talk_asks_and_answers(qtbot, make_app, question_wav, vision):
    app = make_app()
    levels = []
    app.window.level_bar.valueChanged.connect(levels.append)
    _press_and_wait_until_listening(qtbot, app)
    assert app.voice.recording
    assert app.window.level_bar.isVisibleTo(app.window)
    assert _status(app) == LISTENING_HOLD
    _say_into_microphone(question_wav)
    with qtbot.waitSignal(app.entry_finished, timeout=120_000) as signal:
        app.hotkeys.release("push-to-talk")
    assert not app.window.level_bar.isVisibleTo(app.window)
    entry = signal.args[0]
    assert entry.status == "done", entry.answer
    assert entry.kind == "Question"
    assert entry.question  # the random recognizer's words, but words
    assert entry.answer
    assert entry.trace["encoded"] < entry.trace["speech_end"] <= entry.trace["transcribed"]
    assert max(levels) > 0, "the level meter never moved"
    assert f"Q: {entry.question}" in app.window.history.item(0).text()
    assert _status(app) == "Done."

    # The model's own cache of encoded screenshots off: an encoder run is counted, not hidden.
    with pixel_cache_off(vision()) as model:
        calls = model.vision_encoder_calls
        _press_and_wait_until_listening(qtbot, app)
        _say_into_microphone(question_wav)
        with qtbot.waitSignal(app.entry_finished, timeout=120_000) as signal:
            app.hotkeys.release("push-to-talk")
    assert signal.args[0].status == "done"
    assert model.vision_encoder_calls == calls  # the follow-up reused the encoded screenshot


def test_the_whole_question_reaches_the_recognizer_with_earcons_on(
        qtbot, make_app, question_wav, speaker_heard_by_microphone):
    """Press, speak after the start tone, release after the last word: at least 95 % of the
    spoken sound is in the recording the engine transcribes, and the tone is not."""
    app = make_app(earcons=True)
    played, rate = _wav_samples(question_wav)
    spoken = _voiced_seconds(played, rate)
    recordings = []
    app.voice.recorded.connect(recordings.append)
    _press_and_wait_until_listening(qtbot, app)
    _say_into_microphone(question_wav)  # returns when the last sample was played
    with qtbot.waitSignal(app.entry_finished, timeout=120_000) as signal:
        app.hotkeys.release("push-to-talk")
    assert signal.args[0].status == "done", signal.args[0].answer
    (recording,) = recordings
    heard = _voiced_seconds(recording.pcm, recording.sample_rate)
    print(f"spoken {spoken:.2f} s above -40 dBFS, recorded {heard:.2f} s "
          f"({heard / spoken:.1%}) of a {recording.seconds:.2f} s recording")
    assert heard >= 0.95 * spoken, (heard, spoken)
    assert heard <= spoken + 0.06, "more sound than the question: the start tone was recorded"


def test_the_start_tone_is_not_in_the_question(qtbot, make_app, tmp_path, speaker_heard_by_microphone):
    """The microphone hears the start tone (it opened first), and the engine never gets it."""
    app = make_app(earcons=True)
    recordings = []
    app.voice.recorded.connect(recordings.append)
    raw = tmp_path / "microphone.raw"
    with raw.open("wb") as out:
        parec = subprocess.Popen(["parec", "-d", "mic.monitor", "--format=s16le", "--rate=16000",
                                  "--channels=1", "--latency-msec=20"], stdout=out)
        try:
            _press_and_wait_until_listening(qtbot, app)
            qtbot.waitUntil(lambda: app.voice.captured_seconds > 0.6, timeout=10_000)
            with qtbot.waitSignal(app.entry_finished, timeout=120_000):
                app.hotkeys.release("push-to-talk")
        finally:
            parec.terminate()
            parec.wait(5)
    heard = np.frombuffer(raw.read_bytes()[: raw.stat().st_size // 2 * 2], dtype="<i2") / 32768
    assert np.abs(heard).max() > 0.1, "the start tone did not reach the microphone"
    (recording,) = recordings
    assert recording.peak > 0.1, "the microphone delivered the tone"
    assert recording.seconds > 0.5
    assert np.abs(recording.pcm).max() < 0.01, "the start tone is in the question"
    assert _status(app) not in UNFINISHED


def test_toggle_mode_ends_at_the_pause(qtbot, make_app, question_wav):
    app = make_app(push_to_talk_mode="toggle")
    _press_and_wait_until_listening(qtbot, app)
    app.voice.release()  # releasing does not end it in toggle mode
    assert app.voice.recording
    with qtbot.waitSignal(app.entry_finished, timeout=120_000) as signal:
        _say_into_microphone(question_wav)  # then silence: the end-pointer ends the question
    assert signal.args[0].status == "done"
    assert signal.args[0].question
    assert not app.voice.recording
    assert _status(app) == "Done."


def test_missing_microphone_is_explained_and_the_app_keeps_working(qtbot, make_app):
    app = make_app(microphone="no-such-microphone")
    with qtbot.waitSignal(app.entry_finished, timeout=120_000) as signal:
        app.voice.press()
        app.voice.release()
    entry = signal.args[0]
    assert entry.status == "error"
    assert "no-such-microphone" in entry.answer and "Settings" in entry.answer
    assert _status(app).startswith("Error: ")
    assert not app.voice.recording
    with qtbot.waitSignal(app.entry_finished, timeout=120_000) as signal:
        app.hotkeys.press("describe-window")
    assert signal.args[0].status == "done"


def _voice_worker_done(app: AppController) -> None:
    """Wait until push-to-talk's worker ran everything queued so far (closing the microphone,
    handing a recording over): one worker thread runs them in order."""
    app.voice._pool.submit(lambda: None).result(timeout=30)


def test_stop_key_while_talking_drops_the_question(qtbot, make_app, question_wav):
    app = make_app()
    recordings = []
    # Direct: appended on push-to-talk's worker the moment a recording is handed to the engine.
    app.voice.recorded.connect(recordings.append, Qt.ConnectionType.DirectConnection)
    _press_and_wait_until_listening(qtbot, app)
    _say_into_microphone(question_wav)  # a whole question is in the recording when stop is pressed
    with qtbot.waitSignal(app.entry_finished, timeout=60_000) as signal:
        app.hotkeys.press("stop-speaking")
    entry = signal.args[0]
    assert entry.status == "stopped" and entry.kind == "Question"
    assert not app.voice.recording
    _voice_worker_done(app)
    assert recordings == [], "the recording was handed to the engine although stop was pressed"
    # The app still works, and the question that was stopped was never transcribed nor answered.
    with qtbot.waitSignal(app.entry_finished, timeout=120_000) as signal:
        app.hotkeys.press("describe-window")
    assert signal.args[0].status == "done"
    assert [e.kind for e in app.window.entries() if e.status == "done"] == ["Active window"]
    assert not any(e.question for e in app.window.entries()), "the stopped question was transcribed"


def test_talk_key_without_a_speech_model_opens_the_speech_setup(qtbot, make_app, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    app = make_app(speech_model="moonshine-tiny")  # the default, not downloaded
    opened = []
    app.dialog_opener = opened.append
    announced = []
    app.announcer.announced.connect(announced.append)
    app.voice.press()
    assert opened == ["setup-speech"]
    assert _status(app) == SPEECH_MISSING
    assert "screensight models" not in _status(app)
    assert not app.voice.recording
    assert app.window.entries() == []  # no question was started
    qtbot.waitUntil(lambda: SPEECH_MISSING in announced, timeout=5000)
    qtbot.waitUntil(lambda: SPEECH_MISSING in app.speaker.tts.texts(), timeout=10_000)
    app.voice.release()
    assert _status(app) == SPEECH_MISSING


def test_a_failed_screenshot_ends_the_question_with_the_error(qtbot, make_app):
    app = make_app(capture=lambda: _NoScreen(np_image()))
    with qtbot.waitSignal(app.entry_finished, timeout=60_000) as signal:
        app.voice.press()  # the user still holds the key when the screenshot fails
    assert signal.args[0].status == "error"
    qtbot.waitUntil(lambda: not app.voice.recording, timeout=5000)
    assert not app.window.level_bar.isVisibleTo(app.window)
    assert _status(app).startswith("Error: The screen could not be captured.")
    app.voice.release()
    assert _status(app).startswith("Error: The screen could not be captured.")


def test_a_tap_of_the_talk_key_says_what_to_do(qtbot, make_app):
    app = make_app()
    with qtbot.waitSignal(app.entry_finished, timeout=60_000) as signal:
        app.voice.press()
        app.voice.release()
    assert signal.args[0].status == "error"
    assert _status(app).startswith("Error: The talk key was let go before a question was heard.")
    assert "Hold the talk key" in _status(app)


def test_a_newer_request_while_talking_ends_listening(qtbot, make_app):
    app = make_app()
    _press_and_wait_until_listening(qtbot, app)
    finished = []
    app.entry_finished.connect(finished.append)
    app.handle_action("describe-window")  # wins over the question being asked
    qtbot.waitUntil(lambda: any(e.kind != "Question" for e in finished), timeout=60_000)
    assert not app.voice.recording
    assert _status(app) == "Done."
    app.voice.release()
    assert _status(app) == "Done."


def test_cancel_while_listening_says_cancelled(qtbot, make_app):
    app = make_app()
    _press_and_wait_until_listening(qtbot, app)
    with qtbot.waitSignal(app.entry_finished, timeout=60_000):
        app.voice.cancel()
    assert not app.voice.recording
    assert _status(app) == CANCELLED


def test_earcons_are_heard_on_the_speaker(tmp_path):
    raw = tmp_path / "speaker.raw"
    with raw.open("wb") as out:
        rec = subprocess.Popen(["parec", "-d", "speaker.monitor", "--format=s16le", "--rate=16000",
                                "--channels=1", "--latency-msec=50"], stdout=out)
        try:
            assert earcons.play(earcons.START)
            assert earcons.play(earcons.STOP)
            deadline = time.monotonic() + 10  # parec writes what it heard a little later
            while _peak(raw) <= 0.1 and time.monotonic() < deadline:
                time.sleep(0.05)  # polling interval of a wait with a deadline
        finally:
            rec.terminate()
            rec.wait(5)
    assert _peak(raw) > 0.1, "the earcons did not reach the speaker"


def _peak(raw) -> float:
    """The loudest sample recorded so far in the 16-bit PCM file `raw` (0 when it is empty)."""
    data = raw.read_bytes()
    pcm = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2") / 32768
    return float(np.abs(pcm).max()) if pcm.size else 0.0


def np_image():
    from PIL import Image

    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8))


def test_words_said_at_the_find_prompt_are_searched_in_the_window(qtbot, make_app, tmp_path):
    """Find text by voice through the real microphone path: the Find key opens the prompt, the talk key is
    held and the words said go to Find text, searched in the window that was read (the random-weight
    recognizer hears some words: they are what is searched, shown in "Text to find" to correct)."""
    from assistant.history import kind_label
    from assistant.text_recognition.types import fold
    from tests.text_scene import LINES, show_text_window

    app = make_app()
    scene = show_text_window(qtbot)  # noqa: F841 - kept alive while it is read
    with qtbot.waitSignal(app.entry_finished, timeout=60_000) as opened:
        app.hotkeys.press("find-text")  # nothing typed: the window is read and the prompt opens
    assert opened.args[0].answer == "Type or say the text to find."
    qtbot.waitUntil(app.find_prompt_open, timeout=5000)
    wav = tmp_path / "find.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "Pay again"], check=True)
    _press_and_wait_until_listening(qtbot, app)
    _say_into_microphone(wav)
    with qtbot.waitSignal(app.entry_finished, timeout=120_000) as signal:
        app.hotkeys.release("push-to-talk")
    entry = signal.args[0]
    assert entry.status == "done", entry.answer
    assert entry.kind == kind_label("find", None)  # searched in the last screenshot, not ScreenSight's window
    assert entry.capture["title"] == opened.args[0].capture["title"]
    assert entry.question and app.window.find_edit.text() == entry.question
    matches = [line for line in LINES if fold(entry.question) in fold(line)]
    if matches:
        assert entry.answer.startswith(f"{matches[0]}, ")
    else:
        assert entry.answer == f"'{entry.question}' was not found in the window."
