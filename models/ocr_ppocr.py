"""PP-OCRv6 text detection and recognition through ONNX Runtime, with numpy/PIL pre- and post-processing."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from base.errors import TextRecognitionError

DET_FILE = "PP-OCRv6_det_small.onnx"
REC_FILE = "PP-OCRv6_rec_small.onnx"
REC_HEIGHT = 48
TILE = 1536  # detection runs on tiles of at most this side, so memory stays bounded
TILE_OVERLAP = 96
MAX_PIXELS = 36_000_000  # larger images are downscaled first (an 8K screen is 33 Mpx)
MIN_SIDE = 8  # no readable text fits in fewer pixels
INK_STEP = 16  # grey-level step between neighbouring pixels that counts as an edge (text, borders)
CROP_PAD = 16  # pixels kept around the content so the detector sees each line's surroundings
CROP_MIN_GAIN = 0.9  # crop only when the content box is smaller than this share of the image
BATCH_SPREAD = 1.5  # a recognition batch holds crops at most this much wider than its narrowest one
# A batch's crops together at most this wide (pixels at the 48 px height): the recognizer's activations grow
# with batch x width, and 8 long lines of a 900x600 window in one batch took +386 MB against +70 MB one by one
# (measured; as fast within noise, the same text), beside the vision encoder's own peak.
BATCH_WIDTH = 2400

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels of the image given (x1, y1 exclusive)


@dataclass(frozen=True)
class DetectedBox:
    """One text region found by the detector: pixel box and detector score."""

    box: Box
    score: float


@dataclass(frozen=True)
class RecognizedLine:
    """The text in one box (unstripped), its mean character confidence and each character's x centre in pixels."""

    box: Box
    text: str
    confidence: float
    char_x: tuple[float, ...]


