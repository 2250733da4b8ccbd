"""Screen capture on a real (private) Xvfb with known windows, colours, pointer and monitors."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image
from Xlib import X

from assistant.capture import (
    NO_WINDOW_NOTE,
    Capture,
    ImageBackend,
    MssBackend,
    capture_target,
    centred_rect,
    clip_rect,
    default_backend,
    monitor_at,
    parse_region,
)
from assistant.windows import (
    WINDOW_CLOSED,
    WINDOW_HIDDEN,
    WINDOW_MINIMISED,
    WINDOW_OFF_SCREEN,
    WINDOW_TOO_SMALL,
    FixedWindowLocator,
    WindowInfo,
)
from assistant.windows import x11 as windows_x11
from assistant.windows.macos import MacWindowLocator, front_window
from assistant.windows.win32 import Win32WindowLocator, rect_from_ltrb
from assistant.windows.x11 import X11WindowLocator
from base.errors import CaptureError, ConfigError
from tests.x11_helpers import XDesktop

BACKGROUND = (0, 0, 128)
RED = (255, 0, 0)
GREEN = (0, 200, 0)
YELLOW = (250, 220, 0)
WHITE = (255, 255, 255)


@pytest.fixture(scope="module")
def server():
    desk = XDesktop()
    yield desk
    desk.close()


@pytest.fixture
def desk(server):
    """The module's Xvfb, reset: plain background, no windows, no active window, no focus."""
    server.fill_root(BACKGROUND)
    server.set_active(None)
    server.focus(None)
    server.move_pointer(5, 5)
    yield server
    server.destroy_windows()


@pytest.fixture
def backend(desk):
    return default_backend(desk.display)


def assert_capture(capture: Capture, source: str, rect) -> None:
    assert capture.source == source
    assert capture.rect == rect
    assert capture.image.mode == "RGB"
    assert capture.image.size == (rect[2], rect[3])
    assert capture.taken_at > 0


# --- screen, region, pointer ------------------------------------------------------------------

def test_default_backend_is_mss_with_the_x11_locator(desk):
    backend = default_backend(desk.display)
    assert isinstance(backend, MssBackend)
    assert isinstance(backend.locator, X11WindowLocator)


def test_screen_has_the_known_picture(desk, backend):
    desk.window("Editor", (100, 150, 400, 300), RED)
    capture = backend.screen()
    assert_capture(capture, "screen", (0, 0, 1920, 1080))
    assert capture.image.getpixel((0, 0)) == BACKGROUND
    assert capture.image.getpixel((100, 150)) == RED
    assert capture.image.getpixel((499, 449)) == RED
    assert capture.image.getpixel((500, 450)) == BACKGROUND


def test_region_is_exact(desk, backend):
    win = desk.window("Editor", (100, 150, 400, 300), RED)
    desk.fill(win, (0, 0, 200, 150), GREEN)
    capture = backend.region(250, 250, 100, 80)
    assert_capture(capture, "region", (250, 250, 100, 80))
    # Desktop (299, 299) is window (199, 149): the last green pixel; (300, 300) is red.
    assert capture.image.getpixel((49, 49)) == GREEN
    assert capture.image.getpixel((50, 50)) == RED


def test_region_is_clipped_to_the_desktop(backend):
    capture = backend.region(1800, 1000, 400, 300)
    assert_capture(capture, "region", (1800, 1000, 120, 80))
    assert capture.image.getpixel((119, 79)) == BACKGROUND


def test_region_outside_the_desktop_is_a_clear_error(backend):
    with pytest.raises(CaptureError, match="outside the screen") as info:
        backend.region(3000, 3000, 100, 100)
    assert "1920" in info.value.hint


def test_region_without_area_is_a_clear_error(backend):
    with pytest.raises(CaptureError, match="no area"):
        backend.region(10, 10, 0, 50)


def test_around_pointer_is_centred_on_the_pointer(desk, backend):
    desk.window("Target", (690, 490, 20, 20), YELLOW)
    desk.move_pointer(700, 500)
    capture = backend.around_pointer()
    assert_capture(capture, "pointer", (380, 300, 640, 400))
    assert capture.image.getpixel((320, 200)) == YELLOW
    assert capture.image.getpixel((300, 200)) == BACKGROUND


