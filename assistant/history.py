"""The answers shown in the window: entries, their saved copy (if the user keeps history), a debug log."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from base.paths import data_dir
from base.vocabulary import Mode, Target

log = logging.getLogger(__name__)

HISTORY_LOG_ENV = "SCREENSIGHT_HISTORY_LOG"  # a file: every finished entry as one JSON line
MAX_ENTRIES = 200

KIND_LABELS = MappingProxyType({
    (Mode.DESCRIBE, Target.WINDOW): "Active window",
    (Mode.DESCRIBE, Target.SCREEN): "Whole screen",
    (Mode.DESCRIBE, Target.POINTER): "Around the pointer",
    (Mode.DESCRIBE, Target.REGION): "Region",
    (Mode.DESCRIBE, Target.FILE): "Image file",
    (Mode.READ, Target.WINDOW): "Text of the active window",
    (Mode.READ, Target.SCREEN): "Text on the screen",
    (Mode.READ, Target.POINTER): "Text around the pointer",
    (Mode.READ, Target.REGION): "Text of a region",
    (Mode.READ, Target.FILE): "Text of an image file",
    (Mode.READ, Target.CLIPBOARD): "Text of the clipboard image",
    (Mode.FIND, Target.WINDOW): "Find in the active window",
})
LAST_SCREENSHOT_FIND = "Find in the last screenshot"


def kind_label(mode: Mode | str, target: Target | str | None) -> str:
    """A short heading for an entry, e.g. 'Active window' or 'Question'."""
    if mode == Mode.ASK:
        return "Question"
    if mode == Mode.MORE:
        return "More detail"
    if mode == Mode.FIND and target is None:
        return LAST_SCREENSHOT_FIND
    return KIND_LABELS.get((mode, target or Target.WINDOW), mode.capitalize())


@dataclass
class HistoryEntry:
    """One request as the user sees it."""

    request_id: int
    kind: str
    question: str = ""
    answer: str = ""
    status: str = "working"  # working | done | stopped | error
    created: float = field(default_factory=time.time)
    trace: dict[str, float] = field(default_factory=dict)
    capture: dict[str, object] = field(default_factory=dict)  # source, title, rect of the screenshot

    def display_text(self) -> str:
        """What the list shows and a screen reader reads."""
        parts = [self.kind + ":"]
        if self.question:
            parts.append(f"Q: {self.question}")
            parts.append(f"A: {self.answer or '…'}")
        else:
            parts.append(self.answer or "…")
        if self.status == "stopped":
            parts.append("(stopped)")
        elif self.status == "working":
            parts.append("(working)")
        return "\n".join(parts) if self.question else " ".join(parts)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> HistoryEntry:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def history_path() -> Path:
    return data_dir() / "history.jsonl"


class HistoryStore:
    """Saves finished entries (only when the user keeps history) and writes the debug log."""

    def __init__(self, keep: bool, path: Path | None = None, log_path: Path | None = None) -> None:
        self.keep = keep
        self.path = path or history_path()
        env_log = os.environ.get(HISTORY_LOG_ENV, "")
        self.log_path = log_path or (Path(env_log) if env_log else None)

    def load(self) -> list[HistoryEntry]:
        """Saved entries, oldest first; unreadable lines are skipped, not fatal."""
        if not self.keep or not self.path.is_file():
            return []
        entries = []
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entries.append(HistoryEntry.from_json(json.loads(line)))
            except (json.JSONDecodeError, TypeError) as exc:
                log.warning("skipping a damaged history line: %s", exc)
        return entries[-MAX_ENTRIES:]

    def add(self, entry: HistoryEntry) -> None:
        line = json.dumps(entry.to_json(), ensure_ascii=False) + "\n"
        if self.log_path is not None:
            _append(self.log_path, line)
        if self.keep and entry.status != "working":
            _append(self.path, line)

    def set_keep(self, keep: bool) -> None:
        """Turning history off deletes the saved copy."""
        self.keep = keep
        if not keep:
            self.clear()

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def _append(path: Path, line: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(line)
    except OSError as exc:
        log.warning("could not write %s: %s", path, exc)