def bundled_model_dir() -> Path:
    """The folder of the PP-OCR ONNX files shipped in the rapidocr wheel, found without importing it."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        raise TextRecognitionError(
            "The PP-OCR text recognition models are not installed.",
            hint="Reinstall ScreenSight (its rapidocr dependency carries the model files).",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class PPOCR:
    """The two ONNX sessions (detector, recognizer) and the character list; thread-safe for one caller."""

    def __init__(self, model_dir: Path | None = None, threads: int = 2, upscale: float = 1.0) -> None:
        import onnxruntime as ort

        folder = model_dir or bundled_model_dir()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.enable_cpu_mem_arena = False  # the arena keeps the peak of a huge image for the process's life
        options.log_severity_level = 3
        try:
            self._det = ort.InferenceSession(str(folder / DET_FILE), options, providers=["CPUExecutionProvider"])
            self._rec = ort.InferenceSession(str(folder / REC_FILE), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors for bad files
            raise TextRecognitionError(f"The PP-OCR models in {folder} could not be loaded ({exc}).") from exc
        characters = self._rec.get_modelmeta().custom_metadata_map.get("character", "").splitlines()
        self._classes = ["", *characters, " "]
        self._upscale = upscale
        self._lock = threading.Lock()

    def detect(self, image: Image.Image) -> list[DetectedBox]:
        """Text boxes of an image, in its own pixel coordinates (tiled and bounded in memory)."""
        if min(image.size) < MIN_SIDE:
            return []
        scale = self._upscale
        if image.width * image.height * scale * scale > MAX_PIXELS:
            scale = (MAX_PIXELS / (image.width * image.height)) ** 0.5
        work = image if scale == 1.0 else image.resize(
            (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.BILINEAR
        )
        content = content_box(work)
        if content is None:
            return []  # a uniform image (black screen, empty page) has no text to find
        work = work.crop(content) if content != (0, 0, work.width, work.height) else work
        boxes: list[DetectedBox] = []
        for left, top, tile in _tiles(work):
            left, top = left + content[0], top + content[1]
            for found in self._detect_tile(tile):
                x0, y0, x1, y1 = found.box
                boxes.append(DetectedBox(_scaled((x0 + left, y0 + top, x1 + left, y1 + top), 1 / scale, image.size),
                                         found.score))
        return _merge_overlaps(boxes)

    def recognize(self, image: Image.Image, boxes: Sequence[Box], batch: int = 8) -> list[RecognizedLine]:
        """The text of each box (same order as given), batched by similar widths."""
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        crops = [_rec_crop(rgb, box) for box in boxes]
        results: list[RecognizedLine | None] = [None] * len(crops)
        for chunk in _batches([c.width for c in crops], batch):
            width = max(crops[i].width for i in chunk)
            tensor = np.zeros((len(chunk), 3, REC_HEIGHT, width), dtype=np.float32)
            for row, i in enumerate(chunk):
                tensor[row, :, :, : crops[i].width] = _normalize(crops[i])
            with self._lock:
                probs = self._rec.run(None, {"x": tensor})[0]
            for row, i in enumerate(chunk):
                results[i] = self._decode(probs[row], boxes[i], width, crops[i].width)
        return [r for r in results if r is not None]

    def _detect_tile(self, tile: Image.Image) -> list[DetectedBox]:
        """DB detection on one tile: probability map, connected regions, score filter, unclip."""
        width, height = tile.size
        pad_w, pad_h = -(-max(width, 32) // 32) * 32, -(-max(height, 32) // 32) * 32
        arr = np.asarray(tile.convert("RGB"), dtype=np.float32)
        if float(arr.std()) < 1.0:
            return []  # a uniform tile (black screen, empty page) has no text to find
        # padded with its own edge pixels: a grey band beside a cropped margin shifts the boxes near it
        arr = np.pad(arr, ((0, pad_h - height), (0, pad_w - width), (0, 0)), mode="edge")
        tensor = ((arr / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[np.newaxis].copy()
        del arr
        with self._lock:
            pred = self._det.run(None, {"x": tensor})[0][0, 0, :height, :width]
        mask = pred > 0.3
        mask[1:, :] |= mask[:-1, :]  # the 2x2 dilation of PaddleOCR's DB post-processing
        mask[:, 1:] |= mask[:, :-1]
        found = []
        for x0, y0, x1, y1 in _components(mask):
            w, h = x1 - x0, y1 - y0
            if min(w, h) < 3:
                continue
            score = float(pred[y0:y1, x0:x1][mask[y0:y1, x0:x1]].mean())
            if score < 0.5:
                continue
            grow = w * h * 1.6 / (2 * (w + h))  # pyclipper's unclip distance for a rectangle
            box = _scaled((x0 - grow, y0 - grow, x1 + grow, y1 + grow), 1.0, (width, height))
            if min(box[2] - box[0], box[3] - box[1]) >= 5:
                found.append(DetectedBox(box, score))
        return found

    def _decode(self, probs: np.ndarray, box: Box, padded: int, used: int) -> RecognizedLine:
        """Greedy CTC decoding with each kept character's x centre mapped back to the image."""
        best = probs.argmax(axis=1)
        keep = best != 0
        keep[1:] &= best[1:] != best[:-1]
        steps = np.nonzero(keep)[0]
        text = "".join(self._classes[k] if k < len(self._classes) else "" for k in best[steps])
        confidence = float(probs[steps, best[steps]].mean()) if len(steps) else 0.0
        step_px = padded / probs.shape[0] * (box[2] - box[0]) / max(used, 1)
        char_x = tuple(float(box[0] + (s + 0.5) * step_px) for s in steps)
        return RecognizedLine(box, text, confidence, char_x)


def _batches(widths: Sequence[int], size: int, budget: int | None = None) -> list[list[int]]:
    """Indices grouped by similar width (a short line padded to a long one's width loses its word gaps), at
    most `size` of them and, padded to the widest, at most `budget` (BATCH_WIDTH) pixels wide together."""
    budget = BATCH_WIDTH if budget is None else budget
    chunks: list[list[int]] = []
    for i in sorted(range(len(widths)), key=lambda j: widths[j]):
        if chunks and len(chunks[-1]) < size and widths[i] <= BATCH_SPREAD * widths[chunks[-1][0]] + REC_HEIGHT \
                and (len(chunks[-1]) + 1) * widths[i] <= budget:
            chunks[-1].append(i)
        else:
            chunks.append([i])
    return chunks


def content_box(image: Image.Image) -> Box | None:
    """The box around everything but uniform margins and window border lines, padded; None when uniform."""
    grey = np.asarray(image.convert("L"), dtype=np.int16)
    cols = _content_span(np.abs(np.diff(grey, axis=1)) >= INK_STEP)  # vertical edges bound the columns
    rows = _content_span((np.abs(np.diff(grey, axis=0)) >= INK_STEP).T)  # horizontal edges bound the rows
    if cols is None or rows is None:
        return None
    box = (max(cols[0] - CROP_PAD, 0), max(rows[0] - CROP_PAD, 0),
           min(cols[1] + CROP_PAD, image.width), min(rows[1] + CROP_PAD, image.height))
    if (box[2] - box[0]) * (box[3] - box[1]) >= CROP_MIN_GAIN * image.width * image.height:
        return (0, 0, image.width, image.height)
    return box


