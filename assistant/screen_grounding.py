"""Grounding preparation (issue 11): what is known for sure about a screenshot, gathered beside the
capture and the encoder: the accessibility facts (a thread of their own) and the recognized text
(a low-priority thread), and the prompt that carries them."""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from PIL import Image

from assistant import prompts
from assistant.conversation import Conversation, Grounding
from assistant.facts.types import ScreenFacts
from assistant.ports import FactsSource, TextReader
from assistant.request_types import Request
from assistant.text_recognition.types import RecognizedText
from base.vocabulary import Mode

log = logging.getLogger(__name__)

GROUND_MODES = (Mode.DESCRIBE, Mode.MORE, Mode.ASK)  # the requests that carry what is known for sure
FACTS_BUDGET_S = 0.15   # the facts query, from the worker's point of view (it runs beside the capture)
PROMPT_WAIT_S = 0.0     # how long the prompt waits for recognition after encoding (see grounded_prompt)
GROUND_OCR_NICE = 10    # the recognition thread's lowered priority: it takes the core the encoder leaves idle


def lower_thread_priority() -> None:
    """Lowers the calling thread's scheduling priority (Linux, where nice is per thread)."""
    if sys.platform.startswith("linux") and hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), GROUND_OCR_NICE)
        except OSError as exc:
            log.debug("grounding thread priority unchanged: %s", exc)


def _log_recognition_failure(future: Future) -> None:
    """Logs why a grounding recognition failed (the describe goes on without the text)."""
    if future.cancelled():
        return
    exc = future.exception()
    if isinstance(exc, InterruptedError):
        log.debug("grounding recognition stopped: %s", exc)
    elif exc is not None:
        log.warning("text recognition for grounding failed: %s: %s", exc.__class__.__name__, exc)


def grounded_prompt(mode: str, question: str, language: str, conversation: Conversation, grounding_on: bool,
                    cancel: threading.Event) -> str:
    """The prompt with what is known for sure. Recognition on 2 cores takes longer than the
    encoder (measured: 2.5-5 s for a 900x600 window against 1.1 s), so a cold describe does not
    wait for it (PROMPT_WAIT_S) and carries the facts; follow-ups and prepared screens carry the text."""
    grounding = conversation.grounding if grounding_on else None
    if grounding is None:
        return prompts.build_prompt(mode, question, language, conversation.capture.title)
    text = grounding.wait(PROMPT_WAIT_S, cancel)
    return prompts.build_prompt(mode, question, language, conversation.capture.title,
                                facts=grounding.facts, text=text)


class GroundingWork:
    """Starts the facts query and the text recognition of screenshots, and keeps the grounding of
    the one background preparation prepared (by fingerprint) for a describe of the same pixels."""

    def __init__(self, grounding_on: Callable[[], bool], facts: FactsSource | None,
                 recognizer: Callable[[], TextReader], ocr_lock: threading.Lock) -> None:
        self._grounding_on = grounding_on
        self._facts_source = facts  # None: this platform's source, made on first use
        self._recognizer = recognizer
        self._ocr_lock = ocr_lock   # one recognition at a time (Read text and grounding may share one)
        self._facts_pool: ThreadPoolExecutor | None = None
        self._ocr_pool: ThreadPoolExecutor | None = None
        self._facts_running: Future | None = None
        self.prepared: tuple[str, Grounding] | None = None  # background preparation's, by fingerprint

    def grounds(self, request: Request) -> bool:
        """True when this request's new screenshot is grounded (a describe, more or ask of the screen)."""
        return self._grounding_on() and request.mode in GROUND_MODES and request.target not in (None, "file") \
            and request.image is None and request.image_path is None

    def start_facts(self, request: Request) -> Future | None:
        """Asks the facts source on a thread of its own (beside the capture); None when not grounded
        or while an earlier query still hangs."""
        if not self.grounds(request):
            return None
        if self._facts_running is not None and not self._facts_running.done():
            log.info("facts: the previous query still runs; this request goes without facts")
            return None
        if self._facts_pool is None:
            self._facts_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="screensight-facts")
        self._facts_running = self._facts_pool.submit(self._query_facts)
        return self._facts_running

    def settle_facts(self, conversation: Conversation, query: Future | None) -> None:
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

    def start(self, conversation: Conversation, request: Request) -> None:
        """Starts recognizing the screenshot's text beside the encoder, unless it is known already
        (the same conversation, or the background preparation of the same pixels)."""
        if conversation.grounding is not None or not self.grounds(request):
            return
        prepared = self.prepared
        if prepared is not None and prepared[0] == conversation.fingerprint:
            conversation.grounding = prepared[1]
            return
        grounding = Grounding()
        if self._ocr_pool is None:
            self._ocr_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="screensight-ground",
                                                initializer=lower_thread_priority)
        grounding.recognition = self._ocr_pool.submit(self._recognize, conversation.capture.image, grounding.stop)
        grounding.recognition.add_done_callback(_log_recognition_failure)
        conversation.grounding = grounding

    def prepare(self, conversation: Conversation, request: Request, current: Conversation | None) -> None:
        """Background preparation's grounding: reused when the pixels were prepared before or are
        the `current` conversation's, started and kept otherwise."""
        prepared = self.prepared
        if prepared is not None and prepared[0] == conversation.fingerprint:
            conversation.grounding = prepared[1]
            return
        if current is not None and current.fingerprint == conversation.fingerprint and current.grounding:
            conversation.grounding = current.grounding
        else:
            self.start(conversation, request)
        if conversation.grounding is not None:
            if prepared is not None and prepared[1] is not conversation.grounding and (
                    current is None or current.grounding is not prepared[1]):
                prepared[1].abandon()
            self.prepared = (conversation.fingerprint, conversation.grounding)

    def close(self) -> None:
        """Stops what still runs and closes the facts source."""
        if self.prepared is not None:
            self.prepared[1].abandon()
        for pool in (self._facts_pool, self._ocr_pool):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        if self._facts_source is not None:
            self._facts_source.close()

    def _facts(self) -> FactsSource:
        if self._facts_source is None:
            from assistant.facts import default_source

            self._facts_source = default_source(FACTS_BUDGET_S)
        return self._facts_source

    def _query_facts(self) -> ScreenFacts | None:
        try:
            return self._facts().current()
        except Exception as exc:  # noqa: BLE001 - a failing source means "cannot tell", never a failed describe
            log.warning("accessibility facts failed: %s: %s", exc.__class__.__name__, exc)
            return None

    def _recognize(self, image: Image.Image, stop: threading.Event) -> RecognizedText:
        """On the grounding thread: the whole text of the screenshot (raises when it fails)."""
        with self._ocr_lock:
            if stop.is_set():
                raise InterruptedError("a newer screenshot replaced this one")
            recognizer = self._recognizer()
            blocks = tuple(recognizer.recognize(image, stop))
        if stop.is_set():
            raise InterruptedError("a newer screenshot replaced this one")
        return RecognizedText(blocks, image.size, recognizer.name)