def test_around_pointer_stays_on_screen_in_a_corner(desk, backend):
    desk.move_pointer(1915, 1075)
    assert backend.around_pointer(300, 200).rect == (1620, 880, 300, 200)


def test_around_pointer_bigger_than_the_monitor_is_cut(desk, backend):
    desk.move_pointer(100, 100)
    assert backend.around_pointer(5000, 5000).rect == (0, 0, 1920, 1080)


# --- the active window ------------------------------------------------------------------------

def test_active_window_from_net_active_window(desk, backend):
    desk.window("Background app", (0, 0, 800, 600), GREEN)
    win = desk.window("Zürich – Rechnung.pdf", (300, 200, 640, 480), RED)
    desk.fill(win, (0, 0, 320, 240), YELLOW)
    desk.set_active(win)
    capture = backend.active_window()
    assert_capture(capture, "window", (300, 200, 640, 480))
    assert capture.title == "Zürich – Rechnung.pdf"
    assert capture.image.getpixel((0, 0)) == YELLOW
    assert capture.image.getpixel((639, 479)) == RED


def test_active_window_from_input_focus_without_a_window_manager(desk, backend):
    app = desk.window("Settings", (50, 60, 300, 200), GREEN)
    button = desk.window("", (10, 10, 50, 20), RED, parent=app, managed=False)
    desk.focus(button)  # focus on a child: the locator climbs to the top-level window
    capture = backend.active_window()
    assert_capture(capture, "window", (50, 60, 300, 200))
    assert capture.title == "Settings"
    assert capture.image.getpixel((15, 15)) == RED
    assert capture.image.getpixel((100, 100)) == GREEN


def test_active_window_inside_a_window_manager_frame(desk, backend):
    client = desk.window("Terminal", (0, 0, 400, 300), GREEN)
    frame = desk.reparent_into_frame(client, (200, 100, 410, 330), (5, 25), WHITE)
    desk.focus(frame)  # a WM focuses its frame; the client (with WM_STATE) is inside
    capture = backend.active_window()
    assert_capture(capture, "window", (205, 125, 400, 300))
    assert capture.title == "Terminal"
    assert capture.image.getpixel((0, 0)) == GREEN
    desk.set_active(client)  # an EWMH WM names the client itself
    assert backend.active_window().rect == (205, 125, 400, 300)


def test_gtk_client_side_shadow_is_left_out(desk, backend):
    win = desk.window("Files", (100, 100, 500, 400), WHITE)
    desk.fill(win, (20, 10, 460, 370), RED)
    desk.set_gtk_frame_extents(win, 20, 20, 10, 20)
    desk.set_active(win)
    capture = backend.active_window()
    assert_capture(capture, "window", (120, 110, 460, 370))
    assert capture.image.getpixel((0, 0)) == RED


def test_active_window_partly_off_screen_is_clipped(desk, backend):
    win = desk.window("Wide", (1700, 900, 600, 400), RED)
    desk.set_active(win)
    assert_capture(backend.active_window(), "window", (1700, 900, 220, 180))


def test_no_active_window_falls_back_to_the_screen(desk, backend):
    desk.window("Unfocused", (10, 10, 100, 100), RED)
    capture = backend.active_window()
    assert_capture(capture, "screen", (0, 0, 1920, 1080))
    assert capture.title == NO_WINDOW_NOTE


def window_error(backend) -> tuple[str, str]:
    with pytest.raises(CaptureError) as info:
        backend.active_window()
    return (info.value.message, info.value.hint)


def test_hidden_active_window_is_a_clear_message(desk, backend):
    win = desk.window("Hidden", (10, 10, 100, 100), RED)
    win.unmap()
    desk.set_active(win)
    assert window_error(backend) == WINDOW_HIDDEN


def test_minimised_active_window_is_a_clear_message(desk, backend):
    win = desk.window("Minimised", (10, 10, 100, 100), RED)
    win.unmap()
    state = desk.atom("WM_STATE")
    win.change_property(state, state, 32, [3, X.NONE])  # IconicState
    desk.set_active(win)
    assert window_error(backend) == WINDOW_MINIMISED


