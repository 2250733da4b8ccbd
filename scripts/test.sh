#!/usr/bin/env bash
# Installs everything the tests need (system packages, .venv) and runs lint and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/system-packages.sh test
scripts/venv.sh test
.venv/bin/ruff check assistant models ui tests packaging
# A private D-Bus session bus for AT-SPI; Xvfb and PulseAudio are started by tests/conftest.py.
exec dbus-run-session -- .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
