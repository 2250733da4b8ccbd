"""The app's behaviour with the real engine, a tiny random-weight model and real screen capture.

Speech goes to the spy engine (SCREENSIGHT_TTS=spy) so the tests can read what was spoken;
the end-to-end test (test_app_e2e.py) checks real audio.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from assistant.config import Hotkeys, Settings, load_settings
from assistant.history import HistoryStore
from assistant.hotkeys import ManualHotkeys
from assistant.model_loading import VisionSlot
from tests.helpers import pixel_cache_off
from tests.ui_scene import show_scene
from ui.controller import AppController
from ui.main_window import MainWindow
from ui.screen_reader import ScreenReaderEngine

TOKENS = 12


@pytest.fixture(scope="module")
def vision(tiny_vlm_dir):
    """The app's own loader, shared by the tests of this module (loads once)."""
    return VisionSlot(str(tiny_vlm_dir), quantize=False, threads=None)


@pytest.fixture
def make_app(qtbot, tmp_path, monkeypatch, vision, tiny_vlm_dir):
    monkeypatch.setenv("SCREENSIGHT_TTS", "spy")
    scene = show_scene(qtbot)  # the active window the describe keys capture (kept alive here)
    made = []

    def make(**changes) -> AppController:
        settings = dataclasses.replace(Settings(vision_model=str(tiny_vlm_dir), quantize=False), **changes)
        window = MainWindow()
        qtbot.addWidget(window)
        history = HistoryStore(settings.keep_history, path=tmp_path / "history.jsonl",
                               log_path=tmp_path / "log.jsonl")
        slot = vision if settings.vision_model == str(tiny_vlm_dir) else None
        app = AppController(settings, window, ManualHotkeys(), settings_file=tmp_path / "settings.toml",
                            history=history, vision=slot)
        app.max_tokens = TOKENS
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()
    scene.close()


@pytest.fixture
def uncached(vision):
    """The shared model with its cache of encoded screenshots off for one test: an encoder run
    the app asks for again is counted, not hidden by the model's pixel cache."""
    with pixel_cache_off(vision()) as model:
        yield model


def _finish(qtbot, app, action: str, timeout: int = 120_000):
    with qtbot.waitSignal(app.entry_finished, timeout=timeout) as signal:
        app.hotkeys.press(action)
    return signal.args[0]


def test_describe_hotkey_fills_history_and_speaks(qtbot, make_app, tmp_path):
    app = make_app(keep_history=True)
    entry = _finish(qtbot, app, "describe-window")
    assert entry.status == "done"
    assert entry.kind == "Active window"
    assert entry.answer
    assert app.window.entries()[0] is entry
    assert entry.answer in app.window.history.item(0).text()
    assert app.window.status_label.text() == "Done."
    assert app.speaker.wait_idle(10)
    spoken = " ".join(app.speaker.tts.texts())
    assert spoken.split() == entry.answer.split()
    logged = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert logged[-1]["answer"] == entry.answer
    assert logged[-1]["trace"]["done"] >= logged[-1]["trace"]["encoded"]
    saved = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert saved[-1]["request_id"] == entry.request_id


def test_history_is_not_saved_unless_the_user_keeps_it(qtbot, make_app, tmp_path):
    app = make_app()
    entry = _finish(qtbot, app, "describe-window")
    assert entry.status == "done" and app.window.entries()[0] is entry
    assert not (tmp_path / "history.jsonl").exists()


def test_ten_fast_presses_leave_one_answer(qtbot, make_app):
    app = make_app()
    finished = []
    app.entry_finished.connect(finished.append)
    for _ in range(10):
        app.hotkeys.press("describe-screen")
    qtbot.waitUntil(lambda: any(e.status == "done" for e in finished), timeout=120_000)
    assert app.engine.wait_idle(30)
    # The engine's events reach the window in the order they happened: once the answer arrived,
    # every press before it has ended (a press dropped before it started leaves no entry).
    done = [e for e in app.window.entries() if e.status == "done"]
    assert len(done) == 1 and done[0] is finished[-1]  # the last press is the one answered
    assert done[0].request_id == max(e.request_id for e in finished)
    assert all(e.status in ("done", "stopped") for e in app.window.entries())