def test_window_with_no_area_left_is_too_small(desk, backend):
    win = desk.window("Shadow only", (100, 100, 60, 60), RED)
    desk.set_gtk_frame_extents(win, 30, 30, 30, 30)
    desk.set_active(win)
    assert window_error(backend) == WINDOW_TOO_SMALL


def test_window_off_the_screen_is_a_clear_message(desk, backend):
    desk.set_active(desk.window("Far away", (3000, 2000, 300, 200), RED))
    assert window_error(backend) == WINDOW_OFF_SCREEN


def test_focused_untitled_window_without_a_window_manager(desk, backend):
    win = desk.window("", (40, 40, 120, 80), GREEN, managed=False)
    desk.focus(win)
    capture = backend.active_window()
    assert (capture.source, capture.title, capture.rect) == ("window", "", (40, 40, 120, 80))


def test_destroyed_active_window_id_falls_back_to_the_screen(desk, backend):
    win = desk.window("Gone", (10, 10, 100, 100), RED)
    desk.set_active(win)
    desk.destroy_windows()
    assert backend.active_window().title == NO_WINDOW_NOTE


def test_window_destroyed_while_it_is_examined_is_a_clear_message(desk, backend, monkeypatch):
    win = desk.window("Closing", (10, 10, 100, 100), RED)
    desk.set_active(win)
    real = windows_x11._root_rect

    def destroy_first(conn, root, window):
        desk.destroy_windows()
        return real(conn, root, window)  # a real BadWindow from the server

    monkeypatch.setattr(windows_x11, "_root_rect", destroy_first)
    assert window_error(backend) == WINDOW_CLOSED


def test_other_x_errors_while_examining_are_a_clear_message(desk, backend, monkeypatch):
    desk.set_active(desk.window("Odd", (10, 10, 100, 100), RED))
    hidden = desk.window("Unmapped", (10, 10, 10, 10), RED)
    hidden.unmap()
    desk.conn.sync()

    def bad_match(conn, root, window):  # GetImage of an unmapped window: a real BadMatch
        conn.create_resource_object("window", hidden.id).get_image(0, 0, 5, 5, X.ZPixmap, 0xFFFFFFFF)

    monkeypatch.setattr(windows_x11, "_root_rect", bad_match)
    with pytest.raises(CaptureError, match=r"would not describe the active window \(BadMatch\)"):
        backend.active_window()


def test_x_server_lost_while_examining_is_a_clear_message(monkeypatch):
    desk = XDesktop()
    try:
        desk.set_active(desk.window("Doomed", (10, 10, 100, 100), RED))

        def lose_server(conn, root, window):
            desk.stop_server()
            return conn.screen().root.get_geometry()  # a real ConnectionClosedError

        monkeypatch.setattr(windows_x11, "_root_rect", lose_server)
        with pytest.raises(CaptureError, match="connection to the X display .* was lost"):
            X11WindowLocator(desk.display).active_window()
    finally:
        desk.close()


def test_image_backend_refuses_a_tiny_window():
    locator = FixedWindowLocator(WindowInfo("Dot", (10, 10, 2, 50)))
    with pytest.raises(CaptureError) as info:
        ImageBackend(Image.new("RGB", (100, 100)), locator).active_window()
    assert (info.value.message, info.value.hint) == WINDOW_TOO_SMALL


def test_pointer_position_follows_xdotool(desk):
    desk.move_pointer(1234, 567)
    assert X11WindowLocator(desk.display).pointer_position() == (1234, 567)


# --- threads ----------------------------------------------------------------------------------

def test_backend_made_on_one_thread_captures_on_others(desk, backend):
    desk.window("Shared", (0, 0, 64, 64), RED)
    made_on = threading.get_ident()
    def work(_):
        assert threading.get_ident() != made_on
        return backend.region(0, 0, 64, 64).image.getpixel((32, 32))
    with ThreadPoolExecutor(max_workers=3) as pool:
        assert list(pool.map(work, range(6))) == [RED] * 6


# --- monitors, and losing them ----------------------------------------------------------------

@pytest.fixture
def two_monitors():
    desk = XDesktop()
    desk.fill_root(BACKGROUND)
    desk.window("Left", (0, 0, 960, 1080), GREEN, managed=False)
    desk.window("Right", (960, 0, 960, 1080), RED, managed=False)
    desk.set_monitor("LEFT", (0, 0, 960, 1080), primary=True)
    desk.set_monitor("RIGHT", (960, 0, 960, 1080))
    yield desk
    desk.close()


