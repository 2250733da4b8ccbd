"""The interface every accessibility facts source implements, the null and scripted sources, and a
time bound that keeps any source from blocking its caller."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from assistant.facts.types import ScreenFacts

log = logging.getLogger(__name__)

QUERY_BUDGET_S = 0.15  # one facts query, from the caller's point of view


class FactsSource(ABC):
    """Tells the application, window title and focused control, or None when it cannot tell."""

    name: str = ""

    @abstractmethod
    def current(self) -> ScreenFacts | None:
        """The facts now, or None (no accessibility API, nothing focused, out of time)."""

    def prepare(self) -> None:  # noqa: B027 - most sources need nothing ahead of time
        """Connect ahead of the first query (optional; current() connects when needed)."""

    def close(self) -> None:  # noqa: B027 - most sources hold nothing to release
        """Release connections; calling it twice is harmless."""


class NullFactsSource(FactsSource):
    """Cannot tell (platforms without an accessibility API we use, image files, the benchmark)."""

    name = "null"

    def current(self) -> ScreenFacts | None:
        return None


class ScriptedFactsSource(FactsSource):
    """For tests: answers the scripted facts in turn (the last one again once they run out) and counts calls."""

    name = "scripted"

    def __init__(self, answers: ScreenFacts | None | Iterable[ScreenFacts | None] = None,
                 release: threading.Event | None = None) -> None:
        if answers is None or isinstance(answers, ScreenFacts):
            answers = [answers]
        self._answers = list(answers) or [None]
        self._release = release  # when given, current() waits for it (a slow or hung API)
        self._lock = threading.Lock()
        self.calls = 0

    def current(self) -> ScreenFacts | None:
        if self._release is not None:
            self._release.wait()
        with self._lock:
            answer = self._answers[min(self.calls, len(self._answers) - 1)]
            self.calls += 1
        return answer


class TimedFactsSource(FactsSource):
    """Runs another source on a worker thread of its own and waits at most `budget` seconds.

    A query that is late answers None; while it still runs, further queries answer None at once
    instead of queueing behind it. The worker thread is the only thread the inner source sees, so
    sources whose objects belong to one thread (COM on Windows) work.
    """

    def __init__(self, inner: FactsSource, budget: float = QUERY_BUDGET_S) -> None:
        self.inner = inner
        self.name = inner.name
        self._budget = budget
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._running: Future | None = None

    def _submit(self, fn) -> Future | None:
        with self._lock:
            if self._running is not None and not self._running.done():
                return None
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"facts-{self.name}")
            self._running = self._pool.submit(fn)
            return self._running

    def prepare(self) -> None:
        self._submit(self.inner.prepare)

    def current(self) -> ScreenFacts | None:
        future = self._submit(self.inner.current)
        if future is None:
            log.debug("facts: the previous query still runs")
            return None
        try:
            return future.result(timeout=self._budget)
        except FutureTimeout:
            log.debug("facts: no answer within %.0f ms", self._budget * 1000)
            return None
        except Exception as exc:  # noqa: BLE001 - a source's failure is "cannot tell", never the caller's
            log.info("facts source %s failed: %s", self.name, exc)
            return None

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        self.inner.close()
