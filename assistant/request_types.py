"""What the request engine is asked and what it answers: requests, results, options, the listener."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from assistant.capture import Capture
from assistant.ports import EncodedImage
from assistant.text_recognition.types import Line, RecognizedText
from assistant.trace import Trace
from base.errors import ScreenSightError
from base.vocabulary import Detail, Mode, ReadWith, Target

if TYPE_CHECKING:
    from assistant.speech_in.audio_in import Recording


@dataclass
class Request:
    """What the user asked for. `target` None means: the current conversation's screenshot."""

    mode: Mode = Mode.DESCRIBE
    target: Target | None = Target.WINDOW
    read_with: ReadWith | None = None      # read mode; None = the engine's setting
    image: Image.Image | None = None       # a picture given directly (the clipboard's), source "clipboard"
    region: tuple[int, int, int, int] | None = None
    image_path: Path | None = None
    question: str = ""
    audio: Future[Recording] | None = None  # the recording the question will be transcribed from (voice)
    detail: Detail | None = None
    language: str | None = None
    speak: bool = True
    max_new_tokens: int | None = None
    prepare_only: bool = False             # background preparation: capture and encode, no answer
    load_only: bool = False                # warm-up at start: load the models, nothing else
    triggered_at: float = field(default_factory=time.monotonic)


@dataclass
class Result:
    """How a request ended."""

    request_id: int
    request: Request
    text: str
    trace: Trace
    cancelled: bool = False
    error: ScreenSightError | None = None
    question: str = ""
    capture: Capture | None = None
    recognized: RecognizedText | None = None  # read (text recognition) and find: all lines with boxes
    found: Line | None = None                 # find: the first line that matched
    point: tuple[int, int] | None = None      # find: where on the desktop the match is (None for files)
    encoded: EncodedImage | None = None       # the screenshot this request encoded (None: it reused one)


@dataclass(frozen=True)
class EngineOptions:
    """The settings the engine answers with; replaced as a whole with Engine.configure."""

    detail: Detail = Detail.QUICK     # how many tiles a new screenshot is encoded at
    language: str = "auto"            # the answer language ("auto": the user's)
    read_with: ReadWith = ReadWith.OCR  # what Read text reads with
    grounding: bool = False           # describe, more and ask carry the facts and recognized text (issue 11)


class EngineListener:
    """Receives engine events on the worker thread; the UI bridge turns them into Qt signals."""

    def on_started(self, request_id: int, request: Request) -> None: ...
    def on_status(self, request_id: int, message: str) -> None: ...
    def on_progress(self, request_id: int, message: str, percent: int) -> None:
        """A long step (a first load that prepares the model) is `percent` done; not spoken."""
    def on_question(self, request_id: int, question: str) -> None: ...
    def on_text(self, request_id: int, piece: str) -> None: ...
    def on_utterance(self, request_id: int, text: str) -> None: ...
    def on_finished(self, result: Result) -> None: ...


class Cancelled(Exception):
    """The running request was superseded or stopped."""


def check_cancel(cancel: threading.Event) -> None:
    """Raises Cancelled once `cancel` is set (a newer request or a stop)."""
    if cancel.is_set():
        raise Cancelled
