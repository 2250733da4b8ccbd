"""Downloading a catalog model: resumable, verified, with progress per chunk and a cancel within one.

It talks to the Hugging Face hub's public HTTP scheme directly (the tree API for the file list,
``{endpoint}/{repo}/resolve/{revision}/{file}`` with HTTP Range for the bytes), so that progress
is reported per chunk, a cancel stops within one chunk, a dropped connection resumes where it
stopped, and HF_ENDPOINT / HF_HUB_OFFLINE are read when the download starts.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import json
import math
import os
import shutil
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from base.errors import DownloadError
from models.catalog import REFUSED_PATTERNS, ModelInfo, get_model
from models.store.layout import MANIFEST_NAME, PARTIAL_DIR, matches, model_dir
from models.store.verify import HASH_BLOCK, hash_file

DEFAULT_ENDPOINT = "https://huggingface.co"
CHUNK_BYTES = 256 * 1024
_MAX_LISTING_BYTES = 10 * 1024 * 1024
_USER_AGENT = "screensight/0.1 (model download)"
_TRUE = ("1", "ON", "YES", "TRUE")

Progress = Callable[[int, int], None]


class DownloadCancelled(DownloadError):
    """The user cancelled a download; the partial files stay for a later resume."""


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in _TRUE


def downloads_disabled() -> bool:
    """Offline mode, read now (not at import): HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE."""
    return _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE")


def hub_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


class _Transient(Exception):
    """A failure worth retrying (server error, timeout, dropped connection)."""


class _DiskFull(Exception):
    pass


class _WrongContent(Exception):
    pass


@dataclass(frozen=True)
class _RemoteFile:
    path: str
    size: int
    sha256: str | None  # from the catalog pin, else the hub's LFS object id
    git_oid: str | None  # git blob sha1 for small (non-LFS) files


def _opener() -> urllib.request.OpenerDirector:
    """HTTP(S) only: a redirect to file:// or ftp:// fails instead of being followed."""
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), urllib.request.HTTPHandler(),
                    urllib.request.HTTPSHandler(), urllib.request.HTTPRedirectHandler(),
                    urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


@dataclass
class _Session:
    """One download run: where, how, and the byte counters behind the progress callback."""

    info: ModelInfo
    endpoint: str
    timeout: float
    retries: int
    backoff: float
    progress: Progress | None
    cancel: threading.Event | None
    on_retry: Callable[[str], None] | None = None  # told each wait before a retry, in words
    opener: urllib.request.OpenerDirector = field(default_factory=_opener)
    done: int = 0
    total: int = 0

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise DownloadCancelled(
                f"Download of {self.info.label} cancelled.",
                "Run the same download again to continue where it stopped.")

    def advance(self, delta: int) -> None:
        self.done += delta
        if self.progress is not None:
            self.progress(self.done, self.total)

    def open(self, url: str, what: str, headers: dict[str, str] | None = None):
        request = urllib.request.Request(
            url, headers={"User-Agent": _USER_AGENT, **(headers or {})})
        try:
            return self.opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code >= 500 or exc.code in (408, 429):
                raise _Transient(f"the server answered HTTP {exc.code}") from exc
            if exc.code == 416:
                raise
            if exc.code in (401, 403):
                raise DownloadError(
                    f"The model server refused access to {self.info.repo_id} (HTTP {exc.code}).",
                    "The model may need a login on the hub; download it in a browser and "
                    "point --model at the folder.",
                    "Download it in a browser and choose its folder with Use a folder on disk….") from exc
            if exc.code == 404:
                raise DownloadError(
                    f"The model server has no {what} for {self.info.repo_id} "
                    f"at revision {self.info.revision[:12]} (HTTP 404).",
                    "This ScreenSight version may be out of date; update it, or point --model "
                    "at a model folder.",
                    "This ScreenSight version may be out of date; update it, or choose a model "
                    "folder with Use a folder on disk….") from exc
            raise DownloadError(f"The model server answered HTTP {exc.code} for {url}.",
                                "Try again later.") from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise _Transient(f"could not reach {self.endpoint} ({reason})") from exc

    def with_retries(self, what: str, action: Callable[[], bool]) -> None:
        """Run action until it returns True; retry transient failures with exponential backoff.

        A failure after bytes arrived counts as the first of a new series, so a connection
        that keeps dropping mid-file keeps resuming; `retries` failures in a row without any
        progress give up."""
        failures = 0
        while True:
            self.check_cancel()
            before = self.done
            try:
                if action():
                    return
                failures = 0
                continue
            except _Transient as exc:
                failures = 1 if self.done > before else failures + 1
                if failures > self.retries:
                    raise DownloadError(
                        f"Downloading {what} failed after {failures} tries: {exc}.",
                        "Check the internet connection and run the download again; it resumes "
                        "where it stopped.",
                        "Check the internet connection and press Try again (the download "
                        "resumes where it stopped), or choose a model folder with Use a folder "
                        "on disk….") from exc
                delay = min(self.backoff * 2 ** (failures - 1), 60.0)
                if self.on_retry is not None:
                    self.on_retry(f"The download paused: {exc}. Trying again in {delay:.0f} s "
                                  f"(try {failures + 1} of {self.retries + 1}).")
            if self.cancel is not None:
                if self.cancel.wait(delay):
                    self.check_cancel()
            else:
                time.sleep(delay)


