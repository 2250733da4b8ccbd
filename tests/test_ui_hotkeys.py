"""Global hotkeys: parsing, matching, the real pynput listener under Xvfb driven by xdotool."""

from __future__ import annotations

import logging
import os
import queue
import shutil
import subprocess
import threading
import time

import pytest
from Xlib import XK

from assistant.actions import ACTIONS, HOTKEY_ACTIONS, hotkey_bindings
from assistant.config import Hotkeys
from assistant.hotkeys import (
    ComboMatcher,
    ManualHotkeys,
    PynputHotkeys,
    TriggerCommandHotkeys,
    default_backend,
    format_combo,
    parse_bindings,
    parse_combo,
)
from assistant.hotkeys.macos import FLAGS_CHANGED, KEY_DOWN, KEY_UP, MacHotkeys, SwallowGate
from assistant.hotkeys.win32 import (
    ERROR_HOTKEY_ALREADY_REGISTERED,
    MOD_ALT,
    MOD_CONTROL,
    MOD_NOREPEAT,
    MOD_SHIFT,
    WM_HOTKEY,
    WM_QUIT,
    Win32Hotkeys,
    modifier_flags,
    vk_for,
)
from assistant.hotkeys.x11 import ModifierBits, X11GrabHotkeys, keysym_for, modifier_bits
from base.errors import ConfigError


def test_parse_combo_reads_pynput_format():
    combo = parse_combo("<ctrl>+<alt>+<shift>+d")
    assert combo.modifiers == {"ctrl", "alt", "shift"}
    assert combo.key == "d"
    assert combo.label() == "Ctrl+Alt+Shift+D"
    assert parse_combo("<CTRL_L>+<Alt>+<space>").label() == "Ctrl+Alt+Space"
    assert parse_combo("<f9>").key == "f9"


@pytest.mark.parametrize("text", ["", "d", "<ctrl>+<bogus>", "<ctrl>+a+b", "<ctrl>+<ctrl>+a", "<ctrl>++"])
def test_parse_combo_rejects_bad_input_with_a_hint(text):
    with pytest.raises(ConfigError) as info:
        parse_combo(text)
    assert info.value.hint


def test_default_hotkeys_all_parse_and_do_not_collide():
    combos, problems = parse_bindings(hotkey_bindings(Hotkeys()))
    assert problems == []
    assert set(combos) == set(HOTKEY_ACTIONS)
    assert set(HOTKEY_ACTIONS) <= set(ACTIONS)


def test_duplicate_and_broken_bindings_are_reported_not_swallowed():
    combos, problems = parse_bindings({"describe-window": "<ctrl>+<alt>+d",
                                       "describe-screen": "<alt>+<ctrl>+d",
                                       "read-window": "<ctrl>+<nonsense>"})
    assert list(combos) == ["describe-window"]
    assert len(problems) == 2
    assert "already used by describe-window" in problems[0]
    assert "read-window" in problems[1]


def test_matcher_needs_exact_modifiers_and_reports_release():
    events = []
    matcher = ComboMatcher({"talk": parse_combo("<ctrl>+<alt>+<space>")},
                           lambda a: events.append(("down", a)), lambda a: events.append(("up", a)))
    for key in ("ctrl", "space"):  # missing alt: nothing
        matcher.key_down(key)
    matcher.key_up("space")
    assert events == []
    matcher.key_down("alt")
    matcher.key_down("space")
    matcher.key_down("space")  # auto-repeat does not fire twice
    matcher.key_up("alt")
    assert events == [("down", "talk"), ("up", "talk")]


def test_trigger_command_backend_explains_what_to_bind():
    problems = TriggerCommandHotkeys().start({"describe-window": "<ctrl>+<alt>+d"}, print, print)
    assert len(problems) == 1
    assert "screensight --trigger describe-window" in problems[0]
    assert "Ctrl+Alt+D" in problems[0]


def test_backend_choice_follows_the_session():
    assert isinstance(default_backend({"XDG_SESSION_TYPE": "wayland"}, "linux"), TriggerCommandHotkeys)
    x11 = {"XDG_SESSION_TYPE": "x11", "DISPLAY": os.environ["DISPLAY"]}
    assert isinstance(default_backend(x11, "linux"), X11GrabHotkeys)
    assert isinstance(default_backend({**x11, "SCREENSIGHT_HOTKEYS": "pynput"}, "linux"), PynputHotkeys)
    assert isinstance(default_backend({"SCREENSIGHT_HOTKEYS": "manual"}), ManualHotkeys)
    assert isinstance(default_backend({}, "win32"), Win32Hotkeys)
    assert isinstance(default_backend({}, "darwin"), MacHotkeys)


