"""Global hotkeys: one backend interface and the platform backends.

X11: passive key grabs (assistant.hotkeys.x11), so the keys are consumed, with pynput's watching
listener as the fallback; Windows: RegisterHotKey (assistant.hotkeys.win32); macOS: pynput's event tap
that swallows matched keys (assistant.hotkeys.macos); Wayland: the trigger command; tests: manual.

Backends call `on_press(action)` / `on_release(action)` on their own thread; the app relays them
to the Qt thread through queued signals (ui.bridge.HotkeyRelay). Keys that cannot be registered
are returned as problems, never swallowed.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from base.errors import ConfigError

log = logging.getLogger(__name__)

MODIFIERS = ("ctrl", "alt", "shift", "cmd")
_MODIFIER_LABELS = MappingProxyType({"ctrl": "Ctrl", "alt": "Alt", "shift": "Shift", "cmd": "Meta"})
# Named keys pynput understands (subset that exists on every platform).
NAMED_KEYS = frozenset(
    ["space", "enter", "tab", "backspace", "delete", "insert", "home", "end", "page_up",
     "page_down", "up", "down", "left", "right", "esc", "pause", "print_screen", "menu",
     "scroll_lock", "caps_lock", "num_lock"] + [f"f{i}" for i in range(1, 21)]
)
_ALIASES = MappingProxyType({"control": "ctrl", "option": "alt", "super": "cmd", "win": "cmd", "meta": "cmd",
            "escape": "esc", "return": "enter", "pgup": "page_up", "pgdown": "page_down"})

Callback = Callable[[str], None]


@dataclass(frozen=True)
class Combo:
    """A key combination: modifiers held plus one key (a character or a NAMED_KEYS name)."""

    modifiers: frozenset[str]
    key: str

    def label(self) -> str:
        """Readable form, e.g. Ctrl+Alt+Shift+D."""
        mods = [_MODIFIER_LABELS[m] for m in MODIFIERS if m in self.modifiers]
        key = self.key.upper() if len(self.key) == 1 else self.key.replace("_", " ").title()
        return "+".join([*mods, key])


def format_combo(combo: Combo) -> str:
    """The settings syntax of a combination, as the defaults write it: <ctrl>+<alt>+<shift>+d,
    <ctrl>+<alt>+<shift>+space (parse_combo reads it)."""
    mods = [f"<{m}>" for m in MODIFIERS if m in combo.modifiers]
    return "+".join([*mods, combo.key])


def parse_combo(text: str) -> Combo:
    """Parse pynput's format ("<ctrl>+<alt>+d"); raise ConfigError saying what is wrong."""
    raw = text.strip().lower()
    if not raw:
        raise ConfigError("The key combination is empty.", "Type one like <ctrl>+<alt>+<shift>+d.")
    parts = raw.split("+")
    if "" in parts:
        raise ConfigError(f"{text!r} has an empty part.", "Join keys with + and use a key other than +.")
    modifiers: set[str] = set()
    keys: list[str] = []
    for part in parts:
        name = part[1:-1] if len(part) > 2 and part.startswith("<") and part.endswith(">") else part
        name = _ALIASES.get(name, name)
        for suffix in ("_l", "_r"):
            if name.endswith(suffix) and name[: -len(suffix)] in MODIFIERS:
                name = name[: -len(suffix)]
        if name in MODIFIERS:
            if name in modifiers:
                raise ConfigError(f"{text!r} names {name} twice.", "Name each key once.")
            modifiers.add(name)
        elif len(name) == 1 or name in NAMED_KEYS:
            keys.append(name)
        else:
            raise ConfigError(f"{text!r}: unknown key {part!r}.",
                              "Use single characters, <ctrl>, <alt>, <shift>, <cmd>, <space>, <f1>...<f20>.")
    if len(keys) != 1:
        raise ConfigError(f"{text!r} must have exactly one key besides the modifiers.",
                          "For example <ctrl>+<alt>+<shift>+d.")
    if not modifiers and not (keys[0].startswith("f") and keys[0] in NAMED_KEYS):
        raise ConfigError(f"{text!r} has no modifier key, so it would fire while you type.",
                          "Add <ctrl>, <alt> or <shift>, e.g. <ctrl>+<alt>+<shift>+d.")
    return Combo(frozenset(modifiers), keys[0])


