"""End to end under the real Xvfb and PulseAudio: `screensight` as a user starts it.

A known window is on screen; xdotool presses the global describe key; the description must
enter the history (SCREENSIGHT_HISTORY_LOG) and be heard on the PulseAudio "speaker" sink
(espeak-ng through pyttsx3 and PortAudio); the stop key must silence it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import launch_app
from tests.ui_scene import TITLE

pytestmark = pytest.mark.skipif(
    not (shutil.which("xdotool") and shutil.which("parec") and os.environ.get("PULSE_RUNTIME_PATH")),
    reason="needs xdotool, parec and the test PulseAudio")

RATE = 16000
QUIET_WINDOW_S = 0.8  # longer than espeak-ng's pause between sentences
ROOT = Path(__file__).resolve().parent.parent


class SinkRecorder:
    """Records the "speaker" sink's monitor as raw 16-bit mono PCM."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("wb")
        self.proc = subprocess.Popen(["parec", "-d", "speaker.monitor", "--format=s16le",
                                      f"--rate={RATE}", "--channels=1", "--latency-msec=50"],
                                     stdout=self._file)

    def samples(self) -> np.ndarray:
        data = self.path.read_bytes()
        return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.float32) / 32768

    def loud_seconds(self, start: float = 0.0, threshold: float = 0.01) -> float:
        """Seconds of 20 ms blocks from `start` (seconds into the recording) above threshold RMS."""
        pcm = self.samples()[int(start * RATE):]
        block = RATE // 50
        blocks = pcm[: pcm.size // block * block].reshape(-1, block)
        if blocks.size == 0:
            return 0.0
        rms = np.sqrt((blocks ** 2).mean(axis=1))
        return float((rms > threshold).sum()) / 50

    def seconds(self) -> float:
        return self.samples().size / RATE

    def quiet_since(self, start: float, window: float) -> bool:
        """True once the last `window` seconds recorded, all after `start`, are quiet."""
        now = self.seconds()
        return now - start >= window and self.loud_seconds(start=now - window) == 0.0

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)
        self._file.close()


def _wait(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the app exited while waiting for {what}: {proc.returncode}")
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _focused_title() -> str:
    """The name of the X window that has the keyboard focus ("" when none has)."""
    out = subprocess.run(["xdotool", "getwindowfocus", "getwindowname"], capture_output=True, text=True)
    return out.stdout.strip()


def _entries(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


@pytest.fixture
def app_env(tmp_path, tiny_vlm_dir):
    home = tmp_path / "home"
    config = home / "config" / "ScreenSight"
    config.mkdir(parents=True)
    (config / "settings.toml").write_text(
        f'vision_model = "{tiny_vlm_dir}"\nquantize = false\noutput = "voice"\nrate = 160\n')
    env = dict(os.environ,
               XDG_CONFIG_HOME=str(home / "config"), XDG_CACHE_HOME=str(home / "cache"),
               XDG_DATA_HOME=str(home / "data"), SCREENSIGHT_HISTORY_LOG=str(tmp_path / "history.log"),
               SCREENSIGHT_MAX_TOKENS="40", PYTHONPATH=str(ROOT), SCREENSIGHT_HOTKEYS="pynput")
    env.pop("SCREENSIGHT_TTS", None)
    return env, tmp_path / "history.log"


def test_hotkey_describes_speaks_and_stops(app_env, tmp_path):
    env, log = app_env
    scene = subprocess.Popen([sys.executable, "-m", "tests.ui_scene"], env=env, cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
    assert scene.stdout.readline().strip() == "scene shown"
    app, ready = launch_app(env)
    recorder = SinkRecorder(tmp_path / "speaker.raw")
    try:
        assert "hotkeys: pynput" in ready
        # The app's window took the focus when it opened; the user goes back to their window.
        subprocess.run(["xdotool", "search", "--name", TITLE, "windowraise", "windowfocus"], check=True)
        _wait(lambda: _focused_title() == TITLE, 10, "the scene window to have the keyboard focus", app)
        assert recorder.loud_seconds() == 0.0

        subprocess.run(["xdotool", "key", "ctrl+alt+shift+d"], check=True)
        entry = _wait(lambda: [e for e in _entries(log) if e["status"] == "done"], 180,
                      "a description in the history", app)[0]
        assert entry["kind"] == "Active window"
        assert entry["capture"]["title"] == TITLE
        assert len(entry["answer"].split()) >= 3
        _wait(lambda: recorder.loud_seconds() >= 0.5, 60, "speech on the speaker sink", app)

        stopped_at = recorder.seconds()
        subprocess.run(["xdotool", "key", "ctrl+alt+shift+x"], check=True)
        # What was already in the audio pipeline drains: the sink goes quiet soon after the key.
        _wait(lambda: recorder.quiet_since(stopped_at, QUIET_WINDOW_S), 10, "silence after the stop key", app)
        quiet_from = recorder.seconds()
        # Then 1.5 s of recorded sound (the time the check listens, not a wait for an event).
        _wait(lambda: recorder.seconds() >= quiet_from + 1.5, 10, "1.5 s more of the speaker sink", app)
        assert recorder.loud_seconds(start=quiet_from) == 0.0, "speech went on after the stop key"
        assert app.poll() is None
    finally:
        recorder.stop()
        subprocess.run([sys.executable, "-m", "screensight", "--trigger", "quit"], env=env, cwd=ROOT,
                       capture_output=True, timeout=60)
        try:
            app.wait(30)
        except subprocess.TimeoutExpired:
            app.kill()
        scene.terminate()
        scene.wait(10)
    assert app.returncode == 0


def test_second_launch_brings_the_first_to_front(app_env):
    env, _log = app_env
    app, _ready = launch_app(env)
    try:
        second = subprocess.run([sys.executable, "-m", "screensight"], env=env, cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 0
        assert "already running" in second.stderr
        assert app.poll() is None
    finally:
        subprocess.run([sys.executable, "-m", "screensight", "--trigger", "quit"], env=env, cwd=ROOT,
                       capture_output=True, timeout=60)
        app.wait(30)
    assert app.returncode == 0, app.stderr.read()[-3000:]
