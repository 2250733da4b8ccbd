"""Speech through speech-dispatcher, the server Orca itself speaks through.

Priority `message`: Orca 43 speaks at `message` too (orca/speechdispatcherfactory.py), and in
SSIP's model messages of that priority never interrupt each other (they wait in turn), while
`text` would be cancelled by Orca's next message and `important` would cut Orca off. Each
utterance is one message and the engine sends the next only after this one ended, so Orca's
own speech waits at most one sentence. Cancelling is `CANCEL self`: only our messages stop.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from assistant.speech_out.screen_readers.base import ScreenReader, Spoken
from assistant.speech_out.screen_readers.linux import speechd_reader_running
from assistant.speech_out.screen_readers.ssip import SSIPConnection, SSIPError, socket_path, spawn_server

log = logging.getLogger(__name__)

CLIENT_NAME = "user:screensight:main"
PRIORITY = "message"
RESPAWN_AFTER_S = 60.0  # after a failed start, do not try again (and wait) before this


class SpeechDispatcherReader(ScreenReader):
    """Orca or any speech-dispatcher screen reader; speaks through our own SSIP connection."""

    name = "speech-dispatcher"
    description = "Orca (through speech-dispatcher)"

    def __init__(self, env: Mapping[str, str] | None = None,
                 running: Callable[[], bool] | None = None, spawn: bool = True) -> None:
        self._env = dict(os.environ if env is None else env)
        self._running = running or (lambda: speechd_reader_running(self._env))
        self._spawn = spawn
        self._lock = threading.Lock()
        self._conn: SSIPConnection | None = None
        self._pending: dict[int, threading.Event] = {}
        self._finished: dict[int, str] = {}  # events that came before speak() saw the id
        self._spawn_failed_at: float | None = None

    def is_running(self) -> bool:
        return self._running()

    @property
    def socket(self) -> Path | None:
        return socket_path(self._env)

    def speak(self, text: str, interrupt: bool = False) -> Spoken:
        for attempt in (1, 2):  # a second time when the server restarted under us
            try:
                conn = self._connection()
                if interrupt:
                    conn.command_ok("CANCEL self")
                done = threading.Event()
                msg_id = conn.speak(text)  # not under the lock: its events take it
                with self._lock:
                    if msg_id in self._finished:
                        self._finished.pop(msg_id)
                        done.set()
                    else:
                        self._pending[msg_id] = done
                return Spoken(True, reports_end=True, done=done)
            except SSIPError as exc:
                self._drop()
                if attempt == 2:
                    return Spoken.failed(str(exc))
        return Spoken.failed("unreachable")

    def cancel(self) -> None:
        conn = self._conn
        if conn is None or conn.closed:
            return
        try:
            conn.command_ok("CANCEL self")
        except SSIPError as exc:
            log.info("cancel: %s", exc)

    def close(self) -> None:
        self._drop()

    # -- the connection ----------------------------------------------------------------------

    def _connection(self) -> SSIPConnection:
        with self._lock:
            if self._conn is not None and not self._conn.closed:
                return self._conn
        path = self.socket
        if path is None:
            raise SSIPError("SPEECHD_ADDRESS names a transport other than a Unix socket")
        try:
            conn = SSIPConnection(path, on_event=self._on_event)
        except SSIPError:
            if not self._may_spawn():
                raise
            problem = spawn_server(path, self._env)
            if problem:
                self._spawn_failed_at = time.monotonic()
                raise SSIPError(problem) from None
            conn = SSIPConnection(path, on_event=self._on_event)
        try:
            conn.command_ok(f"SET self CLIENT_NAME {CLIENT_NAME}")
            conn.command_ok(f"SET self PRIORITY {PRIORITY}")
            conn.command_ok("SET self NOTIFICATION all on")
        except SSIPError:
            conn.close()
            raise
        with self._lock:
            self._conn = conn
        return conn

    def _may_spawn(self) -> bool:
        if not self._spawn:
            return False
        failed = self._spawn_failed_at
        return failed is None or time.monotonic() - failed > RESPAWN_AFTER_S

    def _on_event(self, kind: str, msg_id: int) -> None:
        with self._lock:
            if kind == "closed":
                pending, self._pending = self._pending, {}
                self._finished.clear()
                for done in pending.values():
                    done.set()
                return
            if kind not in ("end", "cancel"):
                return
            done = self._pending.pop(msg_id, None)
            if done is None:
                self._finished[msg_id] = kind
                if len(self._finished) > 256:  # ids of messages nobody waits for
                    self._finished.pop(next(iter(self._finished)))
            else:
                done.set()

    def _drop(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
