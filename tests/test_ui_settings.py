"""The settings dialog: round trip through the controls and the TOML file, problems shown."""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QComboBox, QDialogButtonBox, QLineEdit, QSpinBox, QWidget

from assistant.config import Hotkeys, Settings, load_settings, save_settings
from assistant.speech_out.tts import Voice
from ui.settings_dialog import SettingsDialog

VOICES = [Voice("en-us", "English (America)", ["en-us"]), Voice("de", "German", ["de"])]
MICS = [("pulse:mic", "Test microphone")]


def _dialog(qtbot, settings: Settings) -> SettingsDialog:
    dialog = SettingsDialog(settings, voices=VOICES, microphones=MICS)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def test_controls_round_trip_every_setting(qtbot, tmp_path):
    settings = Settings(vision_model="smolvlm-500m", speech_model="whisper-base", detail="high",
                        voice="de", rate=230, volume=0.55, output="both", language="de",
                        start_with_system=True, keep_history=True, earcons=False,
                        microphone="pulse:mic", push_to_talk_mode="toggle",
                        prepare_in_background=True, quantize=False, threads=3, device="cpu",
                        hotkeys=Hotkeys(describe_window="<ctrl>+<alt>+w", repeat_last=""))
    dialog = _dialog(qtbot, settings)
    assert dialog.collect() == settings
    save_settings(dialog.collect(), tmp_path / "settings.toml")
    assert load_settings(tmp_path / "settings.toml") == settings


def test_a_folder_model_is_kept(qtbot, tmp_path):
    settings = Settings(vision_model=str(tmp_path))
    assert _dialog(qtbot, settings).collect().vision_model == str(tmp_path)


def test_changing_controls_and_ok_sends_new_settings(qtbot):
    dialog = _dialog(qtbot, Settings())
    dialog.rate.setValue(300)
    dialog.detail.setCurrentIndex(dialog.detail.findData("normal"))
    dialog.output.setCurrentIndex(dialog.output.findData("screen_reader"))
    dialog.hotkey_edits["describe-screen"].setText("<ctrl>+<alt>+<shift>+w")
    with qtbot.waitSignal(dialog.applied, timeout=2000) as signal:
        qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    new = signal.args[0]
    assert new == dataclasses.replace(Settings(), rate=300, detail="normal", output="screen_reader",
                                      hotkeys=Hotkeys(describe_screen="<ctrl>+<alt>+<shift>+w"))
    assert not dialog.isVisible()


def test_a_hotkey_is_set_by_pressing_it_in_the_hotkeys_page(qtbot):
    dialog = _dialog(qtbot, Settings())
    field = dialog.hotkey_edits["describe-screen"]
    assert field.displayText() == "Ctrl+Alt+Shift+S"
    mods = Qt.KeyboardModifier
    qtbot.keyClick(field, Qt.Key.Key_W, mods.ControlModifier | mods.AltModifier | mods.ShiftModifier)
    qtbot.keyClick(dialog.hotkey_edits["repeat-last"], Qt.Key.Key_Delete)
    assert dialog.collect().hotkeys == Hotkeys(describe_screen="<ctrl>+<alt>+<shift>+w", repeat_last="")


def test_restore_defaults_fills_in_the_defaults(qtbot):
    dialog = _dialog(qtbot, Settings(rate=400, detail="high"))
    dialog.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).click()
    assert dialog.collect() == Settings()


def test_a_bad_hotkey_is_shown_and_announced_not_saved(qtbot):
    dialog = _dialog(qtbot, Settings())
    dialog.hotkey_edits["describe-screen"].setText(Hotkeys().describe_window)
    announced = []
    dialog.announcer.announced.connect(announced.append)
    with qtbot.assertNotEmitted(dialog.applied):
        dialog.buttons.button(QDialogButtonBox.StandardButton.Apply).click()
    assert dialog.error_label.isVisible()
    assert "already used" in dialog.error_label.text()
    qtbot.waitUntil(lambda: bool(announced), timeout=2000)
    assert "already used" in announced[0]
    assert dialog.isVisible()


def test_every_control_has_a_name_and_a_description(qtbot):
    dialog = _dialog(qtbot, Settings())
    controls = [w for w in dialog.findChildren(QWidget)
                if isinstance(w, (QAbstractButton, QComboBox, QLineEdit, QSpinBox))
                and w.focusPolicy() & Qt.FocusPolicy.TabFocus and w.parent() is not None
                and w.__class__.__name__ != "QToolButton"]
    assert len(controls) > 20
    for widget in controls:
        if isinstance(widget, QLineEdit) and isinstance(widget.parent(), QSpinBox | QComboBox):
            continue  # the editor inside a spin box or combo box: the box carries the name
        assert widget.accessibleName(), f"{widget!r} has no accessible name"
        assert widget.accessibleDescription(), f"{widget!r} {widget.accessibleName()} has no description"


def test_the_device_is_chosen_by_keyboard_and_the_one_in_use_is_shown(qtbot):
    dialog = SettingsDialog(Settings(), voices=VOICES, microphones=MICS, running_on="the CPU, bfloat16")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.device.accessibleName() == "Model device"
    assert dialog.device.currentData() == "auto"
    assert dialog.device_in_use.text() == "In use now: the CPU, bfloat16."
    dialog.tabs.setCurrentIndex(dialog.tabs.count() - 1)  # Advanced
    qtbot.waitUntil(dialog.device.isVisible, timeout=5000)
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow, timeout=5000)
    focused = dialog.focusWidget()
    qtbot.keyClick(focused, Qt.Key.Key_V, Qt.KeyboardModifier.AltModifier)  # Model de&vice
    qtbot.waitUntil(dialog.device.hasFocus, timeout=2000)
    qtbot.keyClick(dialog.device, Qt.Key.Key_Down)
    assert dialog.collect().device == "cpu"
    assert "not loaded yet" in _dialog(qtbot, Settings()).device_in_use.text()
