"""Run in a child process on a 1280x800 display, with QT_SCALE_FACTOR set by the caller: show the
main window, the settings dialog (every page) and both model setup dialogs, and print as JSON
whether each fits on the screen and whether every readable text shows all of its lines.

    python tests/ui_scaling_probe.py
"""

from __future__ import annotations

import json
import sys

from PySide6.QtWidgets import QApplication


def _settle(app: QApplication) -> None:
    for _ in range(30):
        app.processEvents()


def _report(app: QApplication, name: str, widget) -> dict:
    from ui.a11y import ReadableText

    widget.show()
    _settle(app)
    room = app.primaryScreen().availableGeometry()
    frame = widget.frameGeometry()
    cut = [t.text()[:40] for t in widget.findChildren(ReadableText)
           if t.isVisible() and t.height() < t.heightForWidth(t.width()) - 1]
    return {"name": name, "width": frame.width(), "height": frame.height(),
            "room": [room.width(), room.height()],
            "fits": frame.width() <= room.width() and frame.height() <= room.height(),
            "cut_texts": cut}


def main() -> None:
    app = QApplication(sys.argv[:1])
    from assistant.config import Settings
    from base.vocabulary import Role
    from ui.main_window import MainWindow
    from ui.model_setup import ModelSetupDialog
    from ui.settings_dialog import SettingsDialog

    results = []
    window = MainWindow()
    window.show_error("The model could not be loaded because " + "it is a long message " * 15)
    results.append(_report(app, "main window", window))
    settings = SettingsDialog(Settings(), microphones=[])
    for index in range(settings.tabs.count()):
        settings.tabs.setCurrentIndex(index)
        results.append(_report(app, f"settings: {settings.tabs.tabText(index)}", settings))
    results.append(_report(app, "model setup", ModelSetupDialog()))
    results.append(_report(app, "voice setup", ModelSetupDialog(role=Role.SPEECH)))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
