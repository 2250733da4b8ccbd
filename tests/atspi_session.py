"""A private D-Bus session bus with the AT-SPI bus on it, and a small Qt window in a child process
that a test drives over its stdin: shared by the tests that read the accessibility tree."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
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


def private_atspi_bus() -> Iterator[str]:
    """A private D-Bus session bus with the AT-SPI bus launched on it (its address); the
    `atspi_bus` fixture of tests/conftest.py."""
    if not shutil.which("dbus-daemon") or not os.path.exists(LAUNCHER):
        pytest.skip("needs dbus-daemon and at-spi2-core")
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    address = bus.stdout.readline().strip()
    env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=address)
    env.pop("AT_SPI_BUS_ADDRESS", None)
    launcher = subprocess.Popen([LAUNCHER, "--launch-immediately"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield address
    finally:
        stop(launcher)
        stop(bus)
