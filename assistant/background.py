"""Prepare in background (opt-in): encode the active window as soon as it settles.

A small watcher thread polls a cheap fingerprint of what the describe key would capture
(the window's title and rectangle and a thumbnail of its pixels) every `interval` seconds.
When the fingerprint has stayed the same for `settle_polls` polls and differs from what was
prepared last, it asks the engine to prepare it (capture + vision encoder, no answer). Any real
request cancels a preparation in progress; the watcher never competes with one.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from assistant.capture import Capture, CaptureBackend, capture_target
from base.errors import ScreenSightError
from base.vocabulary import Mode, Target

if TYPE_CHECKING:
    from assistant.engine import Engine

log = logging.getLogger(__name__)

THUMBNAIL_REDUCE = 8
"""The probe hashes a 1/8-scale thumbnail: a change of a few pixels in a line of text shows."""


def capture_fingerprint(capture: Capture) -> str:
    """A cheap fingerprint of a capture: where it is, its title, and a small thumbnail."""
    image = capture.image
    factor = max(1, min(THUMBNAIL_REDUCE, image.width, image.height))
    thumb = image.reduce(factor) if factor > 1 else image
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{capture.source}:{capture.rect}:{capture.title}:{image.size}".encode())
    digest.update(thumb.tobytes())
    return digest.hexdigest()


class BackgroundPreparer:
    """Watches the describe target and asks the engine to prepare it once it settles."""

    def __init__(self, engine: Engine, backend: Callable[[], CaptureBackend], target: Target = Target.WINDOW,
                 detail: str | None = None, interval: float = 0.5, settle_polls: int = 2,
                 on_prepared: Callable[[str], None] | None = None) -> None:
        if interval <= 0 or settle_polls < 1:
            raise ValueError("interval must be positive and settle_polls at least 1")
        self.engine = engine
        self.target = target
        self.detail = detail
        self.interval = interval
        self.settle_polls = settle_polls
        self.on_prepared = on_prepared
        self.polls = 0
        self.preparations = 0
        self._backend_factory = backend
        self._backend: CaptureBackend | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen = ""
        self._stable = 0
        self._prepared = ""

    def start(self) -> None:
        """Start polling on a daemon thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="screensight-prepare", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling; a preparation already running in the engine finishes or is cancelled there."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def poll(self) -> bool:
        """One look at the target; True when it asked the engine to prepare it."""
        self.polls += 1
        if self._backend is None:
            self._backend = self._backend_factory()
        try:
            capture = capture_target(self._backend, self.target)
        except ScreenSightError as exc:
            log.debug("background probe failed: %s", exc)
            self._seen, self._stable = "", 0
            return False
        key = capture_fingerprint(capture)
        if key != self._seen:
            self._seen, self._stable = key, 1
        else:
            self._stable += 1
        if self._stable < self.settle_polls or key == self._prepared:
            return False
        from assistant.engine import Request

        request = Request(mode=Mode.DESCRIBE, target=self.target, detail=self.detail)
        if self.engine.prepare_ahead(request) is None:
            return False  # busy with a real request: try again on a later poll
        self._prepared = key
        self.preparations += 1
        if self.on_prepared is not None:
            self.on_prepared(key)
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - a failing probe must not end the watcher
                log.exception("background probe failed")
