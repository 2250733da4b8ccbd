"""One screenshot and the questions asked about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assistant.capture import Capture


@dataclass(frozen=True)
class Exchange:
    """A question (or the describe prompt) and the answer given."""

    question: str
    answer: str


@dataclass
class Conversation:
    """The screenshot, its encoded context, and the turns; old turns drop, the image never does."""

    capture: Capture
    fingerprint: str
    detail: str
    context: Any = None  # models.vision.ImageContext once encoded
    turns: list[Exchange] = field(default_factory=list)
    max_turns: int = 6
    max_chars: int = 4000

    def add(self, question: str, answer: str) -> None:
        self.turns.append(Exchange(question, answer))
        while len(self.turns) > self.max_turns or (
            len(self.turns) > 1 and sum(len(t.question) + len(t.answer) for t in self.turns) > self.max_chars
        ):
            self.turns.pop(0)

    def matches(self, fingerprint: str, detail: str) -> bool:
        """True when the same pixels at the same detail are already encoded."""
        return self.context is not None and self.fingerprint == fingerprint and self.detail == detail
