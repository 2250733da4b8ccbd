"""The X11 key-grab backend on the test Xvfb: real keys from xdotool (XTEST), a real focused
window that logs every KeyPress it receives, and a second X client that competes for keys."""

from __future__ import annotations

import logging
import os
import select
import shutil
import subprocess
import threading
import time

import pytest
from Xlib import XK, X
from Xlib import display as xdisplay
from Xlib.error import BadAccess, CatchError

from assistant.actions import hotkey_bindings
from assistant.config import Hotkeys
from assistant.hotkeys import parse_combo
from assistant.hotkeys.x11 import ModifierBits, X11GrabHotkeys, keysym_for, modifier_bits

pytestmark = pytest.mark.skipif(not shutil.which("xdotool") or not os.environ.get("DISPLAY"),
                                reason="needs xdotool and an X display")
DEADLINE_S = 10.0


class EchoWindow:
    """A focused X window (its own connection) that records the keys (not modifiers) it receives."""

    def __init__(self) -> None:
        self.conn = xdisplay.Display()
        root = self.conn.screen().root
        self.win = root.create_window(10, 10, 300, 100, 0, X.CopyFromParent, X.InputOutput,
                                      X.CopyFromParent, override_redirect=True,
                                      event_mask=X.KeyPressMask | X.StructureNotifyMask)
        self.win.map()
        self.received: list[str] = []
        self.states: list[int] = []  # the modifier state of each received key
        self._next(lambda e: e.type == X.MapNotify)
        self.conn.set_input_focus(self.win, X.RevertToParent, X.CurrentTime)
        self.conn.sync()

    def wait_typed(self, text: str) -> list[str]:
        """Read KeyPress events until `text` has arrived as the last characters; all received."""
        self._next(lambda _e: "".join(self.received).endswith(text))
        return self.received

    def _next(self, done) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            while self.conn.pending_events():
                event = self.conn.next_event()
                if event.type == X.KeyPress and not self._is_modifier(event):
                    self.received.append(self._char(event))
                    self.states.append(event.state)
                if done(event):
                    return
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"the echo window did not get it; it received {self.received}")
            select.select([self.conn.fileno()], [], [], left)

    def _is_modifier(self, event) -> bool:
        """Modifier and lock keys are never grabbed, so they always arrive: not recorded."""
        keysym = self.conn.keycode_to_keysym(event.detail, 0)
        return 0xFFE1 <= keysym <= 0xFFEE or keysym == 0xFF7F

    def _char(self, event) -> str:
        keysym = self.conn.keycode_to_keysym(event.detail, 1 if event.state & X.ShiftMask else 0)
        name = XK.keysym_to_string(keysym) or ""
        return name if len(name) == 1 else f"<{name or keysym}>"

    def close(self) -> None:
        self.win.destroy()
        self.conn.close()


class Recorder:
    """on_press/on_release callbacks (the grab thread) that tests wait on, without sleeps."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self._changed = threading.Condition()

    def press(self, action: str) -> None:
        self._add(("press", action))

    def release(self, action: str) -> None:
        self._add(("release", action))

    def _add(self, event: tuple[str, str]) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait_count(self, count: int) -> list[tuple[str, str]]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.events) >= count, DEADLINE_S), self.events
            return list(self.events)


class LogSeen(logging.Handler):
    """Sets an event when a record containing `text` is logged (from any thread)."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.text, self.seen = text, threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


@pytest.fixture(scope="module", autouse=True)
def keep_server():
    """One connection for the whole module: an X server without -noreset resets when its last
    client leaves, and a client connecting during the reset is dropped."""
    conn = xdisplay.Display()
    yield conn
    conn.close()


@pytest.fixture
def echo():
    window = EchoWindow()
    yield window
    window.close()


@pytest.fixture
def grab():
    backend = X11GrabHotkeys()
    yield backend
    backend.stop()


def xdotool(*args: str) -> None:
    subprocess.run(["xdotool", *args], check=True, timeout=20)


