"""The test session really has a display and a sound server."""

import os
import subprocess


def test_display_is_up():
    assert os.environ.get("DISPLAY")
    out = subprocess.run(["xdpyinfo"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "1920x1080" in out.stdout


def test_pulseaudio_has_null_sinks():
    out = subprocess.run(["pactl", "list", "short", "sinks"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "speaker" in out.stdout and "mic" in out.stdout
