#!/usr/bin/env bash
# Creates .venv (Python 3.11+) and installs ScreenSight into it. Usage: venv.sh [EXTRAS]
set -euo pipefail
cd "$(dirname "$0")/.."
extras=${1:-}
py=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$py" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned (an unpinned resolve can pull a multi-GB CUDA build).
# Set PIP_INDEX_URL or PIP_EXTRA_INDEX_URL to a CPU-only torch index to keep the download small.
.venv/bin/python -m pip install -q "torch==2.13.0"
if [ -n "$extras" ]; then
  .venv/bin/python -m pip install -q -e ".[${extras}]"
else
  .venv/bin/python -m pip install -q -e .
fi
