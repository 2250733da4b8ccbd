#!/usr/bin/env bash
# Installs ScreenSight from this checkout and starts the desktop app.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/system-packages.sh runtime
scripts/venv.sh
exec .venv/bin/screensight "$@"
