"""Mouse control: the X11 pointer through XTest on the test Xvfb, the desktop point of a text box."""

from __future__ import annotations

from assistant.pointer import RecordingPointer, X11Pointer, default_pointer, screen_point
from tests.text_scene import pointer_position


def test_x11_pointer_moves_where_the_server_says_it_is():
    pointer = default_pointer()
    assert isinstance(pointer, X11Pointer)
    pointer.move(321, 234)
    assert pointer_position() == (321, 234)
    pointer.click(400, 300)
    assert pointer_position() == (400, 300)


def test_screen_point_adds_the_capture_offset_and_scales_shrunk_images():
    assert screen_point((100, 50, 640, 400), (640, 400), (10, 20, 30, 40)) == (120, 80)
    assert screen_point((0, 0, 2560, 1600), (1280, 800), (10, 20, 30, 40)) == (40, 60)
    assert screen_point(None, (640, 400), (10, 20, 30, 40)) is None


def test_recording_pointer_keeps_moves_and_clicks():
    pointer = RecordingPointer()
    pointer.move(1, 2)
    pointer.click(3, 4)
    assert pointer.moves == [(1, 2), (3, 4)] and pointer.clicks == [(3, 4)]