def _check_remote_path(path: str) -> bool:
    pure = PurePosixPath(path)
    return (bool(path) and "\\" not in path and not pure.is_absolute()
            and all(part not in ("", ".", "..") for part in pure.parts))


def _allowed(info: ModelInfo, path: str) -> bool:
    """Top-level files matching the entry's allow_patterns, never a refused format."""
    if "/" in path or matches(path, REFUSED_PATTERNS):
        return False
    return matches(path, info.allow_patterns)


def _list_files(session: _Session) -> list[_RemoteFile]:
    info = session.info
    quoted_repo = urllib.parse.quote(info.repo_id, safe="/")
    url = (f"{session.endpoint}/api/models/{quoted_repo}/tree/"
           f"{urllib.parse.quote(info.revision, safe='')}?recursive=true")
    entries: list[dict] = []

    def fetch_page() -> bool:
        nonlocal url
        with session.open(url, "file list") as response:
            try:
                raw = response.read(_MAX_LISTING_BYTES + 1)
            except (OSError, http.client.HTTPException) as exc:
                raise _Transient(f"the file list was cut off ({exc})") from exc
            link = response.headers.get("Link", "")
        if len(raw) > _MAX_LISTING_BYTES:
            raise DownloadError(f"The file list of {info.repo_id} is too large.",
                                "Check HF_ENDPOINT points at a model hub.")
        try:
            page = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _Transient("the server sent an unreadable file list") from exc
        if not isinstance(page, list):
            raise DownloadError(
                f"The model server sent an unexpected file list for {info.repo_id}.",
                "Check HF_ENDPOINT points at a model hub.")
        entries.extend(e for e in page if isinstance(e, dict))
        next_url = _next_link(link)
        if next_url is None:
            return True
        url = urllib.parse.urljoin(url, next_url)
        return False

    session.with_retries(f"the file list of {info.repo_id}", fetch_page)
    files: list[_RemoteFile] = []
    for entry in entries:
        path = entry.get("path")
        if entry.get("type") != "file" or not isinstance(path, str):
            continue
        if not _check_remote_path(path) or not _allowed(info, path):
            continue
        lfs = entry.get("lfs") if isinstance(entry.get("lfs"), dict) else {}
        size = entry.get("size")
        if not isinstance(size, int) or size < 0:
            continue
        pinned = info.expected_sha256(path)
        if pinned and lfs.get("oid") and lfs["oid"] != pinned:
            raise DownloadError(
                f"The hub's {path} of {info.repo_id} at revision {info.revision[:12]} is not the "
                "file this ScreenSight version expects (its checksum differs); nothing was "
                "downloaded.",
                "If HF_ENDPOINT points at a mirror, the mirror may serve altered files; "
                "otherwise update ScreenSight.")
        sha = pinned or lfs.get("oid")
        git_oid = entry.get("oid") if not lfs else None
        files.append(_RemoteFile(path, size, sha, git_oid))
    names = {f.path for f in files}
    if not any(name.endswith(".safetensors") for name in names):
        raise DownloadError(f"{info.repo_id} has no safetensors weights at revision "
                            f"{info.revision[:12]}.",
                            "ScreenSight loads safetensors only; choose another model.")
    missing = [name for name, _ in info.files if name not in names]
    if missing:
        raise DownloadError(f"{info.repo_id} at revision {info.revision[:12]} lacks "
                            f"{', '.join(missing)}.", "Update ScreenSight.")
    return sorted(files, key=lambda f: f.path)


