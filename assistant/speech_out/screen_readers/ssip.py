"""A small client of the Speech Synthesis Interface Protocol (SSIP) over speech-dispatcher's Unix socket.

Debian's python3-speechd cannot be imported from a virtual environment and has no wheel on PyPI,
so this speaks the protocol itself: one line per command, `NNN-...` continuation lines and a
final `NNN text` line per reply, events (7xx) arriving at any time but never inside a reply.
It finds the socket as libspeechd does ($SPEECHD_ADDRESS, else $XDG_RUNTIME_DIR) and starts the
server with `speech-dispatcher --spawn` when the socket is missing.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

REPLY_TIMEOUT_S = 5.0
SPAWN_TIMEOUT_S = 5.0
EVENT_NAMES = {"700": "index_mark", "701": "begin", "702": "end", "703": "cancel",
               "704": "pause", "705": "resume"}
FINAL_EVENTS = frozenset({"end", "cancel"})


class SSIPError(Exception):
    """The server could not be reached or refused a command."""


@dataclass(frozen=True)
class Reply:
    code: int
    lines: tuple[str, ...]  # the text after each "NNN-" / "NNN " prefix, the last one included

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300


def socket_path(env: Mapping[str, str]) -> Path | None:
    """The Unix socket libspeechd would use; None when SPEECHD_ADDRESS names another transport."""
    address = env.get("SPEECHD_ADDRESS", "").strip()
    if address:
        method, _, rest = address.partition(":")
        if method != "unix_socket":
            return None
        if rest:
            return Path(rest)
    runtime = env.get("XDG_RUNTIME_DIR") or os.path.join(env.get("HOME", "~"), ".cache")
    return Path(os.path.expanduser(runtime)) / "speech-dispatcher" / "speechd.sock"


def escape_data(text: str) -> bytes:
    """The SPEAK body: CRLF lines, a leading dot doubled, closed by a line with one dot."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    body = "\r\n".join("." + line if line.startswith(".") else line for line in lines)
    return (body + "\r\n.\r\n").encode("utf-8")


def spawn_server(path: Path, env: Mapping[str, str], timeout: float = SPAWN_TIMEOUT_S) -> str:
    """Start speech-dispatcher for `path` as libspeechd does; "" when it listens, else the problem."""
    binary = shutil.which("speech-dispatcher", path=env.get("PATH"))
    if binary is None:
        return "speech-dispatcher is not installed"
    try:
        subprocess.run([binary, "--spawn", "--communication-method", "unix_socket", "--socket-path", str(path)],
                       env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"speech-dispatcher did not start: {exc}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _connectable(path):
            return ""
        time.sleep(0.05)
    return f"speech-dispatcher does not listen on {path}"


def _connectable(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


class SSIPConnection:
    """One SSIP connection; commands may come from any thread, events go to `on_event`.

    on_event(kind, msg_id) runs on the connection's reader thread with kind one of
    EVENT_NAMES' values, or ("closed", 0) once when the server went away.
    """

    def __init__(self, path: Path, on_event: Callable[[str, int], None] | None = None,
                 timeout: float = REPLY_TIMEOUT_S) -> None:
        self.path = path
        self._timeout = timeout
        self._on_event = on_event
        self._lock = threading.Lock()  # one command (and its reply) at a time
        self._replies: queue.Queue[Reply | None] = queue.Queue()
        self._closed = threading.Event()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.settimeout(timeout)
            self._sock.connect(str(path))
            self._sock.settimeout(None)
        except OSError as exc:
            self._sock.close()
            raise SSIPError(f"cannot connect to speech-dispatcher at {path}: {exc}") from exc
        self._reader = threading.Thread(target=self._read, name="ssip-reader", daemon=True)
        self._reader.start()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def command(self, line: str) -> Reply:
        """Send one command line and return its reply; SSIPError when the server is gone."""
        with self._lock:
            self._send(f"{line}\r\n".encode())
            return self._reply()

    def command_ok(self, line: str) -> Reply:
        reply = self.command(line)
        if not reply.ok:
            raise SSIPError(f"speech-dispatcher refused {line!r}: {reply.code} {' '.join(reply.lines)}")
        return reply

    def speak(self, text: str) -> int:
        """Queue text as one message and return its message id."""
        with self._lock:
            self._send(b"SPEAK\r\n")
            reply = self._reply()
            if reply.code != 230:
                raise SSIPError(f"speech-dispatcher refused SPEAK: {reply.code}")
            self._send(escape_data(text))
            reply = self._reply()
        if reply.code != 225 or len(reply.lines) < 2 or not reply.lines[0].isdigit():
            raise SSIPError(f"speech-dispatcher did not queue the message: {reply.code}")
        return int(reply.lines[0])

    def close(self) -> None:
        if not self._closed.is_set():
            try:
                self.command("QUIT")
            except SSIPError:
                pass
        self._closed.set()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        if threading.current_thread() is not self._reader:
            self._reader.join(timeout=self._timeout)

    # -- internals ---------------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        if self._closed.is_set():
            raise SSIPError("the connection to speech-dispatcher is closed")
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise SSIPError(f"speech-dispatcher went away: {exc}") from exc

    def _reply(self) -> Reply:
        try:
            reply = self._replies.get(timeout=self._timeout)
        except queue.Empty as exc:
            raise SSIPError("speech-dispatcher did not answer") from exc
        if reply is None:
            self._replies.put(None)  # keep telling later callers
            raise SSIPError("speech-dispatcher closed the connection")
        return reply

    def _read(self) -> None:
        stream = self._sock.makefile("rb")
        lines: list[str] = []
        try:
            for raw in stream:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if len(line) < 4 or not line[:3].isdigit():
                    continue
                lines.append(line[4:])
                if line[3] == "-":
                    continue
                code, body = line[:3], tuple(lines)
                lines = []
                if code.startswith("7"):
                    self._event(code, body)
                else:
                    self._replies.put(Reply(int(code), body))
        except (OSError, ValueError):
            pass
        finally:
            self._closed.set()
            self._replies.put(None)
            self._notify("closed", 0)

    def _event(self, code: str, body: tuple[str, ...]) -> None:
        kind = EVENT_NAMES.get(code)
        if kind is not None and body and body[0].isdigit():
            self._notify(kind, int(body[0]))

    def _notify(self, kind: str, msg_id: int) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(kind, msg_id)
        except Exception:  # an event handler must not end the reader thread
            log.exception("SSIP event handler failed")
