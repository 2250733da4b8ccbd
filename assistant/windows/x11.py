"""X11: the active top-level window and the pointer, through python-xlib.

The active window is _NET_ACTIVE_WINDOW when a window manager publishes it; otherwise the
input focus, climbed up to its top-level window (there may be no window manager at all, as
on a bare Xvfb). Each call opens its own connection, so any thread may use the locator.

Whatever a window does (it has no title, a Latin-1 or COMPOUND_TEXT title, is minimised,
closes while we look at it) and whatever the server answers (BadWindow, BadMatch, a lost
connection), the locator returns a WindowInfo, None, or raises a CaptureError with a message
and a hint for the user; no python-xlib exception escapes.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import MappingProxyType
from typing import TypeVar

from Xlib import X, Xatom
from Xlib import display as xdisplay
from Xlib import error as xerror

from assistant.windows.base import (
    MIN_WINDOW_SIDE,
    WINDOW_CLOSED,
    WINDOW_HIDDEN,
    WINDOW_MINIMISED,
    WindowInfo,
    WindowLocator,
)
from base.errors import CaptureError

_MAX_DEPTH = 64  # guards against a malformed window tree
_ICONIC_STATE = 3  # WM_STATE of a minimised window (ICCCM 4.1.3.1)
_GONE = (xerror.BadWindow, xerror.BadDrawable)  # the window was destroyed
_LOST = (xerror.ConnectionClosedError, OSError)  # the X server went away
_T = TypeVar("_T")


class X11WindowLocator(WindowLocator):
    """Active window and pointer on an X server (DISPLAY, or the display given)."""

    def __init__(self, display: str | None = None) -> None:
        self.display = display

    def active_window(self) -> WindowInfo | None:
        with self._connect() as conn:
            return _guarded(lambda: _active_window(conn))

    def confirm_window(self, window: WindowInfo) -> None:
        if window.handle is None:
            return
        with self._connect() as conn:
            _guarded(lambda: _confirm_shown(conn, window.handle))

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
        except (xerror.DisplayError, xerror.XError, *_LOST) as exc:
            raise CaptureError(
                f"Cannot connect to the X display {self.display or ''} ({exc}).",
                "Check that the desktop session is running and DISPLAY is right.",
            ) from exc
        try:
            yield conn
        except _LOST as exc:
            raise CaptureError(
                f"The connection to the X display {self.display or ''} was lost ({exc}).",
                "Check that the desktop session is still running; restart ScreenSight from "
                "the desktop.",
            ) from exc
        finally:
            _close(conn)


def _guarded(look: Callable[[], _T]) -> _T:
    """Run `look`, turning X protocol errors into CaptureErrors a user can act on."""
    try:
        return look()
    except _GONE as exc:
        raise CaptureError(*WINDOW_CLOSED) from exc
    except xerror.XError as exc:
        raise CaptureError(
            f"The X server would not describe the active window ({exc.__class__.__name__}).",
            "Try again; if it keeps happening, describe the whole screen instead.",
        ) from exc


def _close(conn: xdisplay.Display) -> None:
    try:
        conn.close()
    except (*_LOST, xerror.XError):  # already broken: nothing left to release
        pass


def _active_window(conn: xdisplay.Display) -> WindowInfo | None:
    root = conn.screen().root
    window = _net_active_window(conn, root)
    if window is None:
        return _focused_window(conn, root, managed=_wm_running(conn, root))
    top = _top_level(window, root)
    client = _client_window(conn, top) or top
    _check_shown(conn, client)
    return _window_info(conn, root, top, client)


def _focused_window(conn: xdisplay.Display, root, managed: bool) -> WindowInfo | None:
    """The input focus's top-level window; where a window manager runs but names no active
    window, only a mapped override-redirect window (a launcher, a popup) with the focus counts
    (window managers park the focus on tiny helper windows of their own)."""
    focus = _focus_window(conn, root)
    if focus is None:
        return None
    top = _top_level(focus, root)
    client = _client_window(conn, top) or top
    attributes = client.get_attributes()
    if attributes.map_state != X.IsViewable:
        return None  # e.g. a hidden window the window manager parks the focus on
    info = _window_info(conn, root, top, client)
    if managed and not (top.get_attributes().override_redirect
                             and min(info.rect[2:]) >= MIN_WINDOW_SIDE):
        return None
    return info


def _window_info(conn: xdisplay.Display, root, top, client) -> WindowInfo:
    title = _title(conn, client) or _title(conn, top)
    return WindowInfo(title=title, rect=_root_rect(conn, root, client), handle=client.id)


def _check_shown(conn: xdisplay.Display, window) -> None:
    """CaptureError when `window` is not on screen: minimised (iconic) or otherwise hidden."""
    if window.get_attributes().map_state == X.IsViewable:
        return
    if _wm_state(conn, window) == _ICONIC_STATE:
        raise CaptureError(*WINDOW_MINIMISED)
    raise CaptureError(*WINDOW_HIDDEN)


def _confirm_shown(conn: xdisplay.Display, handle: int) -> None:
    _check_shown(conn, conn.create_resource_object("window", handle))


def _wm_state(conn: xdisplay.Display, window) -> int | None:
    atom = conn.intern_atom("WM_STATE", only_if_exists=True)
    if atom == X.NONE:
        return None
    prop = window.get_full_property(atom, atom)
    if prop is None or prop.format != 32 or len(prop.value) == 0:
        return None
    return int(prop.value[0])


def _net_active_window(conn: xdisplay.Display, root):
    """The window _NET_ACTIVE_WINDOW names, or None; also None when that window no longer
    exists (openbox keeps naming the last window after it closed)."""
    window_id = _root_window_property(conn, root, "_NET_ACTIVE_WINDOW")
    if window_id in (X.NONE, root.id):
        return None
    window = conn.create_resource_object("window", window_id)
    try:
        window.get_attributes()
    except _GONE:
        return None
    return window


def _wm_running(conn: xdisplay.Display, root) -> bool:
    """Whether an EWMH window manager announces itself (_NET_SUPPORTING_WM_CHECK)."""
    return _root_window_property(conn, root, "_NET_SUPPORTING_WM_CHECK") != X.NONE


def _root_window_property(conn: xdisplay.Display, root, name: str) -> int:
    """The window id in the root's property `name` (X.NONE when it is not set)."""
    atom = conn.intern_atom(name, only_if_exists=True)
    if atom == X.NONE:
        return X.NONE
    prop = root.get_full_property(atom, X.AnyPropertyType)
    if prop is None or prop.format != 32 or len(prop.value) == 0:
        return X.NONE
    return int(prop.value[0])


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