def test_without_an_x_display_the_pynput_fallback_is_chosen_and_the_reason_logged(caplog):
    caplog.set_level(logging.WARNING, logger="assistant.hotkeys")
    assert isinstance(default_backend({"XDG_SESSION_TYPE": "x11", "DISPLAY": ":999"}, "linux"), PynputHotkeys)
    assert "no X display" in caplog.text
    assert isinstance(default_backend({"XDG_SESSION_TYPE": "x11"}, "linux"), PynputHotkeys)
    assert "DISPLAY is not set" in caplog.text


def test_format_combo_writes_what_parse_combo_reads():
    for text in ("<ctrl>+<alt>+<shift>+d", "<ctrl>+<alt>+<shift>+space", "f9", "<alt>+<cmd>+page_up"):
        assert format_combo(parse_combo(text)) == text
    assert format_combo(parse_combo("<ctrl>+<alt>+<space>")) == "<ctrl>+<alt>+space"
    assert format_combo(parse_combo("<shift>+<ctrl>+X")) == "<ctrl>+<shift>+x"


def test_matcher_says_which_events_belong_to_a_held_combination():
    matcher = ComboMatcher({"talk": parse_combo("<ctrl>+<space>")}, print, print)
    assert matcher.key_down("ctrl") is False
    assert matcher.key_down("space") is True
    assert matcher.key_down("space") is True  # the repeat is swallowed too
    assert matcher.key_down("a") is False
    assert matcher.key_up("space") is True
    assert matcher.key_up("ctrl") is False


def test_x11_keysyms_and_modifier_bits_come_from_the_mapping():
    assert keysym_for("d") == XK.string_to_keysym("d")
    assert keysym_for("space") == XK.string_to_keysym("space")
    assert keysym_for("page_up") == XK.string_to_keysym("Prior")
    assert keysym_for("f20") == XK.string_to_keysym("F20")
    assert keysym_for("é") == XK.string_to_keysym("eacute")
    assert keysym_for("ж") == 0x01000436
    # NumLock on Mod3, Alt on Mod2 and Super on Mod5: an unusual map is read, not assumed.
    keysyms = {10: {0xFF7F}, 11: {0xFFE9}, 12: {0xFFEB}}
    modmap = [[50], [66], [37], [], [11], [10], [], [12]]
    bits = modifier_bits(modmap, lambda code: keysyms.get(code, set()))
    assert (bits.num_lock, bits.alt, bits.cmd) == (1 << 5, 1 << 4, 1 << 7)
    mask = bits.mask(parse_combo("<ctrl>+<alt>+d"))
    assert mask == 4 | (1 << 4)
    assert bits.lock_variants(mask) == (mask, mask | 2, mask | (1 << 5), mask | 2 | (1 << 5))
    assert bits.plain(mask | 2 | (1 << 5) | 0x100) == mask
    assert modifier_bits([[], [], [], [], [], [], [], []], lambda _c: set()) == ModifierBits()


def test_win32_virtual_keys_and_modifier_flags():
    assert vk_for("d") == 0x44
    assert vk_for("7") == 0x37
    assert vk_for("space") == 0x20
    assert vk_for("f12") == 0x7B
    assert vk_for(",", lambda ch: 0xBC) == 0xBC  # VkKeyScanW's VK_OEM_COMMA
    assert vk_for(",", lambda ch: -1) is None
    assert vk_for(",") is None
    flags = modifier_flags(parse_combo("<ctrl>+<alt>+<shift>+d"))
    assert flags == MOD_CONTROL | MOD_ALT | MOD_SHIFT | MOD_NOREPEAT


class FakeUser32:
    """Stands in for user32 on every platform: a message queue, key states, taken hotkeys."""

    def __init__(self, taken=()):
        self.messages: queue.Queue = queue.Queue()
        self.down: set[int] = set()
        self.registered: dict[int, tuple[int, int]] = {}
        self.taken = set(taken)

    def thread_id(self):
        return 7

    def ensure_queue(self):
        pass

    def register(self, hotkey_id, flags, vk):
        if (flags, vk) in self.taken:
            return ERROR_HOTKEY_ALREADY_REGISTERED
        self.registered[hotkey_id] = (flags, vk)
        return 0

    def unregister(self, hotkey_id):
        del self.registered[hotkey_id]

    def get_message(self):
        message = self.messages.get(timeout=10)
        return None if message[0] == WM_QUIT else message

    def post(self, thread_id, message):
        assert thread_id == 7
        self.messages.put((message, 0))

    def key_down(self, vk):
        return vk in self.down

    def vk_key_scan(self, char):
        return -1


