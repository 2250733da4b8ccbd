"""The OpenMP wait policy the app sets before torch is imported (models.runtime)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROBE = ("import json, os; from models.runtime import prefer_passive_openmp; applies = prefer_passive_openmp(); "
         "import torch; print(json.dumps([applies, os.environ.get('OMP_WAIT_POLICY'), "
         "os.environ.get('GOMP_SPINCOUNT')]))")


def _policy(**env: str) -> list:
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env={**clean, **env}, check=True,
                         capture_output=True, text=True, timeout=120).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize(("env", "want"), [
    ({}, [True, "PASSIVE", "10000"]),                                   # the app's: a short spin, then sleep
    ({"GOMP_SPINCOUNT": "0"}, [True, "PASSIVE", "0"]),                  # the user's spin count wins
    ({"OMP_WAIT_POLICY": "ACTIVE"}, [False, "ACTIVE", None]),           # so does the user's policy
])
def test_idle_openmp_threads_spin_briefly_then_sleep_unless_the_user_said_otherwise(env, want):
    assert _policy(**env) == want
