"""A scripted engine for tests: it returns the lines it was given, like Orca's dummy speech server."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from PIL import Image

from assistant.text_recognition.base import TextRecognizer, blocks_from_lines, cancelled, split_words
from assistant.text_recognition.registry import EngineEntry, Registry
from assistant.text_recognition.types import Line, TextBlock


class ScriptedRecognizer(TextRecognizer):
    """Answers every image with the scripted lines (text, box) put in reading order; records each image."""

    name = "scripted"

    def __init__(self, lines: Sequence[tuple[str, tuple[int, int, int, int]]] = (), fail: Exception | None = None):
        self.lines = [Line(text, box, 1.0, split_words(text, box, 1.0)) for text, box in lines]
        self.fail = fail
        self.images: list[tuple[int, int]] = []

    def recognize(self, image: Image.Image, cancel: threading.Event | None = None) -> Iterator[TextBlock]:
        """Yields the scripted blocks (or raises the scripted failure)."""
        self.images.append(image.size)
        if self.fail is not None:
            raise self.fail
        for block in blocks_from_lines(self.lines):
            if cancelled(cancel):
                return
            yield block



def register(registry: Registry, recognizer: ScriptedRecognizer, first: bool = True) -> None:
    """Registers the scripted engine like a real one (in front, so it is chosen)."""
    registry.register(EngineEntry(recognizer.name, lambda _lang: recognizer), first=first)
