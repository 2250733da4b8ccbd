"""Accessible names and descriptions, set the same way on every control."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QWidget


def describe(widget: QWidget, name: str, description: str) -> QWidget:
    """Give a control its accessible name, description and tooltip (a combo box's list too)."""
    widget.setAccessibleName(name)
    widget.setAccessibleDescription(description)
    widget.setToolTip(description)
    if isinstance(widget, QComboBox):
        widget.view().setAccessibleName(f"{name} choices")
        widget.view().setAccessibleDescription(description)
    return widget