def test_screen_is_the_monitor_under_the_pointer(two_monitors):
    backend = default_backend(two_monitors.display)
    two_monitors.move_pointer(1500, 500)
    right = backend.screen()
    assert_capture(right, "screen", (960, 0, 960, 1080))
    assert right.image.getpixel((10, 10)) == RED
    two_monitors.move_pointer(100, 500)
    left = backend.screen()
    assert_capture(left, "screen", (0, 0, 960, 1080))
    assert left.image.getpixel((10, 10)) == GREEN


def test_around_pointer_stays_on_its_monitor(two_monitors):
    two_monitors.move_pointer(970, 500)
    capture = default_backend(two_monitors.display).around_pointer()
    assert capture.rect == (960, 300, 640, 400)
    assert capture.image.getpixel((0, 0)) == RED


def test_monitor_unplugged_between_captures(two_monitors):
    backend = default_backend(two_monitors.display)
    two_monitors.move_pointer(1500, 500)
    assert backend.screen().rect == (960, 0, 960, 1080)
    two_monitors.delete_monitor("RIGHT")
    after = backend.screen()  # the next capture reads the monitors afresh
    # What still shows the pointer is Xvfb's own output monitor, spanning the whole screen.
    assert_capture(after, "screen", (0, 0, 1920, 1080))
    assert after.image.getpixel((1500, 500)) == RED


def test_stale_monitor_outside_the_desktop_is_ignored(two_monitors):
    two_monitors.set_monitor("GHOST", (1920, 0, 800, 600))
    backend = default_backend(two_monitors.display)
    two_monitors.move_pointer(1919, 10)
    assert backend.screen().rect == (960, 0, 960, 1080)
    with pytest.raises(CaptureError, match="outside the screen"):
        backend.region(2000, 10, 100, 100)


def test_display_lost_between_captures():
    desk = XDesktop()
    try:
        backend = default_backend(desk.display)
        assert backend.screen().image.size == (1920, 1080)
        desk.stop_server()
        with pytest.raises(CaptureError, match="Cannot connect") as info:
            backend.screen()
        assert "DISPLAY" in info.value.hint
        with pytest.raises(CaptureError):
            backend.active_window()
    finally:
        desk.close()


# --- sessions without a usable display --------------------------------------------------------

def test_no_display(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("XDG_SESSION_TYPE", "x11")
    with pytest.raises(CaptureError, match="No display") as info:
        default_backend().screen()
    assert "--image" in info.value.hint


def test_wayland_without_x_access(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("XDG_SESSION_TYPE", "wayland")
    with pytest.raises(CaptureError, match="Wayland") as info:
        default_backend().active_window()
    assert "X11" in info.value.hint


def test_wayland_black_capture_is_explained_not_described(monkeypatch, desk):
    """Through XWayland, other apps' windows come back black: say why instead of "black"."""
    monkeypatch.setenv("XDG_SESSION_TYPE", "wayland")
    desk.fill_root((0, 0, 0))
    with pytest.raises(CaptureError, match="Wayland"):
        default_backend(desk.display).screen()
    desk.window("XWayland app", (0, 0, 300, 300), RED)
    assert default_backend(desk.display).screen().image.getpixel((5, 5)) == RED


def test_bad_display_name_is_a_clear_error():
    with pytest.raises(CaptureError, match="Cannot connect"):
        default_backend(":4999").screen()


# --- region parsing and targets ---------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("10,20,300,400", (10, 20, 300, 400)),
    (" -1920 , 0, 640,480 ", (-1920, 0, 640, 480)),
])
def test_parse_region(text, expected):
    assert parse_region(text) == expected


@pytest.mark.parametrize("text", ["", "1,2,3", "1,2,3,4,5", "a,b,c,d", "1.5,2,3,4", "0,0,0,10",
                                  "0,0,10,-5"])
def test_parse_region_rejects_bad_text(text):
    with pytest.raises(ConfigError) as info:
        parse_region(text)
    assert repr(text) in info.value.message
    assert "--region" in info.value.hint


