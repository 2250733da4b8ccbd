"""The application object: first run without a model opens the setup, a chosen folder is saved."""

from __future__ import annotations

import uuid

from assistant.config import load_settings, settings_path
from ui.app import Application
from ui.single_instance import InstanceServer


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
        assert "The model is ready" in app.window.status_label.text()
        app.controller.handle_action("settings")
        assert app._dialogs["settings"].isVisible()
    finally:
        for dialog in app._dialogs.values():
            dialog.close()
        app.window.hide()
        app.close()


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
        assert app.window.status_label.text().startswith("Error: ")
        assert "cannot be read" in app.window.status_label.text()
        assert "default settings" in app.window.status_label.text()
        assert settings_path().read_text() == "rate = [broken\n"  # nothing lost until the user saves
    finally:
        app.close()
