"""The desktop app as a journey test runs it: its own settings and history, its log kept.

`AppRun.launch(session, home, settings)` writes settings.toml into a private XDG_CONFIG_HOME,
starts `python -m screensight -v` on the DesktopSession's display through tests.helpers.launch_app,
and keeps reading its log (stderr) on a thread, so the app never blocks on a full pipe and a
test can wait for a log line. `history()` reads SCREENSIGHT_HISTORY_LOG (every finished entry).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from tests.desktop_session import DesktopSession, normalise, wait_for
from tests.helpers import ROOT, launch_app

RATE = 16000
MAIN_TITLE = "ScreenSight"
SETUP_TITLE = "Set up the ScreenSight model"
READY_S = 40  # from start to "ui.app: ready" on 2 busy cores


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


def _children_named(history_log: str) -> list:
    """Our app processes (the ones started with this history log in their environment)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if f"SCREENSIGHT_HISTORY_LOG={history_log}".encode() in environ.split(b"\0"):
            found.append(_Pid(int(pid)))
    return found


def _say_on_stderr(pid: int, line: str) -> None:
    """Write a line into a process's stderr (its pipe, read by the test)."""
    try:
        with open(f"/proc/{pid}/fd/2", "w") as err:
            err.write(line + "\n")
    except OSError:
        pass


def _where_blocked(pid: int) -> str:
    """The kernel functions the process's threads sleep in (e.g. pipe_write), for a failure message."""
    waits = []
    for task in sorted(Path(f"/proc/{pid}/task").glob("*")):
        try:
            comm = (task / "comm").read_text().strip()
            waits.append(f"{comm}:{(task / 'wchan').read_text().strip()}")
        except OSError:
            continue
    try:
        fd2 = os.readlink(f"/proc/{pid}/fd/2")
    except OSError:
        fd2 = "?"
    pending = []
    for fd in os.listdir("/proc/self/fd"):
        if _link(f"/proc/self/fd/{fd}") == fd2:
            try:
                import fcntl
                import termios
                count = fcntl.ioctl(int(fd), termios.FIONREAD, b"\0\0\0\0")
                pending.append(f"fd {fd}: {int.from_bytes(count, 'little')} bytes unread")
            except OSError as exc:
                pending.append(f"fd {fd}: {exc}")
    return ", ".join(waits) + f"; its stderr is {fd2}; in the test: {pending}"


