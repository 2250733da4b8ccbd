"""The system tray icon and its menu (where the desktop has a tray)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from assistant.actions import LABELS

MENU_ACTIONS = ("show", "describe-window", "describe-screen", "describe-pointer", "read-window",
                "stop-speaking", "repeat-last", "ask-question", None, "settings", None, "quit")


def app_icon() -> QIcon:
    """A drawn eye, so no image file has to ship."""
    icon = QIcon()
    for size in (16, 32, 64, 128):
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor("#1a4f8b"), max(1, size // 12)))
        painter.setBrush(QColor("white"))
        painter.drawEllipse(size * 0.06, size * 0.25, size * 0.88, size * 0.5)
        painter.setBrush(QColor("#1a4f8b"))
        painter.drawEllipse(size * 0.35, size * 0.35, size * 0.3, size * 0.3)
        painter.end()
        icon.addPixmap(pixmap)
    return icon


class Tray(QObject):
    """Tray icon; each menu entry asks for an action; clicking the icon shows the window."""

    def __init__(self, on_action: Callable[[str], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.icon = QSystemTrayIcon(app_icon(), self)
        self.icon.setToolTip("ScreenSight")
        self.menu = QMenu()
        self.menu.setAccessibleName("ScreenSight menu")
        self._items: dict[str, QAction] = {}
        for action in MENU_ACTIONS:
            if action is None:
                self.menu.addSeparator()
                continue
            item = QAction(LABELS[action], self.menu)
            item.triggered.connect(lambda _checked=False, a=action: on_action(a))
            self.menu.addAction(item)
            self._items[action] = item
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(
            lambda reason: on_action("show") if reason == QSystemTrayIcon.ActivationReason.Trigger else None)

    def set_global_keys(self, labels: dict[str, str]) -> None:
        """Show each action's global key beside its entry (after a tab: drawn, not bound)."""
        for action, item in self._items.items():
            key = labels.get(action, "")
            item.setText(f"{LABELS[action]}\t{key}" if key else LABELS[action])

    @staticmethod
    def available() -> bool:
        return QSystemTrayIcon.isSystemTrayAvailable()

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def notify(self, text: str) -> None:
        self.icon.showMessage("ScreenSight", text, QSystemTrayIcon.MessageIcon.Information, 4000)
