"""Whether the platform's accessibility announcements reach a running screen reader.

Qt 6.8+ turns QAccessibleAnnouncementEvent into a UIA notification on Windows (Narrator and
other UIA readers), an NSAccessibility announcement on macOS (VoiceOver), and an AT-SPI
`Announcement` signal on Linux, which only at-spi2-core 2.50+ and Orca 46+ handle. at-spi2-core
reports no version at run time, so on Linux the running Orca's version stands for the stack
(Orca 46 is the first to present announcements).
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping

from assistant.speech_out.screen_readers import linux

SPI_GETSCREENREADER = 0x0046
ORCA_ANNOUNCEMENTS = (46,)


def windows_screen_reader_flag() -> bool:
    """SPI_GETSCREENREADER: set by Narrator, NVDA, JAWS and other readers while they run."""
    if sys.platform != "win32":
        return False
    flag = ctypes.c_int(0)
    ok = ctypes.windll.user32.SystemParametersInfoW(  # type: ignore[attr-defined]
        SPI_GETSCREENREADER, 0, ctypes.byref(flag), 0)
    return bool(ok) and bool(flag.value)


def voiceover_running() -> bool:
    if sys.platform != "darwin":
        return False
    try:
        done = subprocess.run(["pgrep", "-x", "VoiceOver"], capture_output=True, timeout=2, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


class AnnouncementSupport:
    """Answers "would an announcement be spoken now?"; Orca's version is asked once."""

    def __init__(self, platform: str = sys.platform, env: Mapping[str, str] | None = None,
                 orca_version: Callable[[], tuple[int, ...] | None] | None = None,
                 reader_running: Callable[[], bool] | None = None) -> None:
        self.platform = platform
        self._env = dict(os.environ if env is None else env)
        self._orca_version = orca_version or (lambda: linux.orca_version(self._env))
        self._reader_running = reader_running or self._default_running
        self._lock = threading.Lock()
        self._version: tuple[int, ...] | None = None
        self._asked = False

    def _default_running(self) -> bool:
        if self.platform == "win32":
            return windows_screen_reader_flag()
        if self.platform == "darwin":
            return voiceover_running()
        return bool(linux.find_processes(("orca",))) or linux.screen_reader_flag(self._env)

    def linux_stack_supported(self) -> bool:
        with self._lock:
            if not self._asked:
                self._version, self._asked = self._orca_version(), True
            version = self._version
        return version is not None and version >= ORCA_ANNOUNCEMENTS

    def reaches_reader(self) -> bool:
        if not self._reader_running():
            return False
        if self.platform.startswith("linux"):
            return self.linux_stack_supported()
        return self.platform in ("win32", "darwin")
