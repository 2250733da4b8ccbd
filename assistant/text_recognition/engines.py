"""Engines other than the default: Tesseract (CLI), Windows.Media.Ocr and Apple Vision."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from PIL import Image

from assistant.text_recognition.base import (
    AUTO,
    TextRecognizer,
    blocks_from_lines,
    cancelled,
    lines_from_words,
    split_words,
)
from assistant.text_recognition.types import TextBlock
from base.errors import TextRecognitionError

TESSERACT_CODES = {"en": "eng", "de": "deu", "fr": "fra", "es": "spa", "it": "ita", "pt": "por", "nl": "nld",
                   "ru": "rus", "uk": "ukr", "pl": "pol", "cs": "ces", "sv": "swe", "tr": "tur", "ar": "ara",
                   "el": "ell", "he": "heb", "ja": "jpn", "ko": "kor", "zh": "chi_sim", "hi": "hin"}


LATIN_CODES = ("eng", "deu", "fra", "spa", "ita", "por", "nld", "pol", "ces", "swe", "tur")  # "auto" reads these


class TesseractRecognizer(TextRecognizer):
    """Tesseract 5 through its command line, for the languages whose packs are installed ("auto": the
    installed Latin-script packs together, English first; another script is read with its own language)."""

    name = "Tesseract"

    def __init__(self, language: str = "en") -> None:
        from models.ocr_tesseract import executable, installed_languages

        program = executable()
        if program is None:
            raise TextRecognitionError("Tesseract is not installed (no tesseract program found).")
        packs = installed_languages(program)
        codes = {tag: code for tag, code in TESSERACT_CODES.items() if code in packs}
        self.languages = tuple(codes)
        self._program = program
        if language == AUTO:
            latin = [code for code in LATIN_CODES if code in packs][:3]  # each pack more is slower
            if not latin:
                raise TextRecognitionError("Tesseract has no language pack for Latin-script text.")
            self._langs = "+".join(latin)
            return
        wanted = codes.get(language.split("-")[0].lower())
        if wanted is None:
            code = TESSERACT_CODES.get(language.split("-")[0].lower())
            install = f" (install its {code} language data: tesseract-ocr-{code} on Debian and Ubuntu)" if code else ""
            raise TextRecognitionError(f"Tesseract has no language pack for {language}{install}.")
        self._langs = wanted if wanted == "eng" or "eng" not in packs else f"{wanted}+eng"

    def recognize(self, image: Image.Image, cancel: threading.Event | None = None) -> Iterator[TextBlock]:
        """Reads the whole image at once, then yields its blocks in reading order."""
        from models.ocr_tesseract import read_words

        if cancelled(cancel):
            return
        words = [w for w in read_words(image, self._langs, self._program) if w.confidence >= 0.3]
        lines = lines_from_words((_word(w), w.line) for w in words)
        for block in blocks_from_lines(lines):
            if cancelled(cancel):
                return
            yield block


class OSRecognizer(TextRecognizer):
    """The operating system's OCR (Windows.Media.Ocr or Apple Vision) behind the common interface."""

    def __init__(self, backend: object, name: str) -> None:
        self._backend = backend
        self.name = name

    def recognize(self, image: Image.Image, cancel: threading.Event | None = None) -> Iterator[TextBlock]:
        """Reads the whole image at once, then yields its blocks in reading order."""
        if cancelled(cancel):
            return
        words = self._backend.read(image.convert("RGB"))
        lines = lines_from_words((w2, w.line) for w in words for w2 in split_words(w.text, w.box, w.confidence))
        for block in blocks_from_lines(lines):
            if cancelled(cancel):
                return
            yield block


def windows_recognizer(language: str = "en") -> OSRecognizer:
    """Windows.Media.Ocr for the language (TextRecognitionError where it is missing)."""
    from models.ocr_windows import WindowsOCR

    return OSRecognizer(WindowsOCR(language), "Windows OCR")


def apple_recognizer(language: str = "en") -> OSRecognizer:
    """Apple Vision for the language (TextRecognitionError where it is missing)."""
    from models.ocr_apple import AppleVisionOCR

    return OSRecognizer(AppleVisionOCR(() if language == AUTO else (language,)), "Apple Vision")


def _word(word):
    """A Tesseract word as a Word value."""
    from assistant.text_recognition.types import Word

    return Word(word.text, word.box, word.confidence)
