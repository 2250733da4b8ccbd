"""Every Alt+letter in a dialog reaches one control, on every page (a clash makes Alt+A open the
Advanced page instead of pressing Apply)."""

from __future__ import annotations

from assistant.config import Settings
from tests.ui_mnemonics import clashes, visible_mnemonics


def test_settings_pages_have_unique_mnemonics(qtbot):
    from ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(Settings(), microphones=[])
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    for index in range(dialog.tabs.count()):
        dialog.tabs.setCurrentIndex(index)
        qtbot.waitUntil(lambda i=index: dialog.tabs.widget(i).isVisible(), timeout=5000)
        assert clashes(dialog) == {}, dialog.tabs.tabText(index)
    letters = dict(visible_mnemonics(dialog))
    assert letters["a"] == "button '&Apply'"


def test_model_setup_has_unique_mnemonics(qtbot):
    from ui.model_setup import ModelSetupDialog

    dialog = ModelSetupDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert clashes(dialog) == {}
    assert len(visible_mnemonics(dialog)) >= 4
