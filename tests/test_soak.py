"""A short soak in CI: describe + follow-up cycles must not grow memory, threads or open files.

The full run (300 cycles, RSS within 10 %) is `python scripts/soak.py`, on demand.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_short_soak_has_no_growth(tiny_vlm_dir):
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "soak.py"), "--cycles", "16", "--warmup", "6",
         "--tolerance", "0.25", "--tokens", "2", "--threads", "1", "--model", str(tiny_vlm_dir),
         "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode in (0, 1), out.stderr[-3000:]
    report = json.loads(out.stdout[out.stdout.index("{"):])
    assert report["failures"] == [], report["failures"]
    assert report["problems"] == [], report["problems"]
    assert report["ok"] and out.returncode == 0
    base, final = report["baseline"], report["final"]
    assert base["cycle"] == 6 and final["cycle"] == 16
    assert final["rss_mb"] <= base["rss_mb"] * 1.25
    assert final["fds"] <= base["fds"] and final["threads"] <= base["threads"]
    assert report["threads_after_close"] <= report["threads_before"]


def test_soak_check_flags_growth():
    sys.path.insert(0, str(ROOT))
    from scripts.soak import Report, Sample, check

    report = Report(cycles=300, warmup=20, tolerance=0.10)
    report.baseline = Sample(20, 500.0, 4, 9, 6, 1.0)
    report.final = Sample(300, 560.0, 5, 10, 7, 1.0)
    report.threads_before, report.threads_after_close = 1, 2
    check(report)
    assert len(report.problems) == 5 and not report.ok
    steady = Report(cycles=300, warmup=20, tolerance=0.10)
    steady.baseline = Sample(20, 500.0, 4, 9, 6, 1.0)
    steady.final = Sample(300, 549.0, 4, 9, 6, 1.0)
    check(steady)
    assert steady.ok
