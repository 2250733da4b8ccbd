"""Chooses a text recognition engine: the best one that loads for the language, saying why it moved on."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from PIL import Image

from assistant.text_recognition.base import PPOCR_LANGUAGES, TextRecognizer
from assistant.text_recognition.types import TextBlock
from base.errors import TextRecognitionError


@dataclass(frozen=True)
class EngineEntry:
    """A registered engine: name, factory taking a language, the platforms it exists on, languages it reads."""

    name: str
    factory: Callable[[str], TextRecognizer]
    platforms: tuple[str, ...] = ()  # sys.platform values; empty means everywhere
    languages: tuple[str, ...] = ()  # empty means the factory decides


@dataclass(frozen=True)
class Choice:
    """The engine chosen and what happened on the way (engines that failed, in one sentence each)."""

    recognizer: TextRecognizer
    notes: tuple[str, ...]


class Registry:
    """An ordered list of engines; the first that exists here, reads the language and loads is used."""

    def __init__(self, entries: tuple[EngineEntry, ...] = ()) -> None:
        self._entries = list(entries)

    def register(self, entry: EngineEntry, first: bool = False) -> None:
        """Adds an engine, at the end or in front of the others."""
        self._entries.insert(0 if first else len(self._entries), entry)

    def names(self) -> list[str]:
        """The registered engines' names, in order of preference."""
        return [e.name for e in self._entries]

    def candidates(self, language: str = "en", platform: str = sys.platform) -> list[EngineEntry]:
        """The engines that exist on this platform and may read the language, best first."""
        tag = language.split("-")[0].lower()
        fits = [e for e in self._entries if not e.platforms or platform in e.platforms]
        return [e for e in fits if not e.languages or tag in e.languages]

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


class FallbackRecognizer(TextRecognizer):
    """Uses the registry's engines in order; an engine that fails before its first block is replaced."""

    def __init__(self, registry: Registry, language: str) -> None:
        self._registry = registry
        self._language = language
        self._loaded: dict[str, TextRecognizer] = {}
        self._broken: set[str] = set()
        self.notes: list[str] = []
        self.name = "automatic"

    def recognize(self, image: Image.Image, cancel: threading.Event | None = None) -> Iterator[TextBlock]:
        """Yields blocks from the first engine that works; notes say which failed and why."""
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
            started = False
            try:
                for block in engine.recognize(image, cancel):
                    started = True
                    yield block
                return
            except Exception as exc:  # noqa: BLE001 - any crash of an engine moves on to the next one
                if started:
                    raise TextRecognitionError(f"{entry.name} failed while reading ({exc}).") from exc
                self._broken.add(entry.name)
                self.notes.append(f"{entry.name} failed on this image ({exc}); trying the next engine.")
        raise TextRecognitionError(" ".join(self.notes) or f"No text recognition engine reads {self._language}.")


def default_registry() -> Registry:
    """The built-in engines: PP-OCR first, then the system's own OCR, then Tesseract for other languages."""
    from assistant.text_recognition.engines import TesseractRecognizer, apple_recognizer, windows_recognizer
    from assistant.text_recognition.ppocr import PPOCRRecognizer

    return Registry((
        EngineEntry("PP-OCR", lambda _lang: _load_ppocr(PPOCRRecognizer), languages=PPOCR_LANGUAGES),
        EngineEntry("Windows OCR", windows_recognizer, platforms=("win32",)),
        EngineEntry("Apple Vision", apple_recognizer, platforms=("darwin",)),
        EngineEntry("Tesseract", TesseractRecognizer),
    ))


def _load_ppocr(cls: Callable[[], TextRecognizer]) -> TextRecognizer:
    """PP-OCR, with a failing import of its runtime named as a TextRecognitionError."""
    try:
        return cls()
    except ImportError as exc:
        raise TextRecognitionError(f"ONNX Runtime is not installed ({exc}).") from exc
