"""One running app per user and settings folder: later launches and `--trigger` reach it over QLocalServer."""

from __future__ import annotations

import getpass
import hashlib
import logging
import sys
import time

import shiboken6
from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from assistant.actions import ACTIONS
from base.errors import ConfigError, ScreenSightError
from base.paths import config_dir

log = logging.getLogger(__name__)

CONNECT_MS = 1000
REPLY_MS = 3000
POLL_MS = 20


def server_name() -> str:
    """A name unique to this user and settings folder (tests with their own folder never collide)."""
    digest = hashlib.sha1(str(config_dir()).encode("utf-8")).hexdigest()[:10]
    return f"screensight-{getpass.getuser()}-{digest}"


def _check_action(action: str) -> None:
    if action not in ACTIONS:
        raise ConfigError(f"Unknown action {action!r}.", f"Use one of: {', '.join(ACTIONS)}.")


def send_trigger(action: str, name: str | None = None) -> bool:
    """Ask the running app to do `action`; True when it accepted. Raises when none is running."""
    _check_action(action)
    socket = QLocalSocket()
    socket.connectToServer(name or server_name())
    if not socket.waitForConnected(CONNECT_MS):
        raise ScreenSightError("ScreenSight is not running.",
                               "Start it first (run screensight with no arguments), then try again.")
    socket.write((action + "\n").encode("utf-8"))
    socket.flush()
    reply = b""
    deadline = time.monotonic() + REPLY_MS / 1000
    while not reply.endswith(b"\n") and time.monotonic() < deadline:
        # Short waits: Qt's blocking calls keep Python's GIL, which a server in this process needs.
        if socket.bytesAvailable() or socket.waitForReadyRead(POLL_MS):
            reply += bytes(socket.readAll().data())
        else:
            time.sleep(POLL_MS / 1000)
    socket.disconnectFromServer()
    text = reply.decode("utf-8", "replace").strip()
    if text != "ok":
        print(f"screensight: the running app answered: {text or 'nothing'}", file=sys.stderr)
        return False
    return True


class InstanceServer(QObject):
    """Listens for actions from other launches; `triggered` fires on the Qt thread."""

    triggered = Signal(str)

    def __init__(self, name: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name or server_name()
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._accept)
        self._buffers: dict[QLocalSocket, bytes] = {}

    def listen(self) -> bool:
        """Start listening; False when another instance already owns the name."""
        if self._is_running():
            return False
        QLocalServer.removeServer(self.name)  # a stale socket left by a crash
        if not self._server.listen(self.name):
            raise ScreenSightError(f"Could not listen for other launches ({self._server.errorString()}).",
                                   "Restart ScreenSight; if it keeps happening, log out and in again.")
        return True

    def close(self) -> None:
        self._server.close()

    def _is_running(self) -> bool:
        probe = QLocalSocket()
        probe.connectToServer(self.name)
        running = probe.waitForConnected(300)
        if running:
            probe.disconnectFromServer()
        return running

    def _accept(self) -> None:
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            self._buffers[socket] = b""
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(lambda s=socket: self._forget(s))

    def _forget(self, socket: QLocalSocket) -> None:
        self._buffers.pop(socket, None)
        if shiboken6.isValid(socket):
            socket.deleteLater()

    def _read(self, socket: QLocalSocket) -> None:
        data = self._buffers.get(socket, b"") + bytes(socket.readAll().data())
        accepted: list[str] = []
        while b"\n" in data:
            line, data = data.split(b"\n", 1)
            action = line.decode("utf-8", "replace").strip()
            try:
                _check_action(action)
            except ConfigError as exc:
                socket.write(f"error: {exc.message}\n".encode())
                continue
            socket.write(b"ok\n")
            accepted.append(action)
        socket.flush()
        self._buffers[socket] = data
        for action in accepted:  # after answering, so a slow action never delays the reply
            self.triggered.emit(action)
