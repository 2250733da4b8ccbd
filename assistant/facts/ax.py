"""macOS: accessibility facts from the AX API (pyobjc's ApplicationServices, imported on first use).

The app needs the Accessibility permission (System Settings > Privacy & Security); without it
every attribute read fails and the source answers None.
"""

from __future__ import annotations

import logging
from typing import Any

from assistant.facts.base import FactsSource
from assistant.facts.types import (
    MAX_NAME_CHARS,
    MAX_VALUE_CHARS,
    FocusedControl,
    ScreenFacts,
    caret_line,
    clip,
    ordered_states,
)

log = logging.getLogger(__name__)

AX_ROLES = {
    "AXButton": "button", "AXCheckBox": "check box", "AXRadioButton": "radio button",
    "AXTextField": "text field", "AXTextArea": "text field", "AXComboBox": "combo box",
    "AXPopUpButton": "combo box", "AXSlider": "slider", "AXIncrementor": "spin box",
    "AXLink": "link", "AXMenuItem": "menu item", "AXMenuBarItem": "menu", "AXStaticText": "label",
    "AXImage": "image", "AXList": "list", "AXTable": "table", "AXOutline": "tree", "AXRow": "table row",
    "AXCell": "table cell", "AXTabGroup": "tab list", "AXToolbar": "toolbar", "AXWebArea": "web page",
    "AXProgressIndicator": "progress bar", "AXScrollBar": "scroll bar", "AXWindow": "window",
    "AXDisclosureTriangle": "disclosure triangle", "AXHeading": "heading", "AXGroup": "group",
}
AX_SUBROLES = {"AXSecureTextField": "password field", "AXTabButton": "tab", "AXToggle": "toggle button",
               "AXSwitch": "switch", "AXSearchField": "search field"}
VALUE_ROLES = frozenset({"text field", "search field", "combo box", "slider", "spin box", "progress bar"})


def ax_control(role: str, subrole: str = "", title: str = "", description: str = "", value: Any = None,
               enabled: bool = True, expanded: bool | None = None, selected: bool = False,
               caret: int | None = None) -> FocusedControl:
    """A FocusedControl from the AX attributes of the focused element (caret: AXSelectedTextRange's location)."""
    word = AX_SUBROLES.get(subrole) or AX_ROLES.get(role) or (role[2:].lower() if role.startswith("AX") else role)
    secret = word == "password field"
    states: set[str] = set()
    text: str | None = None
    if word in ("check box", "radio button", "switch"):
        states.add({1: "checked", 2: "partially checked"}.get(_int(value), "not checked"))
    elif word == "toggle button":
        if _int(value) == 1:
            states.add("pressed")
    elif not secret and word in VALUE_ROLES and value is not None:
        if isinstance(value, bool):
            text = None
        elif isinstance(value, int | float):
            text = str(int(value)) if float(value).is_integer() else f"{value:g}"
        else:
            raw = str(value)
            text = clip(caret_line(raw, caret) if role == "AXTextArea" and caret is not None else raw,
                        MAX_VALUE_CHARS) or None
    if expanded is not None:
        states.add("expanded" if expanded else "collapsed")
    if selected:
        states.add("selected")
    if not enabled:
        states.add("disabled")
    return FocusedControl(word, clip(title or description, MAX_NAME_CHARS), text, ordered_states(states), secret)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class AxFactsSource(FactsSource):
    """macOS: the frontmost application, its focused window and focused element."""

    name = "ax"

    def __init__(self) -> None:
        self._api: Any = None

    def _services(self) -> Any:
        if self._api is None:
            import ApplicationServices  # pyobjc-framework-ApplicationServices

            self._api = ApplicationServices
        return self._api

    def _attr(self, element: Any, name: str) -> Any:
        error, value = self._services().AXUIElementCopyAttributeValue(element, name, None)
        return value if error == 0 else None

    def current(self) -> ScreenFacts | None:
        try:
            api = self._services()
            app = self._attr(api.AXUIElementCreateSystemWide(), "AXFocusedApplication")
            if app is None:
                return None
            window = self._attr(app, "AXFocusedWindow")
            element = self._attr(app, "AXFocusedUIElement")
            control = None
            if element is not None:
                role = str(self._attr(element, "AXRole") or "")
                subrole = str(self._attr(element, "AXSubrole") or "")
                secret = subrole == "AXSecureTextField"
                caret = None
                selection = None if secret else self._attr(element, "AXSelectedTextRange")
                if selection is not None:
                    ok, text_range = api.AXValueGetValue(selection, api.kAXValueCFRangeType, None)
                    caret = int(text_range.location) if ok else None
                enabled = self._attr(element, "AXEnabled")
                expanded = self._attr(element, "AXExpanded")
                control = ax_control(
                    role, subrole, str(self._attr(element, "AXTitle") or ""),
                    str(self._attr(element, "AXDescription") or ""),
                    None if secret else self._attr(element, "AXValue"),
                    True if enabled is None else bool(enabled),
                    None if expanded is None else bool(expanded),
                    bool(self._attr(element, "AXSelected")), caret)
            title = clip(str(self._attr(window, "AXTitle") or ""), MAX_NAME_CHARS) if window is not None else ""
            return ScreenFacts(clip(str(self._attr(app, "AXTitle") or ""), MAX_NAME_CHARS), title, control,
                               self.name)
        except (ImportError, AttributeError, TypeError, ValueError, OSError) as exc:
            log.info("AX cannot tell what is focused: %s", exc)
            return None