def parse_bindings(bindings: Mapping[str, str]) -> tuple[dict[str, Combo], list[str]]:
    """Parse action -> combination; return the usable ones and a problem message per bad one."""
    combos: dict[str, Combo] = {}
    problems: list[str] = []
    owner: dict[Combo, str] = {}
    for action, text in bindings.items():
        try:
            combo = parse_combo(text)
        except ConfigError as exc:
            problems.append(f"Hotkey for {action}: {exc.message} {exc.hint}")
            continue
        if combo in owner:
            problems.append(f"Hotkey for {action}: {combo.label()} is already used by {owner[combo]}. "
                            "Choose another in the settings.")
            continue
        owner[combo] = action
        combos[action] = combo
    return combos, problems


class HotkeyBackend:
    """Registers global key combinations; reports what could not be registered."""

    name = "none"

    def start(self, bindings: Mapping[str, str], on_press: Callback, on_release: Callback) -> list[str]:
        """Register `bindings` (action -> combination); return problems the user must hear about."""
        raise NotImplementedError

    def stop(self) -> None:
        """Unregister everything; safe to call twice."""

    def suspend(self) -> None:
        """Let the registered keys through for now (a key-capture field has the focus)."""

    def resume(self) -> list[str]:
        """Undo suspend(); return problems (a key taken meanwhile by another application)."""
        return []


class ComboMatcher:
    """Turns key-down/key-up events (normalised names) into action presses and releases."""

    def __init__(self, combos: Mapping[str, Combo], on_press: Callback, on_release: Callback) -> None:
        self._combos = dict(combos)
        self._on_press = on_press
        self._on_release = on_release
        self._held: set[str] = set()
        self._active: dict[str, Combo] = {}
        self._lock = threading.Lock()

    def key_down(self, name: str) -> bool:
        """A key went down; True when it is the key of a combination now held (press or repeat)."""
        fire: list[str] = []
        with self._lock:
            self._held.add(name)
            if name in MODIFIERS:
                return False
            modifiers = self._held.intersection(MODIFIERS)
            for action, combo in self._combos.items():
                if combo.key == name and combo.modifiers == modifiers and action not in self._active:
                    self._active[action] = combo
                    fire.append(action)
            ours = any(combo.key == name for combo in self._active.values())
        for action in fire:
            self._on_press(action)
        return ours

    def key_up(self, name: str) -> bool:
        """A key went up; True when it was the key (not a modifier) of a held combination."""
        fire: list[str] = []
        ours = False
        with self._lock:
            self._held.discard(name)
            for action, combo in list(self._active.items()):
                if name == combo.key or name in combo.modifiers:
                    ours = ours or name == combo.key
                    del self._active[action]
                    fire.append(action)
        for action in fire:
            self._on_release(action)
        return ours


class PynputHotkeys(HotkeyBackend):
    """pynput keyboard listener: X11 (RECORD extension), Windows hooks, macOS event taps."""

    name = "pynput"

    def __init__(self) -> None:
        self._listener: Any = None

    def start(self, bindings: Mapping[str, str], on_press: Callback, on_release: Callback) -> list[str]:
        self.stop()
        combos, problems = parse_bindings(bindings)
        if not combos:
            return problems
        try:
            from pynput import keyboard
        except ImportError as exc:
            return problems + [f"Global hotkeys are not available here ({_first_line(exc)}). "
                               "Use the tray menu, or bind desktop shortcuts to "
                               "'screensight --trigger ACTION'."]
        matcher = ComboMatcher(combos, on_press, on_release)
        listener = keyboard.Listener(**self._listener_options(keyboard, matcher))
        listener.daemon = True
        listener.start()
        listener.wait()
        if not listener.is_alive():
            return problems + ["Global hotkeys could not start: the keyboard listener stopped at once. "
                               "Use the tray menu or 'screensight --trigger ACTION' instead."]
        if sys.platform == "darwin" and not getattr(listener, "IS_TRUSTED", True):
            problems.append("macOS has not allowed ScreenSight to watch the keyboard, so hotkeys do not "
                            "work. Allow it in System Settings > Privacy & Security > Accessibility and "
                            "Input Monitoring, then restart ScreenSight.")
        self._listener = listener
        log.info("hotkeys registered: %s", {a: c.label() for a, c in combos.items()})
        return problems

    def _listener_options(self, keyboard: Any, matcher: ComboMatcher) -> dict[str, Any]:
        """keyboard.Listener's arguments (the macOS backend adds its intercept). The callbacks
        return None: a callback returning False would stop pynput's listener."""

        def on_press(key: Any) -> None:
            matcher.key_down(key_name(keyboard, key))

        def on_release(key: Any) -> None:
            matcher.key_up(key_name(keyboard, key))

        return {"on_press": on_press, "on_release": on_release}

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()
            _wake_xorg_listener(listener)
            if listener is not threading.current_thread():
                listener.join(timeout=2)


