"""Nothing is cut off and every window fits a 1280x800 screen, at 100 % and 200 % text scale."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import Services, start_xvfb

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not shutil.which("Xvfb"), reason="needs Xvfb")


@pytest.fixture(scope="module")
def small_display():
    services = Services()
    display = start_xvfb(services, "1280x800x24")
    yield display
    services.stop()


@pytest.mark.parametrize("scale", ["1", "2"])
def test_windows_fit_and_show_all_their_text(small_display, scale, tmp_path):
    env = dict(os.environ, DISPLAY=small_display, QT_SCALE_FACTOR=scale, PYTHONPATH=str(ROOT),
               XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "ui_scaling_probe.py")], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    results = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(results) >= 8  # main window, five settings pages, two setup dialogs
    problems = [r for r in results if not r["fits"] or r["cut_texts"]]
    assert problems == [], json.dumps(problems, indent=1)
