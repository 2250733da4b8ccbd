"""Every window can be described: real X clients under the openbox window manager.

A private Xvfb runs openbox; the tests start real clients (xterm, a Tk window from the system
Python, a Qt window from PySide6, plain python-xlib windows) and check what a user gets from
"Describe window": the title exactly as the window shows it, the window's rectangle and
pixels, or a CaptureError with a clear message and hint -- never an exception from Xlib.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from Xlib import X, Xatom

from assistant.capture import (
    NO_WINDOW_NOTE,
    MssBackend,
    default_backend,
)
from assistant.engine import Engine, EngineListener, Request
from assistant.windows import (
    WINDOW_CLOSED,
    WINDOW_MINIMISED,
    WINDOW_TOO_SMALL,
)
from assistant.windows.x11 import X11WindowLocator
from base.errors import CaptureError
from tests.x11_helpers import ManagedDesktop, missing_programs, wait_until

RED = (255, 0, 0)
GREEN = (0, 200, 0)
SYSTEM_PYTHON = "/usr/bin/python3"
NEEDED = ("Xvfb", "openbox", "xterm", "xdotool", "xwininfo")


@pytest.fixture(scope="module")
def managed():
    missing = missing_programs(*NEEDED)
    if missing:
        pytest.skip(f"these tests run real X clients under openbox; missing: {', '.join(missing)}")
    desk = ManagedDesktop()
    yield desk
    desk.close()


@pytest.fixture
def desk(managed):
    """The module's openbox desktop; every client a test starts is closed after it."""
    yield managed
    managed.close_clients()


def start_xterm(desk: ManagedDesktop, name: str, title: str):
    """A real xterm titled `title` (xterm sets WM_NAME only), once openbox made it active."""
    desk.start(["xterm", "-name", name, "-T", title, "-geometry", "40x8+30+40"],
               LANG="C.UTF-8", LC_ALL="C.UTF-8")
    win = desk.wait_client(f"xterm {name}", wm_class=name)
    desk.wait_active(win, f"openbox to activate xterm {name}")
    return win


def wm_name_type(desk: ManagedDesktop, win) -> str:
    prop = win.get_full_property(Xatom.WM_NAME, X.AnyPropertyType)
    return desk.conn.get_atom_name(prop.property_type)


def has_net_wm_name(desk: ManagedDesktop, win) -> bool:
    return win.get_full_property(desk.atom("_NET_WM_NAME"), X.AnyPropertyType) is not None


def capture_error(backend) -> CaptureError:
    with pytest.raises(CaptureError) as info:
        backend.active_window()
    return info.value


# --- real clients: titles and rectangles ------------------------------------------------------

@pytest.mark.parametrize(("title", "encoding"), [
    ("Build log", "STRING"),
    ("Grüße aus Köln", "STRING"),  # Latin-1 bytes in WM_NAME
    ("Привет, мир", "COMPOUND_TEXT"),  # xterm cannot say this in STRING
])
def test_xterm_with_only_wm_name_is_described_with_its_title(desk, title, encoding):
    win = start_xterm(desk, "ss-title", title)
    assert not has_net_wm_name(desk, win)
    assert wm_name_type(desk, win) == encoding
    capture = default_backend(desk.display).active_window()
    assert (capture.source, capture.title) == ("window", title)
    assert capture.rect == desk.geometry(win)
    assert capture.image.size == capture.rect[2:]


def test_tk_window_is_described_with_its_title_and_pixels(desk):
    if subprocess.run([SYSTEM_PYTHON, "-c", "import tkinter"], capture_output=True).returncode:
        pytest.skip(f"{SYSTEM_PYTHON} has no tkinter (apt install python3-tk)")
    script = ("import tkinter; root = tkinter.Tk(className='SsTk'); root.title('Tk: Grüße ✓'); "
              "root.geometry('320x200+100+120'); root.configure(bg='#ff0000'); root.mainloop()")
    desk.start([SYSTEM_PYTHON, "-c", script])
    win = desk.wait_client("the Tk window", wm_class="ssTk")  # Tk: instance ssTk, class Sstk
    desk.wait_active(win, "openbox to activate the Tk window")
    capture = default_backend(desk.display).active_window()
    assert (capture.source, capture.title) == ("window", "Tk: Grüße ✓")
    assert capture.rect == desk.geometry(win)
    assert capture.rect[2:] == (320, 200)
    assert capture.image.getpixel((160, 100)) == RED


