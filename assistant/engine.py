"""The request engine: one model worker thread, newest request wins, every request traced.

Requests come from hotkeys, the UI or the CLI on any thread. The worker captures the screen,
encodes it once per screenshot, streams the answer through the segmenter to the speaker, and
reports to a listener. A newer request cancels the running one: generation stops at the next
token and speech stops at once.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from PIL import Image

from assistant import images, prompts
from assistant.capture import Capture, CaptureBackend, capture_target, load_image_file
from assistant.conversation import Conversation, Grounding
from assistant.facts.types import ScreenFacts
from assistant.grounding import CheckedText, KnownText, QuoteChecker
from assistant.logging_setup import content
from assistant.model_loading import GroundingRecognizer, TextRecognizerLoader
from assistant.pointer import PointerControl, screen_point
from assistant.ports import (
    EncodedImage,
    FactsSource,
    ModelProvider,
    PasswordFieldDetector,
    SpeechOutput,
    SpeechToText,
    TextReader,
    VisionModel,
)
from assistant.segmenter import Segmenter
from assistant.spoken_find import FindPhrase, SpokenFind, spoken_find, text_to_find
from assistant.text_recognition.types import Box, Line, RecognizedText, TextBlock, fold
from assistant.trace import Trace
from base.errors import AudioError, ScreenSightError
from base.images import image_fingerprint
from base.vocabulary import Detail, Mode, ReadWith, Target

if TYPE_CHECKING:
    import numpy as np

    from assistant.audio_in import Recording

log = logging.getLogger(__name__)

MAX_NEW_TOKENS = MappingProxyType({Mode.DESCRIBE: 120, Mode.MORE: 400, Mode.READ: 500, Mode.ASK: 200})
NO_TEXT_MESSAGE = "No text found."
SPOKEN_UNHEARD = "(a spoken question)"  # the history's question when the model wrote no transcript
MODEL_READ_PREFIX = "Described by the model: "
FIND_PROMPT_MESSAGE = "Type or say the text to find."
FIND_NOT_HEARD = "I did not hear the text to find."
FIND_OCR_WAIT_S = 30.0  # a spoken "find X" waits this long for the text recognized beside the encoder
GROUND_MODES = (Mode.DESCRIBE, Mode.MORE, Mode.ASK)  # the requests that carry what is known for sure
FACTS_BUDGET_S = 0.15   # the facts query, from the worker's point of view (it runs beside the capture)
PROMPT_WAIT_S = 0.0     # how long the prompt waits for recognition after encoding (see grounded_prompt)
CHECK_WAIT_S = 1.0      # how long, once per answer, a quote nothing known confirms waits for recognition
BACKGROUND_OCR_WAIT_S = 30.0  # background preparation waits this long for recognition (any request stops it)
GROUND_OCR_NICE = 10    # that thread's lowered priority: it takes the core the encoder leaves idle
PLACE_NAMES = MappingProxyType({Target.WINDOW: "window", Target.SCREEN: "screen",
                                Target.POINTER: "area around the pointer", Target.REGION: "region",
                                Target.FILE: "image", Target.CLIPBOARD: "image"})


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
    ignore_eos: bool = False               # benchmark: fixed-length answers
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
    def on_question(self, request_id: int, question: str) -> None: ...
    def on_text(self, request_id: int, piece: str) -> None: ...
    def on_utterance(self, request_id: int, text: str) -> None: ...
    def on_finished(self, result: Result) -> None: ...


def lower_thread_priority() -> None:
    """Lowers the calling thread's scheduling priority (Linux, where nice is per thread)."""
    if sys.platform.startswith("linux") and hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), GROUND_OCR_NICE)
        except OSError as exc:
            log.debug("grounding thread priority unchanged: %s", exc)


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


def _log_recognition_failure(future: Future) -> None:
    """Logs why a grounding recognition failed (the describe goes on without the text)."""
    if future.cancelled():
        return
    exc = future.exception()
    if isinstance(exc, InterruptedError):
        log.debug("grounding recognition stopped: %s", exc)
    elif exc is not None:
        log.warning("text recognition for grounding failed: %s: %s", exc.__class__.__name__, exc)


class Cancelled(Exception):
    """The running request was superseded or stopped."""


