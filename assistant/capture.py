"""Screen capture: the monitor under the pointer, the active window, a region, around the pointer.

One interface (CaptureBackend) with two implementations: MssBackend (the real screen through
mss, plus the platform's WindowLocator for the active window and the pointer) and
ImageBackend (a fixed picture standing in for the desktop: the stand-in for tests and demos).
Every call opens and closes its own mss and display connections, so a backend made on one
thread can be used from another (mss and Xlib objects are not thread-safe).
"""

from __future__ import annotations

import os
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image

from assistant.images import load_image, normalize_image, screen_state
from assistant.windows import (
    MIN_WINDOW_SIDE,
    WINDOW_OFF_SCREEN,
    WINDOW_TOO_SMALL,
    FixedWindowLocator,
    Rect,
    WindowLocator,
    default_locator,
)
from base.errors import CaptureError, ConfigError
from base.vocabulary import DESKTOP_TARGETS, Target

NO_WINDOW_NOTE = "No active window found; captured the whole screen"


@dataclass(frozen=True)
class Capture:
    """A captured picture and where it came from."""

    image: Image.Image
    source: Target  # the desktop target it was taken from, or FILE
    rect: Rect | None  # on the virtual desktop; None for files
    title: str = ""
    taken_at: float = 0.0


class CaptureBackend(ABC):
    """Takes pictures of the desktop."""

    @abstractmethod
    def screen(self) -> Capture:
        """The monitor under the mouse pointer."""

    @abstractmethod
    def active_window(self) -> Capture:
        """The focused top-level window (the screen, with a note in the title, if none)."""

    @abstractmethod
    def region(self, x: int, y: int, w: int, h: int) -> Capture:
        """A rectangle, clipped to the desktop; CaptureError when nothing of it is on screen."""

    @abstractmethod
    def around_pointer(self, width: int = 640, height: int = 400) -> Capture:
        """A width x height rectangle centred on the pointer, kept on its monitor."""

    def close(self) -> None:
        """Release resources (nothing is held between calls by the built-in backends)."""
        return None


class _Desktop(ABC):
    """One open connection to the screen for the length of one capture."""

    @property
    @abstractmethod
    def bounds(self) -> Rect:
        """The whole virtual desktop."""

    @property
    @abstractmethod
    def monitors(self) -> list[Rect]:
        """Each monitor, clipped to the desktop (at least one)."""

    @abstractmethod
    def grab(self, rect: Rect) -> Image.Image:
        """Pixels of `rect` (already inside bounds) as an image."""


