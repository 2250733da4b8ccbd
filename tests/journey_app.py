"""The desktop app as a journey test runs it: its own settings and history, its log kept.

`AppRun.launch(session, home, settings)` writes settings.toml into a private XDG_CONFIG_HOME,
starts `python -m assistant -v` on the DesktopSession's display through tests.helpers.launch_app,
and keeps reading its log (stderr) on a thread, so the app never blocks on a full pipe and a
test can wait for a log line. `history()` reads SCREENSIGHT_HISTORY_LOG (every finished entry).
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tomli_w

from tests.desktop_session import DesktopSession, wait_for
from tests.helpers import ROOT, launch_app

RATE = 16000
MAIN_TITLE = "ScreenSight"
SETUP_TITLE = "Set up the ScreenSight model"


def write_settings(home: Path, **settings: object) -> Path:
    """settings.toml for an app whose XDG_CONFIG_HOME is home/config."""
    path = home / "config" / "ScreenSight" / "settings.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tomli_w.dumps(settings).encode())
    return path


def app_env(session: DesktopSession, home: Path, **extra: str) -> dict[str, str]:
    """The environment of an app on the session's desktop with private folders under home."""
    env = dict(session.env, XDG_CONFIG_HOME=str(home / "config"), XDG_CACHE_HOME=str(home / "cache"),
               XDG_DATA_HOME=str(home / "data"), SCREENSIGHT_HISTORY_LOG=str(home / "history.log"),
               PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    for name in ("SCREENSIGHT_TTS", "SCREENSIGHT_TTS_WAV", "SCREENSIGHT_HOTKEYS", "SCREENSIGHT_MAX_TOKENS"):
        env.pop(name, None)
    env.update(extra)
    return env


class AppRun:
    """One run of the app; its stderr lines are collected in `lines` (and app.log in home)."""

    def __init__(self, proc: subprocess.Popen, ready: str, home: Path, env: dict[str, str]) -> None:
        self.proc = proc
        self.home = home
        self.env = env
        self.lines: list[str] = [ready]
        self.history_log = Path(env["SCREENSIGHT_HISTORY_LOG"])
        self.settings_path = home / "config" / "ScreenSight" / "settings.toml"
        self._log = (home / "app.log").open("a", encoding="utf-8")
        self._log.write(ready)
        self._reader = threading.Thread(target=self._read, name="app-stderr", daemon=True)
        self._reader.start()

    @classmethod
    def launch(cls, session: DesktopSession, home: Path, settings: dict | None = None,
               **env: str) -> AppRun:
        home.mkdir(parents=True, exist_ok=True)
        if settings is not None:
            write_settings(home, **settings)
        full_env = app_env(session, home, **env)
        proc, ready = launch_app(full_env)
        return cls(proc, ready, home, full_env)

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)
            self._log.write(line)
            self._log.flush()
        self._log.close()

    # -- what the user got ---------------------------------------------------------------------

    def log_text(self) -> str:
        return "".join(self.lines)

    def log_tail(self, n: int = 40) -> str:
        return "".join(self.lines[-n:])

    def wait_log(self, pattern: str, timeout: float, start: int = 0) -> re.Match:
        """The first log line from index `start` on that matches the regular expression."""
        regex = re.compile(pattern)

        def found():
            for line in self.lines[start:]:
                match = regex.search(line)
                if match:
                    return match
            return None

        return wait_for(found, timeout, f"the app to log {pattern!r}", self.proc)

    def history(self) -> list[dict]:
        if not self.history_log.exists():
            return []
        return [json.loads(line) for line in self.history_log.read_text().splitlines() if line.strip()]

    def wait_entry(self, after: int, timeout: float,
                   accept: Callable[[dict], bool] = lambda e: e.get("status") != "working") -> dict:
        """The first finished history entry after the first `after` ones."""
        def found():
            for entry in self.history()[after:]:
                if accept(entry):
                    return entry
            return None

        return wait_for(found, timeout, "a new entry in the history", self.proc)

    # -- ending --------------------------------------------------------------------------------

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait_exit(self, timeout: float) -> float | None:
        """Seconds until the process exited (None when it still runs after `timeout`)."""
        start = time.monotonic()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return time.monotonic() - start

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reader.join(5)


class SinkRecorder:
    """Records a PulseAudio sink's monitor as 16-bit mono PCM at 16 kHz (a file under `path`)."""

    def __init__(self, path: Path, sink: str, env: dict[str, str]) -> None:
        self.path = path
        self._file = path.open("wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(["parec", "-d", f"{sink}.monitor", "--format=s16le", f"--rate={RATE}",
                                      "--channels=1", "--latency-msec=30"], stdout=self._file, env=env)

    def samples(self) -> np.ndarray:
        data = self.path.read_bytes()
        return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.float32) / 32768

    def seconds(self) -> float:
        """Seconds recorded so far (the position of 'now' in the recording)."""
        return self.samples().size / RATE

    def loud_seconds(self, start: float = 0.0, end: float | None = None, threshold: float = 0.01) -> float:
        """Seconds of 20 ms blocks between start and end (seconds into the recording) above threshold."""
        pcm = self.samples()
        pcm = pcm[int(start * RATE): None if end is None else int(end * RATE)]
        block = RATE // 50
        blocks = pcm[: pcm.size // block * block].reshape(-1, block)
        if blocks.size == 0:
            return 0.0
        rms = np.sqrt((blocks ** 2).mean(axis=1))
        return float((rms > threshold).sum()) / 50

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)
        self._file.close()


def words_in_order(needle: str, haystack: str) -> bool:
    """True when every word of needle appears in haystack, in the same order (a subsequence)."""
    words = iter(haystack.split())
    return all(any(word == other for other in words) for word in needle.split())
