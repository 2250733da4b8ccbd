"""Speech through the user's running screen reader (QAccessibleAnnouncementEvent, Qt 6.8+).

NVDA, Orca and VoiceOver speak announcements in the user's own voice and settings. The
announcement is posted on the Qt thread; the speaker thread only emits a queued signal.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAccessible

from assistant.tts import TTSEngine, Utterance, Voice

log = logging.getLogger(__name__)

try:  # Qt 6.8+
    from PySide6.QtGui import QAccessibleAnnouncementEvent
except ImportError:  # pragma: no cover - older Qt
    QAccessibleAnnouncementEvent = None


def announcements_supported() -> bool:
    return QAccessibleAnnouncementEvent is not None


class Announcer(QObject):
    """Posts accessibility announcements for a widget; `announce` may be called from any thread."""

    requested = Signal(str, bool)
    announced = Signal(str)  # after posting, on the Qt thread (for the window's log and tests)

    def __init__(self, target: QObject | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.target = target
        self.requested.connect(self._post, Qt.ConnectionType.QueuedConnection)

    def announce(self, text: str, assertive: bool = False) -> None:
        if text.strip():
            self.requested.emit(text, assertive)

    def _post(self, text: str, assertive: bool) -> None:
        target = self.target
        if target is not None and QAccessibleAnnouncementEvent is not None:
            event = QAccessibleAnnouncementEvent(target, text)
            event.setPoliteness(QAccessible.AnnouncementPoliteness.Assertive if assertive
                                else QAccessible.AnnouncementPoliteness.Polite)
            QAccessible.updateAccessibility(event)
        self.announced.emit(text)


class ScreenReaderEngine(TTSEngine):
    """A TTSEngine that hands each utterance to the screen reader instead of making sound."""

    name = "screen_reader"

    def __init__(self, announcer: Announcer) -> None:
        self._announcer = announcer

    def configure(self, *, voice: str | None = None, rate: int | None = None,
                  volume: float | None = None) -> None:
        return None  # the screen reader's own voice settings apply

    def voices(self) -> list[Voice]:
        return []

    def play(self, utterance: Utterance, cancel: threading.Event,
             on_start: Callable[[], None] | None = None) -> None:
        if cancel.is_set():
            return
        if on_start is not None:
            on_start()
        self._announcer.announce(utterance.text)

    def close(self) -> None:
        return None


class BothEngine(TTSEngine):
    """Announces each utterance to the screen reader and speaks it with the app's own voice."""

    name = "both"

    def __init__(self, voice: TTSEngine, announcer: Announcer) -> None:
        self.voice = voice
        self._announcer = announcer

    def configure(self, *, voice: str | None = None, rate: int | None = None,
                  volume: float | None = None) -> None:
        self.voice.configure(voice=voice, rate=rate, volume=volume)

    def voices(self) -> list[Voice]:
        return self.voice.voices()

    def prepare(self, text: str):  # -> Future[Utterance]
        return self.voice.prepare(text)

    def play(self, utterance: Utterance, cancel: threading.Event,
             on_start: Callable[[], None] | None = None) -> None:
        if cancel.is_set():
            return
        self._announcer.announce(utterance.text)
        self.voice.play(utterance, cancel, on_start)

    def close(self) -> None:
        self.voice.close()
