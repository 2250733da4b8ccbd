"""The speaker: its own thread and queue over a TTS engine (`tts`), so generation and speech overlap."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from assistant.speech_out.tts import TTSEngine, Utterance, wait_result
from base.errors import ScreenSightError

log = logging.getLogger(__name__)


@dataclass
class _Item:
    text: str
    tag: object
    future: Future[Utterance] | None
    generation: int


class Speaker:
    """Speaks queued texts in order on its own thread; stop() silences it at once.

    say() asks the TTS engine to start synthesizing right away, so the next utterance is
    ready while the current one plays. The speaker owns the TTS engine: close() closes it.
    Audio-start listeners (the constructor's `on_audio_start` and any added later, such as the
    request engine's) are called with an utterance's tag when its first audio plays.
    """

    def __init__(
        self,
        tts: TTSEngine,
        on_audio_start: Callable[[object], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self.tts = tts
        self._audio_start_listeners: list[Callable[[object], None]] = []
        if on_audio_start is not None:
            self._audio_start_listeners.append(on_audio_start)
        self._on_error = on_error
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._lock = threading.Condition()
        self._generation = 0
        self._pending = 0  # queued or playing
        self._cancel = threading.Event()  # the cancel event of what plays now
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="speaker", daemon=True)
        self._thread.start()

    def say(self, text: str, tag: object = None) -> None:
        """Queue text to be spoken after what is already queued; returns at once."""
        if not text.strip():
            return
        with self._lock:
            if self._closed:
                return
            generation = self._generation
            self._pending += 1
        try:
            future: Future[Utterance] | None = self.tts.synthesize(text)
        except Exception as exc:  # noqa: BLE001 - any engine failure is reported, never raised
            self._report(exc)
            future = None
        self._queue.put(_Item(text, tag, future, generation))

    def add_audio_start_listener(self, listener: Callable[[object], None]) -> None:
        """Call `listener(tag)` on the speaker's thread when an utterance's first audio plays."""
        with self._lock:
            self._audio_start_listeners.append(listener)

    def remove_audio_start_listener(self, listener: Callable[[object], None]) -> None:
        with self._lock:
            if listener in self._audio_start_listeners:
                self._audio_start_listeners.remove(listener)

    def stop(self) -> None:
        """Silence now and drop everything queued."""
        with self._lock:
            self._generation += 1
            self._cancel.set()
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:  # close() is waiting for the thread: keep its sentinel
                self._queue.put(None)
                break
            self._finish(item)

    def busy(self) -> bool:
        """True while anything is queued or playing."""
        with self._lock:
            return self._pending > 0

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is queued or playing; False if the timeout passed first."""
        with self._lock:
            return self._lock.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        """Stop speaking, end the thread and close the engine."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.stop()
        self._queue.put(None)
        self._thread.join(timeout=5)
        self.tts.close()

    def _finish(self, item: _Item) -> None:
        if item.future is not None:
            item.future.cancel()
        with self._lock:
            self._pending -= 1
            self._lock.notify_all()

    def _report(self, exc: Exception) -> None:
        # An expected fault (no speaker, engine missing) is a message; anything else a bug to trace.
        log.warning("speech failed: %s", exc, exc_info=None if isinstance(exc, ScreenSightError) else exc)
        if self._on_error is not None:
            try:
                self._on_error(exc)
            except Exception:  # a broken error handler must not kill the speaker
                log.exception("the speech error handler failed")

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._speak(item)
            except Exception as exc:  # noqa: BLE001 - engine errors are reported, the thread lives
                self._report(exc)
            finally:
                self._finish(item)

    def _speak(self, item: _Item) -> None:
        with self._lock:
            if item.generation != self._generation or item.future is None:
                return
            cancel = threading.Event()
            self._cancel = cancel
        utterance = wait_result(item.future, cancel)
        if utterance is None or cancel.is_set():
            return
        tag = item.tag
        with self._lock:
            listeners = tuple(self._audio_start_listeners)
        on_start = None
        if listeners:
            def on_start() -> None:
                for listener in listeners:
                    try:
                        listener(tag)
                    except Exception:  # noqa: BLE001 - a listener bug must not stop the speech
                        log.exception("an audio-start listener failed")
        self.tts.play(utterance, cancel, on_start)
