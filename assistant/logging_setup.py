"""Logging: a private rotating log file of stage timings and errors; what the user saw stays out.

Screen text, questions and answers are *content*. Code that logs content marks it, either by
wrapping an argument, ``log.info("asked %s", content(question))``, or with
``extra={"content": text}``. The ContentFilter on every handler set up here replaces content
with its length ("[42 characters hidden]") unless the user turned on Settings.debug_log_content.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

from base.paths import cache_dir

LOG_NAME = "screensight.log"
MAX_BYTES = 1_000_000
BACKUPS = 3
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
STDERR_FORMAT = "%(levelname)s %(name)s: %(message)s"


class Content(str):
    """A piece of text that came from the screen or the user (screen text, question, answer)."""


def content(text: object) -> Content:
    """Mark `text` as content for a log call: it is hidden unless content logging is on."""
    return Content("" if text is None else str(text))


def redacted(text: object) -> str:
    return f"[{len(str(text))} characters hidden]"


class ContentFilter(logging.Filter):
    """Hides marked content in log records unless `show` is true; never drops a record."""

    def __init__(self, show: bool = False) -> None:
        super().__init__()
        self.show = show

    def filter(self, record: logging.LogRecord) -> bool:
        extra = getattr(record, "content", None)
        if self.show:
            if extra is not None and not getattr(record, "_content_shown", False):
                record.msg = f"{record.msg} | content: {extra}"
                record._content_shown = True  # a record passes every handler's filter
            return True
        if extra is not None:
            record.content = redacted(extra)
        if isinstance(record.args, tuple):
            record.args = tuple(redacted(a) if isinstance(a, Content) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redacted(v) if isinstance(v, Content) else v
                           for k, v in record.args.items()}
        if isinstance(record.msg, Content):
            record.msg = redacted(record.msg)
        return True


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler whose files are created readable by the user only (0600)."""

    def _open(self):  # type: ignore[override]
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.chmod(self.baseFilename, 0o600)  # an older file may have been made with looser rights
        return os.fdopen(fd, self.mode, encoding=self.encoding, errors=self.errors)


def log_dir() -> Path:
    return cache_dir() / "logs"


def log_path() -> Path:
    return log_dir() / LOG_NAME


def _ours(handler: logging.Handler) -> bool:
    return any(isinstance(f, ContentFilter) for f in handler.filters)


def setup_logging(debug_content: bool = False, verbose: bool = False, path: Path | None = None) -> Path:
    """Log INFO and up to a private rotating file (and WARNING, or INFO if verbose, to stderr).

    Calling it again replaces the handlers it made before (e.g. when the debug setting changes).
    Returns the log file's path.
    """
    path = Path(path) if path is not None else log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    if os.name == "posix":
        os.chmod(path.parent, 0o700)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if _ours(h)]:
        root.removeHandler(handler)
        handler.close()
    file_handler = PrivateRotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                              encoding="utf-8")
    file_handler.setLevel(logging.INFO)
    file_handler.setFormatter(logging.Formatter(FILE_FORMAT))
    file_handler.addFilter(ContentFilter(debug_content))
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.INFO if verbose else logging.WARNING)
    console.setFormatter(logging.Formatter(STDERR_FORMAT))
    console.addFilter(ContentFilter(debug_content))
    root.addHandler(file_handler)
    root.addHandler(console)
    root.setLevel(logging.INFO)
    return path
