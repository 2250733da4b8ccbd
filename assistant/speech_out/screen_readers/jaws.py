"""JAWS through its COM API (FreedomSci.JawsApi: SayString, StopSpeech, RunFunction) via comtypes.

comtypes is a Windows-only dependency (pyttsx3 needs it there too); it is imported only when
JAWS is first used, so this module imports on any system. JAWS runs when its window class
"JFWUI2" exists.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

from assistant.speech_out.screen_readers.base import ScreenReader, Spoken

log = logging.getLogger(__name__)

WINDOW_CLASS = "JFWUI2"
PROG_ID = "FreedomSci.JawsApi"


def jaws_window_exists() -> bool:
    if sys.platform != "win32":
        return False
    return bool(ctypes.windll.user32.FindWindowW(WINDOW_CLASS, None))  # type: ignore[attr-defined]


def braille_call(text: str) -> str:
    """The JAWS script call that shows text in braille; JAWS script strings cannot escape quotes."""
    clean = " ".join(text.replace('"', "'").split())
    return f'BrailleString("{clean}")'


def _create_api() -> Any:
    import comtypes.client  # Windows only

    return comtypes.client.CreateObject(PROG_ID)


class JAWSReader(ScreenReader):
    """JAWS: SayString(text, flush) speaks in JAWS's voice; StopSpeech silences it."""

    name = "jaws"
    description = "JAWS"
    braille_only = True

    def __init__(self, running: Callable[[], bool] = jaws_window_exists,
                 factory: Callable[[], Any] = _create_api) -> None:
        self._running = running
        self._factory = factory
        self._lock = threading.Lock()
        self._api: Any = None

    def is_running(self) -> bool:
        return self._running()

    def _object(self) -> tuple[Any, str]:
        with self._lock:
            if self._api is None:
                try:
                    self._api = self._factory()
                except Exception as exc:  # noqa: BLE001 - comtypes raises COMError, no OSError
                    return None, f"JAWS's COM API is unavailable: {exc}"
            return self._api, ""

    def _call(self, method: str, *args: object) -> Spoken:
        api, problem = self._object()
        if api is None:
            return Spoken.failed(problem)
        try:
            ok = getattr(api, method)(*args)
        except Exception as exc:  # noqa: BLE001 - COMError when JAWS quit or refused
            with self._lock:
                self._api = None  # JAWS restarted: make a new object next time
            return Spoken.failed(f"JAWS {method} failed: {exc}")
        return Spoken.handed_over() if ok is None or bool(ok) else Spoken.failed(f"JAWS {method} returned false")

    def speak(self, text: str, interrupt: bool = False) -> Spoken:
        return self._call("SayString", text, bool(interrupt))

    def braille(self, text: str) -> Spoken:
        return self._call("RunFunction", braille_call(text))

    def cancel(self) -> None:
        # Like NVDA's controller, JAWS's API stops all of its speech, not only ours.
        self._call("StopSpeech")
