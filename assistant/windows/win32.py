"""Windows: the foreground window and the pointer through ctypes (user32, dwmapi), DPI aware.

Imports nothing Windows-only at module level; the DLLs are loaded on first use, so the module
imports (and its pure helpers are tested) on any system.
"""

from __future__ import annotations

import ctypes
from ctypes import wintypes

from assistant.windows.base import WindowInfo, WindowLocator
from base.errors import CaptureError

DWMWA_EXTENDED_FRAME_BOUNDS = 9
DPI_AWARENESS_CONTEXT_PER_MONITOR_AWARE_V2 = -4
PROCESS_PER_MONITOR_DPI_AWARE = 2
# The desktop and the taskbar can hold the focus; they are not a window to describe.
SHELL_CLASSES = frozenset({"Progman", "WorkerW", "Shell_TrayWnd", "Shell_SecondaryTrayWnd"})


class Win32WindowLocator(WindowLocator):
    """Foreground window (visible frame, without the invisible resize border) and cursor."""

    def __init__(self) -> None:
        self._dpi_aware = False

    def check_access(self) -> None:
        if not self._dpi_aware:
            make_dpi_aware()
            self._dpi_aware = True

    def active_window(self) -> WindowInfo | None:
        user32 = _user32()
        hwnd = user32.GetForegroundWindow()
        if not hwnd or not user32.IsWindowVisible(hwnd) or user32.IsIconic(hwnd):
            return None
        if _class_name(user32, hwnd) in SHELL_CLASSES:
            return None
        rect = _frame_rect(user32, hwnd)
        if rect is None:
            return None
        return WindowInfo(title=_window_text(user32, hwnd), rect=rect)

    def pointer_position(self) -> tuple[int, int] | None:
        point = wintypes.POINT()
        if not _user32().GetCursorPos(ctypes.byref(point)):
            return None
        return (int(point.x), int(point.y))


def rect_from_ltrb(left: int, top: int, right: int, bottom: int
                   ) -> tuple[int, int, int, int] | None:
    """A Win32 RECT (left, top, right, bottom) as x, y, w, h; None when empty."""
    width, height = right - left, bottom - top
    if width <= 0 or height <= 0:
        return None
    return (left, top, width, height)


def make_dpi_aware() -> None:
    """Ask for physical pixels (per-monitor DPI awareness) so rects match mss's pixels."""
    user32 = _user32()
    set_context = getattr(user32, "SetProcessDpiAwarenessContext", None)
    if set_context is not None:
        set_context.argtypes = [ctypes.c_void_p]
        if set_context(ctypes.c_void_p(DPI_AWARENESS_CONTEXT_PER_MONITOR_AWARE_V2)):
            return
    try:
        shcore = ctypes.WinDLL("shcore")
        shcore.SetProcessDpiAwareness(PROCESS_PER_MONITOR_DPI_AWARE)
    except (AttributeError, OSError):
        user32.SetProcessDPIAware()
    # Already set by Qt or mss: calls fail harmlessly and the earlier setting stays.


def _user32():
    windll = getattr(ctypes, "WinDLL", None)
    if windll is None:
        raise CaptureError(
            "Windows window lookup is not available on this system.",
            "Use the capture backend for this operating system.",
        )
    user32 = windll("user32", use_last_error=True)
    user32.GetForegroundWindow.restype = wintypes.HWND
    return user32


def _frame_rect(user32, hwnd) -> tuple[int, int, int, int] | None:
    rect = wintypes.RECT()
    try:
        dwmapi = ctypes.WinDLL("dwmapi")
        result = dwmapi.DwmGetWindowAttribute(
            wintypes.HWND(hwnd), wintypes.DWORD(DWMWA_EXTENDED_FRAME_BOUNDS),
            ctypes.byref(rect), ctypes.sizeof(rect),
        )
    except (AttributeError, OSError):
        result = -1
    if result != 0 and not user32.GetWindowRect(wintypes.HWND(hwnd), ctypes.byref(rect)):
        return None
    return rect_from_ltrb(rect.left, rect.top, rect.right, rect.bottom)


def _window_text(user32, hwnd) -> str:
    length = user32.GetWindowTextLengthW(wintypes.HWND(hwnd))
    buffer = ctypes.create_unicode_buffer(length + 1)
    user32.GetWindowTextW(wintypes.HWND(hwnd), buffer, length + 1)
    return buffer.value


def _class_name(user32, hwnd) -> str:
    buffer = ctypes.create_unicode_buffer(256)
    user32.GetClassNameW(wintypes.HWND(hwnd), buffer, 256)
    return buffer.value
