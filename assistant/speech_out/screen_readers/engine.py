"""TTS engines that speak through the user's screen reader (assistant.speech_out.tts.TTSEngine).

ScreenReaderEngine plays an utterance by handing it to the running reader and waiting until the
reader is done with it (or for about its speaking time where the reader cannot tell), so stop
cancels the reader's speech of ours. With no reader running, or none reachable, it says so once
in the app's own voice and speaks with that voice until a reader is found again.

BothEngine speaks with the own voice and gives the reader the text where that does not make it
speak the same words a second time: on the braille display (NVDA, JAWS).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from assistant.speech_out.screen_readers.base import ScreenReader, Spoken
from assistant.speech_out.screen_readers.registry import ReaderWatch
from assistant.speech_out.tts import TTSEngine, Utterance, Voice, wait_result

log = logging.getLogger(__name__)

NO_READER_MESSAGE = "No screen reader is running, so ScreenSight speaks with its own voice until one starts."
CHARS_PER_SECOND = 25.0   # a fast screen-reader rate: when the reader cannot say it is done
MIN_WAIT_S = 0.3
MAX_WAIT_S = 120.0
POLL_S = 0.02


def speaking_time(text: str) -> float:
    return min(MAX_WAIT_S, max(MIN_WAIT_S, len(text) / CHARS_PER_SECOND))


class ScreenReaderEngine(TTSEngine):
    """Speech through the detected screen reader, the own voice while there is none."""

    name = "screen_reader"

    def __init__(self, watch: ReaderWatch, voice: Callable[[], TTSEngine],
                 on_notice: Callable[[str], None] | None = None) -> None:
        self.watch = watch
        self._make_voice = voice
        self._on_notice = on_notice
        self._lock = threading.Lock()
        self._voice: TTSEngine | None = None
        self._settings: dict[str, object] = {}
        self._told = False  # the "no screen reader" notice was given since the last reader

    # -- the own voice, made when first needed -----------------------------------------------

    def _own_voice(self) -> TTSEngine:
        with self._lock:
            if self._voice is None:
                voice = self._make_voice()
                if self._settings:
                    voice.configure(**self._settings)  # type: ignore[arg-type]
                self._voice = voice
            return self._voice

    def configure(self, *, voice: str | None = None, rate: int | None = None,
                  volume: float | None = None) -> None:
        """The own voice's settings (the reader keeps the user's own)."""
        with self._lock:
            self._settings = {"voice": voice, "rate": rate, "volume": volume}
            own = self._voice
        if own is not None:
            own.configure(voice=voice, rate=rate, volume=volume)

    def voices(self) -> list[Voice]:
        with self._lock:
            own = self._voice
        return own.voices() if own is not None else []

    def synthesize(self, text: str) -> Future[Utterance]:
        # Any thread (the Qt one too): no detection here, only what the last check found.
        with self._lock:
            own = self._voice if self.watch.checked() and self.watch.known() is None else None
        return own.synthesize(text) if own is not None else super().synthesize(text)

    # -- playing (the speaker's thread) ------------------------------------------------------

    @property
    def own_voice(self) -> TTSEngine | None:
        """The own voice, once it was needed."""
        with self._lock:
            return self._voice

    @property
    def fell_back(self) -> bool:
        """True once the notice was given and no reader has taken a text since."""
        with self._lock:
            return self._told

    def play(self, utterance: Utterance, cancel: threading.Event,
             on_start: Callable[[], None] | None = None) -> None:
        if cancel.is_set():
            return
        reader = self.watch.current()
        if reader is not None:
            spoken = reader.speak(utterance.text)
            if spoken.accepted:
                with self._lock:
                    self._told = False
                if on_start is not None:
                    on_start()
                self._wait(reader, spoken, utterance.text, cancel)
                return
            log.warning("%s did not take the text: %s", reader.name, spoken.problem)
            self.watch.failed(reader)
        self._play_own(utterance, cancel, on_start)

    def _wait(self, reader: ScreenReader, spoken: Spoken, text: str, cancel: threading.Event) -> None:
        # A reader that reports its end (speech-dispatcher) is waited for, so the next message
        # follows this one and Orca's own speech can come between; others for about as long
        # as the text takes to say, so that stop still finds something to cancel.
        deadline = time.monotonic() + (MAX_WAIT_S if spoken.reports_end else speaking_time(text))
        while not cancel.wait(POLL_S):
            if (spoken.reports_end and spoken.done.is_set()) or time.monotonic() >= deadline:
                return
        reader.cancel()

    def _play_own(self, utterance: Utterance, cancel: threading.Event,
                  on_start: Callable[[], None] | None) -> None:
        voice = self._own_voice()
        with self._lock:
            tell, self._told = not self._told, True
        if tell:
            log.warning("no screen reader: speaking with the own voice")
            if self._on_notice is not None:
                self._on_notice(NO_READER_MESSAGE)
            voice.speak(NO_READER_MESSAGE, cancel)
            if cancel.is_set():
                return
        if utterance.clip is None:
            prepared = wait_result(voice.synthesize(utterance.text), cancel)
            if prepared is None or cancel.is_set():
                return
            utterance = prepared
        voice.play(utterance, cancel, on_start)

    def close(self) -> None:
        with self._lock:
            own, self._voice = self._voice, None
        if own is not None:
            own.close()
        self.watch.close()


class BothEngine(TTSEngine):
    """The own voice speaks; the screen reader shows the text in braille where it can."""

    name = "both"

    def __init__(self, voice: TTSEngine, watch: ReaderWatch) -> None:
        self.voice = voice
        self.watch = watch

    def configure(self, *, voice: str | None = None, rate: int | None = None,
                  volume: float | None = None) -> None:
        self.voice.configure(voice=voice, rate=rate, volume=volume)

    def voices(self) -> list[Voice]:
        return self.voice.voices()

    def synthesize(self, text: str) -> Future[Utterance]:
        return self.voice.synthesize(text)

    def play(self, utterance: Utterance, cancel: threading.Event,
             on_start: Callable[[], None] | None = None) -> None:
        if cancel.is_set():
            return
        reader = self.watch.current()
        if reader is not None and reader.braille_only:
            shown = reader.braille(utterance.text)
            if not shown.accepted:
                log.info("braille through %s failed: %s", reader.name, shown.problem)
        self.voice.play(utterance, cancel, on_start)

    def close(self) -> None:
        self.voice.close()
        self.watch.close()
