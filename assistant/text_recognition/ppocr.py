"""The default engine: PP-OCRv6 (models/ocr_ppocr.py) with reading order, orientation and streaming."""

from __future__ import annotations

import threading
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from assistant.reading_order import reading_order
from assistant.text_recognition.base import PPOCR_LANGUAGES, TextRecognizer, cancelled
from assistant.text_recognition.types import Box, Line, ReadStats, TextBlock, Word

if TYPE_CHECKING:
    from models.ocr_ppocr import RecognizedLine

MIN_CONFIDENCE = 0.5  # lines below this are dropped rather than read out as invented text
DOUBT = 0.75  # a sample this unsure is tried upside down too
SAMPLE = 4  # boxes recognized to decide the orientation
INK = 48  # grey-level distance from a crop's background that counts as ink
OUTLINE = 0.9  # share of each side of an outline rectangle (a terminal's hollow cursor) that is ink


class PPOCRRecognizer(TextRecognizer):
    """PP-OCR through ONNX Runtime: Latin-script languages and Chinese, models shipped in a wheel."""

    name = "PP-OCR"
    languages = PPOCR_LANGUAGES

    def __init__(self, threads: int = 2, model_dir: str | None = None) -> None:
        from pathlib import Path

        from models.ocr_ppocr import PPOCR

        self._ocr = PPOCR(Path(model_dir) if model_dir else None, threads=threads)

    def recognize(self, image: Image.Image, cancel: threading.Event | None = None
                  ) -> Generator[TextBlock, None, ReadStats | None]:
        """Detects all boxes, orders them, then recognizes and yields one block at a time; returns how many
        boxes it found and how many of those it could not read (None when cancelled)."""
        if cancelled(cancel):
            return
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        boxes = [d.box for d in self._ocr.detect(rgb)]
        if not boxes or cancelled(cancel):
            return None if boxes else ReadStats(0, 0)
        angle = self._orientation(rgb, boxes)
        work = rgb
        if angle:
            work = rgb.rotate(angle, expand=True)
            boxes = [d.box for d in self._ocr.detect(work)]
        unreadable = 0
        for block in reading_order(boxes):
            if cancelled(cancel):
                return None
            flat = [i for row in block.rows for i in row]
            recognized = dict(zip(flat, self._ocr.recognize(work, [boxes[i] for i in flat]), strict=True))
            rows = []
            for row in block.rows:
                texts = [recognized[i] for i in row if not _is_outline(work, recognized[i])]
                lines = [_line(result, angle, work.size) for result in texts]
                kept = tuple(line for line in lines if line is not None)
                unreadable += len(lines) - len(kept)
                if kept:
                    rows.append(kept)
            if rows:
                yield TextBlock(tuple(rows), block.kind)
        return ReadStats(len(boxes), unreadable)

    def _orientation(self, image: Image.Image, boxes: Sequence[Box]) -> int:
        """0, or the rotation (90, 180, 270 degrees counter-clockwise) that makes a sample of lines readable."""
        sample = sorted(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)[:SAMPLE]
        tall = sum(1 for b in boxes if (b[3] - b[1]) > 2 * (b[2] - b[0]))
        candidates = [90, 270] if tall > 0.6 * len(boxes) else [0]
        scores = {a: self._sample_confidence(image, sample, a) for a in candidates}
        if candidates == [0] and scores[0] >= DOUBT:
            return 0
        if candidates == [0]:
            scores[180] = self._sample_confidence(image, sample, 180)
        best = max(scores, key=lambda a: scores[a])
        return best if scores[best] > scores.get(0, 0.0) + 0.1 else 0

    def _sample_confidence(self, image: Image.Image, sample: Sequence[Box], angle: int) -> float:
        """Mean recognition confidence of the sample boxes with each crop turned by the angle."""
        crops = [image.crop(b).rotate(angle, expand=True) for b in sample]
        results = [self._ocr.recognize(crop, [(0, 0, crop.width, crop.height)])[0] for crop in crops]
        return sum(r.confidence for r in results) / max(len(results), 1)


def _line(result: RecognizedLine, angle: int, size: tuple[int, int]) -> Line | None:
    """A recognized box as a Line with word boxes, in the original image's pixels (None when unsure)."""
    if result.confidence < MIN_CONFIDENCE or not result.text.strip():
        return None
    box = result.box
    half = (box[2] - box[0]) / max(len(result.text), 1) / 2
    words: list[Word] = []
    start = None
    for k, char in enumerate(result.text + " "):
        if char != " " and start is None:
            start = k
        elif char == " " and start is not None:
            x0 = max(box[0], round(result.char_x[start] - half)) if start < len(result.char_x) else box[0]
            x1 = min(box[2], round(result.char_x[k - 1] + half)) if k - 1 < len(result.char_x) else box[2]
            words.append(Word(result.text[start:k], _unrotate((x0, box[1], x1, box[3]), angle, size),
                              result.confidence))
            start = None
    return Line(" ".join(w.text for w in words), _unrotate(box, angle, size), result.confidence, tuple(words))


def _is_outline(image: Image.Image, result: RecognizedLine) -> bool:
    """True for a one-character line whose ink is a hollow rectangle (an unfocused terminal cursor read as 0)."""
    if len(result.text.strip()) != 1:
        return False
    grey = np.asarray(image.crop(result.box).convert("L"), dtype=np.int16)
    ink = np.abs(grey - int(np.median(grey))) > INK
    ink[:, ink.mean(axis=0) > 0.95] = False  # a window border the box runs along is no part of the glyph
    ink[ink.mean(axis=1) > 0.95, :] = False
    ys, xs = np.nonzero(ink)
    if len(ys) == 0:
        return False
    box = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    if min(box.shape) < 5:
        return False
    sides = (box[0].mean(), box[-1].mean(), box[:, 0].mean(), box[:, -1].mean())
    return min(sides) >= OUTLINE and box[2:-2, 2:-2].mean() < 1 - OUTLINE


def _unrotate(box: Box, angle: int, size: tuple[int, int]) -> Box:
    """A box in an image rotated counter-clockwise by angle (of the given size) mapped back to the original."""
    x0, y0, x1, y1 = box
    w, h = size
    if angle == 90:  # PIL turns counter-clockwise: original (x, y) lands on (y, W - x)
        return (h - y1, x0, h - y0, x1)
    if angle == 180:
        return (w - x1, h - y1, w - x0, h - y0)
    if angle == 270:  # original (x, y) lands on (H - y, x)
        return (y0, w - x1, y1, w - x0)
    return box
