"""Put known windows, colours and monitors on a private Xvfb for the capture tests.

Each XDesktop starts its own Xvfb (so windows left by other tests never disturb the pixels we
check) and draws with python-xlib: real X windows with real titles, real geometry and the
pointer moved by xdotool. Xvfb runs no window manager; `set_active` publishes
_NET_ACTIVE_WINDOW as an EWMH window manager would, and `reparent_into_frame` mimics a
reparenting window manager.
"""

from __future__ import annotations

import os
import subprocess
import time

from Xlib import X, Xatom
from Xlib import display as xdisplay
from Xlib import error as xerror
from Xlib.ext import randr
from Xlib.protocol import rq

from tests.services import Services, start_xvfb

RGB = tuple[int, int, int]


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
