"""X11 global hotkeys that are consumed: passive key grabs (XGrabKey) on the root window.

A grabbed combination goes to ScreenSight only, so it no longer types into the focused
document (the RECORD-based pynput listener only watches). One thread owns its own Display
connection: it grabs, reads events, ungrabs and closes. Commands (suspend, resume, quit)
reach it through a self-pipe, so stop() ends it at once instead of at the next key event.

X autorepeat sends KeyRelease+KeyPress pairs with the same timestamp while a key is held;
such a pair is recognised and dropped, so a held push-to-talk key gives one press and one
release.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import select
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from assistant.hotkeys.base import Callback, Combo, HotkeyBackend, parse_bindings

log = logging.getLogger(__name__)

SHIFT_MASK, LOCK_MASK, CONTROL_MASK = 1 << 0, 1 << 1, 1 << 2
_MOD1, _MOD2, _MOD4 = 1 << 3, 1 << 4, 1 << 6
_KEY_MASKS = 0xFF  # the eight modifier bits of an event's state (buttons above are ignored)
_REPEAT_WAIT_S = 0.03  # how long a KeyRelease waits for the KeyPress of an autorepeat pair
_START_TIMEOUT_S = 5.0
_STOP_TIMEOUT_S = 2.0

# parse_combo's named keys -> X keysyms (X11/keysymdef.h).
NAMED_KEYSYMS: Mapping[str, int] = MappingProxyType({
    "space": 0x0020, "enter": 0xFF0D, "tab": 0xFF09, "backspace": 0xFF08, "delete": 0xFFFF,
    "insert": 0xFF63, "home": 0xFF50, "end": 0xFF57, "page_up": 0xFF55, "page_down": 0xFF56,
    "left": 0xFF51, "up": 0xFF52, "right": 0xFF53, "down": 0xFF54, "esc": 0xFF1B,
    "pause": 0xFF13, "print_screen": 0xFF61, "menu": 0xFF67, "scroll_lock": 0xFF14,
    "caps_lock": 0xFFE5, "num_lock": 0xFF7F,
    **{f"f{i}": 0xFFBE + i - 1 for i in range(1, 21)},
})
_ALT_KEYSYMS = frozenset({0xFFE9, 0xFFEA, 0xFFE7, 0xFFE8})  # Alt_L, Alt_R, Meta_L, Meta_R
_SUPER_KEYSYMS = frozenset({0xFFEB, 0xFFEC})  # Super_L, Super_R
_NUM_LOCK_KEYSYM = 0xFF7F


def keysym_for(key: str) -> int:
    """The X keysym of a Combo key: a NAMED_KEYS name or one character (Latin-1 or Unicode)."""
    if key in NAMED_KEYSYMS:
        return NAMED_KEYSYMS[key]
    if len(key) != 1:
        raise ValueError(f"not a key: {key!r}")
    code = ord(key)
    return code if 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF else 0x01000000 | code


@dataclass(frozen=True)
class ModifierBits:
    """Which modifier bit (Mod1..Mod5) Alt, Super and NumLock have on this keyboard."""

    alt: int = _MOD1
    cmd: int = _MOD4
    num_lock: int = _MOD2

    def mask(self, combo: Combo) -> int:
        """The X modifier mask of a combination's modifiers."""
        bits = {"shift": SHIFT_MASK, "ctrl": CONTROL_MASK, "alt": self.alt, "cmd": self.cmd}
        mask = 0
        for name in combo.modifiers:
            mask |= bits[name]
        return mask

    def lock_variants(self, mask: int) -> tuple[int, ...]:
        """`mask` with and without CapsLock and NumLock: X matches grabs on the exact state."""
        return tuple(sorted({mask, mask | LOCK_MASK, mask | self.num_lock,
                             mask | LOCK_MASK | self.num_lock}))

    def plain(self, state: int) -> int:
        """An event's state without lock bits and mouse buttons, to compare with a grab mask."""
        return state & _KEY_MASKS & ~(LOCK_MASK | self.num_lock)


