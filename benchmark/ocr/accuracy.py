"""Text recognition accuracy over a folder of NAME.png + NAME.txt pairs, per image, per category, per engine.

NAME.txt holds the ground truth: the text on the image, one line per visual line, in the order a person
reads it. An optional manifest.json maps NAME to tags ({"app": "chromium", "theme": "dark", "px": 11,
"lang": "de", "layout": "table"}); the categories of the report come from them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from base.errors import ScreenSightError
from benchmark.ocr.score import Score, score, zero

PER_LANGUAGE = ("Tesseract", "Windows OCR", "Apple Vision")  # engines made for one language
SMALL_PX = 12  # text of at most this many pixels counts as small
TARGETS = {"recall": 0.99, "precision": 0.99, "cer": 0.02}  # issue 11, UI screenshots at 100 %, 11-16 px


@dataclass(frozen=True)
class Sample:
    """One screenshot and the text the generator put on it."""

    name: str
    image: Path
    lines: tuple[str, ...]
    tags: dict[str, Any] = field(default_factory=dict)

    @property
    def language(self) -> str:
        return str(self.tags.get("lang", "en"))


@dataclass(frozen=True)
class ImageResult:
    """One engine on one sample: the score, the recognized lines and how long reading took."""

    sample: Sample
    score: Score
    lines: tuple[str, ...]
    seconds: float


def load_set(folder: Path) -> list[Sample]:
    """The folder's PNG + TXT pairs (sorted by name), with tags from manifest.json where it exists."""
    if not folder.is_dir():
        raise ScreenSightError(f"{folder} is not a folder.", "Give a folder of NAME.png + NAME.txt pairs.")
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
    samples = []
    for image in sorted(folder.glob("*.png")):
        truth = image.with_suffix(".txt")
        if truth.exists():
            lines = tuple(line for line in truth.read_text(encoding="utf-8").splitlines() if line.strip())
            samples.append(Sample(image.stem, image, lines, dict(manifest.get(image.stem, {}))))
    if not samples:
        raise ScreenSightError(f"{folder} holds no NAME.png + NAME.txt pairs.",
                               "Make the project's set with scripts/make_ocr_set.py.")
    return samples


def categories(tags: dict[str, Any]) -> list[str]:
    """The report categories one sample falls into: all, app, theme, text size, layout, language."""
    out = ["all"]
    for key in ("app", "theme", "px", "layout", "lang"):
        if key == "px" and isinstance(tags.get("px"), int | float):
            out.append("small text (<=12 px)" if tags["px"] <= SMALL_PX else "text 13-16 px")
        elif key in tags and key != "px":
            out.append(f"{key}={tags[key]}")
    return out


def evaluate(samples: Sequence[Sample], recognizer_for: Callable[[str], Any]) -> list[ImageResult]:
    """Reads every sample with the recognizer for its language and scores it."""
    results = []
    for sample in samples:
        recognizer = recognizer_for(sample.language)
        with Image.open(sample.image) as img:
            image = img.convert("RGB")
        start = time.monotonic()
        read = recognizer.read(image)
        seconds = time.monotonic() - start
        lines = tuple(line.text for line in read.lines)
        results.append(ImageResult(sample, score(sample.lines, lines), lines, seconds))
    return results


def by_category(results: Sequence[ImageResult]) -> dict[str, Score]:
    """Summed scores per category ("all" first)."""
    sums: dict[str, Score] = {}
    rank: dict[str, int] = {}
    for result in results:
        for place, name in enumerate(categories(result.sample.tags)):
            sums[name] = sums.get(name, zero()) + result.score
            rank.setdefault(name, place)
    return {name: sums[name] for name in sorted(sums, key=lambda n: (rank[n], n))}


def engine_report(engine: str, results: Sequence[ImageResult]) -> dict[str, Any]:
    """One engine's part of the JSON report."""
    overall = by_category(results)
    return {
        "engine": engine,
        "categories": {name: s.as_dict() for name, s in overall.items()},
        "targets": {k: {"target": v, "met": _met(k, getattr(overall["all"], k), v)} for k, v in TARGETS.items()},
        "images": [{"name": r.sample.name, "tags": r.sample.tags, **r.score.as_dict(),
                    "seconds": round(r.seconds, 3), "recognized": list(r.lines)} for r in results],
    }


def _met(key: str, value: float, target: float) -> bool:
    return value <= target if key == "cer" else value >= target


def recognizer_factory(engine: str | None) -> tuple[str, Callable[[str], Any]]:
    """The engine's name and a per-language recognizer maker (each loaded once)."""
    from assistant.text_recognition import default_registry

    registry = default_registry()
    first = registry.choose("en", engine).recognizer
    loaded: dict[str, Any] = {"en": first}

    def make(language: str) -> Any:
        if first.name not in PER_LANGUAGE:
            return first
        if language not in loaded:
            loaded[language] = registry.choose(language, first.name).recognizer
        return loaded[language]

    return first.name, make


def run(folder: Path, engines: Sequence[str | None]) -> dict[str, Any]:
    """The accuracy report of each engine (None: the default one) on the folder's set."""
    samples = load_set(folder)
    report: dict[str, Any] = {"data": str(folder), "images": len(samples), "engines": {}}
    for engine in engines:
        name, make = recognizer_factory(engine)
        report["engines"][name] = engine_report(name, evaluate(samples, make))
    return report


def format_table(report: dict[str, Any]) -> str:
    """Per engine and category: CER, word recall, word precision, order agreement (Kendall) and LCS ratio."""
    lines = [f"read-accuracy: {report['images']} images from {report['data']}"]
    for name, entry in report["engines"].items():
        lines += ["", f"{name:<28} images   CER  recall  precis  order    lcs  lines"]
        for cat, s in entry["categories"].items():
            count = sum(1 for img in entry["images"] if cat == "all" or cat in categories(img["tags"]))
            lines.append(f"  {cat:<26}{count:>6} {s['cer']:6.2%} {s['recall']:7.3f} {s['precision']:7.3f}"
                         f" {s['order']:6.3f} {s['lcs_ratio']:6.3f} {s['lines_found']:>3}/{s['truth_lines']}")
        verdicts = ", ".join(f"{k} {'ok' if v['met'] else 'MISSED'}" for k, v in entry["targets"].items())
        lines.append(f"  targets (all images): {verdicts}")
        worst = sorted(entry["images"], key=lambda img: img["cer"], reverse=True)[:3]
        lines.append("  worst CER: " + ", ".join(f"{img['name']} {img['cer']:.1%}" for img in worst))
    return "\n".join(lines)
