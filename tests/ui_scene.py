"""A known window to describe: coloured panels and text. `python -m tests.ui_scene` shows it alone."""

from __future__ import annotations

import sys

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent
from PySide6.QtWidgets import QApplication, QWidget

TITLE = "Invoice 42 - Scene"


class SceneWindow(QWidget):
    """A window with a red error banner, a blue button and black text on white."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle(TITLE)
        self.setGeometry(100, 100, 640, 400)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("white"))
        painter.fillRect(QRect(0, 0, 640, 60), QColor("#c62828"))
        painter.setPen(QColor("white"))
        font = QFont()
        font.setPointSize(20)
        painter.setFont(font)
        painter.drawText(QRect(10, 0, 620, 60), Qt.AlignmentFlag.AlignVCenter, "Error: payment failed")
        painter.setPen(QColor("black"))
        painter.drawText(QRect(20, 100, 600, 60), Qt.AlignmentFlag.AlignLeft, "Invoice total: 42 EUR")
        painter.fillRect(QRect(420, 300, 180, 60), QColor("#1565c0"))
        painter.setPen(QColor("white"))
        painter.drawText(QRect(420, 300, 180, 60), Qt.AlignmentFlag.AlignCenter, "Pay again")
        painter.end()


def show_scene(qtbot=None) -> SceneWindow:
    """Show the scene and give it the keyboard focus (the 'active window' without a window manager)."""
    scene = SceneWindow()
    if qtbot is not None:
        qtbot.addWidget(scene)
    scene.show()
    scene.activateWindow()
    if qtbot is not None:
        qtbot.waitExposed(scene)
        qtbot.waitUntil(lambda: QApplication.activeWindow() is scene, timeout=5000)
    return scene


def main() -> int:
    app = QApplication(sys.argv)
    scene = show_scene()
    scene.raise_()
    print("scene shown", flush=True)
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
