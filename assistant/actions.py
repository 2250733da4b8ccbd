"""The actions a hotkey, the tray menu or `screensight --trigger` can ask the running app for."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType

from assistant.config import Hotkeys

# Hotkeys field -> action name (the field name with dashes), in menu order.
HOTKEY_ACTIONS: tuple[str, ...] = tuple(f.name.replace("_", "-") for f in dataclasses.fields(Hotkeys))
# Actions that have no hotkey of their own.
EXTRA_ACTIONS: tuple[str, ...] = ("show", "settings", "setup-model", "setup-speech", "describe-more",
                                  "clear-history", "click-line", "read-clipboard", "quit")
ACTIONS: tuple[str, ...] = HOTKEY_ACTIONS + EXTRA_ACTIONS

LABELS: Mapping[str, str] = MappingProxyType({
    "describe-window": "Describe the active window",
    "describe-screen": "Describe the whole screen",
    "describe-pointer": "Describe the area around the mouse pointer",
    "read-window": "Read the text in the active window",
    "stop-speaking": "Stop speaking",
    "repeat-last": "Repeat the last answer",
    "ask-question": "Ask a typed question about the last screenshot",
    "push-to-talk": "Ask a spoken question (hold to talk)",
    "new-screenshot": "Start a new conversation with a new screenshot",
    "find-text": "Find text in the active window and move the mouse pointer to it",
    "click-found": "Click the text that was found",
    "click-line": "Click the line selected in the Text found list",
    "read-clipboard": "Read the text of the image on the clipboard",
    "show": "Show the ScreenSight window",
    "settings": "Open the settings",
    "setup-model": "Download or choose the model",
    "setup-speech": "Download or choose the speech model for voice questions",
    "clear-history": "Clear the history",
    "describe-more": "Describe the last screenshot in more detail",
    "quit": "Quit ScreenSight",
})


def hotkey_field(action: str) -> str:
    """The Hotkeys field name of an action (describe-window -> describe_window)."""
    return action.replace("-", "_")


def hotkey_bindings(hotkeys: Hotkeys) -> dict[str, str]:
    """Action name -> key combination for every non-empty binding in the settings."""
    return {action: getattr(hotkeys, hotkey_field(action)) for action in HOTKEY_ACTIONS
            if getattr(hotkeys, hotkey_field(action), "")}
