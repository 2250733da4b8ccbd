"""Accessible names and descriptions, set the same way on every control."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QWidget


def describe(widget: QWidget, name: str, description: str) -> QWidget:
    """Give a control its accessible name, description and tooltip (a combo box's list too)."""
    widget.setAccessibleName(name)
    widget.setAccessibleDescription(description)
    widget.setToolTip(description)
    if isinstance(widget, QComboBox):
        widget.view().setAccessibleName(f"{name} choices")
        widget.view().setAccessibleDescription(description)
    return widget


def readable_label(parent: QWidget, text: str, name: str, description: str) -> QLabel:
    """A wrapped label that keyboard and screen-reader users can focus, select and copy."""
    label = QLabel(text, parent)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByKeyboard
                                  | Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    describe(label, name, description)
    return label
