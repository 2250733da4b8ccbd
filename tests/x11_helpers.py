"""Put known windows, colours and monitors on a private Xvfb for the capture tests.

Each XDesktop starts its own Xvfb (so windows left by other tests never disturb the pixels we
check) and draws with python-xlib: real X windows with real titles, real geometry and the
pointer moved by xdotool. Xvfb runs no window manager; `set_active` publishes
_NET_ACTIVE_WINDOW as an EWMH window manager would, and `reparent_into_frame` mimics a
reparenting window manager.

ManagedDesktop is the other kind: a private Xvfb with the real openbox window manager, on
which tests start real X clients (xterm, Tk, Qt, xdotool) and wait for them by polling with
deadlines.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from Xlib import X, Xatom
from Xlib import display as xdisplay
from Xlib import error as xerror
from Xlib.ext import randr
from Xlib.protocol import request, rq

from tests.services import Services, start_xvfb

RGB = tuple[int, int, int]
T = TypeVar("T")


class _SetMonitor(rq.Request):
    """RRSetMonitor with the MonitorInfo fields inline (python-xlib 0.33 cannot pack its own)."""

    _request = rq.Struct(
        rq.Card8("opcode"), rq.Opcode(43), rq.RequestLength(), rq.Window("window"),
        rq.Card32("name"), rq.Bool("primary"), rq.Bool("automatic"), rq.LengthOf("crtcs", 2),
        rq.Int16("x"), rq.Int16("y"), rq.Card16("width_in_pixels"),
        rq.Card16("height_in_pixels"), rq.Card32("width_in_millimeters"),
        rq.Card32("height_in_millimeters"), rq.List("crtcs", rq.Card32Obj),
    )


class XDesktop:
    """A private Xvfb and a connection that draws on it."""

    def __init__(self, size: str = "1920x1080x24") -> None:
        self.services = Services()
        self.display = start_xvfb(self.services, size)
        self.conn = xdisplay.Display(self.display)
        self.root = self.conn.screen().root
        self._windows: list = []
        self._connected = True

    # --- pictures -------------------------------------------------------------------------
    def fill_root(self, rgb: RGB) -> None:
        """Paint the whole desktop background one colour."""
        self.root.change_attributes(background_pixel=pixel(rgb))
        self.root.clear_area(0, 0, 0, 0)
        self.conn.sync()

    def window(self, title: str, rect: tuple[int, int, int, int], rgb: RGB, *,
               parent=None, managed: bool = True):
        """Map a window filled with `rgb`; `managed` gives it WM_STATE like a managed client."""
        x, y, w, h = rect
        win = (parent or self.root).create_window(
            x, y, w, h, 0, X.CopyFromParent, X.InputOutput, X.CopyFromParent,
            background_pixel=pixel(rgb), override_redirect=True,
        )
        if title:
            win.change_property(Xatom.WM_NAME, Xatom.STRING, 8,
                                title.encode("latin-1", errors="replace"))
            win.change_property(self.atom("_NET_WM_NAME"), self.atom("UTF8_STRING"), 8,
                                title.encode("utf-8"))
        if managed:
            state = self.atom("WM_STATE")
            win.change_property(state, state, 32, [1, X.NONE])  # NormalState
        win.map()
        self.conn.sync()
        self._windows.append(win)
        return win

    def fill(self, win, rect: tuple[int, int, int, int], rgb: RGB) -> None:
        """Paint a rectangle (window coordinates) inside `win`."""
        gc = win.create_gc(foreground=pixel(rgb))
        win.fill_rectangle(gc, *rect)
        gc.free()
        self.conn.sync()

    def destroy_windows(self) -> None:
        """Remove every window this desktop made."""
        for win in reversed(self._windows):
            win.destroy(onerror=xerror.CatchError(xerror.BadWindow))  # children go with parents
        self._windows.clear()
        self.conn.sync()

    def reparent_into_frame(self, client, frame_rect, border: tuple[int, int], rgb: RGB):
        """Wrap `client` in a frame window, as a reparenting window manager does."""
        frame = self.window("", frame_rect, rgb, managed=False)
        client.reparent(frame, *border)
        client.map()
        self.conn.sync()
        return frame

    def set_gtk_frame_extents(self, win, left: int, right: int, top: int, bottom: int) -> None:
        win.change_property(self.atom("_GTK_FRAME_EXTENTS"), Xatom.CARDINAL, 32,
                            [left, right, top, bottom])
        self.conn.sync()

    # --- focus and pointer -----------------------------------------------------------------
    def set_active(self, win) -> None:
        """Publish _NET_ACTIVE_WINDOW (None removes it, as on a desktop without a WM)."""
        atom = self.atom("_NET_ACTIVE_WINDOW")
        if win is None:
            self.root.delete_property(atom)
        else:
            self.root.change_property(atom, Xatom.WINDOW, 32, [win.id])
        self.conn.sync()

    def focus(self, win) -> None:
        self.conn.set_input_focus(win if win is not None else X.PointerRoot, X.RevertToParent,
                                  X.CurrentTime)
        self.conn.sync()

    def move_pointer(self, x: int, y: int) -> None:
        """Move the real pointer with xdotool and wait until the server reports it there."""
        env = dict(os.environ, DISPLAY=self.display)
        # Not --sync: it waits for a motion event, which never comes if the pointer is there.
        subprocess.run(["xdotool", "mousemove", str(x), str(y)], env=env, check=True, timeout=10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            reply = self.root.query_pointer()
            if (reply.root_x, reply.root_y) == (x, y):
                return
            time.sleep(0.01)
        raise RuntimeError(f"the pointer did not reach {x},{y}")

    # --- monitors --------------------------------------------------------------------------
    def set_monitor(self, name: str, rect: tuple[int, int, int, int], primary: bool = False
                    ) -> None:
        """Define a RandR 1.5 monitor (like `xrandr --setmonitor`)."""
        x, y, w, h = rect
        _SetMonitor(
            display=self.conn.display, opcode=self.conn.display.get_extension_major(randr.extname),
            window=self.root, name=self.atom(name), primary=primary, automatic=False, x=x, y=y,
            width_in_pixels=w, height_in_pixels=h, width_in_millimeters=w // 4,
            height_in_millimeters=h // 4, crtcs=[],
        )
        self.conn.sync()

    def delete_monitor(self, name: str) -> None:
        """Remove a monitor defined with set_monitor (the monitor is "unplugged")."""
        self.root.xrandr_delete_monitor(self.atom(name))
        self.conn.sync()

    # --- lifetime --------------------------------------------------------------------------
    def atom(self, name: str) -> int:
        return self.conn.intern_atom(name)

    def stop_server(self) -> None:
        """Kill the X server (the display is lost)."""
        self._disconnect()
        self.services.stop()

    def close(self) -> None:
        self._disconnect()
        self.services.stop()

    def _disconnect(self) -> None:
        if self._connected:
            self._connected = False
            try:
                self.conn.close()
            except (xerror.ConnectionClosedError, OSError):
                pass


def pixel(rgb: RGB) -> int:
    """The 24-bit TrueColor pixel value of an RGB colour."""
    r, g, b = rgb
    return (r << 16) | (g << 8) | b


def wait_until(condition: Callable[[], T], what: str, timeout: float = 20.0,
               interval: float = 0.02) -> T:
    """Poll `condition` until it returns something truthy (and return that); at the deadline
    raise RuntimeError saying what did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def missing_programs(*names: str) -> list[str]:
    """The programs among `names` that are not on PATH (or, given as paths, not there)."""
    return [name for name in names if shutil.which(name) is None]