def test_stop_hotkey_silences_speech(qtbot, make_app):
    app = make_app()
    app.speaker.tts.seconds_per_char = 0.2  # the spy pretends speech takes a while
    app.max_tokens = 60
    app.hotkeys.press("describe-window")
    qtbot.waitUntil(lambda: bool(app.speaker.tts.spoken), timeout=120_000)
    app.hotkeys.press("stop-speaking")
    qtbot.waitUntil(lambda: app.window.status_label.text() == "Stopped.", timeout=5000)
    assert app.speaker.wait_idle(5)
    assert app.engine.wait_idle(30)
    assert not app.speaker.tts.spoken[-1].completed
    assert len(app.speaker.tts.spoken) == 1  # nothing queued was spoken after the stop


def test_typed_follow_up_reuses_the_screenshot(qtbot, make_app, uncached):
    app = make_app()
    _finish(qtbot, app, "describe-window")
    calls = uncached.vision_encoder_calls
    app.window.question_edit.setText("What colour is the button?")
    with qtbot.waitSignal(app.entry_finished, timeout=120_000) as signal:
        app.window.ask_button.click()
    entry = signal.args[0]
    assert entry.kind == "Question"
    assert entry.question == "What colour is the button?"
    assert entry.status == "done"
    assert uncached.vision_encoder_calls == calls
    assert "Q: What colour is the button?" in app.window.history.item(0).text()


def test_errors_are_shown_announced_and_spoken(qtbot, make_app, tmp_path):
    app = make_app(vision_model=str(tmp_path / "no-such-model"))
    announced = []
    app.announcer.announced.connect(announced.append)
    entry = _finish(qtbot, app, "describe-window")
    assert entry.status == "error"
    assert "does not exist" in entry.answer
    assert app.window.status_label.text().startswith("Error: ")
    qtbot.waitUntil(lambda: any("does not exist" in text for text in announced), timeout=5000)
    assert app.speaker.wait_idle(5)
    assert any("does not exist" in text for text in app.speaker.tts.texts())


def test_repeat_last_speaks_the_answer_again(qtbot, make_app):
    app = make_app()
    entry = _finish(qtbot, app, "describe-window")
    assert app.speaker.wait_idle(10)
    count = len(app.speaker.tts.texts())
    app.hotkeys.press("repeat-last")
    qtbot.waitUntil(lambda: len(app.speaker.tts.texts()) > count, timeout=10_000)
    assert app.speaker.wait_idle(10)
    assert app.speaker.tts.texts()[-1] == entry.answer


def test_text_only_output_shows_without_speaking(qtbot, make_app):
    app = make_app(output="text")
    assert app.speaker is None
    entry = _finish(qtbot, app, "describe-window")
    assert entry.status == "done" and entry.answer


def test_settings_apply_without_restart(qtbot, make_app, tmp_path):
    app = make_app(keep_history=True)
    new = dataclasses.replace(app.settings, detail="normal", language="de", rate=240,
                              keep_history=False, output="screen_reader",
                              hotkeys=Hotkeys(describe_window="<ctrl>+<alt>+w"))
    app.apply_settings(new)
    assert app.engine.options.detail == "normal" and app.engine.options.language == "de"
    assert load_settings(tmp_path / "settings.toml") == new
    assert isinstance(app.speaker.tts, ScreenReaderEngine)
    assert app.engine.speaker is app.speaker
    assert app.hotkeys.bindings["describe-window"].label() == "Ctrl+Alt+W"
    assert not (tmp_path / "history.jsonl").exists()
    entry = _finish(qtbot, app, "describe-window")
    assert entry.status == "done" and entry.answer
    # No screen reader runs on the test desktop: that is said once, and the own voice speaks.
    qtbot.waitUntil(lambda: any("screen reader" in e.answer for e in app.window.entries()
                                if e.kind == "Message"), timeout=10_000)


def test_voice_settings_reach_the_engine(make_app):
    app = make_app()
    app.apply_settings(dataclasses.replace(app.settings, rate=300, volume=0.5))
    assert app.speaker.tts.settings["rate"] == 300
    assert app.speaker.tts.settings["volume"] == 0.5


def test_more_detail_reuses_and_new_screenshot_starts_over(qtbot, make_app, uncached):
    app = make_app()
    _finish(qtbot, app, "describe-window")
    calls = uncached.vision_encoder_calls
    with qtbot.waitSignal(app.entry_finished, timeout=120_000) as signal:
        app.handle_action("describe-more")
    assert signal.args[0].kind == "More detail" and signal.args[0].status == "done"
    assert uncached.vision_encoder_calls == calls
    old = app.engine.conversation
    assert len(old.turns) == 1
    with qtbot.waitSignal(app.entry_finished, timeout=120_000) as signal:
        app.hotkeys.press("new-screenshot")
    assert signal.args[0].status == "done"
    assert app.engine.conversation is not old  # a fresh conversation (the model may reuse its cache)