def test_qt_window_is_described_with_its_title_and_pixels(desk):
    script = ("from PySide6.QtWidgets import QApplication, QWidget\n"
              "app = QApplication([])\n"
              "w = QWidget(); w.setWindowTitle('Qt — Übersicht ✓')\n"
              "w.setStyleSheet('background: rgb(0, 200, 0)'); w.resize(300, 180); w.show()\n"
              "app.exec()\n")
    proc = desk.start([sys.executable, "-c", script])
    win = desk.wait_client("the Qt window", pid=proc.pid, timeout=60)
    desk.wait_active(win, "openbox to activate the Qt window")
    capture = default_backend(desk.display).active_window()
    assert (capture.source, capture.title) == ("window", "Qt — Übersicht ✓")
    assert capture.rect == desk.geometry(win)
    assert capture.rect[2:] == (300, 180)
    wait_until(lambda: default_backend(desk.display).active_window().image.getpixel((150, 90))
               == GREEN, "Qt to paint its window")


def test_window_without_any_title_is_described_untitled(desk):
    win = desk.make_window((200, 150, 240, 160), RED)
    desk.wait_active(win, "openbox to activate the untitled window")
    capture = default_backend(desk.display).active_window()
    assert (capture.source, capture.title) == ("window", "")
    assert capture.rect == desk.geometry(win)
    assert capture.image.getpixel((120, 80)) == RED


@pytest.mark.parametrize(("kind", "data", "title"), [
    ("STRING", b"Caf\xe9 \xb5-Men\xfc", "Café µ-Menü"),
    ("COMPOUND_TEXT", b"\x1b-L\xbf\xe0\xd8\xd2\xd5\xe2 \x1b%G\xe2\x9c\x93\x1b%@", "Привет ✓"),
    ("UTF8_STRING", b"Bad \xff\xfe bytes", "Bad \xff\xfe bytes"),  # not UTF-8: read as Latin-1
    ("STRING", b"two\x00lines\nand a tab\t", "two lines and a tab"),
])
def test_wm_name_in_any_encoding_becomes_readable_text(desk, kind, data, title):
    win = desk.make_window((100, 100, 200, 120), RED, properties=[("WM_NAME", kind, data)])
    desk.wait_active(win, "openbox to activate the window")
    assert default_backend(desk.display).active_window().title == title


# --- windows with nothing to see ----------------------------------------------------------------

def test_minimised_xterm_leaves_no_active_window_and_the_screen_is_described(desk):
    win = start_xterm(desk, "ss-min", "Minimised log")
    desk.xdotool("windowminimize", str(win.id))
    wait_until(lambda: desk.active_id() == 0 and not desk.is_viewable(win),
               "openbox to minimise the xterm")
    capture = default_backend(desk.display).active_window()
    assert (capture.source, capture.title) == ("screen", NO_WINDOW_NOTE)
    assert capture.rect == (0, 0, 1280, 800)


def test_minimised_window_still_named_active_is_a_clear_message(desk):
    """The moment between minimising and the window manager naming no window active."""
    win = start_xterm(desk, "ss-min2", "Minimised log")
    desk.xdotool("windowminimize", str(win.id))
    # openbox clears _NET_ACTIVE_WINDOW after the unmap; set back before that, its clearing could
    # come after ours. So the moment is made once openbox is done.
    wait_until(lambda: desk.active_id() == 0 and not desk.is_viewable(win), "openbox to minimise the xterm")
    desk.root.change_property(desk.atom("_NET_ACTIVE_WINDOW"), Xatom.WINDOW, 32, [win.id])
    desk.conn.sync()
    error = capture_error(default_backend(desk.display))
    assert (error.message, error.hint) == WINDOW_MINIMISED