def _content_span(edge: np.ndarray) -> tuple[int, int] | None:
    """First and last (exclusive) column of an edge mask holding edges, leaving out thin lines that run most of
    the height (window borders); the mask's column k is the step between pixels k and k + 1."""
    used = edge.any(axis=0)
    padded = np.concatenate(([False], used, [False])).astype(np.int8)
    starts = np.nonzero(np.diff(padded) == 1)[0]
    ends = np.nonzero(np.diff(padded) == -1)[0]
    kept = [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)
            if b - a > 4 or edge[:, a:b].any(axis=1).sum() < 0.5 * edge.shape[0]]
    return (kept[0][0], kept[-1][1] + 1) if kept else None


def _tiles(image: Image.Image) -> list[tuple[int, int, Image.Image]]:
    """Overlapping tiles covering the image (one tile when it is small enough)."""
    if image.width <= TILE and image.height <= TILE:
        return [(0, 0, image)]
    step = TILE - TILE_OVERLAP
    return [
        (x, y, image.crop((x, y, min(x + TILE, image.width), min(y + TILE, image.height))))
        for y in range(0, max(image.height - TILE_OVERLAP, 1), step)
        for x in range(0, max(image.width - TILE_OVERLAP, 1), step)
    ]


def _merge_overlaps(boxes: list[DetectedBox]) -> list[DetectedBox]:
    """Joins boxes found twice where tiles overlap (same text line, boxes intersecting)."""
    merged: list[DetectedBox] = []
    for cand in sorted(boxes, key=lambda b: (b.box[1], b.box[0])):
        for i, kept in enumerate(merged):
            a, b = kept.box, cand.box
            inter_h = min(a[3], b[3]) - max(a[1], b[1])
            if inter_h > 0.6 * min(a[3] - a[1], b[3] - b[1]) and min(a[2], b[2]) > max(a[0], b[0]):
                merged[i] = DetectedBox((min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])),
                                        max(kept.score, cand.score))
                break
        else:
            merged.append(cand)
    return merged


def _components(mask: np.ndarray) -> list[Box]:
    """Bounding boxes of the 8-connected regions of a boolean mask (run-length union-find)."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    diff = np.diff(padded, axis=1)
    start_r, start_c = np.nonzero(diff == 1)
    _, end_c = np.nonzero(diff == -1)
    runs = len(start_r)
    if runs == 0:
        return []
    parent = list(range(runs))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    row_first = np.searchsorted(start_r, np.arange(mask.shape[0] + 1))
    for r in range(1, mask.shape[0]):
        a, a_end = row_first[r - 1], row_first[r]
        b, b_end = row_first[r], row_first[r + 1]
        while a < a_end and b < b_end:
            if start_c[b] <= end_c[a] and start_c[a] <= end_c[b]:  # touching, diagonals included
                ra, rb = root(a), root(b)
                if ra != rb:
                    parent[rb] = ra
            if end_c[a] < end_c[b]:
                a += 1
            else:
                b += 1
    labels = np.array([root(i) for i in range(runs)])
    boxes = []
    for label in np.unique(labels):
        sel = labels == label
        boxes.append((int(start_c[sel].min()), int(start_r[sel].min()), int(end_c[sel].max()),
                      int(start_r[sel].max()) + 1))
    return boxes


def _scaled(box: tuple[float, float, float, float], factor: float, size: tuple[int, int]) -> Box:
    """A box multiplied by a factor, rounded and clipped to an image size."""
    w, h = size
    return (int(min(max(round(box[0] * factor), 0), w)), int(min(max(round(box[1] * factor), 0), h)),
            int(min(max(round(box[2] * factor), 0), w)), int(min(max(round(box[3] * factor), 0), h)))


def _rec_crop(image: Image.Image, box: Box) -> Image.Image:
    """The box cut from the image and resized to the recognizer's height, keeping its aspect."""
    crop = image.crop(box)
    width = max(1, min(round(crop.width * REC_HEIGHT / max(crop.height, 1)), 3200))
    return crop.resize((width, REC_HEIGHT), Image.Resampling.BILINEAR)


def _normalize(crop: Image.Image) -> np.ndarray:
    """HWC uint8 to CHW floats in [-1, 1]."""
    return ((np.asarray(crop, dtype=np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)
