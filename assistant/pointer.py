"""Mouse control: move the pointer to a point on the desktop and click there (for Find text and the
"Text found" list). One interface, a platform implementation each, and a recording one for tests.

Every call opens and closes its own display connection, so an instance may be used from any thread.
"""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from base.errors import ScreenSightError

Point = tuple[int, int]


class PointerError(ScreenSightError):
    """The mouse pointer could not be moved or clicked."""


class PointerControl(ABC):
    """Moves the mouse pointer and clicks, in virtual-desktop pixels."""

    @abstractmethod
    def move(self, x: int, y: int) -> None:
        """Put the pointer at (x, y)."""

    @abstractmethod
    def click(self, x: int, y: int) -> None:
        """Move to (x, y) and click the left button there."""


class X11Pointer(PointerControl):
    """X11 through the XTest extension (the events arrive like a real mouse's)."""

    def __init__(self, display: str | None = None) -> None:
        self.display = display

    def _open(self):
        from Xlib import display as xdisplay
        from Xlib import error as xerror

        try:
            conn = xdisplay.Display(self.display)
        except (xerror.DisplayError, OSError) as exc:
            raise PointerError(f"The mouse pointer cannot be moved: no X display ({exc}).") from exc
        if not conn.has_extension("XTEST"):
            conn.close()
            raise PointerError("The mouse pointer cannot be moved: the X server has no XTEST extension.")
        return conn

    def _fake(self, conn, events: Sequence[tuple[int, int]], point: Point) -> None:
        from Xlib import X
        from Xlib.ext import xtest

        xtest.fake_input(conn, X.MotionNotify, x=point[0], y=point[1])
        for kind, button in events:
            xtest.fake_input(conn, kind, button)
        conn.sync()

    def move(self, x: int, y: int) -> None:
        conn = self._open()
        try:
            self._fake(conn, (), (x, y))
        finally:
            conn.close()

    def click(self, x: int, y: int) -> None:
        from Xlib import X

        conn = self._open()
        try:
            self._fake(conn, ((X.ButtonPress, 1), (X.ButtonRelease, 1)), (x, y))
        finally:
            conn.close()


class WindowsPointer(PointerControl):
    """Windows through user32 (SetCursorPos, SendInput)."""

    LEFTDOWN, LEFTUP = 0x0002, 0x0004

    def move(self, x: int, y: int) -> None:
        import ctypes

        if not ctypes.windll.user32.SetCursorPos(int(x), int(y)):  # type: ignore[attr-defined]
            raise PointerError("Windows did not let ScreenSight move the mouse pointer.")

    def click(self, x: int, y: int) -> None:
        import ctypes
        from ctypes import wintypes

        class MouseInput(ctypes.Structure):
            _fields_ = [("dx", wintypes.LONG), ("dy", wintypes.LONG), ("mouseData", wintypes.DWORD),
                        ("dwFlags", wintypes.DWORD), ("time", wintypes.DWORD),
                        ("dwExtraInfo", ctypes.POINTER(wintypes.ULONG))]

        class Input(ctypes.Structure):
            _fields_ = [("type", wintypes.DWORD), ("mi", MouseInput), ("_pad", ctypes.c_byte * 8)]

        self.move(x, y)
        inputs = (Input * 2)(Input(0, MouseInput(0, 0, 0, self.LEFTDOWN, 0, None)),
                             Input(0, MouseInput(0, 0, 0, self.LEFTUP, 0, None)))
        sent = ctypes.windll.user32.SendInput(2, inputs, ctypes.sizeof(Input))  # type: ignore[attr-defined]
        if sent != 2:
            raise PointerError("Windows did not let ScreenSight click (another program may block input).")


class MacPointer(PointerControl):
    """macOS through Quartz events (needs the Accessibility permission)."""

    def _post(self, kinds: Sequence[str], x: int, y: int) -> None:
        try:
            import Quartz
        except ImportError as exc:
            raise PointerError("Mouse control needs pyobjc-framework-Quartz.") from exc
        for kind in kinds:
            event = Quartz.CGEventCreateMouseEvent(None, getattr(Quartz, kind), (x, y),
                                                   Quartz.kCGMouseButtonLeft)
            Quartz.CGEventPost(Quartz.kCGHIDEventTap, event)

    def move(self, x: int, y: int) -> None:
        self._post(("kCGEventMouseMoved",), x, y)

    def click(self, x: int, y: int) -> None:
        self._post(("kCGEventMouseMoved", "kCGEventLeftMouseDown", "kCGEventLeftMouseUp"), x, y)


@dataclass
class RecordingPointer(PointerControl):
    """For tests: remembers every move and click, touches no real pointer."""

    moves: list[Point] = field(default_factory=list)
    clicks: list[Point] = field(default_factory=list)

    def move(self, x: int, y: int) -> None:
        self.moves.append((x, y))

    def click(self, x: int, y: int) -> None:
        self.moves.append((x, y))
        self.clicks.append((x, y))


def default_pointer(display: str | None = None) -> PointerControl:
    """The pointer control of this platform."""
    if sys.platform == "win32":
        return WindowsPointer()
    if sys.platform == "darwin":
        return MacPointer()
    return X11Pointer(display or os.environ.get("DISPLAY"))


def screen_point(rect: Sequence[int] | None, image_size: tuple[int, int], box: Sequence[int]) -> Point | None:
    """The desktop point at the centre of `box` (pixels of a captured image of `image_size` taken from
    `rect` x, y, w, h on the desktop); None for images that were not taken from the screen."""
    if rect is None:
        return None
    x, y, w, h = rect
    sx = w / max(image_size[0], 1)
    sy = h / max(image_size[1], 1)
    return (x + round((box[0] + box[2]) / 2 * sx), y + round((box[1] + box[3]) / 2 * sy))
