"""One question about a screenshot and the answer given: kept by the conversation, replayed to
the vision model as text after the image."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Turn:
    """A question (or the describe prompt) and its answer."""

    question: str
    answer: str