def test_win32_backend_registers_reports_taken_keys_and_polls_the_release():
    d_flags = MOD_CONTROL | MOD_ALT | MOD_SHIFT | MOD_NOREPEAT
    api = FakeUser32(taken={(d_flags, 0x44)})
    backend = Win32Hotkeys(lambda: api)
    pressed, released = threading.Event(), threading.Event()
    problems = backend.start({"describe-window": "<ctrl>+<alt>+<shift>+d",
                              "push-to-talk": "<ctrl>+<alt>+<shift>+space"},
                             lambda a: pressed.set(), lambda a: released.set())
    try:
        assert problems == ["Ctrl+Alt+Shift+D is already used by another application; "
                            "choose another in Settings > Hotkeys."]
        [(talk_id, (flags, vk))] = api.registered.items()
        assert (flags, vk) == (d_flags, 0x20)
        api.down.update({0x20, 0x10, 0x11, 0x12})
        api.messages.put((WM_HOTKEY, talk_id))
        assert pressed.wait(10)
        assert not released.wait(0.1)  # still held: no release yet
        api.down.discard(0x10)  # Shift goes up first
        assert released.wait(10)
        backend.suspend()
        assert api.registered == {}
        assert backend.resume() == problems
        assert len(api.registered) == 1
    finally:
        backend.stop()
    assert api.registered == {}


def test_macos_gate_swallows_only_the_matched_keys():
    seen = []
    matcher = ComboMatcher({"describe-window": parse_combo("<ctrl>+<alt>+d")}, seen.append, seen.append)
    gate = SwallowGate(matcher, str)
    event = object()

    def feed(kind, name, event_type):
        (gate.on_press if kind == "down" else gate.on_release)(name)
        return gate.intercept(event_type, event)

    assert feed("down", "ctrl", FLAGS_CHANGED) is event
    assert feed("down", "alt", FLAGS_CHANGED) is event
    assert feed("down", "d", KEY_DOWN) is None
    assert feed("down", "d", KEY_DOWN) is None  # repeat
    assert feed("up", "d", KEY_UP) is None
    assert feed("down", "e", KEY_DOWN) is event
    assert seen == ["describe-window", "describe-window"]
    gate.suspended = True
    assert feed("down", "d", KEY_DOWN) is event
    assert seen == ["describe-window", "describe-window"]


def test_manual_backend_only_fires_bound_actions():
    seen = []
    backend = ManualHotkeys()
    backend.start({"describe-window": "<ctrl>+<alt>+d"}, seen.append, seen.append)
    backend.press("describe-window")
    backend.press("describe-screen")
    backend.stop()
    backend.press("describe-window")
    assert seen == ["describe-window"]


@pytest.mark.skipif(not shutil.which("xdotool"), reason="xdotool is not installed")
def test_pynput_backend_sees_keys_sent_by_xdotool():
    pressed, released = [], []
    done = threading.Event()
    listening = threading.Event()
    probe = "stop-speaking"  # pressed until the listener hears it: then it hears the X server

    def on_press(action):
        if action == probe:
            listening.set()
        else:
            pressed.append(action)

    def on_release(action):
        if action != probe:
            released.append(action)
        if action == "push-to-talk":
            done.set()

    backend = PynputHotkeys()
    problems = backend.start(hotkey_bindings(Hotkeys()), on_press, on_release)
    try:
        assert problems == []
        deadline = time.monotonic() + 10
        while not listening.is_set():
            assert time.monotonic() < deadline, "the listener heard no key within 10 s"
            subprocess.run(["xdotool", "key", "ctrl+alt+shift+x"], check=True)
            listening.wait(0.5)
        subprocess.run(["xdotool", "key", "ctrl+alt+shift+d"], check=True)
        subprocess.run(["xdotool", "key", "ctrl+alt+d"], check=True)  # not bound: no event
        subprocess.run(["xdotool", "keydown", "ctrl+alt+shift+space"], check=True)
        subprocess.run(["xdotool", "keyup", "ctrl+alt+shift+space"], check=True)
        assert done.wait(10)
    finally:
        backend.stop()
    assert pressed == ["describe-window", "push-to-talk"]
    assert released == ["describe-window", "push-to-talk"]


