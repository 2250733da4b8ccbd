"""Voice questions from the app: push-to-talk with a real microphone path (espeak-ng into the
PulseAudio "mic" null sink, recorded through PortAudio), a tiny random Moonshine recognizer,
the level meter, earcons heard on the "speaker" sink, and a missing microphone."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess

import numpy as np
import pytest

from assistant.config import Settings
from tests.ui_scene import show_scene
from ui import earcons
from ui.controller import AppController
from ui.history import HistoryStore
from ui.hotkeys import ManualHotkeys
from ui.main_window import MainWindow
from ui.model_slot import VisionSlot
from ui.push_to_talk import PushToTalk

pytestmark = pytest.mark.skipif(
    not (shutil.which("paplay") and shutil.which("espeak-ng") and os.environ.get("PULSE_RUNTIME_PATH")),
    reason="needs the test PulseAudio, paplay and espeak-ng")

QUESTION = "what does the red error say"


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

    def make(**changes) -> AppController:
        settings = dataclasses.replace(Settings(vision_model=str(tiny_vlm_dir), quantize=False,
                                                speech_model=str(tiny_moonshine_dir), earcons=False,
                                                microphone="pulse"),
                                       **changes)
        window = MainWindow()
        qtbot.addWidget(window)
        app = AppController(settings, window, ManualHotkeys(), settings_file=tmp_path / "s.toml",
                            history=HistoryStore(False, path=tmp_path / "h.jsonl"), vision=vision)
        app.max_tokens = 8
        app.voice = PushToTalk(app)
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()
    scene.close()


def _say_into_microphone(wav) -> None:
    subprocess.run(["paplay", "-d", "mic", str(wav)], check=True, timeout=30)


def test_hold_to_talk_asks_and_answers(qtbot, make_app, question_wav, vision):
    app = make_app()
    levels = []
    app.window.level_bar.valueChanged.connect(levels.append)
    app.hotkeys.press("push-to-talk")  # queued to the Qt thread, like the real listener's
    qtbot.waitUntil(lambda: app.voice.recording, timeout=5000)
    assert app.window.level_bar.isVisibleTo(app.window)
    qtbot.wait(300)  # the microphone opens on the worker
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

    calls = vision().vision_encoder_calls
    app.hotkeys.press("push-to-talk")
    qtbot.waitUntil(lambda: app.voice.recording, timeout=5000)
    qtbot.wait(300)
    _say_into_microphone(question_wav)
    with qtbot.waitSignal(app.entry_finished, timeout=120_000) as signal:
        app.hotkeys.release("push-to-talk")
    assert signal.args[0].status == "done"
    assert vision().vision_encoder_calls == calls  # the follow-up reused the screenshot


def test_toggle_mode_ends_at_the_pause(qtbot, make_app, question_wav):
    app = make_app(push_to_talk_mode="toggle")
    app.hotkeys.press("push-to-talk")
    app.hotkeys.release("push-to-talk")  # releasing does not end it in toggle mode
    qtbot.wait(100)
    assert app.voice.recording
    qtbot.wait(300)
    with qtbot.waitSignal(app.entry_finished, timeout=120_000) as signal:
        _say_into_microphone(question_wav)  # then silence: the end-pointer ends the question
    assert signal.args[0].status == "done"
    assert signal.args[0].question
    assert not app.voice.recording


def test_missing_microphone_is_explained_and_the_app_keeps_working(qtbot, make_app):
    app = make_app(microphone="no-such-microphone")
    with qtbot.waitSignal(app.entry_finished, timeout=120_000) as signal:
        app.hotkeys.press("push-to-talk")
        qtbot.wait(200)
        app.hotkeys.release("push-to-talk")
    entry = signal.args[0]
    assert entry.status == "error"
    assert "no-such-microphone" in entry.answer and "Settings" in entry.answer
    assert app.window.status_label.text().startswith("Error: ")
    assert not app.voice.recording
    with qtbot.waitSignal(app.entry_finished, timeout=120_000) as signal:
        app.hotkeys.press("describe-window")
    assert signal.args[0].status == "done"


def test_stop_key_while_talking_drops_the_question(qtbot, make_app):
    app = make_app()
    app.hotkeys.press("push-to-talk")
    qtbot.wait(300)
    assert app.voice.recording
    app.hotkeys.press("stop-speaking")
    qtbot.waitUntil(lambda: not app.voice.recording, timeout=5000)
    assert app.engine.wait_idle(30)
    qtbot.wait(100)
    assert [e for e in app.window.entries() if e.status == "done"] == []


def test_earcons_are_heard_on_the_speaker(tmp_path):
    raw = tmp_path / "speaker.raw"
    with raw.open("wb") as out:
        rec = subprocess.Popen(["parec", "-d", "speaker.monitor", "--format=s16le", "--rate=16000",
                                "--channels=1", "--latency-msec=50"], stdout=out)
        try:
            assert earcons.play(earcons.START)
            assert earcons.play(earcons.STOP)
            subprocess.run(["sleep", "0.5"], check=True)
        finally:
            rec.terminate()
            rec.wait(5)
    pcm = np.frombuffer(raw.read_bytes()[: raw.stat().st_size // 2 * 2], dtype="<i2") / 32768
    assert np.abs(pcm).max() > 0.1
