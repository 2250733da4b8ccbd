"""Orca says the new choice of a closed combo box changed with the arrow keys.

On a desktop with Orca 43 and speech-dispatcher (tests/desktop_session.py), the model setup
dialog and the settings dialog run in a child process (tests/combo_dialog_app.py) with the focus
on a combo box; Down (or Up on the last row) changes its choice without opening the list, and
speech-dispatcher's log must show Orca saying the new item's label.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.atspi_session import read_line, stop
from tests.desktop_session import DesktopSession, missing_binaries, normalise, wait_for
from tests.helpers import ROOT
from tests.journey_app import words_in_order

pytestmark = [pytest.mark.skipif(bool(missing_binaries() + [b for b in ("espeak-ng",) if shutil.which(b) is None]),
                                 reason=f"needs {', '.join(missing_binaries()) or 'espeak-ng'}"),
              pytest.mark.slow]

SPEECH_S = 30  # Orca on 2 busy cores


@pytest.fixture(scope="module")
def desktop(tmp_path_factory):
    session = DesktopSession.start(tmp_path_factory.mktemp("desktop"))
    yield session
    session.stop()


def _launch(desktop: DesktopSession, home: Path, which: str) -> subprocess.Popen:
    env = dict(desktop.env, XDG_CONFIG_HOME=str(home / "config"), XDG_CACHE_HOME=str(home / "cache"),
               XDG_DATA_HOME=str(home / "data"), PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    return subprocess.Popen([sys.executable, "-m", "tests.combo_dialog_app", which], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def _spoken(desktop: DesktopSession, mark: int, label: str) -> bool:
    return words_in_order(normalise(label), desktop.speech.text_since(mark))


@pytest.mark.parametrize("which", ["setup", "settings"])
def test_orca_says_the_new_choice_of_a_closed_combo_box(desktop, tmp_path, which):
    dialog = _launch(desktop, tmp_path, which)
    try:
        shown = json.loads(read_line(dialog, f"{which} dialog", timeout=60))
        items, current = shown["items"], shown["current"]
        assert len(items) > 1, items
        window = wait_for(lambda: desktop.find_window(shown["title"]), 30, f"the {shown['title']!r} window")
        mark = desktop.speech.mark()
        desktop.activate(int(window))
        wait_for(lambda: _spoken(desktop, mark, items[current]), SPEECH_S,
                 f"Orca to present the focused combo box with {items[current]!r}")

        key, row = ("Down", current + 1) if current + 1 < len(items) else ("Up", current - 1)
        mark = desktop.speech.mark()
        desktop.key(key)
        assert json.loads(read_line(dialog, f"{which} dialog")) == {"current": row}, \
            f"{key} did not change the choice"
        try:
            wait_for(lambda: _spoken(desktop, mark, items[row]), SPEECH_S,
                     f"Orca to say {items[row]!r} after {key}")
        except TimeoutError as exc:
            pytest.fail(f"{exc}; Orca said {desktop.speech.since(mark)}")
    finally:
        stop(dialog)