def test_pynput_backend_without_display_reports_the_problem(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    code = ("from assistant.hotkeys import PynputHotkeys\n"
            "print(PynputHotkeys().start({'describe-window': '<ctrl>+<alt>+d'}, print, print))")
    out = subprocess.run([_python(), "-c", code], capture_output=True, text=True, timeout=60,
                         env=_env_without_display())
    assert out.returncode == 0, out.stderr
    assert "Global hotkeys are not available here" in out.stdout


def _python() -> str:
    import sys

    return sys.executable


def _env_without_display() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


def _capture(qtbot):
    from ui.key_capture import KeyCaptureEdit

    edit = KeyCaptureEdit()
    qtbot.addWidget(edit)
    edit.show()
    qtbot.waitExposed(edit)
    return edit


def test_key_capture_field_stores_a_pressed_combination_and_shows_its_label(qtbot):
    from PySide6.QtCore import Qt

    edit = _capture(qtbot)
    mods = Qt.KeyboardModifier
    with qtbot.waitSignal(edit.captured) as signal:
        qtbot.keyClick(edit, Qt.Key.Key_D, mods.ControlModifier | mods.AltModifier | mods.ShiftModifier)
    assert signal.args == ["<ctrl>+<alt>+<shift>+d"]
    assert edit.text() == "<ctrl>+<alt>+<shift>+d"
    assert edit.displayText() == "Ctrl+Alt+Shift+D"  # what the screen reader reads
    assert edit.accessibleName() and edit.accessibleDescription()
    qtbot.keyClick(edit, Qt.Key.Key_Space, mods.ControlModifier | mods.AltModifier)
    assert edit.text() == "<ctrl>+<alt>+space"
    qtbot.keyClick(edit, Qt.Key.Key_F9)
    assert edit.text() == "f9"
    qtbot.keyClick(edit, Qt.Key.Key_Escape)  # not captured: unchanged
    assert edit.text() == "f9"
    qtbot.keyClick(edit, Qt.Key.Key_Backspace)
    assert edit.text() == ""


def test_key_capture_field_still_takes_typed_syntax_and_set_text(qtbot):
    edit = _capture(qtbot)
    qtbot.keyClicks(edit, "<ctrl>+<alt>+w")  # plain and Shift keys type as usual
    assert edit.text() == "<ctrl>+<alt>+w"
    edit.setText("<alt>+<ctrl>+<page_up>")
    assert (edit.text(), edit.displayText()) == ("<ctrl>+<alt>+page_up", "Ctrl+Alt+Page Up")
    edit.setText("<ctrl>+<bogus>")  # kept as typed, so the dialog can report it
    assert edit.text() == "<ctrl>+<bogus>"


def test_key_capture_mac_modifiers_and_plain_keys():
    from PySide6.QtCore import Qt

    from ui.key_capture import combo_from_key

    mods = Qt.KeyboardModifier
    mac = combo_from_key(Qt.Key.Key_D.value, mods.ControlModifier | mods.AltModifier, "darwin")
    assert format_combo(mac) == "<alt>+<cmd>+d"  # Qt's Control is the Command key on macOS
    assert combo_from_key(Qt.Key.Key_D.value, mods.ShiftModifier, "linux") is None  # typing
    assert combo_from_key(Qt.Key.Key_Control.value, mods.ControlModifier, "linux") is None


def test_key_capture_tab_moves_focus_and_the_field_reports_capturing(qtbot):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QVBoxLayout, QWidget

    from ui.key_capture import KeyCaptureEdit

    window = QWidget()
    qtbot.addWidget(window)
    layout = QVBoxLayout(window)
    first, second = KeyCaptureEdit(window), KeyCaptureEdit(window)
    layout.addWidget(first)
    layout.addWidget(second)
    states = []
    first.capturing.connect(states.append)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    first.setFocus()
    qtbot.waitUntil(first.hasFocus, timeout=5000)
    qtbot.keyClick(first, Qt.Key.Key_Tab)
    qtbot.waitUntil(second.hasFocus, timeout=5000)
    assert first.text() == ""
    assert states == [True, False]


def test_a_plain_letter_f_is_not_taken_for_a_function_key():
    from assistant.hotkeys import parse_combo
    from base.errors import ConfigError

    assert parse_combo("<f9>").key == "f9"
    with pytest.raises(ConfigError, match="no modifier"):
        parse_combo("f")
