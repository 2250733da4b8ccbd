"""The log file: private (0600 in a 0700 folder), rotating, and free of screen content by default."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.logging_setup import (
    BACKUPS,
    ContentFilter,
    content,
    log_path,
    setup_logging,
)
from base.paths import cache_dir

SECRET_SCREEN = "IBAN DE89 3704 0044 0532 0130 00"
SECRET_QUESTION = "What is my account balance?"


@pytest.fixture
def clean_root() -> Iterator[None]:
    """Put the root logger back as it was after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def _flush() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_default_path_is_in_the_user_cache(clean_root):
    assert log_path().parent.parent == cache_dir()
    assert str(cache_dir()).startswith(os.environ["XDG_CACHE_HOME"])


def test_log_file_is_private_and_has_timings_not_content(tmp_path, clean_root, capsys):
    path = setup_logging(debug_content=False, verbose=False, path=tmp_path / "logs" / "s.log")
    log = logging.getLogger("assistant.engine")
    log.info("request 3 describe: captured 0.040 s, encoded 1.200 s, first_audio 2.100 s")
    log.info("request 3 answer %s", content(SECRET_SCREEN))
    log.info("question", extra={"content": SECRET_QUESTION})
    log.warning("request 4 failed: %s", content(SECRET_QUESTION))
    _flush()
    text = path.read_text(encoding="utf-8")
    assert "encoded 1.200 s" in text
    assert SECRET_SCREEN not in text and SECRET_QUESTION not in text
    assert f"[{len(SECRET_SCREEN)} characters hidden]" in text
    assert "request 4 failed" in text
    err = capsys.readouterr().err
    assert "request 4 failed" in err and SECRET_QUESTION not in err
    assert "captured 0.040" not in err  # INFO goes to stderr only with --verbose
    if os.name == "posix":
        assert _mode(path) == 0o600
        assert _mode(path.parent) == 0o700


def test_debug_setting_lets_content_through(tmp_path, clean_root):
    path = setup_logging(debug_content=True, verbose=False, path=tmp_path / "s.log")
    log = logging.getLogger("assistant.engine")
    log.info("request 3 answer %s", content(SECRET_SCREEN))
    log.info("question", extra={"content": SECRET_QUESTION})
    _flush()
    text = path.read_text(encoding="utf-8")
    assert SECRET_SCREEN in text and SECRET_QUESTION in text


def test_calling_again_replaces_handlers_and_switches_content_off(tmp_path, clean_root):
    setup_logging(debug_content=True, verbose=True, path=tmp_path / "s.log")
    count = len(logging.getLogger().handlers)
    path = setup_logging(debug_content=False, verbose=False, path=tmp_path / "s.log")
    assert len(logging.getLogger().handlers) == count
    logging.getLogger("x").info("answer %s", content(SECRET_SCREEN))
    _flush()
    assert SECRET_SCREEN not in path.read_text(encoding="utf-8")


def test_rotation_keeps_files_private_and_bounded(tmp_path, clean_root, monkeypatch):
    monkeypatch.setattr("assistant.logging_setup.MAX_BYTES", 2000)
    setup_logging(path=tmp_path / "s.log")
    log = logging.getLogger("assistant.engine")
    for i in range(400):
        log.info("request %d describe: encoded %.3f s", i, i / 1000)
    _flush()
    files = sorted(tmp_path.glob("s.log*"))
    assert len(files) == BACKUPS + 1
    assert all(f.stat().st_size <= 2200 for f in files)
    if os.name == "posix":
        assert {_mode(f) for f in files} == {0o600}


def test_existing_loose_file_is_made_private(tmp_path, clean_root):
    if os.name != "posix":
        pytest.skip("file modes are POSIX only")
    path = tmp_path / "s.log"
    path.write_text("old\n")
    path.chmod(0o644)
    setup_logging(path=path)
    assert _mode(path) == 0o600


@pytest.mark.parametrize("args", [(content("secret text"),), ({"q": content("secret text")},)])
def test_filter_redacts_tuple_and_dict_arguments(args):
    record = logging.LogRecord("x", logging.INFO, __file__, 1,
                               "got %s" if isinstance(args[0], str) else "got %(q)s", args, None)
    assert ContentFilter(show=False).filter(record) is True
    assert record.getMessage() == "got [11 characters hidden]"
    record = logging.LogRecord("x", logging.INFO, __file__, 1, content("secret text"), None, None)
    ContentFilter(show=False).filter(record)
    assert record.getMessage() == "[11 characters hidden]"


def test_unmarked_arguments_are_untouched():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "took %.1f s in %s", (1.25, "encode"),
                               None)
    ContentFilter(show=False).filter(record)
    assert record.getMessage() == "took 1.2 s in encode"
