"""The application object: first run without a model opens the setup, a chosen folder is saved."""

from __future__ import annotations

import uuid
from contextlib import contextmanager

from PySide6.QtCore import Qt
from PySide6.QtGui import QAccessible

from assistant.config import load_settings, settings_path
from base.vocabulary import Role
from models import catalog
from ui.app import Application
from ui.single_instance import InstanceServer


@contextmanager
def _running_app(qapp, tmp_path, monkeypatch):
    """A first run: fresh settings and caches, no model on disk, manual hotkeys, a spy voice."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("SCREENSIGHT_HOTKEYS", "manual")
    monkeypatch.setenv("SCREENSIGHT_TTS", "spy")
    server = InstanceServer(f"screensight-test-{uuid.uuid4().hex[:8]}")
    assert server.listen()
    app = Application(qapp, server)
    try:
        app.start()
        yield app
    finally:
        for dialog in app._dialogs.values():
            dialog.close()
        app.window.hide()
        app.close()


def _accessible_text(widget) -> str:
    text = QAccessible.queryAccessibleInterface(widget).textInterface()
    assert text is not None, f"{widget.accessibleName()!r} exposes no text to assistive technology"
    return text.text(0, text.characterCount())


def test_first_run_without_a_model_opens_setup_and_saves_the_choice(qtbot, qapp, tmp_path,
                                                                    monkeypatch, tiny_vlm_dir):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("SCREENSIGHT_HOTKEYS", "manual")
    monkeypatch.setenv("SCREENSIGHT_TTS", "spy")
    server = InstanceServer(f"screensight-test-{uuid.uuid4().hex[:8]}")
    assert server.listen()
    app = Application(qapp, server)
    try:
        app.start()
        assert "not downloaded" in app.window.status_label.text()
        qtbot.waitUntil(lambda: "setup-model" in app._dialogs, timeout=5000)
        dialog = app._dialogs["setup-model"]
        assert dialog.isVisible()
        assert dialog.use_folder(tiny_vlm_dir)
        assert load_settings(settings_path()).vision_model == str(tiny_vlm_dir)
        assert app.controller.vision.source == str(tiny_vlm_dir)
        assert "Loading it now" in app.window.status_label.text()
        qtbot.waitUntil(lambda: app.window.status_label.text().startswith("Ready."), timeout=60000)
        assert app.controller.vision.loaded  # loaded in the background, before any key press
        app.controller.handle_action("settings")
        assert app._dialogs["settings"].isVisible()
    finally:
        for dialog in app._dialogs.values():
            dialog.close()
        app.window.hide()
        app.close()


def test_first_run_offers_voice_questions_and_a_speech_folder_is_saved(qtbot, qapp, tmp_path,
                                                                       monkeypatch, tiny_moonshine_dir,
                                                                       tiny_vlm_dir):
    with _running_app(qapp, tmp_path, monkeypatch) as app:
        qtbot.waitUntil(lambda: "setup-model" in app._dialogs, timeout=5000)
        vision = app._dialogs["setup-model"]
        assert vision.isVisible()
        default = catalog.default_model(Role.SPEECH)
        assert app.controller.settings.speech_model == default.id  # not on disk in a fresh cache
        offer = vision.speech_label.text()
        assert default.label in offer and f"{default.size_mb} MB" in offer and default.licence in offer
        assert _accessible_text(vision.speech_label) == offer
        qtbot.mouseClick(vision.speech_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "setup-speech" in app._dialogs
                        and app._dialogs["setup-speech"].isVisible(), timeout=5000)
        speech = app._dialogs["setup-speech"]
        assert speech.windowTitle() == "Set up voice questions"
        assert speech.model_combo.currentData() == default.id
        assert all(catalog.get_model(speech.model_combo.itemData(i)).role == Role.SPEECH
                   for i in range(speech.model_combo.count()))
        assert vision.isVisible()  # the first step stays open: the vision model is still needed

        assert not speech.use_folder(tiny_vlm_dir)  # a vision folder is no speech model
        assert "not a speech model" in speech.status.text()
        assert load_settings(settings_path()).speech_model == default.id
        assert speech.use_folder(tiny_moonshine_dir)
        assert load_settings(settings_path()).speech_model == str(tiny_moonshine_dir)
        assert app.controller.speech.source == str(tiny_moonshine_dir)
        assert "Voice questions are ready" in app.window.status_label.text()
        # The menu item raises the open setup rather than opening a second one.
        app.controller.handle_action("setup-speech")
        assert app._dialogs["setup-speech"] is speech


def test_settings_download_or_choose_opens_the_speech_setup_and_shows_the_folder(
        qtbot, qapp, tmp_path, monkeypatch, tiny_moonshine_dir):
    with _running_app(qapp, tmp_path, monkeypatch) as app:
        app.controller.handle_action("settings")
        settings = app._dialogs["settings"]
        assert settings.isVisible()
        assert "setup-speech" not in app._dialogs
        qtbot.mouseClick(settings.speech_setup, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "setup-speech" in app._dialogs
                        and app._dialogs["setup-speech"].isVisible(), timeout=5000)
        speech = app._dialogs["setup-speech"]
        assert speech.windowTitle() == "Set up voice questions"
        assert speech.use_folder(tiny_moonshine_dir)
        assert settings.speech_model.currentData() == str(tiny_moonshine_dir)
        assert str(tiny_moonshine_dir) in settings.speech_model.currentText()
        assert load_settings(settings_path()).speech_model == str(tiny_moonshine_dir)
        # OK in Settings keeps the folder (the dialog's own copy of the settings was updated).
        assert settings.collect().speech_model == str(tiny_moonshine_dir)
        assert app.controller.speech.source == str(tiny_moonshine_dir)


def test_a_broken_settings_file_falls_back_to_defaults_and_says_so(qtbot, qapp, tmp_path, monkeypatch,
                                                                   tiny_vlm_dir):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("SCREENSIGHT_HOTKEYS", "manual")
    monkeypatch.setenv("SCREENSIGHT_TTS", "spy")
    settings_path().parent.mkdir(parents=True)
    settings_path().write_text("rate = [broken\n")
    server = InstanceServer(f"screensight-test-{uuid.uuid4().hex[:8]}")
    assert server.listen()
    app = Application(qapp, server)
    try:
        app.start()
        status = app.window.status_label.text()
        assert status.startswith("Error: ") and "cannot be read" in status and "default settings" in status
        kept = settings_path().with_name("settings.toml.broken")
        assert kept.read_text() == "rate = [broken\n"  # kept before anything can be saved over it
        assert kept.name in status
        assert not settings_path().exists()
        messages = [e.answer for e in app.window.entries() if e.kind == "Message"]
        assert any("cannot be read" in text and kept.name in text for text in messages)
        # The model message (none is downloaded here) is in the history too, but does not
        # replace the settings problem in the status line.
        assert any("not downloaded" in text for text in messages)
        app.controller.apply_settings(app.controller.settings)
        assert kept.read_text() == "rate = [broken\n"
    finally:
        for dialog in app._dialogs.values():
            dialog.close()
        app.close()


def test_a_second_broken_file_does_not_replace_the_first_kept_copy(tmp_path):
    from assistant.config import keep_broken

    path = tmp_path / "settings.toml"
    path.write_text("first = [")
    assert keep_broken(path) == tmp_path / "settings.toml.broken"
    path.write_text("second = [")
    assert keep_broken(path) == tmp_path / "settings.toml.broken-2"
    assert (tmp_path / "settings.toml.broken").read_text() == "first = ["
    assert keep_broken(path) is None  # nothing left to keep
