"""The request engine: one model worker thread, newest request wins, every request traced.

Requests come from hotkeys, the UI or the CLI on any thread. The worker captures the screen,
encodes it once per screenshot, streams the answer through the segmenter to the speaker, and
reports to a listener. A newer request cancels the running one: generation stops at the next
token and speech stops at once.

Its parts: request_types (what is asked and answered), reply (one request's text shown and
spoken), answer_check (the truth check on an answer), screen_grounding (facts and recognized
text gathered beside the encoder), text_path (Read text and Find text), speech_in.voice_question
(a spoken question's recording and transcription).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from types import MappingProxyType

from assistant import images, prompts
from assistant.answer_check import CHECK_WAIT_S, AnswerCheck
from assistant.capture import Capture, CaptureBackend, capture_target, load_image_file
from assistant.conversation import Conversation, Grounding
from assistant.load_progress import PreparationProgress
from assistant.logging_setup import content
from assistant.model_loading import GroundingRecognizer, TextRecognizerLoader
from assistant.pointer import PointerControl
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
from assistant.reply import Reply
from assistant.request_types import Cancelled, EngineListener, EngineOptions, Request, Result, check_cancel
from assistant.screen_grounding import GroundingWork, grounded_prompt
from assistant.speech_in.spoken_find import FindPhrase, SpokenFind, spoken_find, text_to_find
from assistant.speech_in.voice_question import recorded_pcm, transcribe_question
from assistant.speech_out.segmenter import Segmenter
from assistant.text_path import NO_TEXT_MESSAGE, TextPath
from assistant.text_recognition.types import RecognizedText
from assistant.trace import Trace
from base.errors import ScreenSightError
from base.images import image_fingerprint
from base.vocabulary import Detail, Mode, ReadWith

__all__ = ["Cancelled", "Engine", "EngineListener", "EngineOptions", "Request", "Result"]

log = logging.getLogger(__name__)

MAX_NEW_TOKENS = MappingProxyType({Mode.DESCRIBE: 120, Mode.MORE: 400, Mode.READ: 500, Mode.ASK: 200})
SPOKEN_UNHEARD = "(a spoken question)"  # the history's question when the model wrote no transcript
MODEL_READ_PREFIX = "Described by the model: "
NO_ANSWER_MESSAGE = "The model gave no answer. Try again, or ask in other words."
FIND_OCR_WAIT_S = 30.0  # a spoken "find X" waits this long for the text recognized beside the encoder
BACKGROUND_OCR_WAIT_S = 30.0  # background preparation waits this long for recognition (any request stops it)


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
        ocr_lock = threading.Lock()  # one recognition at a time (Read text and grounding may share one)
        # Grounding (issue 11): describe, more and ask carry the accessibility facts and the recognized
        # text, and their answers are checked against them. facts: None means this platform's source,
        # made on first use.
        self._grounding = GroundingWork(lambda: self._options.grounding, facts,
                                        ground_recognizer or GroundingRecognizer(self.text_recognizer), ocr_lock)
        self._text = TextPath(ocr_lock, segmenter_factory)
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
        if self.conversation is not None and self.conversation.grounding is not None:
            self.conversation.grounding.abandon()
        self._grounding.close()
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
            self._prepare_while_idle()
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

    def _prepare_while_idle(self) -> None:
        """The loaded model's own work left after loading (`prepare_step`, e.g. Gemma 4's faster
        int8 kernels), a slice at a time while no request waits: a request waits one slice."""
        if not getattr(self._model, "loaded", False):
            return
        try:
            step = getattr(self._model(), "prepare_step", None)
            while step is not None:
                with self._cond:
                    if self._pending is not None or self._closed:
                        return
                if not step():
                    return
        except Exception:  # noqa: BLE001 - the model keeps working as loaded
            log.exception("preparing the model's faster kernels failed")

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

    # -- one request -------------------------------------------------------------------------

    def _execute(self, request_id: int, request: Request, cancel: threading.Event) -> Result:
        trace = Trace(request_id, request.mode)
        trace.mark("trigger", request.triggered_at)
        self._traces[request_id] = trace
        reply = Reply(request_id, request, trace, self.listener, lambda: self._speaker)
        question = request.question
        try:
            self.listener.on_started(request_id, request)
            if self._password_focused(request):
                reply.speak_text(prompts.PASSWORD_MESSAGE, cancel)
                trace.mark("done")
                return Result(request_id, request, "".join(reply.parts), trace, question=question)
            if request.mode == "find" or (request.mode == "read" and self._reads_with(request) == "ocr"):
                return self._recognize_request(reply, cancel)
            conversation, encoded = self._conversation_for(request, trace, cancel)
            if request.audio is not None and not self._hears_audio():
                question = self._transcribe(reply, cancel)
                asked = spoken_find(question) if request.mode == Mode.ASK else None
                if asked is not None:
                    found = self._find_spoken(reply, asked, conversation, cancel)
                    if found is not None:
                        return found
            state = images.screen_state(conversation.capture.image)
            if state is not None and request.mode != "ask":
                message = prompts.SCREEN_STATE_MESSAGES[state]
                reply.speak_text(message, cancel)
                conversation.add(question or request.mode, message)
            else:
                if request.mode == "read":
                    reply.speak_text(MODEL_READ_PREFIX, cancel)
                question = self._answer(reply, question, conversation, cancel)
            trace.mark("done")
            return Result(request_id, request, reply.text, trace, question=question,
                          capture=conversation.capture, encoded=encoded)
        except Cancelled:
            trace.mark("done")
            return Result(request_id, request, reply.text, trace, cancelled=True, question=question)
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
            self._model(PreparationProgress(self.listener, self._current_id))
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
            facts_query = self._grounding.start_facts(request)
            capture = self._take(request)
            if cancel.is_set() or images.screen_state(capture.image) is not None:
                return
            conversation = Conversation(capture, image_fingerprint(capture.image),
                                        request.detail or self._options.detail)
            self._grounding.prepare(conversation, request, self.conversation)
            model = self._model()
            if cancel.is_set():
                return
            conversation.context = model.encode(capture.image, conversation.detail, cancel)
            self._grounding.settle_facts(conversation, facts_query)
            if conversation.grounding is not None:
                conversation.grounding.wait(BACKGROUND_OCR_WAIT_S, cancel)
            if cancel.is_set():
                return
            # Pre-fill the describe prompt too: the describe key then only generates.
            prompt = grounded_prompt("describe", "", request.language or self._options.language,
                                     conversation, self._options.grounding, cancel)
            for _ in model.answer(conversation.context, prompt, cancel=cancel, max_new_tokens=0):
                pass
        except (ScreenSightError, InterruptedError) as exc:
            log.info("background preparation stopped: %s", exc)
        except Exception:  # noqa: BLE001 - the worker must survive any model failure
            log.exception("background preparation failed")

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
            facts_query = self._grounding.start_facts(request)
            capture = self._take(request)
            trace.mark("captured")
            conversation = Conversation(capture, image_fingerprint(capture.image), detail)
        check_cancel(cancel)
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
        self._grounding.start(conversation, request)
        encoded = None
        if conversation.context is None or conversation.detail != detail:
            model = self._load_model(trace)
            check_cancel(cancel)
            encoded = conversation.context = model.encode(conversation.capture.image, detail, cancel)
            conversation.detail = detail
            trace.mark("preprocessed", trace.marks["captured"] + encoded.preprocess_s)
        trace.mark("encoded")
        self._grounding.settle_facts(conversation, facts_query)
        self._replace_conversation(conversation)
        return conversation, encoded

    def _replace_conversation(self, conversation: Conversation) -> None:
        """Makes `conversation` the current one; a recognition for the one it replaces stops."""
        previous, self.conversation = self.conversation, conversation
        if previous is not None and previous is not conversation and previous.grounding is not None \
                and previous.grounding is not conversation.grounding:
            previous.grounding.abandon()

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
        return self._model(PreparationProgress(self.listener, trace.request_id))

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

    def _transcribe(self, reply: Reply, cancel: threading.Event) -> str:
        """The spoken question (or text to find) as text, shown to the listener."""
        request = reply.request
        text = transcribe_question(request, self._speech_recognizer, request.language or self._options.language,
                                   reply.trace, cancel)
        self.listener.on_question(reply.request_id, text)
        return text

    # -- the model's answer ------------------------------------------------------------------

    def _answer(self, reply: Reply, question: str, conversation: Conversation, cancel: threading.Event) -> str:
        """Streams the answer to the speaker and the listener; the question it answered."""
        request, trace = reply.request, reply.trace
        mode = "ask" if request.audio is not None else request.mode
        spoken = request.audio is not None and not question  # the model hears the recording itself
        if mode == "ask" and not question and not spoken:
            mode = "describe"
        language = request.language or self._options.language
        prompt = grounded_prompt(mode, prompts.SPOKEN_QUESTION if spoken else question, language, conversation,
                                 self._options.grounding, cancel)
        history = list(conversation.turns) if mode == "ask" else []
        model = self._load_model(trace)
        segmenter = self._segmenter_factory()
        limit = request.max_new_tokens or MAX_NEW_TOKENS.get(mode, 200)
        check = self._answer_check(conversation, question, cancel)
        if spoken:
            audio = model.hear(recorded_pcm(request, trace, cancel))
            if audio.trimmed_s:
                self.listener.on_status(reply.request_id, f"Only the first {audio.seconds:.0f} seconds of the "
                                                          "question were heard.")
            stream = model.answer_spoken(conversation.context, audio, prompt, cancel=cancel,
                                         max_new_tokens=limit, history=history)
        else:
            stream = model.answer(conversation.context, prompt, cancel=cancel, max_new_tokens=limit,
                                  history=history)
        for piece in stream:
            if not isinstance(piece, str):  # answer_spoken ends with the words the model heard
                question = piece.text
                trace.mark("transcribed")
                self.listener.on_question(reply.request_id, question)
                continue
            trace.mark("first_token")
            if check is None:
                reply.emit(piece, segmenter, cancel)
            else:
                for utterance in segmenter.feed(piece):
                    reply.say_checked(check.feed(utterance), cancel)
        check_cancel(cancel)
        if check is None:
            reply.flush(segmenter)
        else:
            for utterance in segmenter.flush():
                reply.say_checked(check.feed(utterance), None)
            reply.say_checked(check.flush(), None)
        answer = reply.text
        if not answer:
            answer = NO_ANSWER_MESSAGE
            reply.speak_text(answer, cancel)
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

    # -- text recognition: read and find -----------------------------------------------------

    def _reads_with(self, request: Request) -> str:
        return request.read_with or self._options.read_with

    def _recognize_request(self, reply: Reply, cancel: threading.Event) -> Result:
        """Read text (each block spoken as soon as it is recognized) or find text in a screenshot."""
        request, trace = reply.request, reply.trace
        reuse = self._reusable_read(request)
        if reuse is not None:
            capture, recognized = reuse
            trace.mark("captured")
        else:
            capture = self._capture_for_text(request)
            trace.mark("captured")
            check_cancel(cancel)
            recognized = self._text.recognize(reply, self.text_recognizer(), capture, cancel,
                                              speak=request.mode == "read")
            self._remember(capture, recognized)
        if request.mode == "read":
            if recognized.empty:
                reply.speak_text(NO_TEXT_MESSAGE, cancel)
            trace.mark("done")
            return Result(reply.request_id, request, reply.text, trace, capture=capture, recognized=recognized)
        word = request.question.strip()
        if request.audio is not None:  # said while the Find text prompt was open: "Save", or "find Save"
            heard = self._transcribe(reply, cancel)
            word = (spoken_find(heard) or SpokenFind(text_to_find(heard), FindPhrase.COMMAND)).text
        return self._text.found(reply, word, capture, recognized, self.pointer, cancel)

    def _find_spoken(self, reply: Reply, asked: SpokenFind, conversation: Conversation,
                     cancel: threading.Event) -> Result | None:
        """A spoken "find Save" or "where is Save": Find text in the screenshot the question was asked about
        (its text recognized beside the encoder when grounded). None for a "where is" whose text is not
        there: the model answers it as a question."""
        capture = conversation.capture
        recognized = self._text_for_find(reply, conversation, cancel)
        if asked.phrase is FindPhrase.QUESTION and not recognized.find(asked.text):
            return None
        return self._text.found(reply, asked.text, capture, recognized, self.pointer, cancel)

    def _text_for_find(self, reply: Reply, conversation: Conversation, cancel: threading.Event) -> RecognizedText:
        """The screenshot's recognized text: read before, recognized beside the encoder, or recognized now."""
        capture = conversation.capture
        if self.last_read is not None and self.last_read[0] is capture:
            return self.last_read[1]
        if conversation.grounding is not None and conversation.grounding.recognition is not None:
            known = conversation.grounding.wait(FIND_OCR_WAIT_S, cancel)
            check_cancel(cancel)
            if known is not None:
                self.last_read = (capture, known)
                return known
        recognized = self._text.recognize(reply, self.text_recognizer(), capture, cancel, speak=False)
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