def _link(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


class _Pid:
    def __init__(self, pid: int) -> None:
        self.pid = pid

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass


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
        # launch_app reads the app's stderr until "ready" (its own deadline is longer): a watchdog
        # ends an app that hangs while starting, and launch_app then fails the test. The app can
        # also be ready without saying so on stderr: `import sounddevice` on one of its threads
        # points fd 2 at /dev/null while PortAudio starts (sounddevice._initialize), and a line
        # logged then is lost. Its log file still has the line; the watchdog then passes it on.
        started = threading.Event()
        hung: list[str] = []
        log_file = home / "cache" / "ScreenSight" / "logs" / "screensight.log"

        def watchdog() -> None:
            deadline = time.monotonic() + READY_S
            seen_at = None
            while not started.wait(0.1):
                ready_in_file = log_file.exists() and "ui.app: ready" in log_file.read_text(errors="replace")
                if ready_in_file and seen_at is None:
                    seen_at = time.monotonic()
                if seen_at is not None and time.monotonic() > seen_at + 3:
                    for proc in _children_named(full_env["SCREENSIGHT_HISTORY_LOG"]):
                        _say_on_stderr(proc.pid, "INFO ui.app: ready (lost on stderr; read from the log file)")
                    seen_at = float("inf")
                if time.monotonic() > deadline:
                    for proc in _children_named(full_env["SCREENSIGHT_HISTORY_LOG"]):
                        hung.append(_where_blocked(proc.pid))
                        proc.kill()
                    return

        threading.Thread(target=watchdog, name="app-start-watchdog", daemon=True).start()
        try:
            proc, ready = launch_app(full_env)
        except pytest.fail.Exception as exc:
            tail = log_file.read_text(errors="replace")[-3000:] if log_file.exists() else "(no log file)"
            why = (f"no 'ready' on its stderr within {READY_S} s, so the test ended it (its threads were in "
                   f"{hung})" if hung else "it exited")
            raise pytest.fail.Exception(f"{exc} - {why}; its log file:\n{tail}") from exc
        finally:
            started.set()
        return cls(proc, ready, home, full_env)

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)
            self._log.write(line)
            self._log.flush()
        self._log.close()

    # -- what the user got ---------------------------------------------------------------------

    @property
    def log_file(self) -> Path:
        """The app's own log file (INFO and up): complete even when a line on stderr was lost."""
        return self.home / "cache" / "ScreenSight" / "logs" / "screensight.log"

    def _file_text(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def log_text(self) -> str:
        return "".join(self.lines) + self._file_text()

    def log_tail(self, n: int = 40) -> str:
        return "".join(self.lines[-n:])

    def log_mark(self) -> tuple[int, int]:
        """A position in both logs: wait_log(..., mark) looks only at what came after it."""
        return len(self.lines), len(self._file_text())

    def wait_log(self, pattern: str, timeout: float, mark: tuple[int, int] = (0, 0)) -> re.Match:
        """The first line after `mark` (stderr, else the log file) that matches the regular expression."""
        regex = re.compile(pattern)

        def found():
            for text in ("".join(self.lines[mark[0]:]), self._file_text()[mark[1]:]):
                match = regex.search(text)
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

    def first_loud(self, start: float = 0.0, threshold: float = 0.01) -> float | None:
        """The position (seconds into the recording) of the first loud 20 ms block after start."""
        pcm = self.samples()[int(start * RATE):]
        block = RATE // 50
        blocks = pcm[: pcm.size // block * block].reshape(-1, block)
        if blocks.size == 0:
            return None
        loud = np.flatnonzero(np.sqrt((blocks ** 2).mean(axis=1)) > threshold)
        return start + loud[0] / 50 if loud.size else None

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)
        self._file.close()


def words_in_order(needle: str, haystack: str) -> bool:
    """True when every word of needle appears in haystack, in the same order (a subsequence)."""
    words = iter(haystack.split())
    return all(any(word == other for other in words) for word in needle.split())


# -- driving the app by keyboard ---------------------------------------------------------------


def _windows_titled(desktop: DesktopSession, title: str) -> list[tuple[int, int, int]]:
    """(id, width, height) of every window titled exactly `title`."""
    reply = desktop.xdotool("search", "--name", f"^{re.escape(title)}$", check=False)
    found = []
    for window in reply.stdout.split():
        geometry = desktop.xdotool("getwindowgeometry", window, check=False).stdout
        size = re.search(r"Geometry: (\d+)x(\d+)", geometry)
        if size:
            found.append((int(window), int(size.group(1)), int(size.group(2))))
    return found


def main_window(desktop: DesktopSession) -> int:
    """The ScreenSight main window (the tray icon has the same title but is icon-sized); 0 if none."""
    big = [w for w, width, _h in _windows_titled(desktop, MAIN_TITLE) if width > 100]
    return big[-1] if big else 0


def tray_icon(desktop: DesktopSession) -> int:
    """The app's icon docked in tint2's tray (WM_CLASS ScreenSight); 0 if none."""
    return desktop.tray_icon(MAIN_TITLE)


def tab_to(desktop: DesktopSession, spoken: str, presses: int = 12) -> None:
    """Press Tab until Orca names the control `spoken` (lower case words) as the focused one."""
    start = desktop.speech.mark()
    for _ in range(presses):
        before = desktop.speech.mark()
        desktop.key("Tab")
        said = wait_for(lambda b=before: [m for m in desktop.speech.since(b) if normalise(m) != "tab"], 10,
                        "Orca to speak the control that got the focus")
        if spoken in normalise(" ".join(said)):
            return
    raise AssertionError(f"Tab never reached {spoken!r}; Orca said {desktop.speech.since(start)[-10:]}")


def quit_from_tray(desktop: DesktopSession, clear_modifiers: bool = True, speech_required: bool = True) -> float:
    """Open the tray icon's menu (one right click: tint2's tray has no keyboard access) and choose
    Quit with the keyboard (Up selects the last entry, Quit, which Orca must say); returns the time
    Return was sent. (Orca 43 says nothing when the menu opens; it speaks the entry Up selects.)

    Right after a window closed, Orca sometimes stays silent on the first entries it is shown: as
    a user would, the menu is then closed with Escape and opened again, never moved past Quit.
    speech_required=False (the quit test, which measures quitting, not Orca): after three silent
    tries Return is pressed on the entry Up selected all the same."""
    icon = wait_for(lambda: tray_icon(desktop), 15, "the ScreenSight icon in the tray")
    mark = desktop.speech.mark()
    keys = ["key", "--clearmodifiers"] if clear_modifiers else ["key"]
    try:
        for attempt in range(3):
            _open_tray_menu(desktop, icon)
            desktop.xdotool(*keys, "Up")
            try:
                wait_for(lambda: "quit screensight" in desktop.speech.text_since(mark), 8,
                         "Orca to say 'Quit ScreenSight'")
                break
            except TimeoutError:
                if attempt == 2 and not speech_required:
                    break
                if attempt == 2:
                    raise
                _close_menu(desktop, keys)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; Orca said {desktop.speech.since(mark)[-8:]}") from exc
    desktop.xdotool(*keys, "Return")
    return time.monotonic()


def _close_menu(desktop: DesktopSession, keys: list[str]) -> None:
    """Close the open tray menu with Escape; where the menu did not get the keyboard (seen in two
    clean runs on 2 busy cores, right after a window hid: Escape, like Up before it, stayed
    unanswered), with a click outside it, as a user would."""
    closing = desktop.mapped_toplevels()
    desktop.xdotool(*keys, "Escape")
    try:
        wait_for(lambda: desktop.mapped_toplevels() != closing, 5, "the tray menu to close")
    except TimeoutError:
        desktop.xdotool("mousemove", "1", "1", "click", "1")
        wait_for(lambda: desktop.mapped_toplevels() != closing, 5,
                 "the tray menu to close (Escape, then a click outside it)")


def _open_tray_menu(desktop: DesktopSession, icon: int) -> None:
    before = desktop.mapped_toplevels()
    desktop.xdotool("mousemove", "--window", str(icon), "10", "10", "click", "3")
    try:
        wait_for(lambda: desktop.mapped_toplevels() - before, 5, "the tray menu to open")
    except TimeoutError:  # as a user would, click once more
        desktop.xdotool("mousemove", "--window", str(icon), "11", "11", "click", "3")
        wait_for(lambda: desktop.mapped_toplevels() - before, 5, "the tray menu to open (two right clicks)")


def quit_from_window(desktop: DesktopSession) -> float:
    """Switch to the ScreenSight window (as Alt+Tab would) and press Ctrl+Q; returns when it was sent."""
    window = wait_for(lambda: main_window(desktop), 10, "the ScreenSight window")
    desktop.activate(window)
    desktop.key("ctrl+q")
    return time.monotonic()
