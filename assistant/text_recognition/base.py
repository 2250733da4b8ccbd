"""The interface every text recognition engine implements, and the helpers they share."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence

from PIL import Image

from assistant.reading_order import reading_order
from assistant.text_recognition.types import Line, RecognizedText, TextBlock, Word

# The languages of the multilingual PP-OCRv6 recognizer the rapidocr wheel ships (its model routes): Chinese,
# Japanese and the Latin-script languages. It has no Cyrillic, Arabic, Hangul, Devanagari or Thai letters, and
# only part of the Greek ones; the wheel holds no other recognizer.
PPOCR_LANGUAGES = ("en", "zh", "ja", "af", "az", "bs", "ca", "cs", "cy", "da", "de", "es", "et", "eu", "fi", "fr",
                   "ga", "gl", "hr", "hu", "id", "is", "it", "ku", "la", "lb", "lt", "lv", "mi", "ms", "mt", "nl",
                   "no", "nb", "nn", "oc", "pl", "pt", "qu", "rm", "ro", "sk", "sl", "sq", "sv", "sw", "tl", "tr",
                   "uz", "vi")
AUTO = "auto"  # the language setting that lets the script found decide


class TextRecognizer(ABC):
    """An OCR engine: a name, the languages it reads, and recognition streaming blocks in reading order."""

    name: str = ""
    languages: tuple[str, ...] = ()  # BCP-47 primary tags ("en", "de"); empty means any
    notes: Sequence[str] = ()  # why engines tried before this one failed (a fallback's; empty otherwise)

    @abstractmethod
    def recognize(self, image: Image.Image, cancel: threading.Event | None = None) -> Iterator[TextBlock]:
        """Yields the image's text blocks in reading order, each as soon as it is recognized."""

    def read(self, image: Image.Image, cancel: threading.Event | None = None) -> RecognizedText:
        """All blocks of the image at once, as a RecognizedText value."""
        return RecognizedText(tuple(self.recognize(image, cancel)), image.size, self.name)

    def reads(self, language: str) -> bool:
        """True when this engine reads the language (a BCP-47 tag such as "de-CH"; "auto": any)."""
        return not self.languages or language == AUTO or language.split("-")[0].lower() in self.languages


def cancelled(cancel: threading.Event | None) -> bool:
    """True when the caller asked to stop."""
    return cancel is not None and cancel.is_set()


def blocks_from_lines(lines: Sequence[Line]) -> list[TextBlock]:
    """Lines put into blocks in reading order."""
    ordered = reading_order([line.box for line in lines])
    return [TextBlock(tuple(tuple(lines[i] for i in row) for row in block.rows), block.kind) for block in ordered]


def lines_from_words(words: Iterable[tuple[Word, object]]) -> list[Line]:
    """Words with a line key (engine's own line id) joined into lines, words left to right."""
    grouped: dict[object, list[Word]] = {}
    for word, key in words:
        grouped.setdefault(key, []).append(word)
    lines = []
    for group in grouped.values():
        group.sort(key=lambda w: w.box[0])
        box = (min(w.box[0] for w in group), min(w.box[1] for w in group),
               max(w.box[2] for w in group), max(w.box[3] for w in group))
        confidence = sum(w.confidence for w in group) / len(group)
        lines.append(Line(" ".join(w.text for w in group), box, confidence, tuple(group)))
    return lines


def split_words(text: str, box: tuple[int, int, int, int], confidence: float) -> tuple[Word, ...]:
    """A line's words with boxes shared out along it in proportion to their length."""
    parts = text.split()
    total = max(sum(len(p) + 1 for p in parts) - 1, 1)
    words, pos = [], 0
    for part in parts:
        x0 = box[0] + (box[2] - box[0]) * pos // total
        x1 = box[0] + (box[2] - box[0]) * (pos + len(part)) // total
        words.append(Word(part, (x0, box[1], x1, box[3]), confidence))
        pos += len(part) + 1
    return tuple(words)
