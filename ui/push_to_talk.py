"""Push-to-talk: the key goes down, the screenshot is taken and encoded while the user talks;
the key comes up (or, in toggle mode, a pause ends the question) and the recording is handed
to the engine, which transcribes it and answers.

press()/release()/cancel() run on the Qt thread; opening and closing the microphone run on
one worker thread of their own, so the window never waits for PortAudio.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from assistant.config import Settings
from assistant.engine import Request
from assistant.errors import AudioError
from ui import earcons
from ui.bridge import MessageRelay

log = logging.getLogger(__name__)

MAX_SECONDS = 30.0          # the longest question
NO_SPEECH_SECONDS = 8.0     # toggle mode: give up when nothing was said


@dataclass
class _Session:
    """One question being recorded."""

    future: Future
    end_now: threading.Event = field(default_factory=threading.Event)
    recorder: Any = None
    request_id: int = 0


class PushToTalk(QObject):
    """Records spoken questions for the controller's engine."""

    ended = Signal()  # the recording of a question ended (any thread -> Qt thread)

    def __init__(self, controller: Any, parent: QObject | None = None) -> None:
        super().__init__(parent or controller)
        self.controller = controller
        self.settings: Settings = controller.settings
        self.relay = MessageRelay(self)
        self.relay.level.connect(controller.window.set_level, Qt.ConnectionType.QueuedConnection)
        self.ended.connect(self._on_ended, Qt.ConnectionType.QueuedConnection)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="push-to-talk")
        self._session: _Session | None = None

    @property
    def recording(self) -> bool:
        return self._session is not None

    def apply_settings(self, settings: Settings) -> None:
        self.settings = settings

    # -- Qt thread ---------------------------------------------------------------------------

    def press(self) -> None:
        """The talk key went down: take the screenshot now and start listening."""
        if self._session is not None:
            if self.settings.push_to_talk_mode == "toggle":
                self._end()  # a second press ends the question early
            return
        session = _Session(Future())
        self._session = session
        session.request_id = self.controller.submit(Request(mode="ask", target="window",
                                                            audio=session.future))
        self.controller.window.set_recording(True)
        self.controller.window.set_status("Listening…" if self.settings.push_to_talk_mode == "toggle"
                                          else "Listening… release the key when you are done.")
        self._pool.submit(self._start, session, self.settings)

    def release(self) -> None:
        """The talk key came up: in hold mode, the question is complete."""
        if self._session is not None and self.settings.push_to_talk_mode == "hold":
            self._end()

    def cancel(self) -> None:
        """Stop listening and throw the recording away."""
        session, self._session = self._session, None
        if session is None:
            return
        session.end_now.set()
        session.future.cancel()
        self._pool.submit(self._discard, session)
        self.controller.window.set_recording(False)

    def close(self) -> None:
        self.cancel()
        self._pool.shutdown(wait=True, cancel_futures=False)

    def _end(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        session.end_now.set()
        self._pool.submit(self._finish, session, self.settings)
        self.controller.window.set_recording(False)
        self.controller.window.set_status("Thinking…")

    def _on_ended(self) -> None:
        """Toggle mode: the pause ended the question on the worker."""
        if self._session is not None and self._session.end_now.is_set():
            self._session = None
            self.controller.window.set_recording(False)
            self.controller.window.set_status("Thinking…")

    # -- worker thread -----------------------------------------------------------------------

    def _start(self, session: _Session, settings: Settings) -> None:
        from assistant.audio_in import Recorder

        if session.end_now.is_set():
            return
        if settings.earcons:
            earcons.play(earcons.START)
        recorder = Recorder(device=settings.microphone or None, max_seconds=MAX_SECONDS,
                            on_level=self.relay.report_level)
        try:
            recorder.start()
        except AudioError as exc:
            _fail(session, exc)
            session.end_now.set()
            self.ended.emit()
            return
        session.recorder = recorder
        if settings.push_to_talk_mode == "toggle":
            self._wait_for_pause(session)
            session.end_now.set()
            self.ended.emit()
            self._finish(session, settings)

    def _wait_for_pause(self, session: _Session) -> None:
        """Toggle mode: listen until speech then a pause, a second press, or nothing said."""
        from assistant.audio_in import EndPointer

        recorder = session.recorder
        pointer = EndPointer(sample_rate=recorder.rate)
        seen = 0
        while not session.end_now.is_set():
            blocks, seen = recorder.new_blocks(seen)
            if any(pointer.feed(block) for block in blocks) or pointer.done or not recorder.active:
                return
            if not pointer.speech_started and recorder.captured_seconds >= NO_SPEECH_SECONDS:
                return
            time.sleep(0.03)

    def _finish(self, session: _Session, settings: Settings) -> None:
        recorder = session.recorder
        if recorder is None or not recorder.recording or session.future.done():
            return
        try:
            recording = recorder.stop()
        except AudioError as exc:  # MicrophoneLostError included: the message says what happened
            _fail(session, exc)
        else:
            log.info("recorded %.2f s (peak %.3f)", recording.seconds, recording.peak)
            if not session.future.done():
                session.future.set_result(recording)
        if settings.earcons:
            earcons.play(earcons.STOP)

    def _discard(self, session: _Session) -> None:
        if session.recorder is not None:
            session.recorder.cancel()


def _fail(session: _Session, exc: AudioError) -> None:
    """Hand the problem to the engine, which reports it like any other failed request."""
    if not session.future.done():
        session.future.set_exception(exc)
