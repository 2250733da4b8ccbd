"""Read text and Find text's own work: recognize a screenshot block by block (each block spoken as
it arrives), say the recognizer's fallbacks once, find a word and point at it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import MappingProxyType

from assistant.capture import Capture
from assistant.pointer import PointerControl, screen_point
from assistant.ports import TextReader
from assistant.reply import Reply
from assistant.request_types import Result, check_cancel
from assistant.speech_out.segmenter import Segmenter
from assistant.text_recognition.types import Box, Line, RecognizedText, TextBlock, fold
from base.vocabulary import Target

NO_TEXT_MESSAGE = "No text found."
FIND_PROMPT_MESSAGE = "Type or say the text to find."
PLACE_NAMES = MappingProxyType({Target.WINDOW: "window", Target.SCREEN: "screen",
                                Target.POINTER: "area around the pointer", Target.REGION: "region",
                                Target.FILE: "image", Target.CLIPBOARD: "image"})


def match_box(line: Line, word: str) -> Box:
    """The box of the words of `line` that hold `word` (the whole line's when it spans words)."""
    needle = fold(word)
    hits = [w for w in line.words if needle and needle in fold(w.text)]
    if not hits:
        return line.box
    first = hits[0]
    return first.box


def find_line(word: str, capture: Capture, recognized: RecognizedText
              ) -> tuple[Line | None, tuple[int, int] | None, str]:
    """The first line containing `word`, its desktop point, and the sentence that says where it is."""
    place = PLACE_NAMES.get(capture.source, "window")
    if not word:
        return None, None, FIND_PROMPT_MESSAGE
    matches = recognized.find(word)
    if not matches:
        return None, None, f"'{word}' was not found in the {place}."
    line = matches[0]
    box = match_box(line, word)
    point = screen_point(capture.rect, capture.image.size, box)
    message = f"{line.text}, {recognized.where(line)} of the {place}."
    if len(matches) > 1:
        message += f" {len(matches) - 1} more found."
    return line, point, message


class TextPath:
    """Recognizes text for Read text and Find text, one recognition at a time (`ocr_lock`, shared
    with grounding), and tells each recognizer failure once."""

    def __init__(self, ocr_lock: threading.Lock, segmenter_factory: Callable[[], Segmenter] = Segmenter) -> None:
        self._ocr_lock = ocr_lock
        self._segmenter_factory = segmenter_factory
        self._notes_told: tuple[TextReader | None, int] = (None, 0)  # the recognizer, how many notes were said

    def recognize(self, reply: Reply, recognizer: TextReader, capture: Capture, cancel: threading.Event,
                  speak: bool) -> RecognizedText:
        """Recognizes block by block; with `speak`, each block is shown and spoken as it arrives."""
        notes: list[str] = []
        blocks: list[TextBlock] = []
        segmenter = self._segmenter_factory()
        with self._ocr_lock:
            for block in recognizer.recognize(capture.image, cancel):
                check_cancel(cancel)
                reply.trace.mark("first_block")
                self._tell_notes(reply, recognizer, notes)
                if speak:
                    piece = block.text() if not blocks else "\n\n" + block.text()
                    reply.emit(piece, segmenter, cancel)
                    reply.flush(segmenter)
                blocks.append(block)
        check_cancel(cancel)
        reply.trace.mark("recognized")
        self._tell_notes(reply, recognizer, notes)
        return RecognizedText(tuple(blocks), capture.image.size, recognizer.name, tuple(notes))

    def found(self, reply: Reply, word: str, capture: Capture, recognized: RecognizedText,
              pointer: PointerControl | None, cancel: threading.Event) -> Result:
        """Find text's end: the pointer moved to the match and where it is said (or that it is not there)."""
        found, point, message = find_line(word, capture, recognized)
        if point is not None and pointer is not None:
            pointer.move(*point)
        reply.speak_text(message, cancel)
        reply.trace.mark("done")
        return Result(reply.request_id, reply.request, reply.text, reply.trace, question=word,
                      capture=capture, recognized=recognized, found=found, point=point)

    def _tell_notes(self, reply: Reply, recognizer: TextReader, notes: list[str]) -> None:
        """Says (once, also for failures noted while warming up) each engine failure the recognizer
        noted, and which engine reads instead."""
        all_notes = list(recognizer.notes)
        told = self._notes_told[1] if self._notes_told[0] is recognizer else 0
        for note in all_notes[told:]:
            sentence = f"{note} Reading with {recognizer.name} instead."
            notes.append(sentence)
            reply.say(sentence, None)
        self._notes_told = (recognizer, len(all_notes))
