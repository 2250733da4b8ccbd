"""One screenshot, what is known for sure about it, and the questions asked about it."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assistant.capture import Capture
from base.turns import Turn

if TYPE_CHECKING:
    from assistant.facts.types import ScreenFacts
    from assistant.text_recognition.types import RecognizedText


@dataclass
class Grounding:
    """What the system knows for sure about one screenshot: the accessibility facts queried when it
    was taken and its recognized text, which may still be recognized on the grounding thread.

    text() is the recognized text once recognition has finished (None while it runs, after it
    failed, or when it never ran); wait() blocks at most a given time for it."""

    facts: ScreenFacts | None = None
    recognition: Future | None = None   # Future[RecognizedText], on the engine's grounding thread
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def pending(self) -> bool:
        return self.recognition is not None and not self.recognition.done()

    def text(self) -> RecognizedText | None:
        """The recognized text, or None (still running, failed, cancelled, never started)."""
        future = self.recognition
        if future is None or not future.done() or future.cancelled():
            return None
        if future.exception() is not None:
            return None
        return future.result()

    def wait(self, seconds: float, cancel: threading.Event | None = None) -> RecognizedText | None:
        """The recognized text, waiting at most `seconds` (less when `cancel` is set) for it."""
        deadline = time.monotonic() + max(seconds, 0.0)
        while self.pending and time.monotonic() < deadline:
            if cancel is not None and cancel.is_set():
                break
            try:
                self.recognition.result(timeout=min(0.02, max(deadline - time.monotonic(), 0.0)))
            except TimeoutError:
                continue
            except Exception:  # noqa: BLE001 - a failed recognition is "not known", logged where it ran
                break
        return self.text()

    def abandon(self) -> None:
        """Stop a recognition nobody needs any more (a newer screenshot replaced this one)."""
        self.stop.set()


@dataclass
class Conversation:
    """The screenshot, its encoded context, what is known about it, and the turns; old turns drop,
    the image never does."""

    capture: Capture
    fingerprint: str
    detail: str
    context: Any = None  # models.vision.ImageContext once encoded
    turns: list[Turn] = field(default_factory=list)
    grounding: Grounding | None = None  # None: describe without grounding (off, or an image file)
    max_turns: int = 6
    max_chars: int = 4000

    def add(self, question: str, answer: str) -> None:
        self.turns.append(Turn(question, answer))
        while len(self.turns) > self.max_turns or (
            len(self.turns) > 1 and sum(len(t.question) + len(t.answer) for t in self.turns) > self.max_chars
        ):
            self.turns.pop(0)

    def matches(self, fingerprint: str, detail: str) -> bool:
        """True when the same pixels at the same detail are already encoded."""
        return self.context is not None and self.fingerprint == fingerprint and self.detail == detail
