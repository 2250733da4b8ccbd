"""X11: the active top-level window and the pointer, through python-xlib.

The active window is _NET_ACTIVE_WINDOW when a window manager publishes it; otherwise the
input focus, climbed up to its top-level window (there may be no window manager at all, as
on a bare Xvfb). Each call opens its own connection, so any thread may use the locator.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from Xlib import X
from Xlib import display as xdisplay
from Xlib import error as xerror

from assistant.capture import WindowInfo, WindowLocator
from assistant.errors import CaptureError

_MAX_DEPTH = 64  # guards against a malformed window tree


class X11WindowLocator(WindowLocator):
    """Active window and pointer on an X server (DISPLAY, or the display given)."""

    def __init__(self, display: str | None = None) -> None:
        self.display = display

    def active_window(self) -> WindowInfo | None:
        with self._connect() as conn:
            try:
                return _active_window(conn)
            except xerror.XError:  # the window went away while we looked at it
                return None

    def pointer_position(self) -> tuple[int, int] | None:
        with self._connect() as conn:
            try:
                reply = conn.screen().root.query_pointer()
            except xerror.XError:
                return None
            if not reply.same_screen:
                return None
            return (int(reply.root_x), int(reply.root_y))

    @contextmanager
    def _connect(self) -> Iterator[xdisplay.Display]:
        try:
            conn = xdisplay.Display(self.display)
        except (xerror.DisplayError, xerror.XError, OSError) as exc:
            raise CaptureError(
                f"Cannot connect to the X display {self.display or ''} ({exc}).",
                "Check that the desktop session is running and DISPLAY is right.",
            ) from exc
        try:
            yield conn
        finally:
            conn.close()


def _active_window(conn: xdisplay.Display) -> WindowInfo | None:
    root = conn.screen().root
    window = _net_active_window(conn, root)
    if window is None:
        window = _focus_window(conn, root)
    if window is None:
        return None
    top = _top_level(window, root)
    client = _client_window(conn, top) or window
    if client.get_attributes().map_state != X.IsViewable:
        return None
    rect = _root_rect(conn, root, client)
    if rect is None:
        return None
    return WindowInfo(title=_title(conn, client) or _title(conn, top), rect=rect)


def _net_active_window(conn: xdisplay.Display, root):
    atom = conn.intern_atom("_NET_ACTIVE_WINDOW", only_if_exists=True)
    if atom == X.NONE:
        return None
    prop = root.get_full_property(atom, X.AnyPropertyType)
    if prop is None or len(prop.value) == 0 or int(prop.value[0]) in (X.NONE, root.id):
        return None
    return conn.create_resource_object("window", int(prop.value[0]))


def _focus_window(conn: xdisplay.Display, root):
    focus = conn.get_input_focus().focus
    focus_id = focus if isinstance(focus, int) else focus.id
    if focus_id in (X.NONE, X.PointerRoot, root.id):
        return None
    return conn.create_resource_object("window", focus_id)


def _top_level(window, root):
    """Climb to the ancestor whose parent is the root (a WM frame or the window itself)."""
    for _ in range(_MAX_DEPTH):
        tree = window.query_tree()
        if tree.parent == X.NONE or tree.parent.id == root.id:
            return window
        window = tree.parent
    return window


def _client_window(conn: xdisplay.Display, top):
    """The application window inside a WM frame: the first one with WM_STATE."""
    wm_state = conn.intern_atom("WM_STATE", only_if_exists=True)
    if wm_state == X.NONE:
        return None
    queue = [top]
    for _ in range(_MAX_DEPTH * 4):
        if not queue:
            return None
        window = queue.pop(0)
        if window.get_full_property(wm_state, X.AnyPropertyType) is not None:
            return window
        queue.extend(window.query_tree().children)
    return None


def _root_rect(conn: xdisplay.Display, root, window) -> tuple[int, int, int, int] | None:
    geometry = window.get_geometry()
    origin = root.translate_coords(window, 0, 0)
    x, y, w, h = int(origin.x), int(origin.y), int(geometry.width), int(geometry.height)
    # GTK client-side decorations draw invisible shadows inside the window; leave them out.
    left, right, top, bottom = _cardinals(conn, window, "_GTK_FRAME_EXTENTS")
    x, y, w, h = x + left, y + top, w - left - right, h - top - bottom
    if w <= 0 or h <= 0:
        return None
    return (x, y, w, h)


def _cardinals(conn: xdisplay.Display, window, name: str) -> tuple[int, int, int, int]:
    atom = conn.intern_atom(name, only_if_exists=True)
    if atom == X.NONE:
        return (0, 0, 0, 0)
    prop = window.get_full_property(atom, X.AnyPropertyType)
    if prop is None or len(prop.value) != 4:
        return (0, 0, 0, 0)
    left, right, top, bottom = (max(0, int(v)) for v in prop.value)
    return (left, right, top, bottom)


def _title(conn: xdisplay.Display, window) -> str:
    net_name = conn.intern_atom("_NET_WM_NAME", only_if_exists=True)
    if net_name != X.NONE:
        prop = window.get_full_property(net_name, X.AnyPropertyType)
        if prop is not None and prop.value:
            return _text(prop.value)
    prop = window.get_full_property(X.XA_WM_NAME, X.AnyPropertyType)
    if prop is not None and prop.value:
        return _text(prop.value)
    return ""


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
