"""Tesseract 5 through its command line (TSV output): words with boxes, confidences and line ids."""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass

from PIL import Image

from base.errors import TextRecognitionError

UPSCALE_BELOW = 2000  # images narrower than this are read at twice the size (small UI text reads better)
SCRIPT_CONFIDENCE = 1.0  # OSD's script confidence below this is a guess (0.0 on too little text)


@dataclass(frozen=True)
class TesseractWord:
    """One word from Tesseract's TSV: text, pixel box, confidence 0..1 and its (block, paragraph, line) id."""

    text: str
    box: tuple[int, int, int, int]
    confidence: float
    line: tuple[int, int, int]


def executable() -> str | None:
    """The tesseract program on PATH, or None."""
    return shutil.which("tesseract")


def installed_languages(program: str) -> tuple[str, ...]:
    """Tesseract's language packs (three-letter codes such as "deu")."""
    out = subprocess.run([program, "--list-langs"], capture_output=True, text=True, timeout=30, check=False)
    return tuple(line.strip() for line in out.stdout.splitlines()[1:] if line.strip())


def read_words(image: Image.Image, languages: str, program: str, psm: int = 3,
               timeout: float = 120) -> list[TesseractWord]:
    """Runs tesseract on the image and returns its words in the image's pixels."""
    scale = 2 if image.width < UPSCALE_BELOW else 1
    work = image.convert("RGB")
    if scale != 1:
        work = work.resize((image.width * scale, image.height * scale), Image.Resampling.LANCZOS)
    png = io.BytesIO()
    work.save(png, format="PNG")
    try:
        out = subprocess.run([program, "stdin", "stdout", "-l", languages, "--psm", str(psm), "tsv"],
                             input=png.getvalue(), capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TextRecognitionError(f"Tesseract could not read the image ({exc}).") from exc
    if out.returncode != 0:
        message = out.stderr.decode("utf-8", "replace").strip().splitlines()
        raise TextRecognitionError(f"Tesseract failed: {message[-1] if message else out.returncode}.")
    return parse_tsv(out.stdout.decode("utf-8", "replace"), scale)


def parse_tsv(tsv: str, scale: int = 1) -> list[TesseractWord]:
    """Word rows (level 5) of Tesseract's TSV, boxes divided by the scale the image was read at."""
    words = []
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5" or not cols[11].strip():
            continue
        left, top, width, height = (int(c) for c in cols[6:10])
        box = (left // scale, top // scale, -(-(left + width) // scale), -(-(top + height) // scale))
        words.append(TesseractWord(cols[11].strip(), box, max(float(cols[10]), 0.0) / 100,
                                   (int(cols[2]), int(cols[3]), int(cols[4]))))
    return words


def detect_script(image: Image.Image, program: str, timeout: float = 30) -> str | None:
    """The script Tesseract's orientation and script detection finds ("Cyrillic", "Latin"...), None when it
    finds too little text or is unsure. Small UI text is read at three times the size (it finds nothing at 1x)."""
    scale = 3 if image.width < UPSCALE_BELOW else 1
    work = image.convert("L")
    if scale != 1:
        work = work.resize((image.width * scale, image.height * scale), Image.Resampling.LANCZOS)
    png = io.BytesIO()
    work.save(png, format="PNG")
    try:
        out = subprocess.run([program, "stdin", "stdout", "--psm", "0"], input=png.getvalue(),
                             capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    fields = dict(line.split(":", 1) for line in out.stdout.decode("utf-8", "replace").splitlines() if ":" in line)
    try:
        sure = float(fields.get("Script confidence", "0")) >= SCRIPT_CONFIDENCE
    except ValueError:
        return None
    return (fields.get("Script") or "").strip() or None if sure else None