def modifier_bits(modmap: Sequence[Sequence[int]],
                  keysyms_of: Callable[[int], Iterable[int]]) -> ModifierBits:
    """Find Alt's, Super's and NumLock's bits in the modifier mapping (8 lists of keycodes,
    Shift first); the usual Mod1, Mod4 and Mod2 where the mapping has none."""
    found: dict[str, int] = {}
    for index in range(3, min(8, len(modmap))):  # Mod1..Mod5
        for keycode in modmap[index]:
            if not keycode:
                continue
            syms = set(keysyms_of(keycode))
            for name, wanted in (("alt", _ALT_KEYSYMS), ("cmd", _SUPER_KEYSYMS),
                                 ("num_lock", {_NUM_LOCK_KEYSYM})):
                if syms & wanted:
                    found.setdefault(name, 1 << index)
    return ModifierBits(**found)


def taken_message(combo: Combo) -> str:
    """What the user hears when another application holds a combination."""
    return (f"{combo.label()} is already used by another application; "
            "choose another in Settings > Hotkeys.")


def unavailable_reason(display_name: str | None = None) -> str | None:
    """Why the grab backend cannot start here (no python-xlib, no X display), or None."""
    try:
        from Xlib import display as xdisplay
        from Xlib.error import DisplayError
    except ImportError as exc:
        return f"python-xlib is missing ({exc})"
    try:
        xdisplay.Display(display_name).close()
    except (DisplayError, OSError) as exc:
        return f"no X display ({exc})"
    return None


class X11GrabHotkeys(HotkeyBackend):
    """Global hotkeys by passive grabs on the X root window: the keys are consumed."""

    name = "x11-grab"

    def __init__(self, display: str | None = None) -> None:
        self._display_name = display
        self._session: _GrabSession | None = None
        self._thread: threading.Thread | None = None

    def start(self, bindings: Mapping[str, str], on_press: Callback, on_release: Callback) -> list[str]:
        self.stop()
        combos, problems = parse_bindings(bindings)
        if not combos:
            return problems
        session = _GrabSession(self._display_name, combos, on_press, on_release)
        thread = threading.Thread(target=session.run, name="x11-hotkeys", daemon=True)
        thread.start()
        if not session.ready.wait(_START_TIMEOUT_S):
            session.request("quit")
            return problems + ["Global hotkeys could not start: the X server did not answer."]
        if thread.is_alive():
            self._session, self._thread = session, thread
            log.info("hotkeys grabbed: %s", {a: c.label() for a, c in session.grabbed_combos().items()})
        else:
            session.close_pipe()
        return problems + session.problems

    def stop(self) -> None:
        session, thread = self._session, self._thread
        self._session = self._thread = None
        if session is None or thread is None:
            return
        if thread.is_alive():
            session.request("quit")
        if thread is not threading.current_thread():
            thread.join(_STOP_TIMEOUT_S)
        session.close_pipe()

    def suspend(self) -> None:
        """Release the grabs for now (a key-capture field has the focus); resume() takes them again."""
        if self._session is not None:
            self._session.request("suspend")

    def resume(self) -> list[str]:
        if self._session is None:
            return []
        return self._session.request("resume")


