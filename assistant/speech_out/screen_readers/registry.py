"""Which screen reader runs: the backends in order of preference, and a cheap, cached watch."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from assistant.speech_out.screen_readers.base import ScreenReader

log = logging.getLogger(__name__)

ONLY_ENV = "SCREENSIGHT_SCREEN_READER"  # a backend name to use alone, or "none"
RECHECK_SECONDS = 3.0


class ScreenReaders:
    """Backends in order of preference; detect() returns the first whose reader runs."""

    def __init__(self, backends: Sequence[ScreenReader] = (), only: str = "") -> None:
        self._backends = list(backends)
        self.only = only.strip().lower()
        self._lock = threading.Lock()

    def register(self, backend: ScreenReader, first: bool = False) -> None:
        with self._lock:
            self._backends.insert(0 if first else len(self._backends), backend)

    def backends(self) -> list[ScreenReader]:
        with self._lock:
            backends = list(self._backends)
        if self.only:
            return [b for b in backends if b.name == self.only]
        return backends

    def detect(self, skip: Sequence[ScreenReader] = ()) -> ScreenReader | None:
        for backend in self.backends():
            if backend in skip:
                continue
            try:
                if backend.is_running():
                    return backend
            except Exception:  # noqa: BLE001 - one broken backend must not hide the others
                log.exception("screen reader detection failed: %s", backend.name)
        return None

    def close(self) -> None:
        for backend in self.backends():
            backend.close()


def platform_backends(platform: str = sys.platform, env: Mapping[str, str] | None = None) -> list[ScreenReader]:
    """The backends that need no Qt, in order of preference, for this platform."""
    if platform == "win32":
        from assistant.speech_out.screen_readers.jaws import JAWSReader
        from assistant.speech_out.screen_readers.nvda import NVDAReader

        return [NVDAReader(), JAWSReader()]
    if platform.startswith("linux") or "bsd" in platform:
        from assistant.speech_out.screen_readers.speechd import SpeechDispatcherReader

        return [SpeechDispatcherReader(env)]
    return []


def default_readers(announcement: ScreenReader | None = None, platform: str = sys.platform,
                    env: Mapping[str, str] | None = None) -> ScreenReaders:
    """The platform's readers plus the announcement backend (Qt's, from ui/).

    It goes first on Linux and macOS (where it is the reader's own voice and braille when the stack
    supports it) and last on Windows (for UIA readers such as Narrator, after NVDA and JAWS).
    """
    env = os.environ if env is None else env
    readers = ScreenReaders(platform_backends(platform, env), env.get(ONLY_ENV, ""))
    if announcement is not None:
        readers.register(announcement, first=platform != "win32")
    return readers


class ReaderWatch:
    """The running reader, detected again at most every `interval` seconds (call off the Qt thread).

    A reader that failed to take a text is passed over until the next check.
    """

    def __init__(self, readers: ScreenReaders, interval: float = RECHECK_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.readers = readers
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._checked: float | None = None
        self._current: ScreenReader | None = None
        self._failed: list[ScreenReader] = []

    def current(self) -> ScreenReader | None:
        with self._lock:
            now = self._clock()
            if self._checked is not None and now - self._checked < self.interval:
                return self._current
            failed, self._failed = self._failed, []
        found = self.readers.detect(skip=failed)
        with self._lock:
            self._checked, self._current = self._clock(), found
        return found

    def known(self) -> ScreenReader | None:
        """The last reader detected, without detecting (safe on any thread)."""
        with self._lock:
            return self._current

    def checked(self) -> bool:
        with self._lock:
            return self._checked is not None

    def failed(self, reader: ScreenReader) -> None:
        with self._lock:
            self._failed.append(reader)
            if self._current is reader:
                self._current = None
            self._checked = self._clock()  # until the next check

    def close(self) -> None:
        self.readers.close()