def _next_link(link_header: str) -> str | None:
    for part in link_header.split(","):
        if 'rel="next"' in part and "<" in part and ">" in part:
            return part[part.index("<") + 1:part.index(">")]
    return None


def _file_ok(path: Path, remote: _RemoteFile) -> bool:
    if not path.is_file() or path.stat().st_size != remote.size:
        return False
    return _content_matches(path, remote)


def _content_matches(path: Path, remote: _RemoteFile) -> bool:
    if remote.sha256 is not None:
        return hash_file(path) == remote.sha256
    if remote.git_oid is not None:
        digest = hashlib.sha1(f"blob {remote.size}\0".encode())  # noqa: S324 - git's own id
        with path.open("rb") as fh:
            while block := fh.read(HASH_BLOCK):
                digest.update(block)
        return digest.hexdigest() == remote.git_oid
    return True


def _write_all(fd: int, chunk: bytes) -> None:
    view = memoryview(chunk)
    while view:
        try:
            written = os.write(fd, view)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
                raise _DiskFull(str(exc)) from exc
            raise
        view = view[written:]


def _fetch_once(session: _Session, remote: _RemoteFile, part: Path) -> bool:
    """One request continuing part; True when it holds all remote.size bytes."""
    start = part.stat().st_size if part.exists() else 0
    if start > remote.size:
        session.advance(-start)
        part.unlink()
        start = 0
    if start == remote.size:
        return True
    url = (f"{session.endpoint}/{urllib.parse.quote(session.info.repo_id, safe='/')}/resolve/"
           f"{urllib.parse.quote(session.info.revision, safe='')}/"
           f"{urllib.parse.quote(remote.path, safe='/')}")
    headers = {"Range": f"bytes={start}-"} if start else {}
    try:
        response = session.open(url, remote.path, headers)
    except urllib.error.HTTPError as exc:  # 416: what we hold does not fit the server's file
        session.advance(-start)
        part.unlink(missing_ok=True)
        raise _Transient(f"the server refused to resume {remote.path} (HTTP {exc.code})") from exc
    with response:
        if start and response.status != 206:  # the server ignored Range: start over
            session.advance(-start)
            start = 0
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if start else os.O_TRUNC)
        fd = os.open(part, flags | getattr(os, "O_BINARY", 0), 0o600)
        written = start
        try:
            while True:
                session.check_cancel()
                try:
                    # read1: whatever has arrived, so progress and cancel stay live on slow links
                    chunk = response.read1(min(CHUNK_BYTES, remote.size - written + 1))
                except (OSError, http.client.HTTPException) as exc:
                    raise _Transient(f"the connection dropped during {remote.path} ({exc})") \
                        from exc
                if not chunk:
                    break
                if written + len(chunk) > remote.size:
                    raise _WrongContent(f"{remote.path} is longer than the hub says")
                _write_all(fd, chunk)
                written += len(chunk)
                session.advance(len(chunk))
            if written == remote.size:
                os.fsync(fd)
        finally:
            os.close(fd)
    if written < remote.size:
        raise _Transient(f"the connection closed early during {remote.path}")
    return True


def _part_path(partial: Path, remote: _RemoteFile) -> Path:
    """Partial file named by content, so a partial of another revision is never resumed."""
    tag = (remote.sha256 or remote.git_oid or "unknown")[:12]
    return partial / f"{remote.path}.{tag}.part"