def test_each_hotkey_fires_once_and_never_reaches_the_focused_window(echo, grab):
    rec = Recorder()
    assert grab.start(hotkey_bindings(Hotkeys()), rec.press, rec.release) == []
    for key in ("l", "x", "space", "d"):
        xdotool("key", "--clearmodifiers", f"ctrl+alt+shift+{key}")
    xdotool("type", "hello")
    assert echo.wait_typed("hello") == list("hello")  # ordinary typing passes, hotkeys do not
    events = rec.wait_count(8)
    presses = [a for kind, a in events if kind == "press"]
    assert presses == ["repeat-last", "stop-speaking", "push-to-talk", "describe-window"]
    assert events.count(("release", "push-to-talk")) == 1


def test_hotkeys_work_with_num_lock_and_caps_lock_on(echo, grab):
    rec = Recorder()
    assert grab.start(hotkey_bindings(Hotkeys()), rec.press, rec.release) == []
    num_lock = _bits(echo.conn).num_lock
    xdotool("key", "Num_Lock", "Caps_Lock")
    try:
        xdotool("key", "ctrl+alt+shift+s")
        xdotool("type", "ok")
        received = echo.wait_typed("ok")
    finally:
        xdotool("key", "Num_Lock", "Caps_Lock")
    assert received == ["o", "k"]
    assert all(state & X.LockMask and state & num_lock for state in echo.states)  # both locks were on
    assert rec.wait_count(2)[0] == ("press", "describe-screen")


def test_holding_push_to_talk_gives_one_press_and_one_release_despite_autorepeat(echo, grab):
    rec = Recorder()
    repeats = LogSeen("autorepeat")
    logger = logging.getLogger("assistant.hotkeys.x11")
    logger.addHandler(repeats)
    level, logger.level = logger.level, logging.DEBUG
    try:
        assert grab.start(hotkey_bindings(Hotkeys()), rec.press, rec.release) == []
        xdotool("keydown", "ctrl+alt+shift+space")
        try:
            assert rec.wait_count(1) == [("press", "push-to-talk")]
            assert repeats.seen.wait(DEADLINE_S), "the X server sent no autorepeat while the key was held"
        finally:
            xdotool("keyup", "space", "shift", "alt", "ctrl")
    finally:
        logger.removeHandler(repeats)
        logger.setLevel(level)
    assert rec.wait_count(2) == [("press", "push-to-talk"), ("release", "push-to-talk")]
    xdotool("type", "ok")
    assert echo.wait_typed("ok") == ["o", "k"]
    assert rec.events == [("press", "push-to-talk"), ("release", "push-to-talk")]


def test_a_key_grabbed_by_another_client_is_reported_by_name(echo, grab):
    other = xdisplay.Display()
    keycode = other.keysym_to_keycode(keysym_for("d"))
    mask = _bits(other).mask(parse_combo("<ctrl>+<alt>+<shift>+d"))
    other.screen().root.grab_key(keycode, mask, False, X.GrabModeAsync, X.GrabModeAsync)
    other.sync()
    try:
        rec = Recorder()
        problems = grab.start(hotkey_bindings(Hotkeys()), rec.press, rec.release)
        assert problems == ["Ctrl+Alt+Shift+D is already used by another application; "
                            "choose another in Settings > Hotkeys."]
        xdotool("key", "--clearmodifiers", "ctrl+alt+shift+l")  # the others still work
        assert rec.wait_count(1)[0] == ("press", "repeat-last")
    finally:
        other.close()


def test_stop_releases_every_grab_at_once(echo, grab):
    rec = Recorder()
    assert grab.start(hotkey_bindings(Hotkeys()), rec.press, rec.release) == []
    began = time.monotonic()
    grab.stop()
    assert time.monotonic() - began < 0.5
    other = xdisplay.Display()
    try:
        bits = _bits(other)
        catcher = CatchError(BadAccess)
        for text in hotkey_bindings(Hotkeys()).values():
            combo = parse_combo(text)
            for variant in bits.lock_variants(bits.mask(combo)):
                other.screen().root.grab_key(other.keysym_to_keycode(keysym_for(combo.key)), variant,
                                             False, X.GrabModeAsync, X.GrabModeAsync, onerror=catcher)
        other.sync()
        assert catcher.get_error() is None
    finally:
        other.close()
    xdotool("key", "--clearmodifiers", "ctrl+alt+shift+d")
    xdotool("type", "ok")
    echo.wait_typed("ok")
    assert rec.events == []