class ManagedDesktop:
    """A private Xvfb managed by openbox, and the real X clients a test starts on it."""

    def __init__(self, size: str = "1280x800x24") -> None:
        self.services = Services()
        self.display = start_xvfb(self.services, size)
        self.env = dict(os.environ, DISPLAY=self.display, QT_QPA_PLATFORM="xcb")
        self.env.pop("WAYLAND_DISPLAY", None)
        self.conn = xdisplay.Display(self.display)
        self.root = self.conn.screen().root
        self._clients: list[subprocess.Popen] = []
        self._windows: list = []
        self.wm = self._spawn(["openbox", "--sm-disable"])
        wait_until(self.wm_check_window, "openbox to publish _NET_SUPPORTING_WM_CHECK")

    # --- clients ---------------------------------------------------------------------------
    def start(self, argv: Sequence[str], **env: str) -> subprocess.Popen:
        """Start a real X client on this display, with `env` added (stopped by close_clients)."""
        proc = self._spawn(argv, env)
        self._clients.append(proc)
        return proc

    def wait_client(self, what: str, *, pid: int | None = None, wm_class: str | None = None,
                    timeout: float = 30.0):
        """The client window openbox manages (in _NET_CLIENT_LIST) with this _NET_WM_PID or
        WM_CLASS instance/class name, once it is mapped."""
        def found():
            for win in self.clients():
                if self._matches(win, pid, wm_class) and self.is_viewable(win):
                    return win
            return None
        return wait_until(found, what, timeout)

    def make_window(self, rect: tuple[int, int, int, int], rgb: RGB = (0, 0, 0), *,
                    properties: Sequence[tuple[str, str, bytes]] = (),
                    override_redirect: bool = False):
        """Create and map a window from this process (a plain X client of its own);
        `properties` are (name, type, 8-bit data) set before mapping; none: no title at all."""
        x, y, w, h = rect
        win = self.root.create_window(
            x, y, w, h, 0, X.CopyFromParent, X.InputOutput, X.CopyFromParent,
            background_pixel=pixel(rgb), override_redirect=override_redirect,
        )
        for name, kind, data in properties:
            win.change_property(self.atom(name), self.atom(kind), 8, data)
        win.map()
        self.conn.sync()
        self._windows.append(win)
        return win

    def close_clients(self) -> None:
        """Stop every client this desktop started and wait until openbox forgets them."""
        for win in self._windows:
            # Not win.destroy(): that frees the id for reuse, and openbox may still name it in
            # _NET_ACTIVE_WINDOW, so a later test's window would pass for the active one.
            request.DestroyWindow(display=self.conn.display, window=win.id,
                                  onerror=xerror.CatchError(xerror.BadWindow))
        self._windows.clear()
        self.conn.sync()
        for proc in self._clients:
            if proc.poll() is None:
                proc.terminate()
        for proc in self._clients:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self._clients.clear()
        wait_until(lambda: not self.clients(), "openbox to drop the closed clients' windows")

    # --- state as the window manager publishes it --------------------------------------------
    def clients(self) -> list:
        """The windows in openbox's _NET_CLIENT_LIST."""
        prop = self.root.get_full_property(self.atom("_NET_CLIENT_LIST"), Xatom.WINDOW)
        ids = [] if prop is None else [int(v) for v in prop.value]
        return [self.conn.create_resource_object("window", wid) for wid in ids]

    def active_id(self) -> int:
        """_NET_ACTIVE_WINDOW as openbox publishes it (0 for none)."""
        prop = self.root.get_full_property(self.atom("_NET_ACTIVE_WINDOW"), Xatom.WINDOW)
        return int(prop.value[0]) if prop is not None and len(prop.value) else 0

    def wait_active(self, win, what: str = "the window to become active") -> None:
        """Wait until openbox names `win` the active window."""
        wait_until(lambda: self.active_id() == win.id, what)

    def wm_check_window(self) -> int:
        """The id of openbox's _NET_SUPPORTING_WM_CHECK window (0 until openbox runs)."""
        prop = self.root.get_full_property(self.atom("_NET_SUPPORTING_WM_CHECK"), Xatom.WINDOW)
        return int(prop.value[0]) if prop is not None and len(prop.value) else 0

    def is_viewable(self, win) -> bool:
        try:
            return win.get_attributes().map_state == X.IsViewable
        except xerror.BadWindow:
            return False

    def xdotool(self, *args: str) -> str:
        """Run xdotool on this display and return what it printed."""
        done = subprocess.run(["xdotool", *args], env=self.env, check=True, timeout=20,
                              capture_output=True, text=True)
        return done.stdout

    def geometry(self, win) -> tuple[int, int, int, int]:
        """x, y, width, height of `win` on the root, as `xwininfo` reports it."""
        out = subprocess.run(["xwininfo", "-id", str(win.id)], env=self.env, check=True,
                             timeout=20, capture_output=True, text=True, errors="replace").stdout
        def field(name: str) -> int:
            return int(re.search(rf"{name}:\s+(-?\d+)", out).group(1))
        return (field("Absolute upper-left X"), field("Absolute upper-left Y"), field("Width"),
                field("Height"))

    def atom(self, name: str) -> int:
        return self.conn.intern_atom(name)

    def close(self) -> None:
        self.close_clients()
        try:
            self.conn.close()
        except (xerror.ConnectionClosedError, OSError):
            pass
        self.services.stop()

    def _matches(self, win, pid: int | None, wm_class: str | None) -> bool:
        try:
            if pid is not None:
                prop = win.get_full_property(self.atom("_NET_WM_PID"), Xatom.CARDINAL)
                return prop is not None and int(prop.value[0]) == pid
            names = win.get_wm_class() or ()
            return wm_class in names
        except xerror.BadWindow:
            return False

    def _spawn(self, argv: Sequence[str], env: dict[str, str] | None = None
               ) -> subprocess.Popen:
        proc = subprocess.Popen(list(argv), env={**self.env, **(env or {})}, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.services.procs.append(proc)
        return proc
