"""A screen reader for tests, like Orca's dummy speech server: records what it was asked to say."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from assistant.speech_out.screen_readers.base import ScreenReader, Spoken


@dataclass(frozen=True)
class Request:
    kind: str  # "speak" | "braille" | "cancel"
    text: str = ""
    interrupt: bool = False


class RecordingReader(ScreenReader):
    """Runs while `running` is set; `reachable=False` makes every speak fail like a dead socket."""

    name = "recording"
    description = "a recording screen reader for tests"
    braille_only = True

    def __init__(self, running: bool = True, reachable: bool = True) -> None:
        self.running = threading.Event()
        if running:
            self.running.set()
        self.reachable = reachable
        self.closed = False
        self._lock = threading.Lock()
        self._requests: list[Request] = []

    def is_running(self) -> bool:
        return self.running.is_set()

    def _record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    def speak(self, text: str, interrupt: bool = False) -> Spoken:
        if not self.reachable:
            return Spoken.failed("the recording reader is unreachable")
        self._record(Request("speak", text, interrupt))
        return Spoken.handed_over()

    def braille(self, text: str) -> Spoken:
        self._record(Request("braille", text))
        return Spoken.handed_over()

    def cancel(self) -> None:
        self._record(Request("cancel"))

    def close(self) -> None:
        self.closed = True

    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def spoken(self) -> list[str]:
        return [r.text for r in self.requests() if r.kind == "speak"]