def test_ask_question_key_opens_the_window_at_the_question_box(qtbot, make_app):
    app = make_app()
    app.hotkeys.press("ask-question")
    qtbot.waitUntil(lambda: app.window.isVisible(), timeout=5000)
    qtbot.waitUntil(lambda: app.window.focusWidget() is app.window.question_edit, timeout=5000)


def test_prepare_in_background_follows_the_setting(make_app):
    app = make_app()
    assert app.background is None
    app.apply_settings(dataclasses.replace(app.settings, prepare_in_background=True))
    assert app.background is not None and app.background.running
    app.apply_settings(dataclasses.replace(app.settings, prepare_in_background=False))
    assert app.background is None


def test_messages_and_errors_reach_the_screen_reader_when_it_speaks(qtbot, tmp_path, tiny_vlm_dir, vision):
    """Output "screen reader": short messages (not only answers) go to the detected reader;
    Qt's announcement event alone reaches no Orca before version 46."""
    from assistant.speech_out.screen_readers import ReaderWatch
    from assistant.speech_out.screen_readers.recording import RecordingReader
    from assistant.speech_out.screen_readers.registry import ScreenReaders
    from base.errors import ScreenSightError

    reader = RecordingReader()
    settings = Settings(vision_model=str(tiny_vlm_dir), quantize=False, output="screen_reader")
    window = MainWindow()
    qtbot.addWidget(window)
    app = AppController(settings, window, ManualHotkeys(), settings_file=tmp_path / "settings.toml",
                        history=HistoryStore(False, path=tmp_path / "h.jsonl"), vision=vision,
                        screen_readers=lambda: ReaderWatch(ScreenReaders([reader])))
    try:
        app.say_message("There is nothing to repeat yet.")
        qtbot.waitUntil(lambda: "There is nothing to repeat yet." in reader.spoken(), timeout=10_000)
        app.report_error(ScreenSightError("The window closed before it could be captured.", "Try again."))
        qtbot.waitUntil(lambda: any("window closed" in t for t in reader.spoken()), timeout=10_000)
        app.announce("Download 50 percent.")  # what a dialog's announcer forwards
        qtbot.waitUntil(lambda: "Download 50 percent." in reader.spoken(), timeout=10_000)
        assert window.status_label.text().startswith("Error: The window closed")
    finally:
        app.close()


def test_a_first_load_that_prepares_the_model_is_spoken_once_and_its_progress_shown(
        qtbot, tmp_path, tiny_vlm_dir, monkeypatch):
    """The model's first load on this computer (Gemma 4 makes its int8 weights then) takes half a
    minute: the user hears why once, and the status line follows it without speaking each step."""
    from assistant.load_progress import PREPARING_MESSAGE, PREPARING_STATUS
    from assistant.speech_out.screen_readers import ReaderWatch
    from assistant.speech_out.screen_readers.recording import RecordingReader
    from assistant.speech_out.screen_readers.registry import ScreenReaders
    from models import loader

    real = loader.load_vision_model

    def preparing(folder, progress=None, **options):  # noqa: ANN001, ANN202
        for fraction in (0.1, 0.5, 1.0):
            progress(fraction)
        return real(folder, progress=progress, **options)

    monkeypatch.setattr(loader, "load_vision_model", preparing)
    reader = RecordingReader()
    settings = Settings(vision_model=str(tiny_vlm_dir), quantize=False, output="screen_reader")
    window = MainWindow()
    qtbot.addWidget(window)
    shown: list[str] = []
    monkeypatch.setattr(window, "set_status", lambda text: shown.append(text) or MainWindow.set_status(window, text))
    app = AppController(settings, window, ManualHotkeys(), settings_file=tmp_path / "settings.toml",
                        history=HistoryStore(False, path=tmp_path / "h.jsonl"),
                        vision=VisionSlot(str(tiny_vlm_dir), quantize=False, threads=None),
                        screen_readers=lambda: ReaderWatch(ScreenReaders([reader])))
    try:
        assert app.start_loading()
        qtbot.waitUntil(lambda: window.status_label.text().startswith("Ready."), timeout=60_000)
        assert [f"{PREPARING_STATUS}: {p} %" for p in (10, 50, 100)] == [t for t in shown if PREPARING_STATUS in t]
        qtbot.waitUntil(lambda: "ScreenSight is ready." in reader.spoken(), timeout=10_000)
        spoken = reader.spoken()
        assert spoken.count(PREPARING_MESSAGE) == 1
        assert not any(PREPARING_STATUS in text for text in spoken)
    finally:
        app.close()