class Engine:
    """Runs requests one at a time on its own thread; the newest request wins."""

    def __init__(self, model: ModelProvider[VisionModel], capture: Callable[[], CaptureBackend] | None = None,
                 speaker: SpeechOutput | None = None, listener: EngineListener | None = None,
                 detail: Detail = Detail.QUICK, language: str = "auto",
                 transcriber: ModelProvider[SpeechToText] | None = None,
                 segmenter_factory: Callable[[], Segmenter] = Segmenter,
                 secure_input: PasswordFieldDetector | None = None,
                 text_recognizer: ModelProvider[TextReader] | None = None,
                 pointer: PointerControl | None = None, read_with: ReadWith = ReadWith.OCR,
                 grounding: bool = False, facts: FactsSource | None = None,
                 ground_recognizer: Callable[[], TextReader] | None = None) -> None:
        self._model = model
        self._options = EngineOptions(Detail(detail), language, ReadWith(read_with), grounding)
        self.text_recognizer = text_recognizer or TextRecognizerLoader(language=language)
        # Grounding (issue 11): describe, more and ask carry the accessibility facts and the recognized
        # text, and their answers are checked against them. facts: None means this platform's source,
        # made on first use.
        self._facts_source = facts
        self._ground_recognizer = ground_recognizer or GroundingRecognizer(self.text_recognizer)
        self._facts_pool: ThreadPoolExecutor | None = None
        self._ocr_pool: ThreadPoolExecutor | None = None
        self._facts_running: Future | None = None
        self._ocr_lock = threading.Lock()  # one recognition at a time (Read text and grounding may share one)
        self._prepared: tuple[str, Grounding] | None = None  # background preparation's, by fingerprint
        self.pointer = pointer  # find moves it to the match; None leaves the pointer alone
        self._capture_factory = capture
        self._capture: CaptureBackend | None = None
        self._speaker: SpeechOutput | None = None
        self.set_speaker(speaker)
        self.listener = listener or EngineListener()
        self._transcriber = transcriber
        self._segmenter_factory = segmenter_factory
        self._secure_input = secure_input
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._pending: tuple[int, Request] | None = None
        self._current_id = 0
        self._current_prepare = False
        self._cancel = threading.Event()
        self._closed = False
        self._traces: dict[int, Trace] = {}
        self.conversation: Conversation | None = None
        self.last_result: Result | None = None
        self.last_read: tuple[Capture, RecognizedText] | None = None  # what find searches without a new capture
        self._notes_told: tuple[TextReader | None, int] = (None, 0)  # the recognizer, how many notes were said
        self._warm_done: Callable[[ScreenSightError | None], None] | None = None
        self._thread = threading.Thread(target=self._run, name="screensight-model", daemon=True)
        self._thread.start()

    # -- called from any thread --------------------------------------------------------------

    @property
    def options(self) -> EngineOptions:
        return self._options

    def configure(self, options: EngineOptions) -> None:
        """Answer with `options` from the next request on (a request running keeps its own)."""
        self._options = options

    @property
    def speaker(self) -> SpeechOutput | None:
        return self._speaker

    def set_speaker(self, speaker: SpeechOutput | None) -> None:
        """Speak through `speaker` from the next utterance on; the engine listens to it for the
        first-audio mark of each request's trace (and stops listening to the one it replaces)."""
        old, self._speaker = self._speaker, speaker
        if old is not None and old is not speaker:
            old.remove_audio_start_listener(self.on_audio_start)
        if speaker is not None and speaker is not old:
            speaker.add_audio_start_listener(self.on_audio_start)

    def submit(self, request: Request) -> int:
        """Queue `request`, cancel whatever runs or waits, and return the new request id."""
        request_id = next(self._ids)
        with self._cond:
            if self._closed:
                raise RuntimeError("engine is closed")
            dropped = self._pending
            self._pending = (request_id, request)
            self._cancel.set()
            self._cond.notify_all()
        if self.speaker is not None:
            self.speaker.stop()
        if dropped is not None and not dropped[1].prepare_only:
            trace = Trace(dropped[0], dropped[1].mode)
            trace.mark("trigger", dropped[1].triggered_at)
            self._finish(Result(dropped[0], dropped[1], "", trace, cancelled=True))
        return request_id

    def prepare_ahead(self, request: Request) -> int | None:
        """Capture and encode `request`'s target ahead of time, without answering or speaking.

        Only starts when the engine is idle (None otherwise); any real request cancels it.
        The encoded screenshot is kept by the model's cache, so a describe of the same pixels
        starts answering at once. `request` itself is not changed (a copy is queued).
        """
        request = dataclasses.replace(request, prepare_only=True, speak=False)
        with self._cond:
            if self._closed or self._pending is not None or self._current_id:
                return None
            request_id = next(self._ids)
            self._pending = (request_id, request)
            self._cond.notify_all()
        return request_id

    def warm_up(self, on_done: Callable[[ScreenSightError | None], None]) -> bool:
        """Load the models on the worker now (the app does this as it starts), so the first press
        does not wait for them; a request submitted meanwhile is answered once they are loaded.

        `on_done(error)` runs on the worker when the vision model is loaded (error None) or could
        not be (the ScreenSightError). False, and no call, when the engine is busy or closed."""
        request = Request(mode="load", target=None, speak=False, prepare_only=True, load_only=True)
        with self._cond:
            if self._closed or self._pending is not None or self._current_id:
                return False
            self._warm_done = on_done
            self._pending = (next(self._ids), request)
            self._cond.notify_all()
        return True

    def cancel(self) -> None:
        """Stop generating and speaking; the next request works as usual."""
        with self._cond:
            dropped, self._pending = self._pending, None
            self._cancel.set()
        if self.speaker is not None:
            self.speaker.stop()
        if dropped is not None:
            trace = Trace(dropped[0], dropped[1].mode)
            self._finish(Result(dropped[0], dropped[1], "", trace, cancelled=True))

    def stop_speaking(self) -> None:
        if self.speaker is not None:
            self.speaker.stop()

    def new_conversation(self) -> None:
        with self._cond:
            self.conversation = None

    @property
    def busy(self) -> bool:
        """A request (not a warm-up or background preparation) waits or runs."""
        with self._cond:
            pending = self._pending is not None and not self._pending[1].prepare_only
            return pending or bool(self._current_id and not self._current_prepare)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing runs or waits (for the CLI and tests)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._pending is not None or self._current_id:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Stop the worker; waits up to `timeout` s for a running step (a model load cannot stop)."""
        with self._cond:
            self._closed = True
            self._pending = None
            self._cancel.set()
            self._cond.notify_all()
        self._thread.join(timeout=timeout)
        if self._capture is not None:
            self._capture.close()
        held = [self.conversation.grounding if self.conversation is not None else None,
                self._prepared[1] if self._prepared else None]
        for grounding in held:
            if grounding is not None:
                grounding.abandon()
        for pool in (self._facts_pool, self._ocr_pool):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        if self._facts_source is not None:
            self._facts_source.close()
        self.set_speaker(None)

    # -- speaker callback (speaker thread) ---------------------------------------------------

    def on_audio_start(self, tag: object) -> None:
        """The speaker's audio-start listener: marks first_audio on the request `tag` names."""
        trace = self._traces.get(tag) if isinstance(tag, int) else None
        if trace is not None:
            trace.mark("first_audio")

    # -- the worker --------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                request_id, request = self._pending
                self._pending = None
                self._current_id = request_id
                self._current_prepare = request.prepare_only
                self._cancel = threading.Event()
                cancel = self._cancel
            if request.load_only:
                self._load_all()
            elif request.prepare_only:
                self._prepare_ahead(request, cancel)
            else:
                self._finish(self._execute(request_id, request, cancel))
            with self._cond:
                self._current_id = 0
                self._cond.notify_all()

    def _finish(self, result: Result) -> None:
        if not result.cancelled and result.error is None:
            self.last_result = result
        for old in [k for k in self._traces if k < result.request_id - 16]:
            self._traces.pop(old, None)
        stages = " ".join(f"{k}={v * 1000:.0f}ms" for k, v in result.trace.since_trigger().items())
        if result.error is not None:
            # The user is told through the listener; the log keeps the fact, not a second alarm.
            log.info("request %d (%s) failed: %s", result.request_id, result.request.mode,
                     result.error.message)
        else:
            log.info("request %d (%s)%s: %s", result.request_id, result.request.mode,
                     " cancelled" if result.cancelled else "", stages)
        log.info("request %d asked %s answered %s", result.request_id, content(result.question),
                  content(result.text))
        try:
            self.listener.on_finished(result)
        except Exception:  # noqa: BLE001 - a listener bug must not kill the worker
            log.exception("listener failed in on_finished")

    def _check(self, cancel: threading.Event) -> None:
        if cancel.is_set():
            raise Cancelled

    def _execute(self, request_id: int, request: Request, cancel: threading.Event) -> Result:
        trace = Trace(request_id, request.mode)
        trace.mark("trigger", request.triggered_at)
        self._traces[request_id] = trace
        text_parts: list[str] = []
        question = request.question
        try:
            self.listener.on_started(request_id, request)
            if self._password_focused(request):
                self._speak_text(request_id, request, prompts.PASSWORD_MESSAGE, trace, text_parts, cancel)
                trace.mark("done")
                return Result(request_id, request, "".join(text_parts), trace, question=question)
            if request.mode == "find" or (request.mode == "read" and self._reads_with(request) == "ocr"):
                return self._recognize_request(request_id, request, trace, cancel, text_parts)
            conversation, encoded = self._conversation_for(request, trace, cancel)
            if request.audio is not None and not self._hears_audio():
                question = self._transcribe(request_id, request, trace, cancel, conversation)
                asked = spoken_find(question) if request.mode == Mode.ASK else None
                if asked is not None:
                    found = self._find_spoken(request_id, request, asked, conversation, trace, cancel, text_parts)
                    if found is not None:
                        return found
            state = images.screen_state(conversation.capture.image)
            if state is not None and request.mode != "ask":
                message = prompts.SCREEN_STATE_MESSAGES[state]
                self._speak_text(request_id, request, message, trace, text_parts, cancel)
                conversation.add(question or request.mode, message)
            else:
                if request.mode == "read":
                    self._speak_text(request_id, request, MODEL_READ_PREFIX, trace, text_parts, cancel)
                question = self._answer(request_id, request, question, conversation, trace, cancel, text_parts)
            trace.mark("done")
            return Result(request_id, request, "".join(text_parts).strip(), trace, question=question,
                          capture=conversation.capture, encoded=encoded)
        except Cancelled:
            trace.mark("done")
            return Result(request_id, request, "".join(text_parts).strip(), trace, cancelled=True,
                          question=question)
        except ScreenSightError as exc:
            trace.mark("done")
            return Result(request_id, request, "", trace, error=exc, question=question)
        except InterruptedError:
            trace.mark("done")
            return Result(request_id, request, "", trace, cancelled=True, question=question)
        except Exception as exc:  # noqa: BLE001 - the worker must survive any model failure
            log.exception("request %d failed", request_id)
            trace.mark("done")
            error = ScreenSightError(f"Something went wrong: {exc.__class__.__name__}: {exc}.",
                                     "Try again; if it keeps happening, restart ScreenSight.")
            return Result(request_id, request, "", trace, error=error, question=question)

    def _load_all(self) -> None:
        """The warm-up job: the vision model, then the recognizer when its model is on disk."""
        on_done, self._warm_done = self._warm_done, None
        error: ScreenSightError | None = None
        try:
            self._model()
        except ScreenSightError as exc:
            error = exc
        except Exception as exc:  # noqa: BLE001 - the worker must survive any model failure
            log.exception("loading the model failed")
            error = ScreenSightError(f"The model could not be loaded: {exc.__class__.__name__}: {exc}.",
                                     "Choose another model in the settings, or restart ScreenSight.")
        if on_done is not None:
            try:
                on_done(error)
            except Exception:  # noqa: BLE001 - a listener bug must not kill the worker
                log.exception("warm-up callback failed")
        if error is None and self._transcriber is not None and self._pending is None:
            try:
                self._transcriber()
            except ScreenSightError as exc:  # told when the user asks a spoken question
                log.info("speech model not loaded at start: %s", exc.message)
            except Exception:  # noqa: BLE001
                log.exception("loading the speech model failed")
        if self._options.read_with == "ocr" and self._pending is None:
            try:
                self.text_recognizer()
            except ScreenSightError as exc:  # told when the user reads text
                log.info("text recognition not loaded at start: %s", exc.message)
            except Exception:  # noqa: BLE001
                log.exception("loading text recognition failed")

    def _prepare_ahead(self, request: Request, cancel: threading.Event) -> None:
        """Background preparation: capture and encode; the model keeps the result by fingerprint.
        With grounding, the text is recognized first (beside the encoder, then waited for) and the
        grounded describe prompt is pre-filled; the grounding is kept for a describe of the same pixels."""
        try:
            if self._password_focused(request):
                return
            facts_query = self._start_facts(request)
            capture = self._take(request)
            if cancel.is_set() or images.screen_state(capture.image) is not None:
                return
            conversation = Conversation(capture, image_fingerprint(capture.image),
                                        request.detail or self._options.detail)
            self._prepare_grounding(conversation, request, facts_query)
            model = self._model()
            if cancel.is_set():
                return
            conversation.context = model.encode(capture.image, conversation.detail, cancel)
            self._settle_facts(conversation, facts_query)
            if conversation.grounding is not None:
                conversation.grounding.wait(BACKGROUND_OCR_WAIT_S, cancel)
            if cancel.is_set():
                return
            # Pre-fill the describe prompt too: the describe key then only generates.
            prompt = self._grounded_prompt("describe", "", request.language or self._options.language,
                                           conversation, cancel)
            for _ in model.answer(conversation.context, prompt, cancel=cancel, max_new_tokens=0):
                pass
        except (ScreenSightError, InterruptedError) as exc:
            log.info("background preparation stopped: %s", exc)
        except Exception:  # noqa: BLE001 - the worker must survive any model failure
            log.exception("background preparation failed")

    def _prepare_grounding(self, conversation: Conversation, request: Request, facts_query: Future | None) -> None:
        """Background preparation's grounding: reused when the pixels were prepared before, kept otherwise."""
        prepared = self._prepared
        if prepared is not None and prepared[0] == conversation.fingerprint:
            conversation.grounding = prepared[1]
            return
        current = self.conversation
        if current is not None and current.fingerprint == conversation.fingerprint and current.grounding:
            conversation.grounding = current.grounding
        else:
            self._start_grounding(conversation, request, facts_query)
        if conversation.grounding is not None:
            if prepared is not None and prepared[1] is not conversation.grounding and (
                    current is None or current.grounding is not prepared[1]):
                prepared[1].abandon()
            self._prepared = (conversation.fingerprint, conversation.grounding)

    def _password_focused(self, request: Request) -> bool:
        """True when a new screenshot would show a focused password field (then none is taken)."""
        if self._secure_input is None or request.target in (None, "file") or request.image_path \
                or request.image is not None:
            return False
        return self._secure_input.focused_password_field() is True

    def _conversation_for(self, request: Request, trace: Trace, cancel: threading.Event
                          ) -> tuple[Conversation, EncodedImage | None]:
        """Capture (or reuse) the screenshot and make sure it is encoded (the encoding, when this
        request made one); with grounding, the facts are queried beside the capture and the text
        recognized beside the encoder."""
        detail = request.detail or self._options.detail
        facts_query: Future | None = None
        if request.target is None and self.conversation is not None:
            conversation = self.conversation
            trace.mark("captured")
        else:
            facts_query = self._start_facts(request)
            capture = self._take(request)
            trace.mark("captured")
            conversation = Conversation(capture, image_fingerprint(capture.image), detail)
        self._check(cancel)
        if images.screen_state(conversation.capture.image) is not None and request.mode != "ask":
            self._replace_conversation(conversation)
            return conversation, None
        previous = self.conversation
        if previous is not None and previous.matches(conversation.fingerprint, detail):
            if previous is not conversation:
                previous.capture = conversation.capture
                if request.mode != "ask":
                    previous.turns.clear()
            conversation = previous
        self._start_grounding(conversation, request, facts_query)
        encoded = None
        if conversation.context is None or conversation.detail != detail:
            model = self._load_model(trace)
            self._check(cancel)
            encoded = conversation.context = model.encode(conversation.capture.image, detail, cancel)
            conversation.detail = detail
            trace.mark("preprocessed", trace.marks["captured"] + encoded.preprocess_s)
        trace.mark("encoded")
        self._settle_facts(conversation, facts_query)
        self._replace_conversation(conversation)
        return conversation, encoded

    def _replace_conversation(self, conversation: Conversation) -> None:
        """Makes `conversation` the current one; a recognition for the one it replaces stops."""
        previous, self.conversation = self.conversation, conversation
        if previous is not None and previous is not conversation and previous.grounding is not None \
                and previous.grounding is not conversation.grounding:
            previous.grounding.abandon()

    # -- grounding: the facts and the recognized text of a screenshot -------------------------

    def _grounds(self, request: Request) -> bool:
        """True when this request's new screenshot is grounded (a describe, more or ask of the screen)."""
        return self._options.grounding and request.mode in GROUND_MODES and request.target not in (None, "file") \
            and request.image is None and request.image_path is None

    def _facts(self) -> FactsSource:
        if self._facts_source is None:
            from assistant.facts import default_source

            self._facts_source = default_source(FACTS_BUDGET_S)
        return self._facts_source

    def _start_facts(self, request: Request) -> Future | None:
        """Asks the facts source on a thread of its own (beside the capture); None when not grounded
        or while an earlier query still hangs."""
        if not self._grounds(request):
            return None
        if self._facts_running is not None and not self._facts_running.done():
            log.info("facts: the previous query still runs; this request goes without facts")
            return None
        if self._facts_pool is None:
            self._facts_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="screensight-facts")
        self._facts_running = self._facts_pool.submit(self._query_facts)
        return self._facts_running

    def _query_facts(self) -> ScreenFacts | None:
        try:
            return self._facts().current()
        except Exception as exc:  # noqa: BLE001 - a failing source means "cannot tell", never a failed describe
            log.warning("accessibility facts failed: %s: %s", exc.__class__.__name__, exc)
            return None

    def _settle_facts(self, conversation: Conversation, query: Future | None) -> None:
        """Puts the facts on the conversation's grounding, waiting at most FACTS_BUDGET_S more."""
        if query is None or conversation.grounding is None:
            return
        try:
            facts = query.result(timeout=FACTS_BUDGET_S)
        except FutureTimeout:
            log.info("facts: no answer within %.0f ms; describing without them", FACTS_BUDGET_S * 1000)
            facts = None
        if conversation.grounding.facts is None:
            conversation.grounding.facts = facts

    def _start_grounding(self, conversation: Conversation, request: Request, facts_query: Future | None) -> None:
        """Starts recognizing the screenshot's text beside the encoder, unless it is known already
        (the same conversation, or the background preparation of the same pixels)."""
        if conversation.grounding is not None or not self._grounds(request):
            return
        prepared = self._prepared
        if prepared is not None and prepared[0] == conversation.fingerprint:
            conversation.grounding = prepared[1]
            return
        grounding = Grounding()
        if self._ocr_pool is None:
            self._ocr_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="screensight-ground",
                                                initializer=lower_thread_priority)
        grounding.recognition = self._ocr_pool.submit(self._recognize_for_grounding, conversation.capture.image,
                                                      grounding.stop)
        grounding.recognition.add_done_callback(_log_recognition_failure)
        conversation.grounding = grounding

    def _recognize_for_grounding(self, image: Image.Image, stop: threading.Event) -> RecognizedText:
        """On the grounding thread: the whole text of the screenshot (raises when it fails)."""
        with self._ocr_lock:
            if stop.is_set():
                raise InterruptedError("a newer screenshot replaced this one")
            recognizer = self._ground_recognizer()
            blocks = tuple(recognizer.recognize(image, stop))
        if stop.is_set():
            raise InterruptedError("a newer screenshot replaced this one")
        return RecognizedText(blocks, image.size, recognizer.name)

    def _grounded_prompt(self, mode: str, question: str, language: str, conversation: Conversation,
                         cancel: threading.Event) -> str:
        """The prompt with what is known for sure. Recognition on 2 cores takes longer than the
        encoder (measured: 2.5-5 s for a 900x600 window against 1.1 s), so a cold describe does not
        wait for it (PROMPT_WAIT_S) and carries the facts; follow-ups and prepared screens carry the text."""
        grounding = conversation.grounding if self._options.grounding else None
        if grounding is None:
            return prompts.build_prompt(mode, question, language, conversation.capture.title)
        text = grounding.wait(PROMPT_WAIT_S, cancel)
        return prompts.build_prompt(mode, question, language, conversation.capture.title,
                                    facts=grounding.facts, text=text)

    def _take(self, request: Request) -> Capture:
        if request.image is not None:
            return Capture(images.normalize_image(request.image), "clipboard", None, taken_at=time.monotonic())
        if request.target == "file" or request.image_path is not None:
            if request.image_path is None:
                raise ScreenSightError("No image file was given.", "Pass --image PATH.")
            return load_image_file(request.image_path)
        if self._capture is None:
            if self._capture_factory is None:
                raise ScreenSightError("Screen capture is not available here.",
                                       "Describe an image file instead.")
            self._capture = self._capture_factory()
        target = request.target or "window"
        return capture_target(self._capture, target, request.region)

    def _load_model(self, trace: Trace) -> VisionModel:
        if not self._model.loaded:
            self.listener.on_status(trace.request_id, "Loading the model, one moment.")
        return self._model()

    def _hears_audio(self) -> bool:
        """The vision model takes spoken questions as audio (then no recognizer runs)."""
        return bool(getattr(self._model(), "hears_audio", False))

    def _speech_recognizer(self) -> SpeechToText:
        """The speech recognizer; without one set up, a vision model that hears audio writes down
        what was said (Find text by voice on the quality tier)."""
        try:
            if self._transcriber is None:
                raise ScreenSightError("Speech recognition is not set up.", "Type the question instead.")
            return self._transcriber()
        except ScreenSightError:
            if self._hears_audio():
                return self._model()
            raise

    def _recording(self, request: Request, trace: Trace, cancel: threading.Event) -> np.ndarray:
        """Wait for the recording (the image was encoded meanwhile); its PCM."""
        assert request.audio is not None
        while not request.audio.done():
            self._check(cancel)
            time.sleep(0.01)
        self._check(cancel)
        if request.audio.cancelled():
            raise Cancelled
        recorded = request.audio.result()
        trace.mark("speech_end")
        if recorded.digital_silence:
            raise AudioError("The microphone gave only silence.",
                             "Check that ScreenSight may use the microphone (system privacy settings) "
                             "and that the right microphone is chosen in Settings.")
        return recorded.pcm

    def _transcribe(self, request_id: int, request: Request, trace: Trace, cancel: threading.Event,
                    conversation: Conversation | None) -> str:
        """Wait for the recording, then turn it into text."""
        pcm = self._recording(request, trace, cancel)
        recognizer = self._speech_recognizer()
        language = request.language or self._options.language
        text = recognizer.transcribe(pcm, None if language == "auto" else language, cancel).text.strip()
        trace.mark("transcribed")
        self._check(cancel)
        if not text:
            raise ScreenSightError(FIND_NOT_HEARD if request.mode == Mode.FIND else "I did not hear a question.",
                                   "Hold the talk key, speak, then release it.")
        self.listener.on_question(request_id, text)
        return text

    def _answer(self, request_id: int, request: Request, question: str, conversation: Conversation,
                trace: Trace, cancel: threading.Event, text_parts: list[str]) -> str:
        """Streams the answer to the speaker and the listener; the question it answered."""
        mode = "ask" if request.audio is not None else request.mode
        spoken = request.audio is not None and not question  # the model hears the recording itself
        if mode == "ask" and not question and not spoken:
            mode = "describe"
        language = request.language or self._options.language
        prompt = self._grounded_prompt(mode, prompts.SPOKEN_QUESTION if spoken else question, language,
                                       conversation, cancel)
        history = list(conversation.turns) if mode == "ask" else []
        model = self._load_model(trace)
        segmenter = self._segmenter_factory()
        limit = request.max_new_tokens or MAX_NEW_TOKENS.get(mode, 200)
        check = self._answer_check(conversation, question, cancel)
        if spoken:
            audio = model.hear(self._recording(request, trace, cancel))
            if audio.trimmed_s:
                self.listener.on_status(request_id, f"Only the first {audio.seconds:.0f} seconds of the "
                                                    "question were heard.")
            stream = model.answer_spoken(conversation.context, audio, prompt, cancel=cancel,
                                         max_new_tokens=limit, history=history, ignore_eos=request.ignore_eos)
        else:
            stream = model.answer(conversation.context, prompt, cancel=cancel, max_new_tokens=limit,
                                  history=history, ignore_eos=request.ignore_eos)
        for piece in stream:
            if not isinstance(piece, str):  # answer_spoken ends with the words the model heard
                question = piece.text
                trace.mark("transcribed")
                self.listener.on_question(request_id, question)
                continue
            trace.mark("first_token")
            if check is None:
                self._emit(request_id, request, piece, trace, text_parts, segmenter, cancel)
            else:
                for utterance in segmenter.feed(piece):
                    self._say_checked(request_id, request, check.feed(utterance), trace, text_parts, cancel)
        self._check(cancel)
        if check is None:
            self._flush(request_id, request, segmenter, trace)
        else:
            for utterance in segmenter.flush():
                self._say_checked(request_id, request, check.feed(utterance), trace, text_parts, None)
            self._say_checked(request_id, request, check.flush(), trace, text_parts, None)
        answer = "".join(text_parts).strip()
        if not answer:
            answer = "The model gave no answer. Try again, or ask in other words."
            self._speak_text(request_id, request, answer, trace, text_parts, cancel)
        if spoken and not question:
            question = SPOKEN_UNHEARD
        if mode == "ask":
            conversation.add(question, answer)
        else:
            conversation.turns.clear()
            conversation.add(prompt, answer)
        return question

    def _answer_check(self, conversation: Conversation, question: str,
                      cancel: threading.Event) -> AnswerCheck | None:
        """The truth check for this answer; None when the screenshot is not grounded."""
        grounding = conversation.grounding if self._options.grounding else None
        if grounding is None:
            return None
        return AnswerCheck(grounding, [question] if question else [], CHECK_WAIT_S, cancel)

    def _say_checked(self, request_id: int, request: Request, utterances: list[str], trace: Trace,
                     text_parts: list[str], cancel: threading.Event | None) -> None:
        """Shows and speaks checked utterances: the history text is exactly what is spoken."""
        for utterance in utterances:
            if not utterance.strip():
                continue
            piece = utterance if not text_parts else " " + utterance
            text_parts.append(piece)
            self.listener.on_text(request_id, piece)
            self._say(request_id, request, utterance, trace, cancel)

    def _emit(self, request_id: int, request: Request, piece: str, trace: Trace,
              text_parts: list[str], segmenter: Segmenter, cancel: threading.Event) -> None:
        if not text_parts:
            piece = piece.lstrip()
            if not piece:
                return
        text_parts.append(piece)
        self.listener.on_text(request_id, piece)
        for utterance in segmenter.feed(piece):
            self._say(request_id, request, utterance, trace, cancel)

    def _flush(self, request_id: int, request: Request, segmenter: Segmenter, trace: Trace) -> None:
        for utterance in segmenter.flush():
            self._say(request_id, request, utterance, trace, None)

    def _speak_text(self, request_id: int, request: Request, text: str, trace: Trace,
                    text_parts: list[str], cancel: threading.Event) -> None:
        """Show and speak a fixed message as if the model had written it."""
        segmenter = Segmenter()
        self._emit(request_id, request, text, trace, text_parts, segmenter, cancel)
        self._flush(request_id, request, segmenter, trace)

    def _say(self, request_id: int, request: Request, utterance: str, trace: Trace,
             cancel: threading.Event | None) -> None:
        if cancel is not None:
            self._check(cancel)
        trace.mark("first_utterance")
        self.listener.on_utterance(request_id, utterance)
        speaker = self._speaker
        if request.speak and speaker is not None:
            speaker.say(utterance, tag=request_id)

    # -- text recognition: read and find -----------------------------------------------------

    def _reads_with(self, request: Request) -> str:
        return request.read_with or self._options.read_with

    def _recognize_request(self, request_id: int, request: Request, trace: Trace, cancel: threading.Event,
                           text_parts: list[str]) -> Result:
        """Read text (each block spoken as soon as it is recognized) or find text in a screenshot."""
        speak_blocks = request.mode == "read"
        reuse = self._reusable_read(request)
        if reuse is not None:
            capture, recognized = reuse
            trace.mark("captured")
        else:
            capture = self._capture_for_text(request)
            trace.mark("captured")
            self._check(cancel)
            recognized = self._recognize(request_id, request, capture, trace, cancel, text_parts, speak_blocks)
            self._remember(capture, recognized)
        if request.mode == "read":
            if recognized.empty:
                self._speak_text(request_id, request, NO_TEXT_MESSAGE, trace, text_parts, cancel)
            trace.mark("done")
            return Result(request_id, request, "".join(text_parts).strip(), trace, capture=capture,
                          recognized=recognized)
        word = request.question.strip()
        if request.audio is not None:  # said while the Find text prompt was open: "Save", or "find Save"
            heard = self._transcribe(request_id, request, trace, cancel, None)
            word = (spoken_find(heard) or SpokenFind(text_to_find(heard), FindPhrase.COMMAND)).text
        return self._found_result(request_id, request, word, capture, recognized, trace, cancel, text_parts)

    def _found_result(self, request_id: int, request: Request, word: str, capture: Capture,
                      recognized: RecognizedText, trace: Trace, cancel: threading.Event,
                      text_parts: list[str]) -> Result:
        """Find text's end: the pointer moved to the match and where it is said (or that it is not there)."""
        found, point, message = self._find(word, capture, recognized)
        if point is not None and self.pointer is not None:
            self.pointer.move(*point)
        self._speak_text(request_id, request, message, trace, text_parts, cancel)
        trace.mark("done")
        return Result(request_id, request, "".join(text_parts).strip(), trace, question=word,
                      capture=capture, recognized=recognized, found=found, point=point)

    def _find_spoken(self, request_id: int, request: Request, asked: SpokenFind, conversation: Conversation,
                     trace: Trace, cancel: threading.Event, text_parts: list[str]) -> Result | None:
        """A spoken "find Save" or "where is Save": Find text in the screenshot the question was asked about
        (its text recognized beside the encoder when grounded). None for a "where is" whose text is not
        there: the model answers it as a question."""
        capture = conversation.capture
        recognized = self._text_for_find(request_id, request, conversation, trace, cancel)
        if asked.phrase is FindPhrase.QUESTION and not recognized.find(asked.text):
            return None
        return self._found_result(request_id, request, asked.text, capture, recognized, trace, cancel, text_parts)

    def _text_for_find(self, request_id: int, request: Request, conversation: Conversation, trace: Trace,
                       cancel: threading.Event) -> RecognizedText:
        """The screenshot's recognized text: read before, recognized beside the encoder, or recognized now."""
        capture = conversation.capture
        if self.last_read is not None and self.last_read[0] is capture:
            return self.last_read[1]
        if conversation.grounding is not None and conversation.grounding.recognition is not None:
            known = conversation.grounding.wait(FIND_OCR_WAIT_S, cancel)
            self._check(cancel)
            if known is not None:
                self.last_read = (capture, known)
                return known
        recognized = self._recognize(request_id, request, capture, trace, cancel, [], False)
        self.last_read = (capture, recognized)
        return recognized

    def _reusable_read(self, request: Request) -> tuple[Capture, RecognizedText] | None:
        """Find without a new capture searches the text last recognized in the current screenshot."""
        if request.target is not None or request.mode != "find" or self.last_read is None:
            return None
        if self.conversation is not None and self.last_read[0] is not self.conversation.capture:
            return None
        return self.last_read

    def _capture_for_text(self, request: Request) -> Capture:
        if request.target is None and request.image is None and request.image_path is None:
            if self.conversation is None:
                raise ScreenSightError("There is no screenshot to search yet.",
                                       "Press the Find text key in the window you want to search.")
            return self.conversation.capture
        return self._take(request)

    def _recognize(self, request_id: int, request: Request, capture: Capture, trace: Trace,
                   cancel: threading.Event, text_parts: list[str], speak: bool) -> RecognizedText:
        """Recognizes block by block; with `speak`, each block is shown and spoken as it arrives."""
        recognizer = self.text_recognizer()
        notes: list[str] = []
        blocks: list[TextBlock] = []
        segmenter = self._segmenter_factory()
        with self._ocr_lock:
            for block in recognizer.recognize(capture.image, cancel):
                self._check(cancel)
                trace.mark("first_block")
                self._tell_notes(request_id, request, recognizer, notes, trace)
                if speak:
                    piece = block.text() if not blocks else "\n\n" + block.text()
                    self._emit(request_id, request, piece, trace, text_parts, segmenter, cancel)
                    self._flush(request_id, request, segmenter, trace)
                blocks.append(block)
        self._check(cancel)
        trace.mark("recognized")
        self._tell_notes(request_id, request, recognizer, notes, trace)
        return RecognizedText(tuple(blocks), capture.image.size, recognizer.name, tuple(notes))

    def _tell_notes(self, request_id: int, request: Request, recognizer: TextReader, notes: list[str],
                    trace: Trace) -> None:
        """Says (once, also for failures noted while warming up) each engine failure the recognizer
        noted, and which engine reads instead."""
        all_notes = list(recognizer.notes)
        told = self._notes_told[1] if self._notes_told[0] is recognizer else 0
        for note in all_notes[told:]:
            sentence = f"{note} Reading with {recognizer.name} instead."
            notes.append(sentence)
            self._say(request_id, request, sentence, trace, None)
        self._notes_told = (recognizer, len(all_notes))

    def _remember(self, capture: Capture, recognized: RecognizedText) -> None:
        """Keeps the read for find and the screenshot for follow-up questions."""
        self.last_read = (capture, recognized)
        fingerprint = image_fingerprint(capture.image)
        previous = self.conversation
        if previous is not None and previous.fingerprint == fingerprint:
            previous.capture = capture
        elif previous is None or previous.capture is not capture:
            self._replace_conversation(Conversation(capture, fingerprint, self._options.detail))
        conversation = self.conversation
        if conversation is not None and self._options.grounding and conversation.grounding is None:
            done: Future = Future()
            done.set_result(recognized)  # what was read grounds the questions about it: no second recognition
            conversation.grounding = Grounding(recognition=done)
        if self.conversation is not None and recognized.text():
            self.conversation.turns.clear()
            self.conversation.add("Read the text.", recognized.text())

    def _find(self, word: str, capture: Capture, recognized: RecognizedText
              ) -> tuple[Line | None, tuple[int, int] | None, str]:
        """The first line containing `word`, its desktop point, and the sentence that says where it is."""
        place = PLACE_NAMES.get(capture.source, "window")
        if not word:
            return None, None, FIND_PROMPT_MESSAGE
        matches = recognized.find(word)
        if not matches:
            return None, None, f"'{word}' was not found in the {place}."
        line = matches[0]
        box = match_box(line, word)
        point = screen_point(capture.rect, capture.image.size, box)
        message = f"{line.text}, {recognized.where(line)} of the {place}."
        if len(matches) > 1:
            message += f" {len(matches) - 1} more found."
        return line, point, message


def match_box(line: Line, word: str) -> Box:
    """The box of the words of `line` that hold `word` (the whole line's when it spans words)."""
    needle = fold(word)
    hits = [w for w in line.words if needle and needle in fold(w.text)]
    if not hits:
        return line.box
    first = hits[0]
    return first.box
