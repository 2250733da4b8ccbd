"""Run in a child process on a test desktop: show the model setup dialog ("setup") or the settings
dialog ("settings"), put the keyboard focus on one of its closed combo boxes (the model box, or
the detail level), and print on stdout, as JSON lines, the box's window title, item labels and
current row, then each row it changes to.

    python -m tests.combo_dialog_app setup|settings
"""

from __future__ import annotations

import json
import sys

from PySide6.QtWidgets import QApplication, QComboBox, QDialog


def _dialog(which: str) -> tuple[QDialog, QComboBox]:
    if which == "setup":
        from ui.model_setup import ModelSetupDialog

        dialog = ModelSetupDialog()
        return dialog, dialog.model_combo
    from assistant.config import Settings
    from ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(Settings(), microphones=[])
    return dialog, dialog.detail


def _say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def main() -> int:
    app = QApplication(sys.argv[:1])
    dialog, combo = _dialog(sys.argv[1])
    combo.currentIndexChanged.connect(lambda row: _say(current=row))
    dialog.show()
    combo.setFocus()
    _say(title=dialog.windowTitle(), items=[combo.itemText(i) for i in range(combo.count())],
         current=combo.currentIndex())
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
