"""Global hotkeys: key combinations, the backend interface, and a backend per platform (x11, win32, macos)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

from assistant.hotkeys.base import (
    MODIFIERS,
    NAMED_KEYS,
    Callback,
    Combo,
    ComboMatcher,
    HotkeyBackend,
    ManualHotkeys,
    PynputHotkeys,
    TriggerCommandHotkeys,
    format_combo,
    key_name,
    parse_bindings,
    parse_combo,
)

__all__ = [
    "MODIFIERS", "NAMED_KEYS", "Callback", "Combo", "ComboMatcher", "HotkeyBackend", "ManualHotkeys",
    "PynputHotkeys", "TriggerCommandHotkeys", "default_backend", "format_combo", "key_name", "parse_bindings",
    "parse_combo",
]

log = logging.getLogger(__name__)


def default_backend(environ: Mapping[str, str] | None = None, platform: str | None = None) -> HotkeyBackend:
    """The backend for this desktop; SCREENSIGHT_HOTKEYS (manual, trigger-command, pynput, x11)
    overrides the choice."""
    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    choice = env.get("SCREENSIGHT_HOTKEYS", "")
    if choice == "manual":
        return ManualHotkeys()
    if choice == "trigger-command":
        return TriggerCommandHotkeys()
    if choice == "pynput":
        return PynputHotkeys()
    if platform == "win32" and not choice:
        from assistant.hotkeys.win32 import Win32Hotkeys

        return Win32Hotkeys()
    if platform == "darwin" and not choice:
        from assistant.hotkeys.macos import MacHotkeys

        return MacHotkeys()
    if platform.startswith("linux") and env.get("XDG_SESSION_TYPE") == "wayland" and choice != "x11":
        return TriggerCommandHotkeys()
    return _x11_backend(env)


def _x11_backend(env: Mapping[str, str]) -> HotkeyBackend:
    """The key-grab backend where it can start; pynput's (watching only) listener otherwise."""
    from assistant.hotkeys.x11 import X11GrabHotkeys, unavailable_reason

    display = env.get("DISPLAY")
    reason = unavailable_reason(display) if display else "DISPLAY is not set"
    if reason is None:
        return X11GrabHotkeys(display)
    log.warning("hotkeys: the X11 key grab cannot start (%s); using pynput, whose keys also reach "
                "the focused application", reason)
    return PynputHotkeys()
