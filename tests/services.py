"""Real desktop services for the test session: an Xvfb display and a private PulseAudio server.

Each pytest session starts its own, so parallel runs never share a display or a sound server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field


@dataclass
class Services:
    """The processes started for a test session and the environment they need."""

    env: dict[str, str] = field(default_factory=dict)
    procs: list[subprocess.Popen] = field(default_factory=list)
    tmpdirs: list[str] = field(default_factory=list)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        for path in self.tmpdirs:
            shutil.rmtree(path, ignore_errors=True)


def start_xvfb(services: Services, size: str = "1920x1080x24") -> str:
    """Start Xvfb on a free display number and return its DISPLAY string."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", size, "-nolisten", "tcp", "+extension", "RANDR"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    if not number:
        proc.kill()
        raise RuntimeError("Xvfb did not report a display number")
    services.procs.append(proc)
    display = f":{number}"
    services.env["DISPLAY"] = display
    return display


def pulse_environment(runtime: str) -> dict[str, str]:
    """The environment of a private PulseAudio in `runtime`: off the D-Bus session bus, where a
    second server would find the name org.PulseAudio1 taken and quit."""
    return dict(os.environ, PULSE_RUNTIME_PATH=runtime, HOME=runtime, DBUS_SESSION_BUS_ADDRESS="disabled:")


def start_pulseaudio(services: Services) -> str:
    """Start a private PulseAudio with null sinks "speaker" and "mic"; return its runtime dir."""
    runtime = tempfile.mkdtemp(prefix="screensight-pulse-")
    services.tmpdirs.append(runtime)
    env = pulse_environment(runtime)
    proc = subprocess.Popen(
        [
            "pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
            "--disallow-exit", "--log-target=stderr", "--log-level=error",
            "-L", "module-native-protocol-unix",
            "-L", "module-null-sink sink_name=speaker",
            "-L", "module-null-sink sink_name=mic",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    services.procs.append(proc)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if os.path.exists(os.path.join(runtime, "native")):
            ok = subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0
            if ok:
                break
        time.sleep(0.1)
    else:
        raise RuntimeError("PulseAudio did not start")
    services.env["PULSE_RUNTIME_PATH"] = runtime
    subprocess.run(["pactl", "set-default-sink", "speaker"], env=env, check=True)
    subprocess.run(["pactl", "set-default-source", "mic.monitor"], env=env, check=True)
    return runtime


def start_all() -> Services:
    """Start every service the tests use and export their environment into os.environ."""
    services = Services()
    if shutil.which("Xvfb") and not os.environ.get("SCREENSIGHT_TEST_KEEP_DISPLAY"):
        start_xvfb(services)
    if shutil.which("pulseaudio"):
        start_pulseaudio(services)
    os.environ.update(services.env)
    os.environ.setdefault("XDG_SESSION_TYPE", "x11")
    return services
