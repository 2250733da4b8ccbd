"""Windows: accessibility facts from UI Automation (comtypes, imported on first use).

Run it through TimedFactsSource: COM objects belong to the thread that made them, and the
timed source keeps every query on one worker thread of its own.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from assistant.facts.base import FactsSource
from assistant.facts.types import (
    MAX_NAME_CHARS,
    MAX_VALUE_CHARS,
    FocusedControl,
    ScreenFacts,
    clip,
    ordered_states,
)
from assistant.uia_client import UIAutomationClient

log = logging.getLogger(__name__)

# UIA_*ControlTypeId values (UIAutomationClient.h).
CONTROL_TYPES = {
    50000: "button", 50001: "calendar", 50002: "check box", 50003: "combo box", 50004: "text field",
    50005: "link", 50006: "image", 50007: "list item", 50008: "list", 50009: "menu", 50010: "menu bar",
    50011: "menu item", 50012: "progress bar", 50013: "radio button", 50014: "scroll bar",
    50015: "slider", 50016: "spin box", 50017: "status bar", 50018: "tab list", 50019: "tab",
    50020: "label", 50021: "toolbar", 50022: "tooltip", 50023: "tree", 50024: "tree item",
    50026: "group", 50028: "table", 50029: "table row", 50030: "document", 50031: "split button",
    50032: "window", 50033: "pane", 50034: "header", 50035: "column header", 50036: "table",
    50037: "title bar",
}
# UIA_*PropertyId values.
PROP_VALUE = 30045
PROP_VALUE_READ_ONLY = 30046
PROP_RANGE_VALUE = 30047
PROP_TOGGLE_STATE = 30086
PROP_EXPAND_STATE = 30070
PROP_IS_SELECTED = 30079
PROP_HAS_VALUE = 30043
PROP_HAS_RANGE_VALUE = 30033
PROP_HAS_TOGGLE = 30041
PROP_HAS_EXPAND = 30028
PROP_HAS_SELECTION_ITEM = 30036

TOGGLE_OFF, TOGGLE_ON, TOGGLE_INDETERMINATE = 0, 1, 2
COLLAPSED, EXPANDED, PARTIALLY_EXPANDED, LEAF = 0, 1, 2, 3


def uia_control(control_type: int, name: str, is_password: bool, enabled: bool = True,
                value: str | float | None = None, read_only: bool = False, toggle: int | None = None,
                expand: int | None = None, selected: bool = False) -> FocusedControl:
    """A FocusedControl from the properties UI Automation reports for the focused element."""
    role = "password field" if is_password else CONTROL_TYPES.get(control_type, "control")
    states: set[str] = set()
    if toggle is not None:
        if role == "button":
            role = "toggle button"
        if role == "toggle button":
            if toggle == TOGGLE_ON:
                states.add("pressed")
        else:
            states.add({TOGGLE_ON: "checked", TOGGLE_INDETERMINATE: "partially checked"}.get(toggle, "not checked"))
    if expand in (EXPANDED, PARTIALLY_EXPANDED):
        states.add("expanded")
    elif expand == COLLAPSED:
        states.add("collapsed")
    if selected:
        states.add("selected")
    if not enabled:
        states.add("disabled")
    if read_only and role == "text field":
        states.add("read only")
    text: str | None = None
    if not is_password and value is not None and value != "":
        if isinstance(value, float):
            text = str(int(value)) if value.is_integer() else f"{value:g}"
        else:
            text = clip(str(value), MAX_VALUE_CHARS)
    return FocusedControl(role, clip(name, MAX_NAME_CHARS), text, ordered_states(states), is_password)


def _com_errors() -> tuple[type[BaseException], ...]:
    try:
        from _ctypes import COMError  # type: ignore[attr-defined]
    except ImportError:
        return ()
    return (COMError,)


def process_name(pid: int) -> str:
    """The executable's base name without .exe for a process id ("" when it cannot be read)."""
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ""
    try:
        size = wintypes.DWORD(1024)
        buffer = ctypes.create_unicode_buffer(size.value)
        if not kernel32.QueryFullProcessImageNameW(handle, 0, buffer, ctypes.byref(size)):
            return ""
        base = os.path.basename(buffer.value)
        return base[:-4] if base.lower().endswith(".exe") else base
    finally:
        kernel32.CloseHandle(handle)


class UiaFactsSource(FactsSource):
    """Windows: the focused element, its top-level window and its process through UI Automation."""

    name = "uia"

    def __init__(self) -> None:
        self._client = UIAutomationClient()

    def _automation(self) -> Any:
        return self._client.get()

    def prepare(self) -> None:
        try:
            self._automation()
        except (ImportError, OSError, AttributeError, *_com_errors()) as exc:
            log.info("UI Automation is not available: %s", exc)

    def current(self) -> ScreenFacts | None:
        try:
            uia = self._automation()
            element = uia.GetFocusedElement()
            if element is None:
                return None
            prop = element.GetCurrentPropertyValue
            is_password = bool(element.CurrentIsPassword)
            value: str | float | None = None
            if not is_password and prop(PROP_HAS_VALUE):
                value = prop(PROP_VALUE)
            elif not is_password and prop(PROP_HAS_RANGE_VALUE):
                value = float(prop(PROP_RANGE_VALUE))
            control = uia_control(
                int(element.CurrentControlType), str(element.CurrentName or ""), is_password,
                bool(element.CurrentIsEnabled), value,
                bool(prop(PROP_HAS_VALUE) and prop(PROP_VALUE_READ_ONLY)),
                int(prop(PROP_TOGGLE_STATE)) if prop(PROP_HAS_TOGGLE) else None,
                int(prop(PROP_EXPAND_STATE)) if prop(PROP_HAS_EXPAND) else None,
                bool(prop(PROP_HAS_SELECTION_ITEM) and prop(PROP_IS_SELECTED)))
            window = self._top_window(uia, element)
            title = clip(str(window.CurrentName or ""), MAX_NAME_CHARS) if window is not None else ""
            app = process_name(int(element.CurrentProcessId))
            return ScreenFacts(app, title, control, self.name)
        except (ImportError, OSError, AttributeError, ValueError, TypeError, *_com_errors()) as exc:
            log.info("UI Automation cannot tell what is focused: %s", exc)
            return None

    @staticmethod
    def _top_window(uia: Any, element: Any) -> Any:
        """The element's top-level window: the last ancestor below the desktop."""
        walker = uia.ControlViewWalker
        root = uia.GetRootElement()
        node, top = element, None
        for _ in range(64):
            if node is None or uia.CompareElements(node, root):
                break
            top = node
            node = walker.GetParentElement(node)
        return top