def test_one_pixel_managed_window_is_too_small(desk):
    win = desk.make_window((10, 10, 1, 1), RED, properties=[("WM_NAME", "STRING", b"Dot")])
    desk.wait_active(win, "openbox to activate the 1x1 window")
    error = capture_error(default_backend(desk.display))
    assert (error.message, error.hint) == WINDOW_TOO_SMALL


def test_focused_override_redirect_window_is_described(desk):
    """A launcher or popup: openbox names no active window, but the focus is in it."""
    win = desk.make_window((300, 300, 200, 100), RED, override_redirect=True,
                           properties=[("WM_NAME", "STRING", b"Launcher")])
    wait_until(lambda: desk.is_viewable(win), "the override-redirect window to map")
    desk.conn.set_input_focus(win, X.RevertToParent, X.CurrentTime)
    desk.conn.sync()
    capture = default_backend(desk.display).active_window()
    assert (capture.source, capture.title, capture.rect) == ("window", "Launcher",
                                                            (300, 300, 200, 100))
    assert capture.image.getpixel((100, 50)) == RED


def test_tiny_override_redirect_focus_window_is_not_taken_for_the_active_window(desk):
    """Window managers park the focus on 1x1 helper windows when nothing is active."""
    win = desk.make_window((5, 5, 1, 1), RED, override_redirect=True)
    wait_until(lambda: desk.is_viewable(win), "the 1x1 window to map")
    desk.conn.set_input_focus(win, X.RevertToParent, X.CurrentTime)
    desk.conn.sync()
    assert X11WindowLocator(desk.display).active_window() is None
    assert default_backend(desk.display).active_window().source == "screen"


# --- a window that closes between locate and capture ------------------------------------------

class ClosingLocator(X11WindowLocator):
    """Finds the active window, then closes it before the backend grabs and confirms it."""

    def __init__(self, desk: ManagedDesktop, proc: subprocess.Popen, win) -> None:
        super().__init__(desk.display)
        self.desk, self.proc, self.win = desk, proc, win
        self.located = None

    def active_window(self):
        self.located = super().active_window()
        self.proc.terminate()
        wait_until(lambda: self.win not in self.desk.clients(), "the xterm to close")
        return self.located


def test_window_closed_between_locate_and_capture_is_a_clear_message(desk):
    proc = desk.start(["xterm", "-name", "ss-close", "-T", "Closing", "-geometry", "40x8"])
    win = desk.wait_client("xterm ss-close", wm_class="ss-close")
    desk.wait_active(win)
    locator = ClosingLocator(desk, proc, win)
    error = capture_error(MssBackend(locator, desk.display))
    assert locator.located is not None and locator.located.title == "Closing"
    assert (error.message, error.hint) == WINDOW_CLOSED


def test_last_window_closed_leaves_no_active_window_and_the_screen_is_described(desk):
    """openbox keeps naming the last window in _NET_ACTIVE_WINDOW after it closed."""
    win = start_xterm(desk, "ss-last", "Last window")
    desk.close_clients()
    assert desk.active_id() == win.id and not desk.is_viewable(win)
    capture = default_backend(desk.display).active_window()
    assert (capture.source, capture.title) == ("screen", NO_WINDOW_NOTE)


# --- what the engine does with it ---------------------------------------------------------------

class Results(EngineListener):
    def __init__(self) -> None:
        self.results: list = []
        self.done = threading.Event()

    def on_finished(self, result) -> None:
        self.results.append(result)
        self.done.set()


def test_engine_reports_the_closed_window_as_the_sentence_not_a_crash(desk):
    proc = desk.start(["xterm", "-name", "ss-engine", "-T", "Mail", "-geometry", "40x8"])
    win = desk.wait_client("xterm ss-engine", wm_class="ss-engine")
    desk.wait_active(win)
    backend = MssBackend(ClosingLocator(desk, proc, win), desk.display)
    models: list[str] = []
    listener = Results()
    engine = Engine(lambda progress=None: models.append("loaded"), capture=lambda: backend, listener=listener)
    try:
        engine.submit(Request(mode="describe", target="window", speak=False))
        assert listener.done.wait(60)
    finally:
        engine.close()
    (result,) = listener.results
    assert (result.error.message, result.error.hint) == WINDOW_CLOSED
    assert not result.text and models == []
