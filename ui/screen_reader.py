"""Accessibility announcements (QAccessibleAnnouncementEvent, Qt 6.8+) and their screen-reader backend.

Qt turns an announcement into a UIA notification on Windows (Narrator and other UIA readers),
an NSAccessibility announcement on macOS (VoiceOver) and an AT-SPI Announcement signal on Linux,
which only at-spi2-core 2.50+ with Orca 46+ present. `AnnouncementReader` is the backend of
assistant.speech_out.screen_readers for that path; it says it runs only where the stack handles it
(assistant.speech_out.screen_readers.platforms). The announcement is posted on the Qt thread; other
threads only emit a queued signal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAccessible

from assistant.speech_out.screen_readers.base import ScreenReader, Spoken
from assistant.speech_out.screen_readers.engine import BothEngine, ScreenReaderEngine
from assistant.speech_out.screen_readers.platforms import AnnouncementSupport

log = logging.getLogger(__name__)

__all__ = ["AnnouncementReader", "Announcer", "BothEngine", "ScreenReaderEngine", "announcements_supported"]

try:  # Qt 6.8+
    from PySide6.QtGui import QAccessibleAnnouncementEvent
except ImportError:  # pragma: no cover - older Qt
    QAccessibleAnnouncementEvent = None


def announcements_supported() -> bool:
    """Whether this Qt can post announcements at all (not whether a reader will speak them)."""
    return QAccessibleAnnouncementEvent is not None


class Announcer(QObject):
    """Posts accessibility announcements for a widget; `announce` may be called from any thread."""

    requested = Signal(str, bool)
    announced = Signal(str)  # after posting, on the Qt thread (for the window's log and tests)

    def __init__(self, target: QObject | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.target = target
        # Set by the app for its dialogs: where announcements go when the output setting routes
        # them through the detected screen reader (e.g. speech-dispatcher for Orca 43).
        self.forward: Callable[[str, bool], None] | None = None
        self.requested.connect(self._post, Qt.ConnectionType.QueuedConnection)

    def announce(self, text: str, assertive: bool = False) -> None:
        if not text.strip():
            return
        if self.forward is not None:
            self.forward(text, assertive)
            return
        self.requested.emit(text, assertive)

    def _post(self, text: str, assertive: bool) -> None:
        target = self.target
        if target is not None and QAccessibleAnnouncementEvent is not None:
            event = QAccessibleAnnouncementEvent(target, text)
            event.setPoliteness(QAccessible.AnnouncementPoliteness.Assertive if assertive
                                else QAccessible.AnnouncementPoliteness.Polite)
            QAccessible.updateAccessibility(event)
        self.announced.emit(text)


class AnnouncementReader(ScreenReader):
    """The screen reader reached through accessibility announcements of the app's window.

    An announcement cannot be taken back: cancel() does nothing, and the next text after a stop
    goes out assertive, which readers speak at once instead of after what they are saying.
    """

    name = "announcement"
    description = "the screen reader, through accessibility announcements"

    def __init__(self, announcer: Announcer, support: AnnouncementSupport | None = None) -> None:
        self._announcer = announcer
        self._support = support or AnnouncementSupport()
        self._interrupt_next = False

    def is_running(self) -> bool:
        return announcements_supported() and self._support.reaches_reader()

    def speak(self, text: str, interrupt: bool = False) -> Spoken:
        if not announcements_supported():
            return Spoken.failed("this Qt has no accessibility announcements")
        assertive, self._interrupt_next = interrupt or self._interrupt_next, False
        self._announcer.announce(text, assertive)
        return Spoken.handed_over()

    def cancel(self) -> None:
        self._interrupt_next = True
