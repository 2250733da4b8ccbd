"""Chooses a text recognition engine: the best one that loads for the language, saying why it moved on.

The automatic choice (default_registry) is the registration order filtered by platform and language:

1. PP-OCR, for the languages its bundled model reads (Latin-script languages, Chinese, Japanese): measured
   best here (99.7 % of the words of the project's UI screenshots against 97.7 % for Tesseract 5).
2. The system's own engine (Windows.Media.Ocr on Windows, Apple Vision on macOS): second where PP-OCR reads
   the language, first where it does not (Cyrillic, Greek, Arabic, Korean...: the system's language packs).
3. Tesseract, for the languages whose language data is installed and that the others lack.

With the language "auto", every engine is a candidate and the script found decides (script_follow).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass

from PIL import Image

from assistant.text_recognition.base import AUTO, PPOCR_LANGUAGES, TextRecognizer
from assistant.text_recognition.scripts import ScriptDetector
from assistant.text_recognition.types import ReadStats, TextBlock
from base.errors import TextRecognitionError


@dataclass(frozen=True)
class EngineEntry:
    """A registered engine: name, factory taking a language, the platforms it exists on, languages it reads."""

    name: str
    factory: Callable[[str], TextRecognizer]
    platforms: tuple[str, ...] = ()  # sys.platform values; empty means everywhere
    languages: tuple[str, ...] = ()  # empty means the factory decides
    reason: str = ""  # why it stands where it does in the automatic choice (logged with the plan)


@dataclass(frozen=True)
class Choice:
    """The engine chosen and what happened on the way (engines that failed, in one sentence each)."""

    recognizer: TextRecognizer
    notes: tuple[str, ...]


class Registry:
    """An ordered list of engines; the first that exists here, reads the language and loads is used."""

    def __init__(self, entries: tuple[EngineEntry, ...] = (),
                 script_detector: Callable[[], ScriptDetector | None] | None = None) -> None:
        self._entries = list(entries)
        self._script_detector = script_detector  # made when a reading in "auto" first needs it

    def register(self, entry: EngineEntry, first: bool = False) -> None:
        """Adds an engine, at the end or in front of the others."""
        self._entries.insert(0 if first else len(self._entries), entry)

    def names(self) -> list[str]:
        """The registered engines' names, in order of preference."""
        return [e.name for e in self._entries]

    def candidates(self, language: str = "en", platform: str = sys.platform) -> list[EngineEntry]:
        """The engines that exist on this platform and may read the language ("auto": any), best first."""
        tag = language.split("-")[0].lower()
        fits = [e for e in self._entries if not e.platforms or platform in e.platforms]
        return [e for e in fits if language == AUTO or not e.languages or tag in e.languages]

    def plan(self, language: str = "en", platform: str = sys.platform) -> list[str]:
        """The automatic choice in words: each candidate in order, with why it stands there."""
        return [f"{e.name} ({e.reason})" if e.reason else e.name for e in self.candidates(language, platform)]

    def choose(self, language: str = "en", name: str | None = None) -> Choice:
        """Loads the named engine, or the first candidate that loads; TextRecognitionError when none does."""
        entries = [e for e in self._entries if e.name == name] if name else self.candidates(language)
        if not entries:
            raise TextRecognitionError(f"No text recognition engine reads {language}" +
                                       (f" under the name {name}." if name else "."))
        notes: list[str] = []
        for entry in entries:
            try:
                return Choice(entry.factory(language), tuple(notes))
            except TextRecognitionError as exc:
                notes.append(f"{entry.name} could not be loaded: {exc.message}")
        raise TextRecognitionError(" ".join(notes) or "No text recognition engine could be loaded.")

    def fallback(self, language: str = "en") -> FallbackRecognizer:
        """A recognizer that moves on to the next engine when one fails to load or crashes on an image."""
        return FallbackRecognizer(self, language)

    def automatic(self, language: str = "en") -> TextRecognizer:
        """The automatic choice: the fallback for the language; for "auto" one that then follows the script
        of the text found (a second reading with an engine and language for it)."""
        if language != AUTO:
            return self.fallback(language)
        from assistant.text_recognition.script_follow import ScriptFollowingRecognizer

        return ScriptFollowingRecognizer(self, self.fallback(AUTO), self._script_detector)


class FallbackRecognizer(TextRecognizer):
    """Uses the registry's engines in order; an engine that fails before its first block is replaced."""

    def __init__(self, registry: Registry, language: str) -> None:
        self._registry = registry
        self._language = language
        self._loaded: dict[str, TextRecognizer] = {}
        self._broken: set[str] = set()
        self.notes: list[str] = []
        self.name = "automatic"
        self.current: TextRecognizer | None = None  # the engine that read last

    def recognize(self, image: Image.Image, cancel: threading.Event | None = None
                  ) -> Generator[TextBlock, None, ReadStats | None]:
        """Yields blocks from the first engine that works and returns its ReadStats (when it gives them);
        notes say which engines failed and why."""
        for entry in self._registry.candidates(self._language):
            if entry.name in self._broken:
                continue
            try:
                engine = self._loaded.get(entry.name) or entry.factory(self._language)
            except TextRecognitionError as exc:
                self._broken.add(entry.name)
                self.notes.append(f"{entry.name} could not be loaded: {exc.message}")
                continue
            self._loaded[entry.name] = engine
            self.name = engine.name
            self.current = engine
            started = False
            blocks = engine.recognize(image, cancel)
            try:
                while True:
                    try:
                        block = next(blocks)
                    except StopIteration as done:
                        return done.value
                    started = True
                    yield block
            except Exception as exc:  # noqa: BLE001 - any crash of an engine moves on to the next one
                if started:
                    raise TextRecognitionError(f"{entry.name} failed while reading ({exc}).") from exc
                self._broken.add(entry.name)
                self.notes.append(f"{entry.name} failed on this image ({exc}); trying the next engine.")
        raise TextRecognitionError(" ".join(self.notes) or f"No text recognition engine reads {self._language}.")


def default_registry() -> Registry:
    """The built-in engines in the order of the automatic choice (see the module's docstring)."""
    from assistant.text_recognition.engines import TesseractRecognizer, apple_recognizer, windows_recognizer
    from assistant.text_recognition.ppocr import PPOCRRecognizer
    from assistant.text_recognition.scripts import tesseract_script_detector

    return Registry((
        EngineEntry("PP-OCR", lambda _lang: _load_ppocr(PPOCRRecognizer), languages=PPOCR_LANGUAGES,
                    reason="installed with ScreenSight, measured best for the languages it reads"),
        EngineEntry("Windows OCR", windows_recognizer, platforms=("win32",),
                    reason="the system's own, for the languages of its installed language packs"),
        EngineEntry("Apple Vision", apple_recognizer, platforms=("darwin",),
                    reason="the system's own, for the languages it reads"),
        EngineEntry("Tesseract", TesseractRecognizer,
                    reason="for the languages whose Tesseract language data is installed"),
    ), script_detector=tesseract_script_detector)


def _load_ppocr(cls: Callable[[], TextRecognizer]) -> TextRecognizer:
    """PP-OCR, with a failing import of its runtime named as a TextRecognitionError."""
    try:
        return cls()
    except ImportError as exc:
        raise TextRecognitionError(f"ONNX Runtime is not installed ({exc}).") from exc
