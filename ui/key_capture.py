"""A key-capture field for Settings > Hotkeys: press the combination and it is stored.

The field shows (and a screen reader reads) the combination as "Ctrl+Alt+Shift+D"; `text()`
returns it in the settings syntax `<ctrl>+<alt>+<shift>+d`, and `setText()` takes either form,
so the field drops in where a QLineEdit was. A key pressed with Ctrl, Alt or Meta (or an F key)
is captured; other keys type as usual, so the syntax can still be typed. Backspace and Delete
clear the field, Tab and Shift+Tab move the focus (Tab itself cannot be captured) and Escape
is not captured (the field stays as it was; the dialog's Escape works as everywhere).

While it has the focus the field emits `capturing(True)`, so the app can suspend its global
grabs: otherwise a combination ScreenSight already holds would go to the grab, not the field.
"""

from __future__ import annotations

import sys
from types import MappingProxyType

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QFocusEvent, QKeyEvent
from PySide6.QtWidgets import QLineEdit, QWidget

from assistant.hotkeys import Combo, format_combo, parse_combo
from base.errors import ConfigError

K = Qt.Key
M = Qt.KeyboardModifier
_NAMED = MappingProxyType({
    K.Key_Space: "space", K.Key_Return: "enter", K.Key_Enter: "enter", K.Key_Tab: "tab",
    K.Key_Backtab: "tab", K.Key_Backspace: "backspace", K.Key_Delete: "delete",
    K.Key_Insert: "insert", K.Key_Home: "home", K.Key_End: "end", K.Key_PageUp: "page_up",
    K.Key_PageDown: "page_down", K.Key_Left: "left", K.Key_Up: "up", K.Key_Right: "right",
    K.Key_Down: "down", K.Key_Escape: "esc", K.Key_Pause: "pause", K.Key_Print: "print_screen",
    K.Key_Menu: "menu", K.Key_ScrollLock: "scroll_lock", K.Key_CapsLock: "caps_lock",
    K.Key_NumLock: "num_lock",
})
_F_KEYS = frozenset(f"f{i}" for i in range(1, 21))


def qt_key_name(key: int) -> str | None:
    """parse_combo's name of a Qt key code; None for modifier keys and keys it has no name for."""
    if K.Key_A.value <= key <= K.Key_Z.value or K.Key_0.value <= key <= K.Key_9.value:
        return chr(key).lower()
    if K.Key_F1.value <= key <= K.Key_F20.value:
        return f"f{key - K.Key_F1.value + 1}"
    for qt_key, name in _NAMED.items():
        if key == qt_key.value:
            return name
    if 0x20 < key < 0x7F or 0xA0 <= key <= 0xFF:
        return chr(key).lower()
    return None


def combo_from_key(key: int, modifiers: Qt.KeyboardModifier, platform: str = sys.platform) -> Combo | None:
    """The combination a key press makes, or None when it should type as usual (no Ctrl, Alt
    or Meta, and not an F key) or is a modifier alone. On macOS Qt's Control is the Command key."""
    name = qt_key_name(key)
    if name is None:
        return None
    ctrl, cmd = (M.MetaModifier, M.ControlModifier) if platform == "darwin" else (M.ControlModifier, M.MetaModifier)
    held = {"ctrl": ctrl, "alt": M.AltModifier, "shift": M.ShiftModifier, "cmd": cmd}
    mods = frozenset(n for n, flag in held.items() if modifiers & flag)
    if not mods - {"shift"} and name not in _F_KEYS:
        return None
    return Combo(mods, name)


def read_combo(text: str) -> Combo | None:
    """Parse the settings syntax or a label ("Ctrl+Alt+Page Up"); None when it is neither."""
    raw = text.strip()
    try:
        return parse_combo(raw.replace(" ", "_") if raw else raw)
    except ConfigError:
        return None


class KeyCaptureEdit(QLineEdit):
    """Press a combination to set it; `text()`/`setText()` speak the settings syntax."""

    capturing = Signal(bool)  # True while the field has the focus
    captured = Signal(str)    # a combination pressed, in the settings syntax

    def __init__(self, parent: QWidget | None = None, platform: str = sys.platform) -> None:
        super().__init__(parent)
        self._platform = platform
        self.setPlaceholderText("Press the keys, for example Ctrl+Alt+Shift+D")
        self.setAccessibleName("Hotkey")
        self.setAccessibleDescription(DESCRIPTION)
        self.editingFinished.connect(lambda: self.setText(super(KeyCaptureEdit, self).text()))

    def text(self) -> str:
        """The settings syntax (Python callers; Qt and screen readers see the label)."""
        raw = super().text().strip()
        combo = read_combo(raw)
        return format_combo(combo) if combo is not None else raw

    def setText(self, text: str) -> None:
        """Show `text` (settings syntax or label) as its label; text that does not parse as is."""
        combo = read_combo(text)
        super().setText(combo.label() if combo is not None else text)

    def event(self, event: QEvent) -> bool:
        """Take a combination before the dialog's shortcuts do (Alt+A would press Apply)."""
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent) \
                and combo_from_key(event.key(), event.modifiers(), self._platform) is not None:
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, mods = event.key(), event.modifiers()
        plain = not mods & (M.ControlModifier | M.AltModifier | M.MetaModifier)
        if key in (K.Key_Backspace.value, K.Key_Delete.value) and plain:
            super().setText("")
            event.accept()
            return
        if key == K.Key_Escape.value:
            event.ignore()
            return
        combo = combo_from_key(key, mods, self._platform)
        if combo is None:
            super().keyPressEvent(event)
            return
        super().setText(combo.label())
        self.captured.emit(format_combo(combo))
        event.accept()

    def focusInEvent(self, event: QFocusEvent) -> None:
        super().focusInEvent(event)
        self.capturing.emit(True)

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        self.capturing.emit(False)


DESCRIPTION = ("Press the key combination, for example Control, Alt, Shift and D. Backspace clears it; "
               "Tab moves on.")
