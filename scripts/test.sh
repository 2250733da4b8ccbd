#!/usr/bin/env bash
# Installs everything the tests need (system packages, .venv) and runs lint and the test suite.
# Arguments, if any, are passed to one pytest run instead (e.g. scripts/test.sh tests/test_cli.py).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/system-packages.sh test
scripts/venv.sh test
.venv/bin/ruff check assistant base benchmark models screensight ui tests packaging
# A private D-Bus session bus for AT-SPI; Xvfb and PulseAudio are started by tests/conftest.py.
# -rsx lists every skip and expected failure with its reason at the end of each run; on this
# machine, where this script installed every part, a skip fails the run (tests/conftest.py).
export SCREENSIGHT_NO_SKIPS=1
# A runtime folder of this run's own: the AT-SPI bus socket lives there, and another AT-SPI bus
# launcher on this machine (another run, a desktop session) cannot delete it.
XDG_RUNTIME_DIR=$(mktemp -d)
export XDG_RUNTIME_DIR
pytest=(dbus-run-session -- .venv/bin/python -m pytest -q -rsx -p no:cacheprovider)
if [ $# -gt 0 ]; then
  exec "${pytest[@]}" "$@"
fi
# pyttsx3 keeps one espeak-ng state per process (one synth callback, one rate): real speech
# engines made by earlier tests can disturb later ones, so the modules that make them run in
# processes of their own.
own_process=(tests/test_tts.py tests/test_speaker.py tests/test_faults.py tests/test_privacy.py)
ignore=()
for module in "${own_process[@]}"; do ignore+=("--ignore=$module"); done
"${pytest[@]}" "${ignore[@]}" tests
for module in "${own_process[@]}"; do
  "${pytest[@]}" "$module"
done
