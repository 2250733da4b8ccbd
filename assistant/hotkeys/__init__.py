"""Global hotkeys: key combinations, the backend interface, and a backend per platform (x11, win32, macos)."""

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
    default_backend,
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