def _root_rect(conn: xdisplay.Display, root, window) -> tuple[int, int, int, int]:
    """The window on the root, less GTK's invisible shadows (the size may come out <= 0)."""
    geometry = window.get_geometry()
    origin = root.translate_coords(window, 0, 0)
    x, y, w, h = int(origin.x), int(origin.y), int(geometry.width), int(geometry.height)
    left, right, top, bottom = _cardinals(conn, window, "_GTK_FRAME_EXTENTS")
    return (x + left, y + top, w - left - right, h - top - bottom)


def _cardinals(conn: xdisplay.Display, window, name: str) -> tuple[int, int, int, int]:
    atom = conn.intern_atom(name, only_if_exists=True)
    if atom == X.NONE:
        return (0, 0, 0, 0)
    prop = window.get_full_property(atom, X.AnyPropertyType)
    if prop is None or prop.format != 32 or len(prop.value) != 4:
        return (0, 0, 0, 0)
    left, right, top, bottom = (max(0, int(v)) for v in prop.value)
    return (left, right, top, bottom)


# --- titles -----------------------------------------------------------------------------------

def _title(conn: xdisplay.Display, window) -> str:
    """_NET_WM_NAME (UTF-8), else WM_NAME (STRING, COMPOUND_TEXT or UTF8_STRING); "" if none."""
    net_name = conn.intern_atom("_NET_WM_NAME", only_if_exists=True)
    for atom in (net_name, Xatom.WM_NAME):
        if atom == X.NONE:
            continue
        prop = window.get_full_property(atom, X.AnyPropertyType)
        if prop is None or prop.format != 8 or not prop.value:
            continue
        title = clean_title(_decode(conn, prop.property_type, bytes(prop.value)))
        if title:
            return title
    return ""


