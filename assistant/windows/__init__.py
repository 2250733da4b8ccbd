"""Window locators: the active window and the pointer, one implementation per platform (x11, win32, macos)."""

from __future__ import annotations

import sys

from assistant.windows.base import (
    MIN_WINDOW_SIDE,
    WINDOW_CLOSED,
    WINDOW_HIDDEN,
    WINDOW_MINIMISED,
    WINDOW_OFF_SCREEN,
    WINDOW_TOO_SMALL,
    FixedWindowLocator,
    Rect,
    WindowInfo,
    WindowLocator,
)

__all__ = [
    "MIN_WINDOW_SIDE", "WINDOW_CLOSED", "WINDOW_HIDDEN", "WINDOW_MINIMISED", "WINDOW_OFF_SCREEN",
    "WINDOW_TOO_SMALL", "FixedWindowLocator", "Rect", "WindowInfo", "WindowLocator", "default_locator",
]


def default_locator(display: str | None = None) -> WindowLocator:
    """The WindowLocator for this platform (imported lazily)."""
    if sys.platform == "win32":
        from assistant.windows.win32 import Win32WindowLocator

        return Win32WindowLocator()
    if sys.platform == "darwin":
        from assistant.windows.macos import MacWindowLocator

        return MacWindowLocator()
    from assistant.windows.x11 import X11WindowLocator

    return X11WindowLocator(display)
