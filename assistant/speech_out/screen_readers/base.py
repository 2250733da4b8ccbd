"""The interface every screen-reader backend implements, like NVDA's synth drivers.

A backend says whether its screen reader is running (cheaply: it is asked again every few
seconds), hands it text to speak, cancels only the speech it asked for, and closes. What a
call did comes back as a value (`Spoken`), never as an exception.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Spoken:
    """What the screen reader did with one text.

    accepted: the reader took it (it may still be speaking it); when False, `problem` says why
    in words for the log. reports_end: `done` is set when the reader finished or dropped the
    text; readers that cannot tell set `done` at once.
    """

    accepted: bool
    problem: str = ""
    reports_end: bool = False
    done: threading.Event = field(default_factory=threading.Event, compare=False)

    @classmethod
    def handed_over(cls) -> Spoken:
        """Accepted by a reader that does not report when it finished speaking."""
        spoken = cls(True)
        spoken.done.set()
        return spoken

    @classmethod
    def failed(cls, problem: str) -> Spoken:
        spoken = cls(False, problem)
        spoken.done.set()
        return spoken


class ScreenReader(ABC):
    """One screen reader (or the speech server it speaks through)."""

    name: str = ""
    description: str = ""
    # True when braille() shows text on the braille display without speaking it.
    braille_only: bool = False

    @abstractmethod
    def is_running(self) -> bool:
        """True when this reader runs for the current user now; cheap, never raises."""

    @abstractmethod
    def speak(self, text: str, interrupt: bool = False) -> Spoken:
        """Hand text to the reader; interrupt first silences what this app asked it to say."""

    @abstractmethod
    def cancel(self) -> None:
        """Silence the speech this app asked for (never the reader's own)."""

    def braille(self, text: str) -> Spoken:
        """Show text on the braille display without speech, where the reader can."""
        return Spoken.failed(f"{self.name} cannot show braille without speech")

    def close(self) -> None:
        """Release connections; calling it twice is harmless."""
        return None
