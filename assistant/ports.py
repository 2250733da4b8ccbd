"""The shapes of the request engine's collaborators (ports), so any implementation can plug in.

The app's implementations live in models/ (vision model, speech recognizer) and assistant/
(speaker, password-field detectors, text recognizers, facts sources, capture backends); the
scripted ones the engine's tests use live in tests/fakes.py. Each protocol is runtime-checkable:
`isinstance(thing, VisionModel)` checks that the methods are there (not their signatures; the
contract tests in tests/test_ports_contract.py run the real models and the fakes through the same
checks).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from PIL import Image

from assistant.capture import CaptureBackend
from assistant.facts.base import FactsSource
from assistant.text_recognition.types import TextBlock
from base.transcript import Transcript
from base.turns import Turn
from base.vocabulary import Detail

__all__ = ["CaptureBackend", "EncodedImage", "FactsSource", "ModelProvider", "PasswordFieldDetector",
           "SpeechOutput", "SpeechToText", "TextReader", "VisionModel"]

T_co = TypeVar("T_co", covariant=True)


@runtime_checkable
class EncodedImage(Protocol):
    """A screenshot encoded once by a vision model: what answers are asked about, and its cost."""

    detail: Detail
    tiles: int
    preprocess_s: float  # seconds of image preprocessing this encode ran (0: reused)
    encode_s: float      # seconds of the encoder forward pass this encode ran (0: reused)
    vision_tiles: int    # tiles the vision encoder ran on for this encode (0: reused)
    vision_s: float      # seconds of the vision encoder alone


@runtime_checkable
class VisionModel(Protocol):
    """Encodes an image once, then streams answers to prompts about it."""

    def encode(self, image: Image.Image, detail: Detail = Detail.QUICK,
               cancel: threading.Event | None = None) -> EncodedImage:
        """The encoded image; raises InterruptedError when `cancel` is set meanwhile."""
        ...

    def answer(self, ctx: Any, prompt: str, cancel: threading.Event | None = None,
               max_new_tokens: int = 256, history: Sequence[Turn] = ()) -> Iterator[str]:
        """Text pieces of the answer to `prompt` about `ctx` (an EncodedImage this model made);
        stops within one token once `cancel` is set; `max_new_tokens=0` only pre-fills."""
        ...


@runtime_checkable
class SpeechToText(Protocol):
    """Turns 16 kHz mono float32 audio into a Transcript."""

    def transcribe(self, pcm: Any, language: str | None = None,
                   cancel: threading.Event | None = None) -> Transcript:
        """`language` None: detect it (or the model's only one); stops early when `cancel` is set."""
        ...


@runtime_checkable
class SpeechOutput(Protocol):
    """Speaks queued utterances (assistant.speech_out.speaker.Speaker) and tells when audio starts."""

    def say(self, text: str, tag: object = None) -> None:
        """Queue `text`; returns at once. `tag` comes back to the audio-start listeners."""
        ...

    def stop(self) -> None:
        """Silence now and drop everything queued."""
        ...

    def add_audio_start_listener(self, listener: Callable[[object], None]) -> None:
        """Call `listener(tag)` (on the speaker's thread) when an utterance's first audio plays."""
        ...

    def remove_audio_start_listener(self, listener: Callable[[object], None]) -> None:
        ...


@runtime_checkable
class PasswordFieldDetector(Protocol):
    """Tells whether the focused control is a password field (assistant.secure_input)."""

    def focused_password_field(self) -> bool | None:
        """True: a password field has the focus; False: it has not; None: cannot tell."""
        ...

    def close(self) -> None:
        ...


@runtime_checkable
class TextReader(Protocol):
    """Recognizes the text of an image block by block (assistant.text_recognition)."""

    name: str
    notes: Sequence[str]  # why engines it tried first failed (empty for a single engine)

    def recognize(self, image: Image.Image, cancel: threading.Event | None = None) -> Iterator[TextBlock]:
        ...


@runtime_checkable
class ModelProvider(Protocol[T_co]):
    """Gives the model to use now, loading it on first call (on the model worker thread)."""

    @property
    def loaded(self) -> bool:
        """False while the next call would load (the engine then says "Loading the model")."""
        ...

    def __call__(self, progress: Callable[[float], None] | None = None) -> T_co:
        """The model; `progress(fraction)` follows a first load's long preparation, where it has one
        (Gemma 4's int8 weights are made once for this computer)."""
        ...