class GeometryBackend(CaptureBackend):
    """Screen/window/region/pointer logic shared by every backend on top of a _Desktop."""

    def __init__(self, locator: WindowLocator) -> None:
        self.locator = locator

    @abstractmethod
    def _open(self) -> Iterator[_Desktop]:
        """Context manager yielding a _Desktop for one capture."""

    def screen(self) -> Capture:
        with self._open() as desktop:
            monitor = monitor_at(desktop.monitors, self.locator.pointer_position())
            return self._take(desktop, monitor, Target.SCREEN)

    def active_window(self) -> Capture:
        with self._open() as desktop:
            window = self.locator.active_window()
            if window is None:
                monitor = monitor_at(desktop.monitors, self.locator.pointer_position())
                return self._take(desktop, monitor, Target.SCREEN, NO_WINDOW_NOTE)
            capture = self._take(desktop, visible_window_rect(window.rect, desktop.bounds),
                                 Target.WINDOW, window.title)
            # Checked after the grab: pixels taken while the window was still there are its own.
            self.locator.confirm_window(window)
            return capture

    def region(self, x: int, y: int, w: int, h: int) -> Capture:
        if w <= 0 or h <= 0:
            raise CaptureError(
                f"The region {x},{y},{w},{h} has no area.",
                "Give a width and a height of at least one pixel.",
            )
        with self._open() as desktop:
            rect = clip_rect((x, y, w, h), desktop.bounds)
            if rect is None:
                bx, by, bw, bh = desktop.bounds
                raise CaptureError(
                    f"The region {x},{y},{w},{h} is outside the screen.",
                    f"The desktop spans {bx},{by} to {bx + bw},{by + bh}; give a region inside it.",
                )
            return self._take(desktop, rect, Target.REGION)

    def around_pointer(self, width: int = 640, height: int = 400) -> Capture:
        if width <= 0 or height <= 0:
            raise CaptureError(
                f"The area around the pointer ({width}x{height}) has no size.",
                "Use a width and height of at least one pixel.",
            )
        with self._open() as desktop:
            pointer = self.locator.pointer_position()
            monitor = monitor_at(desktop.monitors, pointer)
            if pointer is None:
                mx, my, mw, mh = monitor
                pointer = (mx + mw // 2, my + mh // 2)
            rect = centred_rect(pointer, width, height, monitor)
            return self._take(desktop, rect, Target.POINTER)

    def _take(self, desktop: _Desktop, rect: Rect, source: Target, title: str = "") -> Capture:
        image = normalize_image(desktop.grab(rect))
        self._check_image(image)
        return Capture(image=image, source=source, rect=rect, title=title,
                       taken_at=time.monotonic())


    def _check_image(self, image: Image.Image) -> None:
        """Hook: refuse a picture that cannot be what the screen shows."""


class MssBackend(GeometryBackend):
    """The real screen through mss; one mss instance per capture (thread-safe use)."""

    def __init__(self, locator: WindowLocator, display: str | None = None) -> None:
        super().__init__(locator)
        self.display = display

    def _check_image(self, image: Image.Image) -> None:
        _refuse_wayland_black(image)

    @contextmanager
    def _open(self) -> Iterator[_Desktop]:
        import mss
        from mss.exception import ScreenShotError

        display = check_display_available(self.display)
        self.locator.check_access()
        kwargs = {"display": display} if display is not None else {}
        factory = getattr(mss, "MSS", None) or mss.mss
        try:
            sct = factory(**kwargs)
        except ScreenShotError as exc:
            raise _display_error(display, exc) from exc
        try:
            yield _MssDesktop(sct, display)
        finally:
            sct.close()


class _MssDesktop(_Desktop):
    def __init__(self, sct, display: str | None) -> None:
        from mss.exception import ScreenShotError

        self._sct = sct
        self._display = display
        try:
            raw = sct.monitors
        except ScreenShotError as exc:
            raise _display_error(display, exc) from exc
        if not raw:
            raise CaptureError("No monitor was found.", "Connect a display and try again.")
        self._bounds = _mss_rect(raw[0])
        monitors = [clip_rect(_mss_rect(m), self._bounds) for m in raw[1:]]
        self._monitors = [m for m in monitors if m is not None] or [self._bounds]

    @property
    def bounds(self) -> Rect:
        return self._bounds

    @property
    def monitors(self) -> list[Rect]:
        return self._monitors

    def grab(self, rect: Rect) -> Image.Image:
        from mss.exception import ScreenShotError

        x, y, w, h = rect
        try:
            shot = self._sct.grab({"left": x, "top": y, "width": w, "height": h})
        except ScreenShotError as exc:
            raise CaptureError(
                f"The screen could not be captured ({exc}).",
                "If a monitor was just unplugged or changed, try again; otherwise restart "
                "ScreenSight.",
            ) from exc
        return Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX")


class ImageBackend(GeometryBackend):
    """A fixed picture standing in for a one-monitor desktop (tests, demos, headless runs)."""

    def __init__(self, image: Image.Image, locator: WindowLocator | None = None) -> None:
        super().__init__(locator or FixedWindowLocator())
        self._image = image.convert("RGB")

    @contextmanager
    def _open(self) -> Iterator[_Desktop]:
        yield _ImageDesktop(self._image)


class _ImageDesktop(_Desktop):
    def __init__(self, image: Image.Image) -> None:
        self._image = image

    @property
    def bounds(self) -> Rect:
        return (0, 0, self._image.width, self._image.height)

    @property
    def monitors(self) -> list[Rect]:
        return [self.bounds]

    def grab(self, rect: Rect) -> Image.Image:
        x, y, w, h = rect
        return self._image.crop((x, y, x + w, y + h))


def default_backend(display: str | None = None) -> CaptureBackend:
    """mss plus this platform's window locator."""
    return MssBackend(default_locator(display), display)


def parse_region(text: str) -> Rect:
    """Parse "X,Y,W,H" (pixels; X and Y may be negative) into four ints."""
    hint = (
        "Give four whole numbers separated by commas: left, top, width, height in pixels, "
        "for example --region 100,200,640,480."
    )
    parts = [part.strip() for part in str(text).split(",")]
    if len(parts) != 4:
        raise ConfigError(f"The region {text!r} is not X,Y,W,H.", hint)
    try:
        x, y, w, h = (int(part) for part in parts)
    except ValueError as exc:
        raise ConfigError(f"The region {text!r} is not four whole numbers.", hint) from exc
    if w <= 0 or h <= 0:
        raise ConfigError(
            f"The region {text!r} has no area: width and height must be above 0.", hint
        )
    return (x, y, w, h)


def capture_target(backend: CaptureBackend, target: Target | str, region: Sequence[int] | None = None
                   ) -> Capture:
    """Capture one of the DESKTOP_TARGETS (REGION needs `region`)."""
    if target == Target.SCREEN:
        return backend.screen()
    if target == Target.WINDOW:
        return backend.active_window()
    if target == Target.POINTER:
        return backend.around_pointer()
    if target == Target.REGION:
        if region is None or len(region) != 4:
            raise ConfigError(
                "A region capture needs a rectangle.", "Give it as --region X,Y,W,H."
            )
        x, y, w, h = (int(v) for v in region)
        return backend.region(x, y, w, h)
    raise ConfigError(
        f"Unknown capture target {target!r}.", f"Use one of: {', '.join(DESKTOP_TARGETS)}."
    )


def check_display_available(display: str | None = None) -> str | None:
    """Return the X display to use (None off X11); CaptureError when there is no screen."""
    if sys.platform in ("win32", "darwin"):
        return None
    display = display or os.environ.get("DISPLAY") or None
    if display:
        return display
    if _is_wayland_session():
        raise CaptureError(
            "This Wayland session does not let ScreenSight see the screen (no X11 access).",
            "Log out and choose an 'Xorg'/'X11' session at the login screen, or make sure "
            "XWayland runs and DISPLAY is set; meanwhile describe a screenshot file with "
            "--image.",
        )
    raise CaptureError(
        "No display found: ScreenSight is not running inside a desktop session.",
        "Start it from your desktop (or set DISPLAY, e.g. DISPLAY=:0); to describe a "
        "picture without a screen use --image FILE.",
    )


def monitor_at(monitors: Sequence[Rect], point: tuple[int, int] | None) -> Rect:
    """The smallest monitor containing `point`; else the nearest one; else the first."""
    if not monitors:
        raise CaptureError("No monitor was found.", "Connect a display and try again.")
    if point is None:
        return monitors[0]
    px, py = point
    containing = [m for m in monitors if m[0] <= px < m[0] + m[2] and m[1] <= py < m[1] + m[3]]
    if containing:
        return min(containing, key=lambda m: m[2] * m[3])
    return min(monitors, key=lambda m: _distance_squared(m, px, py))


def visible_window_rect(rect: Sequence[int], bounds: Rect) -> Rect:
    """The part of a window's `rect` on the desktop; CaptureError when nothing useful is."""
    if rect[2] < MIN_WINDOW_SIDE or rect[3] < MIN_WINDOW_SIDE:
        raise CaptureError(*WINDOW_TOO_SMALL)
    visible = clip_rect(rect, bounds)
    if visible is None or visible[2] < MIN_WINDOW_SIDE or visible[3] < MIN_WINDOW_SIDE:
        raise CaptureError(*WINDOW_OFF_SCREEN)
    return visible


def clip_rect(rect: Sequence[int], bounds: Rect) -> Rect | None:
    """The part of `rect` inside `bounds`, or None when they do not overlap."""
    x, y, w, h = rect
    bx, by, bw, bh = bounds
    left, top = max(x, bx), max(y, by)
    right, bottom = min(x + w, bx + bw), min(y + h, by + bh)
    if right <= left or bottom <= top:
        return None
    return (left, top, right - left, bottom - top)


def centred_rect(point: tuple[int, int], width: int, height: int, area: Rect) -> Rect:
    """A width x height rectangle centred on `point`, shifted (then cut) to stay inside `area`."""
    ax, ay, aw, ah = area
    w, h = min(width, aw), min(height, ah)
    x = min(max(point[0] - w // 2, ax), ax + aw - w)
    y = min(max(point[1] - h // 2, ay), ay + ah - h)
    return (x, y, w, h)


def _distance_squared(rect: Rect, px: int, py: int) -> int:
    x, y, w, h = rect
    dx = max(x - px, 0, px - (x + w - 1))
    dy = max(y - py, 0, py - (y + h - 1))
    return dx * dx + dy * dy


def _mss_rect(monitor: dict) -> Rect:
    return (int(monitor["left"]), int(monitor["top"]), int(monitor["width"]),
            int(monitor["height"]))


def _is_wayland_session() -> bool:
    return (os.environ.get("XDG_SESSION_TYPE", "").lower() == "wayland"
            or bool(os.environ.get("WAYLAND_DISPLAY")))


def _refuse_wayland_black(image: Image.Image) -> None:
    """Under Wayland, X11 capture of native windows comes back black: say so, not "black"."""
    if sys.platform.startswith("linux") and _is_wayland_session() and (
        screen_state(image) == "black"
    ):
        raise CaptureError(
            "The screen capture came back black: this Wayland session hides other apps "
            "from X11 screen capture.",
            "Log out and choose an 'Xorg'/'X11' session at the login screen, or describe a "
            "screenshot file with --image.",
        )


def _display_error(display: str | None, exc: Exception) -> CaptureError:
    return CaptureError(
        f"Cannot connect to the display {display or ''} ({exc}).".replace("  ", " "),
        "Check that the desktop session is still running and that DISPLAY is right; "
        "restart ScreenSight from the desktop.",
    )


def load_image_file(path: str | os.PathLike[str]) -> Capture:
    """Load an image file as a Capture (source "file") for the same pipeline as screenshots."""
    image = load_image(path)
    return Capture(
        image=image,
        source=Target.FILE,
        rect=None,
        title=os.path.basename(os.fspath(path)),
        taken_at=time.monotonic(),
    )
