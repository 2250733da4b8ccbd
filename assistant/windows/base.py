"""What a window locator is: the focused window's title and rectangle, and the pointer, on one platform."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

Rect = tuple[int, int, int, int]
"""x, y, width, height on the virtual desktop."""

MIN_WINDOW_SIDE = 4
"""Pixels: a window narrower or lower than this on screen shows nothing worth describing."""

# (message, hint) of the CaptureError for each reason a located window cannot be captured.
WINDOW_MINIMISED = (
    "The active window is minimised, so there is nothing of it to see.",
    "Restore it (for example with Alt+Tab) and try again, or describe the whole screen.",
)
WINDOW_HIDDEN = (
    "The active window is hidden, so there is nothing of it to see.",
    "Switch to the window you want described and try again, or describe the whole screen.",
)
WINDOW_CLOSED = (
    "The window closed before it could be captured.",
    "Press the key again to describe the window that is active now.",
)
WINDOW_TOO_SMALL = (
    "The active window is too small to show anything.",
    "Switch to the window you want described and try again, or describe the whole screen.",
)
WINDOW_OFF_SCREEN = (
    "The active window is outside the screen, so there is nothing of it to see.",
    "Move it onto the screen (in many desktops: Alt+F7, then the arrow keys) and try again, "
    "or describe the whole screen.",
)


@dataclass(frozen=True)
class WindowInfo:
    """The focused top-level window: its title, its rectangle on the virtual desktop, and the
    platform's id of it (for WindowLocator.confirm_window; None when unknown)."""

    title: str
    rect: Rect
    handle: int | None = None


class WindowLocator(ABC):
    """Finds the active window and the pointer on one platform."""

    @abstractmethod
    def active_window(self) -> WindowInfo | None:
        """The focused top-level window, or None when there is none.

        May raise CaptureError (message and hint from WINDOW_*) when there is an active window
        but nothing of it can be captured: minimised, hidden, or closed while it was looked at.
        """

    @abstractmethod
    def pointer_position(self) -> tuple[int, int] | None:
        """The mouse pointer on the virtual desktop, or None when unknown."""

    def check_access(self) -> None:
        """Raise CaptureError when this process may not capture the screen (e.g. macOS)."""
        return None

    def confirm_window(self, window: WindowInfo) -> None:
        """Raise CaptureError when `window` closed or was hidden since it was located."""
        return None


class FixedWindowLocator(WindowLocator):
    """A locator with a given window and pointer (for ImageBackend and tests)."""

    def __init__(self, window: WindowInfo | None = None, pointer: tuple[int, int] | None = None):
        self._window = window
        self._pointer = pointer

    def active_window(self) -> WindowInfo | None:
        return self._window

    def pointer_position(self) -> tuple[int, int] | None:
        return self._pointer