def _decode(conn: xdisplay.Display, kind: int, data: bytes) -> str:
    if kind == Xatom.STRING:
        return data.decode("latin-1")
    if kind == conn.intern_atom("COMPOUND_TEXT", only_if_exists=True):
        return compound_text(data)
    try:  # UTF8_STRING, or a type some client made up
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def clean_title(text: str) -> str:
    """One line of printable text: list separators (NUL), controls and runs of spaces go."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


# COMPOUND_TEXT (the X Consortium standard): ISO 2022 with GL/GR designations, UTF-8 segments
# and extended segments. GL starts as ASCII and GR as the right half of ISO 8859-1.
_CT_CONTROL = re.compile(
    rb"\x1b(?:%G|%@|%/[0-4][\x80-\xff][\x80-\xff]|[()\-][\x30-\x7e]|\$[()]?[\x30-\x7e])"
    rb"|\x9b[0-2]?\]"
)
_CT_96_SETS = MappingProxyType({
    b"A": "latin_1", b"B": "iso8859_2", b"C": "iso8859_3", b"D": "iso8859_4",
    b"F": "iso8859_7", b"G": "iso8859_6", b"H": "iso8859_8", b"L": "iso8859_5",
    b"M": "iso8859_9", b"b": "iso8859_15",
})
_CT_94N_SETS = MappingProxyType({b"A": "gb2312", b"B": "euc_jp", b"C": "euc_kr"})
_CT_RUN = re.compile(rb"[\x00-\x7f]+|[\x80-\xff]+")


def compound_text(data: bytes) -> str:
    """Decode COMPOUND_TEXT; characters of sets it cannot map become U+FFFD."""
    gl, gr = "ascii", "latin_1"  # codec names; a None set decodes to U+FFFD
    parts: list[str] = []
    pos = 0
    while pos < len(data):
        match = _CT_CONTROL.match(data, pos)
        if match is None:
            end = _next_control(data, pos)
            parts.append(_ct_text(data[pos:end], gl, gr))
            pos = end
            continue
        seq = match.group()
        pos = match.end()
        if seq == b"\x1b%G":  # UTF-8 until ESC % @
            end = data.find(b"\x1b%@", pos)
            end = len(data) if end < 0 else end
            parts.append(data[pos:end].decode("utf-8", errors="replace"))
            pos = end + 3
        elif seq.startswith(b"\x1b%/"):
            length = (seq[4] - 128) * 128 + (seq[5] - 128)
            parts.append(_ct_extended(data[pos:pos + length]))
            pos += length
        else:
            gl, gr = _ct_designate(seq, gl, gr)
    return "".join(parts)


def _next_control(data: bytes, pos: int) -> int:
    ends = [i for i in (data.find(b"\x1b", pos + 1), data.find(b"\x9b", pos + 1)) if i >= 0]
    return min(ends, default=len(data))


def _ct_designate(seq: bytes, gl: str | None, gr: str | None) -> tuple[str | None, str | None]:
    """The GL and GR sets after the designation `seq` (direction controls change nothing)."""
    final = seq[-1:]
    if seq.startswith(b"\x1b("):
        return ("ascii" if final in (b"B", b"J") else None), gr
    if seq.startswith(b"\x1b-"):
        return gl, _CT_96_SETS.get(final)
    if seq.startswith(b"\x1b$)"):
        return gl, _CT_94N_SETS.get(final)
    if seq.startswith(b"\x1b$"):  # ESC $ ( F, or the old ESC $ F: a 94^n set into GL
        codec = _CT_94N_SETS.get(final)
        return (None if codec is None else "shift:" + codec), gr
    if seq.startswith(b"\x1b)"):
        return gl, None
    return gl, gr


def _ct_text(chunk: bytes, gl: str | None, gr: str | None) -> str:
    out = []
    for run in _CT_RUN.finditer(chunk):
        data = run.group()
        codec = gl if data[0] < 0x80 else gr
        if codec is None:
            out.append("\ufffd" * len(data))
        elif codec.startswith("shift:"):  # a 94^n set in GL: its EUC form has the high bit set
            out.append(bytes(b | 0x80 for b in data).decode(codec[6:], errors="replace"))
        else:
            out.append(data.decode(codec, errors="replace"))
    return "".join(out)


def _ct_extended(segment: bytes) -> str:
    """An extended segment: the encoding's name, STX, then text in that encoding."""
    name, _, text = segment.partition(b"\x02")
    charset = name.decode("latin-1").strip().lower()  # e.g. "big5-0": registry-encoding
    for candidate in (charset, charset.rsplit("-", 1)[0]):
        try:
            return text.decode(codecs.lookup(candidate).name, errors="replace")
        except LookupError:
            continue
    return "\ufffd" * len(text)
