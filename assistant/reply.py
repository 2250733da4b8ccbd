"""One request's reply as the user gets it: the text shown piece by piece and the utterances spoken."""

from __future__ import annotations

import threading
from collections.abc import Callable

from assistant.ports import SpeechOutput
from assistant.request_types import EngineListener, Request, check_cancel
from assistant.speech_out.segmenter import Segmenter
from assistant.trace import Trace


class Reply:
    """Shows pieces to the listener, cuts them into utterances and speaks those (when the request
    speaks) through the speaker of the moment; keeps the text shown."""

    def __init__(self, request_id: int, request: Request, trace: Trace, listener: EngineListener,
                 speaker: Callable[[], SpeechOutput | None]) -> None:
        self.request_id = request_id
        self.request = request
        self.trace = trace
        self.listener = listener
        self._speaker = speaker
        self.parts: list[str] = []

    @property
    def text(self) -> str:
        """What was shown, without the surrounding blanks."""
        return "".join(self.parts).strip()

    def emit(self, piece: str, segmenter: Segmenter, cancel: threading.Event) -> None:
        """Show `piece` and speak the utterances it completes."""
        if not self.parts:
            piece = piece.lstrip()
            if not piece:
                return
        self.parts.append(piece)
        self.listener.on_text(self.request_id, piece)
        for utterance in segmenter.feed(piece):
            self.say(utterance, cancel)

    def flush(self, segmenter: Segmenter) -> None:
        """Speak what `segmenter` still holds."""
        for utterance in segmenter.flush():
            self.say(utterance, None)

    def speak_text(self, text: str, cancel: threading.Event) -> None:
        """Show and speak a fixed message as if the model had written it."""
        segmenter = Segmenter()
        self.emit(text, segmenter, cancel)
        self.flush(segmenter)

    def say_checked(self, utterances: list[str], cancel: threading.Event | None) -> None:
        """Shows and speaks checked utterances: the history text is exactly what is spoken."""
        for utterance in utterances:
            if not utterance.strip():
                continue
            piece = utterance if not self.parts else " " + utterance
            self.parts.append(piece)
            self.listener.on_text(self.request_id, piece)
            self.say(utterance, cancel)

    def say(self, utterance: str, cancel: threading.Event | None) -> None:
        """Speak one utterance (not shown again); raises Cancelled when `cancel` is set."""
        if cancel is not None:
            check_cancel(cancel)
        self.trace.mark("first_utterance")
        self.listener.on_utterance(self.request_id, utterance)
        speaker = self._speaker()
        if self.request.speak and speaker is not None:
            speaker.say(utterance, tag=self.request_id)
