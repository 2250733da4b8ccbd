"""A real Qt window with known text and a real button that logs its clicks, for Read text and Find text."""

from __future__ import annotations

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication, QLabel, QPushButton, QWidget

LINES = ("Quarterly report", "Total sales rose by twelve percent", "Pay again")


class TextWindow(QWidget):
    """Two labels and a button ("Pay again"); `clicks` counts the button's clicked signals."""

    def __init__(self, size: tuple[int, int] = (640, 400), blank: bool = False) -> None:
        super().__init__()
        self.setWindowTitle("Text scene")
        self.setGeometry(100, 100, *size)
        self.setStyleSheet("background: white; color: black;")
        self.clicks = 0
        font = QFont()
        font.setPointSize(18)
        self.labels = []
        self.button = None
        if blank:
            return
        for text, y in ((LINES[0], 30), (LINES[1], 120)):
            label = QLabel(text, self)
            label.setFont(font)
            label.move(30, y)
            label.adjustSize()
            self.labels.append(label)
        self.button = QPushButton(LINES[2], self)
        self.button.setFont(font)
        self.button.setStyleSheet("background: #dddddd; color: black; padding: 12px;")
        self.button.adjustSize()
        self.button.move(size[0] - self.button.width() - 40, size[1] - self.button.height() - 30)
        self.button.clicked.connect(self._clicked)

    def _clicked(self) -> None:
        self.clicks += 1


def show_text_window(qtbot, **kwargs) -> TextWindow:
    """Show the window, active (the window the read and find keys capture)."""
    window = TextWindow(**kwargs)
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    qtbot.waitUntil(lambda: _on_screen(window), timeout=10_000)
    return window


def _on_screen(window: TextWindow) -> bool:
    """True once the X server has the window focused and its pixels drawn (white, with text unless blank)."""
    from assistant.capture import default_backend
    from base.errors import CaptureError

    try:
        capture = default_backend().active_window()
    except CaptureError:
        return False
    if capture.source != "window" or capture.rect[2:] != (window.width(), window.height()):
        return False
    colours = capture.image.getcolors(1 << 16) or []
    white = max(colours, default=(0, (0, 0, 0)))[1] == (255, 255, 255)
    return white and (len(colours) > 1) == bool(window.labels)


def pointer_position() -> tuple[int, int]:
    """Where the X server says the pointer is (python-xlib, on the test Xvfb)."""
    from Xlib import display as xdisplay

    conn = xdisplay.Display()
    try:
        reply = conn.screen().root.query_pointer()
        return reply.root_x, reply.root_y
    finally:
        conn.close()
