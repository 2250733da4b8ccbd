"""Value types of recognized text: words, lines, blocks in reading order, and the whole result."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels of the recognized image (x1, y1 exclusive)


@dataclass(frozen=True)
class Word:
    """One word, its pixel box and confidence (0..1)."""

    text: str
    box: Box
    confidence: float


@dataclass(frozen=True)
class Line:
    """One run of text on a row (a detected text box): its words, box and confidence."""

    text: str
    box: Box
    confidence: float
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class TextBlock:
    """A region read as a unit (paragraph, toolbar, table): rows top to bottom, each row's lines left to right."""

    rows: tuple[tuple[Line, ...], ...]
    kind: str = "text"  # "text" or "table"

    @property
    def lines(self) -> tuple[Line, ...]:
        """The block's lines in reading order."""
        return tuple(line for row in self.rows for line in row)

    @property
    def box(self) -> Box:
        """The box around all of the block's lines."""
        return union([line.box for line in self.lines])

    def text(self) -> str:
        """Rows on their own lines; lines of one row (table cells, toolbar items) separated by two spaces."""
        return "\n".join("  ".join(line.text for line in row) for row in self.rows)


@dataclass(frozen=True)
class ReadStats:
    """What an engine returns when its blocks are done: text boxes it found, and those it could not read."""

    detected: int
    unreadable: int


@dataclass(frozen=True)
class RecognizedText:
    """Everything recognized in one image, in reading order."""

    blocks: tuple[TextBlock, ...]
    image_size: tuple[int, int]
    engine: str = ""
    notes: tuple[str, ...] = field(default=())  # what happened on the way (engine fallback, rotation)

    @property
    def lines(self) -> tuple[Line, ...]:
        """All lines in reading order."""
        return tuple(line for block in self.blocks for line in block.lines)

    @property
    def empty(self) -> bool:
        """True when no text was found."""
        return not self.blocks

    def text(self) -> str:
        """The text of all blocks, blocks separated by a blank line ("" when nothing was found)."""
        return "\n\n".join(block.text() for block in self.blocks)

    def find(self, word: str) -> list[Line]:
        """Lines containing the word or phrase (case and accents ignored), in reading order."""
        needle = fold(word)
        return [line for line in self.lines if needle and needle in fold(line.text)]

    def where(self, line: Line, image_size: tuple[int, int] | None = None) -> str:
        """Where a line is in the image (or in image_size), said for a person: "top left", "centre"..."""
        return where(line.box, image_size or self.image_size)


def fold(text: str) -> str:
    """Lower case without accents and with single spaces, for matching."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def where(box: Box, image_size: tuple[int, int]) -> str:
    """A box's place in thirds of the image: "top left", "top", "left", "centre", "bottom right"..."""
    width, height = image_size
    cx = (box[0] + box[2]) / 2 / max(width, 1)
    cy = (box[1] + box[3]) / 2 / max(height, 1)
    vertical = "top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else ""
    horizontal = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else ""
    return " ".join(p for p in (vertical, horizontal) if p) or "centre"


def union(boxes: list[Box]) -> Box:
    """The smallest box around all boxes ((0, 0, 0, 0) for none)."""
    if not boxes:
        return (0, 0, 0, 0)
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