def _wake_xorg_listener(listener: Any) -> None:
    """pynput's X11 listener only notices stop() at its next key event. Disabling its RECORD
    context from a connection of our own ends the blocking read at once (pynput's own
    connections belong to its thread)."""
    context = getattr(listener, "_context", None)
    if context is None:
        return
    from Xlib import display as xdisplay
    from Xlib.error import ConnectionClosedError, DisplayError

    try:
        conn = xdisplay.Display()
        conn.set_error_handler(lambda *_: None)  # already stopped by pynput: nothing to do
        try:
            conn.record_disable_context(context)
            conn.sync()
        finally:
            conn.close()
    except (OSError, ConnectionClosedError, DisplayError, TypeError) as exc:
        # TypeError: python-xlib racing pynput closing the same context
        log.debug("could not stop the X record context: %s", exc)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__


def key_name(keyboard: Any, key: Any) -> str:
    """pynput key -> the names parse_combo uses (modifier sides merged, characters lower case)."""
    if isinstance(key, keyboard.Key):
        name = key.name
        for modifier in MODIFIERS:
            if name == modifier or name.startswith(modifier + "_"):
                return modifier
        return "alt" if name == "alt_gr" else name
    char = getattr(key, "char", None)
    if char:
        return char.lower()
    vk = getattr(key, "vk", None)
    # Letters with Ctrl held may come without a char on Windows; the vk is the upper-case letter.
    if isinstance(vk, int) and (0x41 <= vk <= 0x5A or 0x30 <= vk <= 0x39):
        return chr(vk).lower()
    return f"vk{vk}"


class TriggerCommandHotkeys(HotkeyBackend):
    """Wayland: apps cannot grab global keys, so the desktop's own shortcuts run `screensight --trigger`."""

    name = "trigger-command"

    def start(self, bindings: Mapping[str, str], on_press: Callback, on_release: Callback) -> list[str]:
        combos, problems = parse_bindings(bindings)
        lines = ", ".join(f"{c.label()}: screensight --trigger {a}" for a, c in combos.items())
        return problems + ["This desktop (Wayland) does not let apps register global keys. Add custom "
                           f"shortcuts in your desktop's keyboard settings: {lines}."]


class ManualHotkeys(HotkeyBackend):
    """For tests and headless use: `press(action)` and `release(action)` act like the keys."""

    name = "manual"

    def __init__(self) -> None:
        self.bindings: dict[str, Combo] = {}
        self._on_press: Callback | None = None
        self._on_release: Callback | None = None

    def start(self, bindings: Mapping[str, str], on_press: Callback, on_release: Callback) -> list[str]:
        self.bindings, problems = parse_bindings(bindings)
        self._on_press, self._on_release = on_press, on_release
        return problems

    def stop(self) -> None:
        self._on_press = self._on_release = None

    def press(self, action: str) -> None:
        if self._on_press is not None and action in self.bindings:
            self._on_press(action)

    def release(self, action: str) -> None:
        if self._on_release is not None and action in self.bindings:
            self._on_release(action)