def _remove_partials(folder: Path) -> None:
    shutil.rmtree(folder / PARTIAL_DIR, ignore_errors=True)


def _disk_full_error(info: ModelInfo, folder: Path, needed: int | None) -> DownloadError:
    free = shutil.disk_usage(folder).free if folder.exists() else 0
    need = f" needs {math.ceil(needed / 1e6)} MB more, but" if needed else ""
    return DownloadError(
        f"Not enough disk space: {info.label}{need} only {free // 10**6} MB is free in {folder}. "
        "The partial download was removed.",
        "Free some disk space, then run the download again.")


def download(id_: str | ModelInfo, progress: Progress | None = None,
             cancel: threading.Event | None = None, *, timeout: float = 30.0,
             retries: int = 5, backoff: float = 1.0,
             on_retry: Callable[[str], None] | None = None) -> Path:
    """Download a catalog model into model_dir(); returns the folder.

    progress(done, total) is called with bytes after every chunk; cancel stops within one chunk
    (DownloadCancelled, partial files kept); transient failures retry with exponential backoff
    from `backoff` seconds, `retries` times without progress, then DownloadError; on_retry gets
    a sentence before each wait, for the person watching."""
    info = id_ if isinstance(id_, ModelInfo) else get_model(id_)
    if downloads_disabled():
        raise DownloadError(
            f"Downloads are turned off (offline mode), so {info.label} cannot be downloaded.",
            "Unset HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE to allow downloads, or copy the model "
            "folder here and point --model at it.",
            "Copy the model folder to this computer and choose it with Use a folder on disk….")
    session = _Session(info, hub_endpoint(), timeout, retries, backoff, progress, cancel, on_retry)
    session.check_cancel()
    folder = model_dir(info)
    folder.mkdir(parents=True, exist_ok=True)
    remote_files = _list_files(session)
    partial = folder / PARTIAL_DIR

    todo: list[_RemoteFile] = []
    for remote in remote_files:
        if _file_ok(folder / remote.path, remote):
            session.done += remote.size
        else:
            todo.append(remote)
            part = _part_path(partial, remote)
            if part.is_file():
                session.done += min(part.stat().st_size, remote.size)
    session.total = sum(f.size for f in remote_files)
    needed = session.total - session.done
    if needed > shutil.disk_usage(folder).free:
        _remove_partials(folder)
        raise _disk_full_error(info, folder, needed)
    session.advance(0)
    (folder / MANIFEST_NAME).unlink(missing_ok=True)  # incomplete until written again

    for remote in todo:
        part = _part_path(partial, remote)
        part.parent.mkdir(parents=True, exist_ok=True)
        try:
            session.with_retries(remote.path, lambda r=remote, p=part: _fetch_once(session, r, p))
        except _DiskFull as exc:
            _remove_partials(folder)
            raise _disk_full_error(info, folder, None) from exc
        except _WrongContent as exc:
            session.advance(-part.stat().st_size if part.exists() else 0)
            part.unlink(missing_ok=True)
            raise _refused(info, remote.path) from exc
        if not _content_matches(part, remote):
            session.advance(-remote.size)
            part.unlink(missing_ok=True)
            raise _refused(info, remote.path)
        os.replace(part, folder / remote.path)
    _remove_partials(folder)
    _write_manifest(folder, info, remote_files)
    return folder


def _refused(info: ModelInfo, name: str) -> DownloadError:
    return DownloadError(
        f"The downloaded {name} of {info.label} does not match its published checksum; "
        "it was deleted and will not be used.",
        "Try the download again later; if it keeps failing, the mirror (HF_ENDPOINT) may be "
        "serving altered files.")


def _write_manifest(folder: Path, info: ModelInfo, files: list[_RemoteFile]) -> None:
    data = {
        "id": info.id,
        "repo_id": info.repo_id,
        "revision": info.revision,
        "files": {f.path: {"size": f.size, "sha256": f.sha256 or hash_file(folder / f.path)}
                  for f in files},
    }
    tmp = folder / (MANIFEST_NAME + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, folder / MANIFEST_NAME)
