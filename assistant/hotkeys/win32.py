"""Windows global hotkeys: RegisterHotKey, so the keys are consumed, on a message-loop thread.

RegisterHotKey posts WM_HOTKEY to the thread that registered the key, so one thread registers,
runs GetMessageW and unregisters. MOD_NOREPEAT keeps a held key from firing again; Windows
reports no release, so while a hotkey is held its keys are polled with GetAsyncKeyState and the
release is reported when the key or one of its modifiers goes up (push-to-talk). stop() posts
WM_QUIT to the thread. ctypes' Windows parts are loaded only on Windows (Win32Api); the rest is
plain Python, tested on every platform with a stand-in API.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Protocol

from assistant.hotkeys.base import Callback, Combo, HotkeyBackend, parse_bindings

log = logging.getLogger(__name__)

MOD_ALT, MOD_CONTROL, MOD_SHIFT, MOD_WIN, MOD_NOREPEAT = 0x1, 0x2, 0x4, 0x8, 0x4000
WM_QUIT, WM_HOTKEY, WM_APP = 0x0012, 0x0312, 0x8000
WM_SUSPEND, WM_RESUME = WM_APP + 1, WM_APP + 2
ERROR_HOTKEY_ALREADY_REGISTERED = 1409
_POLL_S = 0.015
_TIMEOUT_S = 2.0

NAMED_VKS: Mapping[str, int] = MappingProxyType({
    "space": 0x20, "enter": 0x0D, "tab": 0x09, "backspace": 0x08, "delete": 0x2E, "insert": 0x2D,
    "home": 0x24, "end": 0x23, "page_up": 0x21, "page_down": 0x22, "left": 0x25, "up": 0x26,
    "right": 0x27, "down": 0x28, "esc": 0x1B, "pause": 0x13, "print_screen": 0x2C, "menu": 0x5D,
    "scroll_lock": 0x91, "caps_lock": 0x14, "num_lock": 0x90,
    **{f"f{i}": 0x70 + i - 1 for i in range(1, 21)},
})
_MOD_FLAGS = MappingProxyType({"alt": MOD_ALT, "ctrl": MOD_CONTROL, "shift": MOD_SHIFT, "cmd": MOD_WIN})
# VK_MENU, VK_CONTROL, VK_SHIFT; the Windows key has a left and a right one.
MODIFIER_VKS: Mapping[str, tuple[int, ...]] = MappingProxyType(
    {"alt": (0x12,), "ctrl": (0x11,), "shift": (0x10,), "cmd": (0x5B, 0x5C)})


def vk_for(key: str, vk_key_scan: Callable[[str], int] | None = None) -> int | None:
    """The virtual-key code of a Combo key; punctuation through VkKeyScanW (layout dependent)."""
    if key in NAMED_VKS:
        return NAMED_VKS[key]
    if len(key) == 1 and ("a" <= key <= "z" or "0" <= key <= "9"):
        return ord(key.upper())
    if len(key) == 1 and vk_key_scan is not None:
        code = vk_key_scan(key)
        if code != -1 and code & 0xFF != 0xFF:
            return code & 0xFF
    return None


def modifier_flags(combo: Combo) -> int:
    """RegisterHotKey's fsModifiers for a combination, with MOD_NOREPEAT."""
    flags = MOD_NOREPEAT
    for name in combo.modifiers:
        flags |= _MOD_FLAGS[name]
    return flags


def taken_message(combo: Combo) -> str:
    return (f"{combo.label()} is already used by another application; "
            "choose another in Settings > Hotkeys.")


class Api(Protocol):
    """The user32/kernel32 calls the backend makes (Win32Api; a stand-in in tests)."""

    def thread_id(self) -> int: ...
    def ensure_queue(self) -> None: ...
    def register(self, hotkey_id: int, flags: int, vk: int) -> int: ...  # 0 or GetLastError
    def unregister(self, hotkey_id: int) -> None: ...
    def get_message(self) -> tuple[int, int] | None: ...  # (message, wParam); None: WM_QUIT
    def post(self, thread_id: int, message: int) -> None: ...
    def key_down(self, vk: int) -> bool: ...
    def vk_key_scan(self, char: str) -> int: ...


class Win32Api:
    """The real calls through ctypes (Windows only)."""

    def __init__(self) -> None:
        import ctypes
        from ctypes import wintypes

        self._ctypes, self._wintypes = ctypes, wintypes
        self._user32: Any = ctypes.WinDLL("user32", use_last_error=True)  # type: ignore[attr-defined]
        self._kernel32: Any = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]

    def thread_id(self) -> int:
        return int(self._kernel32.GetCurrentThreadId())

    def ensure_queue(self) -> None:
        msg = self._wintypes.MSG()
        self._user32.PeekMessageW(self._ctypes.byref(msg), None, 0, 0, 0)  # PM_NOREMOVE

    def register(self, hotkey_id: int, flags: int, vk: int) -> int:
        if self._user32.RegisterHotKey(None, hotkey_id, flags, vk):
            return 0
        return int(self._ctypes.get_last_error()) or -1

    def unregister(self, hotkey_id: int) -> None:
        self._user32.UnregisterHotKey(None, hotkey_id)

    def get_message(self) -> tuple[int, int] | None:
        msg = self._wintypes.MSG()
        if self._user32.GetMessageW(self._ctypes.byref(msg), None, 0, 0) <= 0:
            return None
        return int(msg.message), int(msg.wParam)

    def post(self, thread_id: int, message: int) -> None:
        self._user32.PostThreadMessageW(thread_id, message, 0, 0)

    def key_down(self, vk: int) -> bool:
        return bool(self._user32.GetAsyncKeyState(vk) & 0x8000)

    def vk_key_scan(self, char: str) -> int:
        return int(self._user32.VkKeyScanW(self._ctypes.c_wchar(char)))


