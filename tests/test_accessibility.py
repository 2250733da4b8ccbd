"""The app's accessibility tree as a screen reader sees it (AT-SPI): every focusable control
has a role and a name. Runs the real app with Qt's AT-SPI bridge on a private D-Bus session."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.atspi_session import private_env
from tests.helpers import launch_app

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = "/usr/bin/python3"

pytestmark = pytest.mark.skipif(
    not (shutil.which("dbus-daemon") and Path(SYSTEM_PYTHON).exists()
         and subprocess.run([SYSTEM_PYTHON, "-c", "import pyatspi"], capture_output=True).returncode == 0),
    reason="needs dbus-daemon, at-spi2-core and python3-pyatspi")

# Roles a focusable control may have without being a defect in itself.
UNNAMED_OK = {"scroll bar", "filler", "panel", "page tab list", "viewport", "unknown"}


@pytest.fixture
def session_bus():
    """A private D-Bus session bus (the AT-SPI bus is activated on it on demand)."""
    proc = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                            stdout=subprocess.PIPE, text=True, env=private_env())
    address = proc.stdout.readline().strip()
    assert address, "dbus-daemon gave no address"
    yield address
    subprocess.run(["pkill", "-P", str(proc.pid)], check=False)  # children it activated
    proc.terminate()
    proc.wait(10)


def _walk(env: dict, timeout: float = 30) -> dict:
    out = subprocess.run([SYSTEM_PYTHON, str(ROOT / "tests" / "ui_atspi_walk.py"), "ScreenSight",
                          str(timeout)], env=env, capture_output=True, text=True, timeout=timeout + 60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _walk_until_open(env: dict, wanted: tuple[tuple[str, str], ...], timeout: float = 60) -> dict:
    """The tree, walked again until the dialogs just opened are on the bus (each holds one of
    the (role, name) pairs in `wanted`); after `timeout` s the last walk, for the asserts to name."""
    deadline = time.monotonic() + timeout
    while True:
        tree = _walk(env)
        names = {(n["role"], n["name"]) for n in tree["nodes"]}
        if all(pair in names for pair in wanted) or time.monotonic() > deadline:
            return tree


def test_every_focusable_control_has_a_role_and_a_name(session_bus, tmp_path, tiny_vlm_dir):
    home = tmp_path / "home"
    (home / "config" / "ScreenSight").mkdir(parents=True)
    (home / "config" / "ScreenSight" / "settings.toml").write_text(f'vision_model = "{tiny_vlm_dir}"\n')
    env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=session_bus, QT_LINUX_ACCESSIBILITY_ALWAYS_ON="1",
               QT_ACCESSIBILITY="1", XDG_CONFIG_HOME=str(home / "config"),
               XDG_CACHE_HOME=str(home / "cache"), XDG_DATA_HOME=str(home / "data"),
               SCREENSIGHT_TTS="silent", SCREENSIGHT_HOTKEYS="manual", PYTHONPATH=str(ROOT))
    env.pop("AT_SPI_BUS_ADDRESS", None)
    app, _ready = launch_app(env)
    try:
        for action in ("settings", "setup-model"):
            subprocess.run([sys.executable, "-m", "screensight", "--trigger", action], env=env, cwd=ROOT,
                           check=True, capture_output=True, timeout=60)
        tree = _walk_until_open(env, (("page tab", "Hotkeys"), ("push button", "Download")))
    finally:
        subprocess.run([sys.executable, "-m", "screensight", "--trigger", "quit"], env=env, cwd=ROOT,
                       capture_output=True, timeout=60)
        try:
            app.wait(30)
        except subprocess.TimeoutExpired:
            app.kill()
    assert tree["found"], "ScreenSight did not appear on the AT-SPI bus"
    nodes = tree["nodes"]
    focusable = [n for n in nodes if n["focusable"]]
    problems = [n for n in focusable
                if n["role"] in ("", "unknown", "invalid", "error")
                or (not n["name"].strip() and n["role"] not in UNNAMED_OK)]
    assert problems == [], json.dumps(problems, indent=1)
    names = {(n["role"], n["name"]) for n in nodes}
    for expected in (("push button", "Describe window"), ("list", "History, newest first"),
                     ("text", "Question"), ("push button", "Stop speaking"),
                     ("combo box", "ScreenSight's own voice"), ("page tab", "Hotkeys"), ("push button", "Download"),
                     ("progress bar", "Download progress")):
        assert expected in names, f"{expected} is not in the accessibility tree"
    assert len(focusable) > 25
    # Text a screen reader must be able to read, not only a name: the status line and the
    # setup dialog's model details (Orca said nothing on them when they were labels).
    status = [n for n in nodes if n["name"] == "Status" and n["focusable"]]
    assert status and status[0]["text"], json.dumps(status)
    assert status[0]["text"].startswith(("Loading the model", "Ready."))
    details = [n for n in nodes if n["name"] == "What will be downloaded"]
    assert details and "MB" in (details[0]["text"] or ""), json.dumps(details)
