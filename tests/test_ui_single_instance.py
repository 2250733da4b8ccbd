"""Single instance: a second launch or `screensight --trigger` reaches the running app."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid

import pytest

from base.errors import ConfigError, ScreenSightError
from ui.single_instance import InstanceServer, send_trigger, server_name


@pytest.fixture
def server(qtbot):
    instance = InstanceServer(f"screensight-test-{uuid.uuid4().hex[:8]}")
    assert instance.listen()
    yield instance
    instance.close()


def _send_in_thread(action: str, name: str) -> dict:
    """send_trigger blocks, and the server answers from the Qt event loop: send from a thread."""
    outcome: dict = {}

    def run():
        try:
            outcome["ok"] = send_trigger(action, name)
        except ScreenSightError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    outcome["thread"] = thread
    return outcome


def test_trigger_reaches_the_running_instance(qtbot, server):
    with qtbot.waitSignal(server.triggered, timeout=5000) as signal:
        outcome = _send_in_thread("describe-window", server.name)
    qtbot.waitUntil(lambda: not outcome["thread"].is_alive(), timeout=5000)
    assert signal.args == ["describe-window"]
    assert outcome["ok"] is True


def test_a_second_server_with_the_same_name_does_not_listen(qtbot, server):
    second = InstanceServer(server.name)
    assert second.listen() is False


def test_unknown_action_is_refused_before_connecting():
    with pytest.raises(ConfigError) as info:
        send_trigger("make-coffee", "unused")
    assert "describe-window" in info.value.hint


def test_trigger_without_a_running_app_says_how_to_start_it():
    with pytest.raises(ScreenSightError) as info:
        send_trigger("show", f"screensight-none-{uuid.uuid4().hex[:8]}")
    assert "not running" in info.value.message
    assert "screensight" in info.value.hint


def test_the_cli_trigger_command_reaches_the_app(qtbot):
    server = InstanceServer()  # the real name, derived from this test session's config folder
    assert server.name == server_name()
    assert server.listen()
    try:
        with qtbot.waitSignal(server.triggered, timeout=30000) as signal:
            proc = subprocess.Popen([sys.executable, "-m", "screensight", "--trigger", "repeat-last"],
                                    env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        qtbot.waitUntil(lambda: proc.poll() is not None, timeout=30000)
        assert signal.args == ["repeat-last"]
        assert proc.returncode == 0, proc.stderr.read()
    finally:
        server.close()


def test_the_cli_trigger_without_app_fails_clearly():
    out = subprocess.run([sys.executable, "-m", "screensight", "--trigger", "describe-window"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "ScreenSight is not running" in out.stderr