class Win32Hotkeys(HotkeyBackend):
    """RegisterHotKey on a thread of its own; `api` is Win32Api unless a test passes a stand-in."""

    name = "win32-register-hotkey"

    def __init__(self, api_factory: Callable[[], Api] = Win32Api) -> None:
        self._api_factory = api_factory
        self._loop: _MessageLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self, bindings: Mapping[str, str], on_press: Callback, on_release: Callback) -> list[str]:
        self.stop()
        combos, problems = parse_bindings(bindings)
        if not combos:
            return problems
        loop = _MessageLoop(self._api_factory(), combos, on_press, on_release)
        thread = threading.Thread(target=loop.run, name="win32-hotkeys", daemon=True)
        thread.start()
        if not loop.ready.wait(_TIMEOUT_S):
            return problems + ["Global hotkeys could not start: Windows did not answer."]
        self._loop, self._thread = loop, thread
        return problems + loop.problems

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.quit()
            if thread is not threading.current_thread():
                thread.join(_TIMEOUT_S)

    def suspend(self) -> None:
        if self._loop is not None:
            self._loop.ask(WM_SUSPEND)

    def resume(self) -> list[str]:
        return self._loop.ask(WM_RESUME) if self._loop is not None else []


class _MessageLoop:
    """Registers, waits for WM_HOTKEY, reports presses and (polled) releases, unregisters."""

    def __init__(self, api: Api, combos: Mapping[str, Combo], on_press: Callback,
                 on_release: Callback) -> None:
        self._api = api
        self._combos = dict(combos)
        self._on_press, self._on_release = on_press, on_release
        self.ready = threading.Event()
        self._stopping = threading.Event()
        self._answered = threading.Event()
        self._answer: list[str] = []
        self.problems: list[str] = []
        self._registered: dict[int, tuple[str, int]] = {}  # id -> (action, vk)
        self._thread_id = 0

    def run(self) -> None:
        self._thread_id = self._api.thread_id()
        self._api.ensure_queue()
        self.problems = self._register_all()
        self.ready.set()
        try:
            while (message := self._api.get_message()) is not None:
                self._dispatch(*message)
        finally:
            self._unregister_all()

    def quit(self) -> None:
        self._stopping.set()
        self._api.post(self._thread_id, WM_QUIT)

    def ask(self, message: int) -> list[str]:
        """Suspend or resume on the loop's thread (hotkeys belong to the thread); its problems."""
        self._answered.clear()
        self._api.post(self._thread_id, message)
        self._answered.wait(_TIMEOUT_S)
        return list(self._answer)

    def _dispatch(self, message: int, wparam: int) -> None:
        if message == WM_HOTKEY and wparam in self._registered:
            self._hold(*self._registered[wparam])
        elif message in (WM_SUSPEND, WM_RESUME):
            self._unregister_all()
            self._answer = self._register_all() if message == WM_RESUME else []
            self._answered.set()

    def _register_all(self) -> list[str]:
        problems = []
        for hotkey_id, (action, combo) in enumerate(self._combos.items(), start=1):
            vk = vk_for(combo.key, self._api.vk_key_scan)
            if vk is None:
                problems.append(f"{combo.label()} cannot be typed with this keyboard layout; "
                                "choose another in Settings > Hotkeys.")
                continue
            error = self._api.register(hotkey_id, modifier_flags(combo), vk)
            if error == ERROR_HOTKEY_ALREADY_REGISTERED:
                problems.append(taken_message(combo))
            elif error:
                problems.append(f"{combo.label()} could not be registered (Windows error {error}).")
            else:
                self._registered[hotkey_id] = (action, vk)
        return problems

    def _unregister_all(self) -> None:
        for hotkey_id in self._registered:
            self._api.unregister(hotkey_id)
        self._registered.clear()

    def _hold(self, action: str, vk: int) -> None:
        """Report the press, poll until the key or a modifier is up (or stop), report the release."""
        self._on_press(action)
        combo = self._combos[action]
        while not self._stopping.wait(_POLL_S) and self._held(vk, combo):
            pass
        self._on_release(action)

    def _held(self, vk: int, combo: Combo) -> bool:
        if not self._api.key_down(vk):
            return False
        return all(any(self._api.key_down(vk) for vk in MODIFIER_VKS[name]) for name in combo.modifiers)
