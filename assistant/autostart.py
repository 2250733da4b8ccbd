"""Start with the system: an XDG autostart entry, a Windows Run key, or a macOS LaunchAgent."""

from __future__ import annotations

import os
import plistlib
import shlex
import sys
from pathlib import Path

from base.errors import ConfigError

ENTRY_NAME = "screensight"


def launch_command() -> list[str]:
    """How to start the app: the frozen executable, or this Python running the package."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "screensight"]


def _xdg_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "autostart" / f"{ENTRY_NAME}.desktop"


def _mac_file() -> Path:
    return Path.home() / "Library" / "LaunchAgents" / "org.screensight.app.plist"


def autostart_enabled() -> bool:
    if sys.platform == "win32":
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, _RUN_KEY) as key:
                winreg.QueryValueEx(key, "ScreenSight")
            return True
        except OSError:
            return False
    return (_mac_file() if sys.platform == "darwin" else _xdg_file()).exists()


_RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"


def set_autostart(enabled: bool) -> None:
    """Turn starting with the system on or off; ConfigError when it cannot be written."""
    try:
        if sys.platform == "win32":
            _set_windows(enabled)
        elif sys.platform == "darwin":
            _set_file(_mac_file(), enabled, plistlib.dumps({
                "Label": "org.screensight.app", "ProgramArguments": launch_command(),
                "RunAtLoad": True}).decode("utf-8"))
        else:
            command = " ".join(shlex.quote(part) for part in launch_command())
            _set_file(_xdg_file(), enabled,
                      "[Desktop Entry]\nType=Application\nName=ScreenSight\n"
                      "Comment=Describes the screen aloud\n"
                      f"Exec={command}\nX-GNOME-Autostart-enabled=true\nTerminal=false\n")
    except OSError as exc:
        raise ConfigError(f"Could not change starting with the system ({exc}).",
                          "Check that your user can write its settings folders.") from exc


def _set_file(path: Path, enabled: bool, content: str) -> None:
    if enabled:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    else:
        path.unlink(missing_ok=True)


def _set_windows(enabled: bool) -> None:
    import subprocess
    import winreg

    with winreg.OpenKey(winreg.HKEY_CURRENT_USER, _RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
        if enabled:
            winreg.SetValueEx(key, "ScreenSight", 0, winreg.REG_SZ, subprocess.list2cmdline(launch_command()))
        else:
            try:
                winreg.DeleteValue(key, "ScreenSight")
            except FileNotFoundError:
                pass
