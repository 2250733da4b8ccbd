"""Finding the running screen reader on Linux: its process, the a11y bus flag, Orca's version."""

from __future__ import annotations

import logging
import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

log = logging.getLogger(__name__)

# Screen readers that speak through speech-dispatcher.
SPEECHD_READERS = ("orca", "fenrir")
INTERPRETERS = re.compile(r"^(python[0-9.]*|pypy[0-9.]*)$")
DBUS_TIMEOUT_S = 0.5


def _command_names(argv: list[str]) -> list[str]:
    """The program names a command line runs: argv[0], and the script after an interpreter."""
    names = [os.path.basename(argv[0])] if argv and argv[0] else []
    if names and INTERPRETERS.match(names[0]):
        scripts = [arg for arg in argv[1:] if not arg.startswith("-")]
        if scripts:
            names.append(os.path.basename(scripts[0]))
    return names


def find_processes(names: Iterable[str], proc: Path = Path("/proc"), uid: int | None = None) -> list[int]:
    """Process ids of this user's processes running one of `names` (by command line)."""
    wanted = set(names)
    uid = os.getuid() if uid is None else uid
    me = os.getpid()
    found: list[int] = []
    try:
        entries = list(proc.iterdir())
    except OSError:
        return found
    for entry in entries:
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            argv = (entry / "cmdline").read_bytes().decode("utf-8", "replace").split("\0")
        except OSError:
            continue  # it ended meanwhile, or is not ours to read
        if wanted.intersection(_command_names([a for a in argv if a] or [""])):
            found.append(int(entry.name))
    return sorted(found)


def screen_reader_flag(env: Mapping[str, str], timeout: float = DBUS_TIMEOUT_S) -> bool:
    """org.a11y.Status.ScreenReaderEnabled on the session bus (the desktop's "screen reader on")."""
    address = env.get("DBUS_SESSION_BUS_ADDRESS")
    if not address:
        return False
    try:
        from jeepney import DBusAddress, Properties
        from jeepney.bus_messages import message_bus
        from jeepney.io.blocking import open_dbus_connection
    except ImportError:
        return False
    try:
        with open_dbus_connection(bus=address) as conn:
            owner = conn.send_and_get_reply(message_bus.NameHasOwner("org.a11y.Bus"), timeout=timeout)
            if not owner.body or not owner.body[0]:
                return False  # asking would start the a11y bus just to say "no"
            status = DBusAddress("/org/a11y/bus", bus_name="org.a11y.Bus", interface="org.a11y.Status")
            reply = conn.send_and_get_reply(Properties(status).get("ScreenReaderEnabled"), timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        log.debug("a11y status unknown: %s", exc)
        return False
    body = reply.body
    return bool(body) and isinstance(body[0], tuple) and bool(body[0][1])


def speechd_reader_running(env: Mapping[str, str], proc: Path = Path("/proc")) -> bool:
    """True when Orca (or another speech-dispatcher screen reader) runs for this user."""
    return bool(find_processes(SPEECHD_READERS, proc)) or screen_reader_flag(env)


def parse_version(text: str) -> tuple[int, ...] | None:
    match = re.search(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", text)
    if match is None:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)


def orca_version(env: Mapping[str, str], timeout: float = 5.0) -> tuple[int, ...] | None:
    """The installed Orca's version ("orca --version"), None when there is no Orca."""
    try:
        done = subprocess.run(["orca", "--version"], env=dict(env), capture_output=True, text=True,
                              timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_version(done.stdout) if done.returncode == 0 else None