def test_capture_target_dispatches(desk, backend):
    desk.focus(desk.window("Active", (40, 40, 200, 100), RED))
    desk.move_pointer(960, 540)
    assert capture_target(backend, "screen").source == "screen"
    assert capture_target(backend, "window").rect == (40, 40, 200, 100)
    assert capture_target(backend, "pointer").rect == (640, 340, 640, 400)
    assert capture_target(backend, "region", (1, 2, 3, 4)).rect == (1, 2, 3, 4)
    with pytest.raises(ConfigError, match="needs a rectangle"):
        capture_target(backend, "region")
    with pytest.raises(ConfigError, match="Unknown capture target"):
        capture_target(backend, "everything")


# --- the picture-backed backend and the geometry helpers --------------------------------------

def test_image_backend_serves_a_picture_as_the_desktop():
    picture = Image.new("RGB", (800, 600), BACKGROUND)
    picture.paste(RED, (100, 100, 300, 200))
    locator = FixedWindowLocator(WindowInfo("Dialog", (100, 100, 200, 100)), pointer=(790, 590))
    backend = ImageBackend(picture, locator)
    window = backend.active_window()
    assert (window.source, window.rect, window.title) == ("window", (100, 100, 200, 100), "Dialog")
    assert window.image.getpixel((0, 0)) == RED
    assert backend.around_pointer(100, 100).rect == (700, 500, 100, 100)
    assert backend.screen().rect == (0, 0, 800, 600)
    no_window = ImageBackend(picture).active_window()
    assert (no_window.source, no_window.title) == ("screen", NO_WINDOW_NOTE)


def test_monitor_at_prefers_the_smallest_containing_then_the_nearest():
    whole, left, right = (0, 0, 1920, 1080), (0, 0, 960, 1080), (960, 0, 960, 1080)
    assert monitor_at([whole, left, right], (1000, 10)) == right
    assert monitor_at([left, right], (5000, 10)) == right
    assert monitor_at([left, right], None) == left
    with pytest.raises(CaptureError):
        monitor_at([], (0, 0))


def test_clip_and_centre_helpers():
    assert clip_rect((-10, -10, 30, 30), (0, 0, 100, 100)) == (0, 0, 20, 20)
    assert clip_rect((100, 0, 10, 10), (0, 0, 100, 100)) is None
    assert centred_rect((-1500, 10), 200, 100, (-1920, 0, 1920, 1080)) == (-1600, 0, 200, 100)


# --- Windows and macOS logic that runs anywhere -----------------------------------------------

def test_win32_rect_conversion():
    assert rect_from_ltrb(-1920, 0, 0, 1080) == (-1920, 0, 1920, 1080)
    assert rect_from_ltrb(10, 10, 10, 50) is None


def test_win32_locator_off_windows_is_a_clear_error():
    with pytest.raises(CaptureError, match="not available"):
        Win32WindowLocator().pointer_position()


def test_macos_front_window_skips_system_surfaces():
    windows = [
        {"kCGWindowLayer": 25, "kCGWindowOwnerName": "Control Center",
         "kCGWindowBounds": {"X": 0, "Y": 0, "Width": 1440, "Height": 24}},
        {"kCGWindowLayer": 0, "kCGWindowOwnerName": "Dock", "kCGWindowAlpha": 1.0,
         "kCGWindowBounds": {"X": 0, "Y": 0, "Width": 1440, "Height": 900}},
        {"kCGWindowLayer": 0, "kCGWindowOwnerName": "Safari", "kCGWindowAlpha": 0.0,
         "kCGWindowBounds": {"X": 5, "Y": 5, "Width": 500, "Height": 500}},
        {"kCGWindowLayer": 0, "kCGWindowOwnerName": "Mail", "kCGWindowName": "Inbox",
         "kCGWindowAlpha": 1.0, "kCGWindowBounds": {"X": 100.4, "Y": 50, "Width": 800,
                                                     "Height": 600.6}},
    ]
    assert front_window(windows) == WindowInfo("Mail: Inbox", (100, 50, 800, 601))
    assert front_window(windows[:3]) is None


def test_macos_locator_off_macos_is_a_clear_error():
    with pytest.raises(CaptureError, match="not available"):
        MacWindowLocator().check_access()
