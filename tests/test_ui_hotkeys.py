"""Global hotkeys: parsing, matching, the real pynput listener under Xvfb driven by xdotool."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time

import pytest

from assistant.config import Hotkeys
from assistant.errors import ConfigError
from ui.actions import ACTIONS, HOTKEY_ACTIONS, hotkey_bindings
from ui.hotkeys import (
    ComboMatcher,
    ManualHotkeys,
    PynputHotkeys,
    TriggerCommandHotkeys,
    default_backend,
    parse_bindings,
    parse_combo,
)


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
    assert isinstance(default_backend({"XDG_SESSION_TYPE": "wayland"}), TriggerCommandHotkeys)
    assert isinstance(default_backend({"XDG_SESSION_TYPE": "x11"}), PynputHotkeys)
    assert isinstance(default_backend({"SCREENSIGHT_HOTKEYS": "manual"}), ManualHotkeys)


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

    def on_release(action):
        released.append(action)
        if action == "push-to-talk":
            done.set()

    backend = PynputHotkeys()
    problems = backend.start(hotkey_bindings(Hotkeys()), pressed.append, on_release)
    try:
        assert problems == []
        time.sleep(0.3)  # the RECORD context is live once start() returns; let X settle
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
    code = ("from ui.hotkeys import PynputHotkeys\n"
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
