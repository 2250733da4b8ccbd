"""Scripted stand-ins for the engine's ports (assistant.ports), like Orca's dummy speech server.

They do what the port promises and nothing more, record what they were asked, and can be paused
mid-answer, so the engine's logic (streaming, reuse, cancellation, errors) is tested without torch.
tests/test_ports_contract.py runs them and the real models through the same checks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from base.transcript import Transcript, TranscriptionStats

WAIT_S = 30.0  # how long a paused fake waits to be released before it fails the test


@dataclass
class ScriptedEncoding:
    """What ScriptedVisionModel.encode returns: an EncodedImage naming the image it was made from."""

    image_size: tuple[int, int]
    detail: str
    number: int             # 1 for the model's first encode, 2 for its second...
    tiles: int = 1
    preprocess_s: float = 0.0
    encode_s: float = 0.0
    vision_tiles: int = 1
    vision_s: float = 0.0


@dataclass
class AnswerCall:
    """One answer() call as the scripted model saw it."""

    ctx: Any
    prompt: str
    history: tuple[Any, ...]
    max_new_tokens: int
    pieces: list[str] = field(default_factory=list)  # what it yielded
    stopped_by_cancel: bool = False


class ScriptedVisionModel:
    """A VisionModel whose answers come from a script: each answer() yields the next answer's pieces
    (the last one repeats), one piece per token, checking `cancel` before each like the real model.

    `pause_after`: once, after yielding that many pieces of an answer, the model sets `paused` and
    waits (up to WAIT_S) for `resume`, as a slow token would; then it checks `cancel` as the real
    model does. Every encode() is counted: no pixel cache hides an engine that encodes the same
    screenshot twice."""

    def __init__(self, answers: Sequence[Sequence[str]] = (("A dialog. ", "It asks to save."),),
                 pause_after: int | None = None, fail_encode: BaseException | None = None,
                 log: list[tuple[str, str]] | None = None) -> None:
        self.answers = [list(a) for a in answers]
        self.pause_after = pause_after
        self.fail_encode = fail_encode
        self.log = log if log is not None else []  # ("token", piece) / ("encode", detail), in order
        self.encodes: list[ScriptedEncoding] = []
        self.calls: list[AnswerCall] = []
        self.encoded = threading.Event()   # set by each encode
        self.paused = threading.Event()
        self.resume = threading.Event()
        self._lock = threading.Lock()

    def encode(self, image: Image.Image, detail: str = "quick",
               cancel: threading.Event | None = None) -> ScriptedEncoding:
        if cancel is not None and cancel.is_set():
            raise InterruptedError("cancelled before encoding")
        if self.fail_encode is not None:
            raise self.fail_encode
        with self._lock:
            encoding = ScriptedEncoding(tuple(image.size), detail, len(self.encodes) + 1)
            self.encodes.append(encoding)
        self.log.append(("encode", detail))
        self.encoded.set()
        return encoding

    def answer(self, ctx: Any, prompt: str, cancel: threading.Event | None = None,
               max_new_tokens: int = 256, history: Sequence[Any] = (),
               ignore_eos: bool = False) -> Iterator[str]:
        call = AnswerCall(ctx, prompt, tuple(history), max_new_tokens)
        with self._lock:
            index = min(len(self.calls), len(self.answers) - 1)
            self.calls.append(call)
        if max_new_tokens == 0:
            return
        for number, piece in enumerate(self.answers[index][:max_new_tokens]):
            if number == self.pause_after and not self.paused.is_set():
                self.paused.set()  # a slow token: the test cancels or submits meanwhile, then resumes
                if not self.resume.wait(WAIT_S):
                    raise AssertionError("the scripted model was never resumed")
            if cancel is not None and cancel.is_set():
                call.stopped_by_cancel = True
                return
            call.pieces.append(piece)
            self.log.append(("token", piece))
            yield piece


class ScriptedSpeechToText:
    """A SpeechToText that answers each transcribe() with the next scripted text (the last repeats)."""

    def __init__(self, texts: Sequence[str] = ("What does the error say?",), language: str = "en") -> None:
        self.texts = list(texts)
        self.language = language
        self.calls: list[tuple[int, str | None]] = []  # (samples, language asked for)

    def transcribe(self, pcm: Any, language: str | None = None,
                   cancel: threading.Event | None = None) -> Transcript:
        self.calls.append((len(pcm), language))
        if cancel is not None and cancel.is_set():
            return Transcript("", None)
        text = self.texts[min(len(self.calls) - 1, len(self.texts) - 1)]
        return Transcript(text, language or self.language, TranscriptionStats(len(pcm) / 16000, 1, len(text.split())))


class RecordingSpeaker:
    """A SpeechOutput that records what it is told and "plays" each utterance at once: its audio-start
    listeners are called with the tag inside say()."""

    def __init__(self, log: list[tuple[str, str]] | None = None) -> None:
        self.said: list[tuple[str, object]] = []
        self.stops = 0
        self.log = log if log is not None else []
        self._listeners: list[Callable[[object], None]] = []
        self._lock = threading.Lock()

    def say(self, text: str, tag: object = None) -> None:
        with self._lock:
            self.said.append((text, tag))
            listeners = list(self._listeners)
        self.log.append(("say", text))
        for listener in listeners:
            listener(tag)

    def stop(self) -> None:
        with self._lock:
            self.stops += 1

    def add_audio_start_listener(self, listener: Callable[[object], None]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove_audio_start_listener(self, listener: Callable[[object], None]) -> None:
        with self._lock:
            self._listeners.remove(listener)

    def listener_count(self) -> int:
        with self._lock:
            return len(self._listeners)

    def texts(self, tag: object = None) -> list[str]:
        """What was said (for request `tag` only, when given)."""
        with self._lock:
            return [text for text, t in self.said if tag is None or t == tag]


class FixedPasswordField:
    """A PasswordFieldDetector with a fixed answer that counts the questions."""

    def __init__(self, answer: bool | None) -> None:
        self.answer = answer
        self.calls = 0
        self.closed = False

    def focused_password_field(self) -> bool | None:
        self.calls += 1
        return self.answer

    def close(self) -> None:
        self.closed = True
