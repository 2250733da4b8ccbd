"""A private, real speech-dispatcher for tests (reused by the journey tests).

    service = start_speech_dispatcher(env, log_dir)   # -> SpeechDispatcherService
    service.env          # env with XDG_RUNTIME_DIR set so clients (ours, Orca) find the socket
    service.socket_path  # <runtime>/speech-dispatcher/speechd.sock
    service.proc         # the speech-dispatcher process
    service.wait_spoken("text", timeout=20)  # True once the text went to the synthesizer
    service.stop()

`env` is the environment to start from (e.g. dict(os.environ) after tests/services.py exported
the private PulseAudio). Nothing is read from or written to the user's own speech-dispatcher
set-up: the server gets a private XDG_RUNTIME_DIR (a new short folder in the temp dir), its own
configuration folder, and logs into log_dir at level 5,
where each message sent to the synthesizer shows as `Command sent to output module: |<speak>TEXT`.
The espeak-ng module speaks into PulseAudio's default sink ("speaker" in the tests).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

MODULE_DIRS = ("/usr/lib/speech-dispatcher-modules", "/usr/lib/x86_64-linux-gnu/speech-dispatcher-modules",
               "/usr/libexec/speech-dispatcher-modules")
SENT_MARK = "Command sent to output module: |"
START_TIMEOUT_S = 15.0


def speech_dispatcher_available() -> bool:
    return shutil.which("speech-dispatcher") is not None and _module_dir() is not None


def _module_dir() -> str | None:
    for folder in MODULE_DIRS:
        if os.path.exists(os.path.join(folder, "sd_espeak-ng")):
            return folder
    return None


@dataclass
class SpeechDispatcherService:
    proc: subprocess.Popen
    socket_path: Path
    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    owned_runtime: Path | None = None  # removed by stop()

    @property
    def log_file(self) -> Path:
        return self.log_dir / "speech-dispatcher.log"

    def log_text(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def sent_to_synthesizer(self) -> list[str]:
        """The texts speech-dispatcher handed to its output module, in order (SSML stripped)."""
        texts = []
        for line in self.log_text().splitlines():
            if SENT_MARK in line and "<speak>" in line:
                body = line.split(SENT_MARK, 1)[1]
                texts.append(body.split("<speak>", 1)[1].split("</speak>", 1)[0])
        return texts

    def wait_spoken(self, text: str, timeout: float = 20.0) -> bool:
        """Poll the log until `text` was sent to the synthesizer; False after the timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in sent for sent in self.sent_to_synthesizer()):
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.owned_runtime is not None:
            shutil.rmtree(self.owned_runtime, ignore_errors=True)


def _connectable(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def start_speech_dispatcher(env: Mapping[str, str], log_dir: Path, module: str = "espeak-ng",
                            timeout: float = START_TIMEOUT_S,
                            runtime_dir: bool = False) -> SpeechDispatcherService:
    """Start speech-dispatcher (module espeak-ng) for the tests; RuntimeError if it does not listen.

    runtime_dir=True uses env's XDG_RUNTIME_DIR (e.g. to restart on the same socket) instead of a
    new private folder, which stop() removes.
    """
    module_dir = _module_dir()
    if shutil.which("speech-dispatcher") is None or module_dir is None:
        raise RuntimeError("speech-dispatcher with the espeak-ng module is not installed")
    log_dir = Path(log_dir)
    # A short private runtime folder: a Unix socket path must stay under 108 bytes.
    runtime = Path(env["XDG_RUNTIME_DIR"]) if runtime_dir else Path(tempfile.mkdtemp(prefix="speechd-"))
    config = log_dir / "config"
    (config / "modules").mkdir(parents=True, exist_ok=True)
    (config / "speechd.conf").write_text(
        "LogLevel 5\n"
        f'LogDir "{log_dir}"\n'
        'AudioOutputMethod "pulse"\n'
        f'AddModule "{module}" "sd_{module}" "{module}.conf"\n'
        f"DefaultModule {module}\n"
        "DefaultRate 60\n"
    )
    socket_path = runtime / "speech-dispatcher" / "speechd.sock"
    server_env = dict(env, XDG_RUNTIME_DIR=str(runtime))
    server_env.pop("SPEECHD_ADDRESS", None)
    with open(log_dir / "stderr.txt", "wb") as errors:  # the child keeps its own copy
        proc = subprocess.Popen(
            ["speech-dispatcher", "--run-single", "--timeout", "0", "--config-dir", str(config),
             "--socket-path", str(socket_path), "--log-dir", str(log_dir), "--module-dir", module_dir],
            env=server_env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
        )
    service = SpeechDispatcherService(proc, socket_path, log_dir, server_env,
                                      None if runtime_dir else runtime)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if socket_path.exists() and _connectable(socket_path):
            return service
        time.sleep(0.05)
    service.stop()
    raise RuntimeError(f"speech-dispatcher did not start; see {log_dir}")
