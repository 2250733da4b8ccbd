"""Small helpers shared by test modules: running the CLI as a user would, and test pictures."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def pixel_cache_off(model: Any) -> Iterator[Any]:
    """`model` (a models.vision.VisionLanguageModel) with its cache of encoded screenshots off inside:
    each encoder run asked for is counted, none is hidden by that cache; its size is restored after."""
    kept = model.pixel_cache_size
    model.set_pixel_cache_size(0)
    try:
        yield model
    finally:
        model.set_pixel_cache_size(kept)


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    """`python -m screensight ARGS` in a subprocess, from the repository root."""
    return subprocess.run([sys.executable, "-m", "screensight", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env or os.environ.copy())


def dialog_picture(path: Path, text: str, size: tuple[int, int] = (800, 500)) -> Path:
    """Save a simple dialog (a grey box with one line of text) as a PNG at `path`."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((50, 50, size[0] - 50, size[1] - 50), fill="lightgray", outline="black")
    draw.text((80, 80), text, fill="black")
    image.save(path)
    return path


def launch_app(env: dict[str, str], timeout: float = 180) -> tuple[subprocess.Popen, str]:
    """Start `python -m screensight -v` (the desktop app); once it says it is ready, return the
    process and that log line. Fails the test, saying what the app wrote, if it exits first or is
    not ready within `timeout` seconds."""
    app = subprocess.Popen([sys.executable, "-m", "screensight", "-v"], env=env, cwd=ROOT,
                           stderr=subprocess.PIPE, text=True)
    fd = app.stderr.fileno()
    seen, line = [], b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        readable, _, _ = select.select([fd], [], [], 0.5)
        if not readable:
            continue
        # One byte at a time: nothing after the ready line is taken from the pipe, so a caller
        # that goes on reading app.stderr gets every later line.
        byte = os.read(fd, 1)
        if not byte:  # the app closed its stderr: it ended
            break
        line += byte
        if byte == b"\n":
            text, line = line.decode(errors="replace"), b""
            if "ui.app: ready" in text:
                return app, text
            seen.append(text)
    if app.poll() is None:
        app.kill()
    tail = "".join(seen)[-3000:]
    pytest.fail(f"the app was not ready within {timeout:.0f} s (exit code {app.wait(10)}); it wrote:\n{tail}")


def invoice_screen() -> Image.Image:
    """A screen-like picture with a title bar and lines of text (900x560)."""
    image = Image.new("RGB", (900, 560), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((30, 30, 870, 90), fill="navy")
    draw.text((50, 50), "Invoice 2024-113: total due 418.20", fill="white")
    for row in range(6):
        draw.text((50, 130 + 60 * row), f"Line {row}: item and amount", fill="black")
    return image


def assert_encoder_matches(ours: Any, reference: Any, least: float = 0.999) -> None:
    """`ours` encodes invoice_screen() as the float32 `reference` model does (both
    models.vision.VisionLanguageModel), at the quick and the normal detail (several tiles, the
    edge ones padded): same shape, cosine above `least`."""
    import torch

    from models.vision import encoder_input

    for detail in ("quick", "normal"):
        fitted, kwargs = encoder_input(invoice_screen(), detail)
        inputs = reference.processor(text="<image>", images=[fitted], return_tensors="pt", **kwargs)
        with torch.inference_mode():
            got = ours.encode_image(inputs["pixel_values"], inputs.get("pixel_attention_mask"))
            want = reference.encode_image(inputs["pixel_values"], inputs.get("pixel_attention_mask"))
        assert got.shape == want.shape
        cosine = torch.nn.functional.cosine_similarity(got.flatten().float(), want.flatten(), dim=0)
        assert cosine > least, (detail, float(cosine))