class _GrabSession:
    """Everything the grab thread owns: its Display, the grabs, the held actions."""

    def __init__(self, display_name: str | None, combos: Mapping[str, Combo],
                 on_press: Callback, on_release: Callback) -> None:
        self._display_name = display_name
        self._combos = dict(combos)
        self._on_press, self._on_release = on_press, on_release
        self.ready = threading.Event()
        self.problems: list[str] = []
        self._commands: queue.SimpleQueue[tuple[str, threading.Event, list[str]]] = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        self._display: Any = None
        self._bits = ModifierBits()
        self._grabbed: dict[tuple[int, int], str] = {}  # (keycode, mask) -> action
        self._states: dict[tuple[int, int], tuple[int, ...]] = {}  # (keycode, mask) -> grabbed states
        self._modifier_keycodes: frozenset[int] = frozenset()
        self._active: dict[str, int] = {}  # held action -> its keycode
        self._queue: deque[Any] = deque()
        self._closed_pipe = False

    # -- other threads -----------------------------------------------------------------------

    def request(self, command: str) -> list[str]:
        """Ask the thread to quit, suspend or resume; wait briefly for it; its problems."""
        done, answer = threading.Event(), []
        self._commands.put((command, done, answer))
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"!")
        done.wait(_STOP_TIMEOUT_S)
        return answer

    def close_pipe(self) -> None:
        if not self._closed_pipe:
            self._closed_pipe = True
            os.close(self._wake_r)
            os.close(self._wake_w)

    def grabbed_combos(self) -> dict[str, Combo]:
        return {action: self._combos[action] for action in set(self._grabbed.values())}

    # -- the grab thread ---------------------------------------------------------------------

    def run(self) -> None:
        from Xlib.error import ConnectionClosedError, DisplayError

        try:
            self._open()
        except (DisplayError, ConnectionClosedError, OSError) as exc:
            self.problems.append(f"Global hotkeys could not start: no X display ({exc}). Use the tray "
                                 "menu or 'screensight --trigger ACTION' instead.")
            self.ready.set()
            return
        self.problems.extend(self._grab_all())
        self.ready.set()
        try:
            self._loop()
        except (ConnectionClosedError, OSError) as exc:
            log.warning("hotkeys: the X connection was lost: %s", exc)
        finally:
            self._close()

    def _open(self) -> None:
        from Xlib import X
        from Xlib import display as xdisplay

        self._display = xdisplay.Display(self._display_name)
        self._root = self._display.screen().root
        self._root.change_attributes(event_mask=X.NoEventMask)
        self._read_modifiers()

    def _read_modifiers(self) -> None:
        modmap = self._display.get_modifier_mapping()
        self._bits = modifier_bits(modmap, self._keysyms_of)
        held_bits = (0, 2, self._bits.alt.bit_length() - 1, self._bits.cmd.bit_length() - 1)
        self._modifier_keycodes = frozenset(k for i in held_bits for k in modmap[i] if k)

    def _keysyms_of(self, keycode: int) -> set[int]:
        return {self._display.keycode_to_keysym(keycode, index) for index in range(4)} - {0}

    def _grab_all(self) -> list[str]:
        problems = []
        for action, combo in self._combos.items():
            problem = self._grab(action, combo)
            if problem:
                problems.append(problem)
        return problems

    def _grab(self, action: str, combo: Combo) -> str | None:
        """Grab every keycode of the combination's key in every lock variant; all or none."""
        from Xlib import X
        from Xlib.error import BadAccess, CatchError

        keycodes = sorted({code for code, _index in self._display.keysym_to_keycodes(keysym_for(combo.key))})
        if not keycodes:
            return (f"{combo.label()} cannot be typed with this keyboard layout; "
                    "choose another in Settings > Hotkeys.")
        mask = self._bits.mask(combo)
        catcher = CatchError(BadAccess)
        for keycode in keycodes:
            for variant in self._bits.lock_variants(mask):
                self._root.grab_key(keycode, variant, False, X.GrabModeAsync, X.GrabModeAsync,
                                    onerror=catcher)
        self._display.sync()
        if catcher.get_error() is not None:
            self._ungrab(keycodes, mask)
            return taken_message(combo)
        for keycode in keycodes:
            self._grabbed[(keycode, mask)] = action
            self._states[(keycode, mask)] = self._bits.lock_variants(mask)
        return None

    def _ungrab(self, keycodes: Iterable[int], mask: int) -> None:
        for keycode in keycodes:
            for variant in self._bits.lock_variants(mask):
                self._root.ungrab_key(keycode, variant)
        self._display.sync()

    def _ungrab_all(self) -> None:
        for (keycode, _mask), states in self._states.items():
            for state in states:
                self._root.ungrab_key(keycode, state)
        self._display.sync()
        self._grabbed.clear()
        self._states.clear()

    def _loop(self) -> None:
        fd = self._display.fileno()
        while True:
            self._handle_queued()
            readable, _, _ = select.select([fd, self._wake_r], [], [])
            if self._wake_r in readable:
                os.read(self._wake_r, 64)
                if not self._run_commands():
                    return

    def _run_commands(self) -> bool:
        """Carry out queued commands; False when asked to quit."""
        while True:
            try:
                command, done, answer = self._commands.get_nowait()
            except queue.Empty:
                return True
            try:
                if command == "quit":
                    self._ungrab_all()
                    return False
                if command == "suspend":
                    self._release_all()
                    self._ungrab_all()
                elif command == "resume" and not self._grabbed:
                    answer.extend(self._grab_all())
            finally:
                done.set()

    def _fill_queue(self, timeout: float | None = 0.0) -> bool:
        """Move events python-xlib has (or the socket gets within `timeout`) into our queue."""
        if not self._display.pending_events() and timeout:
            select.select([self._display.fileno()], [], [], timeout)
        while self._display.pending_events():
            self._queue.append(self._display.next_event())
        return bool(self._queue)

    def _handle_queued(self) -> None:
        self._fill_queue()
        while self._queue:
            self._handle(self._queue.popleft())
            if not self._queue:
                self._fill_queue()

    def _handle(self, event: Any) -> None:
        from Xlib import X

        if event.type == X.KeyPress:
            self._key_press(event)
        elif event.type == X.KeyRelease:
            self._key_release(event)
        elif event.type == X.MappingNotify:
            self._remap(event)

    def _key_press(self, event: Any) -> None:
        action = self._grabbed.get((event.detail, self._bits.plain(event.state)))
        if action is None or action in self._active:
            return  # not ours, or a repeat of a held key
        self._active[action] = event.detail
        self._on_press(action)

    def _key_release(self, event: Any) -> None:
        ending = [a for a, code in self._active.items()
                  if event.detail == code or event.detail in self._modifier_keycodes]
        if not ending or self._is_autorepeat(event):
            return
        for action in ending:
            del self._active[action]
            self._on_release(action)

    def _is_autorepeat(self, release: Any) -> bool:
        """A release followed at once by a press of the same key at the same time is a repeat;
        the press is dropped with it."""
        from Xlib import X

        if not self._queue:
            self._fill_queue(_REPEAT_WAIT_S)
        following = self._queue[0] if self._queue else None
        if (following is not None and following.type == X.KeyPress
                and following.detail == release.detail and following.time == release.time):
            self._queue.popleft()
            log.debug("hotkeys: autorepeat of keycode %s dropped", release.detail)
            return True
        return False

    def _release_all(self) -> None:
        for action in list(self._active):
            del self._active[action]
            self._on_release(action)

    def _remap(self, event: Any) -> None:
        """The keyboard layout or modifiers changed: grab the keys' new keycodes.

        The new grabs are taken before the old ones that the new mapping no longer needs are
        let go, and a key grabbed in both stays grabbed throughout (grabbing a key this client
        holds replaces its grab). Ungrabbing everything first left a gap in which a hotkey
        pressed just then went to the focused window: programs that type by remapping a spare
        keycode (xdotool, some layout switchers) change the mapping right before their keys.
        """
        self._display.refresh_keyboard_mapping(event)
        before = dict(self._states)
        self._grabbed, self._states = {}, {}
        self._read_modifiers()
        for problem in self._grab_all():
            log.warning("hotkeys after a keyboard change: %s", problem)
        for (keycode, mask), states in before.items():
            kept = self._states.get((keycode, mask), ())
            for state in states:
                if state not in kept:
                    self._root.ungrab_key(keycode, state)
        self._display.sync()
        for action, keycode in list(self._active.items()):
            if not any(code == keycode and held == action for (code, _), held in self._grabbed.items()):
                del self._active[action]
                self._on_release(action)
        log.info("hotkeys: the keyboard mapping changed (request %s); grabs renewed", event.request)

    def _close(self) -> None:
        from Xlib.error import ConnectionClosedError, DisplayError

        try:
            self._ungrab_all()
            self._display.close()
        except (ConnectionClosedError, DisplayError, OSError) as exc:
            log.debug("hotkeys: closing the X connection: %s", exc)
        self._release_all()
        while True:  # nobody waits forever on a command the thread will not run
            try:
                _command, done, _answer = self._commands.get_nowait()
            except queue.Empty:
                return
            done.set()
