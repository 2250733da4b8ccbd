"""Monotonic timestamps of one request: what the logs, the tests and the benchmark all read."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

STAGES = (
    "trigger",
    "captured",
    "preprocessed",
    "encoded",
    "first_token",
    "first_utterance",
    "first_audio",
    "done",
)


@dataclass
class Trace:
    """Records when each stage of a request first happened (time.monotonic seconds)."""

    request_id: int = 0
    kind: str = ""
    marks: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def mark(self, stage: str, when: float | None = None) -> None:
        """Record `stage` at `when` (now by default); later marks of the same stage are ignored."""
        with self._lock:
            self.marks.setdefault(stage, time.monotonic() if when is None else when)

    def has(self, stage: str) -> bool:
        return stage in self.marks

    def since_trigger(self) -> dict[str, float]:
        """Seconds from the trigger to each recorded stage, in stage order."""
        start = self.marks.get("trigger")
        if start is None:
            return {}
        ordered = sorted(self.marks.items(), key=lambda kv: kv[1])
        return {name: when - start for name, when in ordered}

    def as_dict(self) -> dict[str, object]:
        return {"request_id": self.request_id, "kind": self.kind, "seconds": self.since_trigger()}

    def format(self) -> str:
        """One line per stage, for `--trace`."""
        lines = [f"trace of request {self.request_id} ({self.kind}):"]
        for name, secs in self.since_trigger().items():
            lines.append(f"  {name:<16} {secs * 1000:9.1f} ms")
        return "\n".join(lines)
