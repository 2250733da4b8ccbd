"""Callbacks from worker threads (engine, hotkeys, speaker, recorder) become queued Qt signals.

Every class here is a QObject living on the Qt thread; its `emit` calls may come from any
thread, and connections are queued, so slots always run on the Qt thread.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from assistant.engine import EngineListener, Request, Result


class EngineBridge(QObject):
    """Engine events as signals; pass `bridge.listener` to the Engine."""

    started = Signal(int, object)       # request id, Request
    status = Signal(int, str)
    progress = Signal(int, str, int)    # request id, what is being done, percent
    question = Signal(int, str)
    text = Signal(int, str)             # a streamed piece
    utterance = Signal(int, str)
    finished = Signal(object)           # Result

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.listener = _Relay(self)

    def connect_queued(self, signal_name: str, slot: Any) -> None:
        """Connect a slot that always runs on the receiver's (Qt) thread."""
        getattr(self, signal_name).connect(slot, Qt.ConnectionType.QueuedConnection)


class _Relay(EngineListener):
    """The EngineListener the worker calls; it only emits."""

    def __init__(self, bridge: EngineBridge) -> None:
        self._bridge = bridge

    def on_started(self, request_id: int, request: Request) -> None:
        self._bridge.started.emit(request_id, request)

    def on_status(self, request_id: int, message: str) -> None:
        self._bridge.status.emit(request_id, message)

    def on_progress(self, request_id: int, message: str, percent: int) -> None:
        self._bridge.progress.emit(request_id, message, percent)

    def on_question(self, request_id: int, question: str) -> None:
        self._bridge.question.emit(request_id, question)

    def on_text(self, request_id: int, piece: str) -> None:
        self._bridge.text.emit(request_id, piece)

    def on_utterance(self, request_id: int, text: str) -> None:
        self._bridge.utterance.emit(request_id, text)

    def on_finished(self, result: Result) -> None:
        self._bridge.finished.emit(result)


class HotkeyRelay(QObject):
    """Hotkey backend callbacks (pynput's thread) as signals."""

    pressed = Signal(str)
    released = Signal(str)

    def on_press(self, action: str) -> None:
        self.pressed.emit(action)

    def on_release(self, action: str) -> None:
        self.released.emit(action)


class MessageRelay(QObject):
    """Errors and levels from other threads (speaker, recorder, downloads) as signals."""

    error = Signal(object)      # an exception (ScreenSightError where the user must act)
    speech_error = Signal(object)  # the speaker failed: show and announce, never speak it
    message = Signal(str)
    announcement = Signal(str, bool)  # text for the screen reader, assertive
    level = Signal(float)       # microphone level 0..1
    progress = Signal(object, object)  # done, total (bytes; Python ints can exceed 32 bits)
    done = Signal(object)       # a result object (e.g. a path), or an exception

    def report_error(self, exc: BaseException) -> None:
        self.error.emit(exc)

    def report_speech_error(self, exc: BaseException) -> None:
        self.speech_error.emit(exc)

    def report_level(self, level: float) -> None:
        self.level.emit(float(level))

    def report_progress(self, done: int, total: int) -> None:
        self.progress.emit(done, total)
