"""The language "auto": read with the first engine, then follow the script of the text found.

The first reading's blocks are spoken as they come. When that engine reads the script found (Latin,
Chinese and Japanese for PP-OCR), nothing more happens. When the text is in a script it does not read,
found from the letters it recognized (Greek, partly known to PP-OCR) or, when it could not read most of
the text boxes it found, by the script detector (Tesseract's script detection), the image is read again
with the first engine and language that read that script; when none does, the reader says so and what
to install.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING

from PIL import Image

from assistant.text_recognition.base import TextRecognizer, cancelled
from assistant.text_recognition.scripts import Script, ScriptDetector, languages_of, poorly_read, script_of
from assistant.text_recognition.types import ReadStats, TextBlock
from base.errors import TextRecognitionError

if TYPE_CHECKING:
    from assistant.text_recognition.registry import FallbackRecognizer, Registry

log = logging.getLogger(__name__)


class ScriptFollowingRecognizer(TextRecognizer):
    """The automatic engines for "auto": the first that works, then one for the script of the text found."""

    def __init__(self, registry: Registry, first: FallbackRecognizer,
                 detector: Callable[[], ScriptDetector | None] | None = None) -> None:
        self._registry = registry
        self._first = first
        self._make_detector = detector
        self._detector: ScriptDetector | None = None
        self._detector_made = False
        self._engines: dict[tuple[str, str], TextRecognizer] = {}
        self._inner_told = 0
        self.notes: list[str] = []  # engine failures (the first engine's), then script changes
        self.name = first.name

    def recognize(self, image: Image.Image, cancel: threading.Event | None = None
                  ) -> Generator[TextBlock, None, ReadStats | None]:
        """The first engine's blocks, then, for a script it does not read, those of an engine that does."""
        blocks: list[TextBlock] = []
        reading = self._first.recognize(image, cancel)
        while True:
            try:
                block = next(reading)
            except StopIteration as done:
                stats = done.value
                break
            self._take_notes()
            self.name = self._first.name
            blocks.append(block)
            yield block
        self._take_notes()
        self.name = self._first.name
        engine = self._first.current
        if engine is None or cancelled(cancel):
            return stats
        script = self._script(image, blocks, stats)
        if script is None or any(engine.reads(language) for language in languages_of(script)):
            return stats
        other = self._engine_for(script, engine.name)
        if other is None:
            raise TextRecognitionError(
                f"The text is in {script.value} script, which no installed text recognition engine reads.",
                hint=_install_hint(script), app_hint=_install_hint(script))
        log.info("text in %s script: reading again with %s", script.value, other.name)
        self.notes.append(f"{engine.name} does not read {script.value} script.")
        self.name = other.name
        return (yield from other.recognize(image, cancel))

    def _take_notes(self) -> None:
        """The first engine's failure notes, in the order they came."""
        inner = self._first.notes
        self.notes.extend(inner[self._inner_told:])
        self._inner_told = len(inner)

    def _script(self, image: Image.Image, blocks: Sequence[TextBlock], stats: ReadStats | None) -> Script | None:
        """The script of the recognized letters; the detector's when most text boxes could not be read."""
        found = script_of(" ".join(block.text() for block in blocks))
        if not poorly_read(stats):
            return found
        detector = self._script_detector()
        detected = detector(image) if detector is not None else None
        return detected or found

    def _script_detector(self) -> ScriptDetector | None:
        if not self._detector_made:
            self._detector_made = True
            self._detector = self._make_detector() if self._make_detector is not None else None
        return self._detector

    def _engine_for(self, script: Script, used: str) -> TextRecognizer | None:
        """The first engine (other than the one used) that loads for a language of the script."""
        for language in languages_of(script):
            for entry in self._registry.candidates(language):
                if entry.name == used:
                    continue
                key = (entry.name, language)
                if key not in self._engines:
                    try:
                        self._engines[key] = entry.factory(language)
                    except TextRecognitionError as exc:
                        log.info("%s for %s: %s", entry.name, language, exc.message)
                        continue
                return self._engines[key]
        return None


def _install_hint(script: Script) -> str:
    """What to install for a script: the Tesseract language data of its first language."""
    from assistant.text_recognition.engines import TESSERACT_CODES

    code = next((TESSERACT_CODES[tag] for tag in languages_of(script) if tag in TESSERACT_CODES), None)
    if code is None:
        return "Install a text recognition engine that reads it."
    return (f"Install Tesseract with its {code} language data (on Debian and Ubuntu the tesseract-ocr-{code} "
            "package), then read again.")
