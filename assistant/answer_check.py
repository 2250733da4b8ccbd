"""The truth check on one answer as it streams (assistant.grounding's QuoteChecker), also while
the screenshot's text is still being recognized."""

from __future__ import annotations

import threading

from assistant.conversation import Grounding
from assistant.grounding import CheckedText, KnownText, QuoteChecker

CHECK_WAIT_S = 1.0  # how long, once per answer, a quote nothing known confirms waits for recognition


def recheck(original: str, known: KnownText) -> CheckedText:
    """One utterance checked again from the start against `known`."""
    checker = QuoteChecker(known)
    checked = checker.feed(original) + checker.flush()
    return CheckedText(original, " ".join(c.text for c in checked),
                       tuple(q for c in checked for q in c.quotes))


class AnswerCheck:
    """The truth check on one answer's utterances (assistant.grounding), also while the screenshot's
    text is still being recognized.

    Recognized text known: QuoteChecker as it is. Still recognized: quotes the facts (or the question)
    confirm pass at once; an utterance with any other quote waits, once per answer and at most
    `wait_s`, for the recognition, and is then checked against it; still unknown then, such quotes
    become "(unconfirmed text)", as they truly are. Recognition failed: the answer is not checked
    (nothing can be told invented), as without grounding."""

    def __init__(self, grounding: Grounding, extra: list[str], wait_s: float = CHECK_WAIT_S,
                 cancel: threading.Event | None = None) -> None:
        self.grounding = grounding
        self.extra = extra
        self.wait_s = wait_s
        self.cancel = cancel
        self._waited = False
        self._final = not grounding.pending
        known = KnownText.of(text=grounding.text(), facts=grounding.facts, extra=extra)
        self._checker = QuoteChecker(known, strict=not self._final)

    def feed(self, utterance: str) -> list[str]:
        return [self._settle(item) for item in self._checker.feed(utterance)]

    def flush(self) -> list[str]:
        return [self._settle(item) for item in self._checker.flush()]

    def _settle(self, item: CheckedText) -> str:
        if self._final or not any(q.confirmed is False for q in item.quotes):
            return item.text
        if not self._waited:
            self._waited = True
            self.grounding.wait(self.wait_s, self.cancel)
        if self.grounding.pending:
            return item.text
        self._final = True
        self._checker.known = KnownText.of(text=self.grounding.text(), facts=self.grounding.facts,
                                           extra=self.extra)
        self._checker.strict = False
        return recheck(item.original, self._checker.known).text
