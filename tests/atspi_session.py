"""A private D-Bus session bus with the AT-SPI bus on it, and a small Qt window in a child process
that a test drives over its stdin: shared by the tests that read the accessibility tree."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

LAUNCHER = "/usr/libexec/at-spi-bus-launcher"


def read_line(proc: subprocess.Popen, what: str, timeout: float = 20.0) -> str:
    """The child's next line of output; fails the test saying which window did not answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            return proc.stdout.readline().strip()
        if proc.poll() is not None:
            break
    raise AssertionError(f"the {what} did not answer (exit {proc.poll()})")


def stop(proc: subprocess.Popen) -> None:
    """End a child process: terminate, then kill after 5 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def private_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a private D-Bus daemon or AT-SPI launcher: a runtime folder of its own.

    at-spi-bus-launcher puts its bus socket at $XDG_RUNTIME_DIR/at-spi/bus (~/.cache/at-spi/bus
    without one) and deletes it on exit: two launchers sharing the folder delete each other's
    socket, and every AT-SPI client (Orca too) of the survivor loses its accessibility bus."""
    env = dict(os.environ if base is None else base)
    env["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="atspi-run-")
    env.pop("AT_SPI_BUS_ADDRESS", None)
    return env


def private_atspi_bus() -> Iterator[str]:
    """A private D-Bus session bus with the AT-SPI bus launched on it (its address); the
    `atspi_bus` fixture of tests/conftest.py."""
    if not shutil.which("dbus-daemon") or not os.path.exists(LAUNCHER):
        pytest.skip("needs dbus-daemon and at-spi2-core")
    env = private_env()
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    address = bus.stdout.readline().strip()
    env["DBUS_SESSION_BUS_ADDRESS"] = address
    launcher = subprocess.Popen([LAUNCHER, "--launch-immediately"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield address
    finally:
        stop(launcher)
        stop(bus)
