"""Small helpers shared by test modules: running the CLI as a user would, and test pictures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent


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


def launch_app(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """Start `python -m screensight -v` (the desktop app); once it says it is ready, return the
    process and that log line."""
    app = subprocess.Popen([sys.executable, "-m", "screensight", "-v"], env=env, cwd=ROOT,
                           stderr=subprocess.PIPE, text=True)
    for line in app.stderr:
        if "ui.app: ready" in line:
            return app, line
    pytest.fail(f"the app did not start (exit code {app.wait(10)})")