def test_suspend_lets_the_keys_through_and_resume_grabs_them_again(echo, grab):
    rec = Recorder()
    assert grab.start({"describe-window": "<ctrl>+<alt>+<shift>+d"}, rec.press, rec.release) == []
    grab.suspend()
    xdotool("key", "--clearmodifiers", "ctrl+alt+shift+d")
    assert echo.wait_typed("D") == ["D"]
    assert grab.resume() == []
    xdotool("key", "--clearmodifiers", "ctrl+alt+shift+d")
    assert rec.wait_count(1)[0] == ("press", "describe-window")
    xdotool("type", "ok")
    assert echo.wait_typed("ok") == ["D", "o", "k"]


def _spare_keycode(conn) -> int:
    first = conn.display.info.min_keycode
    mapping = conn.get_keyboard_mapping(first, conn.display.info.max_keycode - first + 1)
    return next(first + i for i, syms in enumerate(mapping) if not any(syms))


def test_a_keyboard_mapping_change_never_lets_go_of_the_grabs(echo, grab, monkeypatch, caplog):
    """xdotool and layout switchers remap a spare keycode right before they type: the grabs of
    keys that did not move must be held throughout, or a hotkey pressed then reaches the window."""
    from Xlib.xobject.drawable import Window

    ungrabbed: list[int] = []
    real_ungrab = Window.ungrab_key
    monkeypatch.setattr(Window, "ungrab_key", lambda self, key, *a, **k: (ungrabbed.append(key),
                                                                         real_ungrab(self, key, *a, **k))[1])
    rec = Recorder()
    assert grab.start({"describe-window": "<ctrl>+<alt>+<shift>+d"}, rec.press, rec.release) == []
    caplog.set_level(logging.INFO, logger="assistant.hotkeys.x11")
    renewed = LogSeen("grabs renewed")
    logging.getLogger("assistant.hotkeys.x11").addHandler(renewed)
    spare = _spare_keycode(echo.conn)
    try:
        echo.conn.change_keyboard_mapping(spare, [[XK.string_to_keysym("F35")] * 2])
        echo.conn.sync()
        assert renewed.seen.wait(DEADLINE_S), "the backend never handled the mapping change"
        renewed.seen.clear()
        echo.conn.change_keyboard_mapping(spare, [[0, 0]])
        echo.conn.sync()
        assert renewed.seen.wait(DEADLINE_S)
    finally:
        logging.getLogger("assistant.hotkeys.x11").removeHandler(renewed)
    d_codes = {code for code, _ in echo.conn.keysym_to_keycodes(XK.string_to_keysym("d"))}
    assert not d_codes & set(ungrabbed), "the hotkey's grab was let go during the mapping change"
    xdotool("key", "--clearmodifiers", "ctrl+alt+shift+d")
    assert rec.wait_count(1)[0] == ("press", "describe-window")
    xdotool("type", "ok")
    assert echo.wait_typed("ok") == ["o", "k"]


def test_the_key_capture_field_gets_combos_while_hotkeys_are_grabbed(qtbot, grab):
    from PySide6.QtWidgets import QWidget

    from ui.key_capture import KeyCaptureEdit

    rec = Recorder()
    assert grab.start(hotkey_bindings(Hotkeys()), rec.press, rec.release) == []
    window = QWidget()
    qtbot.addWidget(window)
    edit = KeyCaptureEdit(window)
    edit.capturing.connect(lambda on: grab.suspend() if on else grab.resume())
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    edit.setFocus()
    qtbot.waitUntil(edit.hasFocus, timeout=5000)
    xdotool("key", "--clearmodifiers", "ctrl+alt+shift+w")  # not a hotkey: always the field's
    qtbot.waitUntil(lambda: edit.text() == "<ctrl>+<alt>+<shift>+w", timeout=5000)
    xdotool("key", "--clearmodifiers", "ctrl+alt+shift+d")  # a hotkey: grabs are suspended
    qtbot.waitUntil(lambda: edit.text() == "<ctrl>+<alt>+<shift>+d", timeout=5000)
    assert rec.events == []
    edit.clearFocus()  # resume: the hotkey is ScreenSight's again
    xdotool("key", "--clearmodifiers", "ctrl+alt+shift+d")
    assert rec.wait_count(1)[0] == ("press", "describe-window")


def _bits(conn) -> ModifierBits:
    return modifier_bits(conn.get_modifier_mapping(),
                         lambda code: {conn.keycode_to_keysym(code, i) for i in range(4)})
