"""A local stand-in for the Hugging Face hub on 127.0.0.1: serves model folders, with faults.

It answers the endpoints a model download uses:

- ``GET /api/models/{repo}/tree/{revision}?recursive=true`` - the file list (sizes, git blob ids,
  LFS sha256), paginated with a ``Link`` header when ``faults.page_size`` is set;
- ``GET /api/models/{repo}[/revision/{revision}]`` - model info with ``siblings``;
- ``GET|HEAD /{repo}/resolve/{revision}/{path}`` - the file; LFS files (weights) redirect (302)
  to ``/__lfs__/...`` like the hub redirects to its CDN; HTTP Range gives 206 / 416.

Faults (``server.faults``, change them at any time): HTTP errors for the next N requests, a
connection dropped after some bytes of a file, stalled (slow) responses, wrong content, and a
server that ignores Range. Every request is recorded in ``server.requests``.

Run by hand: ``python -m tests.hub_server FOLDER --repo owner/name`` then
``HF_ENDPOINT=http://127.0.0.1:PORT``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import socket
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx", ".h5", ".msgpack", ".gguf")
LFS_MIN_BYTES = 10 * 1024 * 1024
_BODY_CHUNK = 64 * 1024


@dataclass
class Faults:
    """Switches for what goes wrong. Counters count down as requests use them."""

    fail_status: int = 500
    fail_count: int = 0  # the next N matching requests answer fail_status
    fail_match: str = ""  # only requests whose path contains this (e.g. "/resolve/", "/api/")
    drop_after: int = 0  # cut a file body after this many bytes...
    drop_count: int = 0  # ...for the next N bodies...
    drop_match: str = ""  # ...of files whose path contains this
    stall_s: float = 0.0  # wait before answering...
    stall_count: int = 0  # ...for the next N requests (a slow or hung server)
    throttle_s: float = 0.0  # pause after every 64 KiB of a body (a slow link)
    corrupt: set[str] = field(default_factory=set)  # paths served with one byte changed
    ignore_range: bool = False  # answer 200 with the whole file to Range requests
    page_size: int = 0  # tree listing page size (0: one page)
    extra_tree_entries: list[dict] = field(default_factory=list)  # hostile or odd listing rows


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    range: str | None


@dataclass(frozen=True)
class _File:
    path: str
    disk: Path
    size: int
    sha256: str
    git_oid: str
    lfs: bool


@dataclass
class _Repo:
    repo_id: str
    commit: str
    files: dict[str, _File]


def _git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()  # noqa: S324


def _index_folder(folder: Path) -> dict[str, _File]:
    files: dict[str, _File] = {}
    for disk in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = disk.relative_to(folder).as_posix()
        data = disk.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        lfs = disk.suffix in LFS_SUFFIXES or len(data) >= LFS_MIN_BYTES
        if lfs:  # the git object is the LFS pointer, not the content
            pointer = (f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\n"
                       f"size {len(data)}\n").encode()
            oid = _git_blob_oid(pointer)
        else:
            oid = _git_blob_oid(data)
        files[rel] = _File(rel, disk, len(data), sha, oid, lfs)
    return files


class HubServer:
    """Serve folders as hub repositories on 127.0.0.1 (a free port) from a background thread."""

    def __init__(self) -> None:
        self.faults = Faults()
        self.requests: list[Request] = []
        self._repos: dict[str, _Repo] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        name="hub-server", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def cdn_url(self) -> str:
        """The same server under another host name, standing in for the hub's file CDN."""
        return f"http://localhost:{self._httpd.server_address[1]}"

    def add_repo(self, repo_id: str, folder: Path, commit: str | None = None) -> str:
        """Serve folder as repo_id at commit (random when None); returns the commit sha."""
        commit = commit or secrets.token_hex(20)
        with self._lock:
            self._repos[repo_id] = _Repo(repo_id, commit, _index_folder(Path(folder)))
        return commit

    def start(self) -> HubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def requested(self, fragment: str) -> list[Request]:
        """Recorded requests whose path contains fragment."""
        with self._lock:
            return [r for r in self.requests if fragment in r.path]

    # -- used by the handler ------------------------------------------------------------

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def _take(self, counter: str) -> bool:
        """Decrement a fault counter; True when this request gets the fault."""
        with self._lock:
            left = getattr(self.faults, counter)
            if left > 0:
                setattr(self.faults, counter, left - 1)
                return True
            return False

    def _repo(self, repo_id: str, revision: str) -> _Repo | None:
        with self._lock:
            repo = self._repos.get(repo_id)
        if repo is None or revision not in (repo.commit, "main"):
            return None
        return repo


def _make_handler(server: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_HubHandler):
        hub = server

    return Handler


class _HubHandler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base signature
        pass  # quiet tests

    def do_HEAD(self) -> None:  # noqa: N802 - http.server API
        self._handle(head=True)

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        self._handle(head=False)

    # -- dispatch -----------------------------------------------------------------------

    def _handle(self, head: bool) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(parsed.path)
        query = urllib.parse.parse_qs(parsed.query)
        self.hub._record(Request(self.command, path, self.headers.get("Range")))
        faults = self.hub.faults
        if faults.stall_s and self.hub._take("stall_count"):
            if self.hub._stopping.wait(faults.stall_s):
                return
        if (faults.fail_match in path) and self.hub._take("fail_count"):
            self._error(faults.fail_status, "InjectedFault", "injected failure")
            return
        parts = [p for p in path.split("/") if p]
        try:
            if parts[:2] == ["api", "models"]:
                self._api(parts[2:], query)
            elif len(parts) >= 5 and parts[0] == "__lfs__":
                self._lfs(parts[1:], head)
            elif len(parts) >= 5 and parts[2] == "resolve":
                self._resolve(parts, head)
            else:
                self._error(404, "EntryNotFound", "not found")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (a cancel); nothing to answer

    def _api(self, parts: list[str], query: dict[str, list[str]]) -> None:
        if len(parts) < 2:
            self._error(404, "RepoNotFound", "no repo")
            return
        repo_id = "/".join(parts[:2])
        rest = parts[2:]
        if rest[:1] == ["tree"] and len(rest) >= 2:
            self._tree(repo_id, rest[1], "/".join(rest[2:]), query)
        elif not rest or (rest[:1] == ["revision"] and len(rest) == 2):
            self._info(repo_id, rest[1] if rest else "main")
        else:
            self._error(404, "EntryNotFound", "unknown api path")

    def _tree(self, repo_id: str, revision: str, under: str,
              query: dict[str, list[str]]) -> None:
        repo = self.hub._repo(repo_id, revision)
        if repo is None:
            self._error(404, "RevisionNotFound", f"{repo_id}@{revision} not found")
            return
        recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
        prefix = f"{under}/" if under else ""
        entries: list[dict] = []
        dirs: set[str] = set()
        for f in repo.files.values():
            if not f.path.startswith(prefix):
                continue
            rel = f.path[len(prefix):]
            if "/" in rel:
                top = prefix + rel.split("/")[0]
                if top not in dirs:
                    dirs.add(top)
                    entries.append({"type": "directory", "oid": _git_blob_oid(top.encode()),
                                    "size": 0, "path": top})
                if not recursive:
                    continue
            entry: dict = {"type": "file", "oid": f.git_oid, "size": f.size, "path": f.path}
            if f.lfs:
                entry["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": 134}
            entries.append(entry)
        entries.extend(self.hub.faults.extra_tree_entries)
        start = int(query.get("cursor", ["0"])[0])
        size = self.hub.faults.page_size or len(entries) or 1
        page = entries[start:start + size]
        headers = {}
        if start + size < len(entries):
            nxt = f"/api/models/{repo_id}/tree/{revision}"
            nxt += f"?recursive={str(recursive).lower()}&cursor={start + size}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        self._json(page, headers)

    def _info(self, repo_id: str, revision: str) -> None:
        repo = self.hub._repo(repo_id, revision)
        if repo is None:
            self._error(404, "RevisionNotFound", f"{repo_id}@{revision} not found")
            return
        siblings = []
        for f in repo.files.values():
            sib: dict = {"rfilename": f.path, "size": f.size, "blobId": f.git_oid}
            if f.lfs:
                sib["lfs"] = {"sha256": f.sha256, "size": f.size, "pointerSize": 134}
            siblings.append(sib)
        self._json({"id": repo_id, "modelId": repo_id, "sha": repo.commit, "private": False,
                    "siblings": siblings})

    def _resolve(self, parts: list[str], head: bool) -> None:
        repo_id, revision, file_path = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
        repo = self.hub._repo(repo_id, revision)
        if repo is None:
            self._error(404, "RevisionNotFound", f"{repo_id}@{revision} not found")
            return
        f = repo.files.get(file_path)
        if f is None:
            self._error(404, "EntryNotFound", f"{file_path} not found")
            return
        common = {"X-Repo-Commit": repo.commit, "ETag": f'"{f.git_oid}"'}
        if f.lfs:
            # to another host name, like the hub's CDN redirect (huggingface_hub follows
            # same-host redirects itself and expects hub headers at their end)
            pieces = (*repo_id.split("/"), repo.commit, *f.path.split("/"))
            location = f"{self.hub.cdn_url}/__lfs__/" + "/".join(map(urllib.parse.quote, pieces))
            self.send_response(302)
            for key, value in {**common, "Location": location, "X-Linked-Size": str(f.size),
                               "X-Linked-Etag": f'"{f.sha256}"', "Content-Length": "0"}.items():
                self.send_header(key, value)
            self.end_headers()
            return
        self._body(f, head, common)

    def _lfs(self, parts: list[str], head: bool) -> None:
        repo_id, commit, file_path = "/".join(parts[:2]), parts[2], "/".join(parts[3:])
        repo = self.hub._repo(repo_id, commit)
        f = repo.files.get(file_path) if repo else None
        if f is None:
            self._error(404, "EntryNotFound", "no such object")
            return
        self._body(f, head, {"ETag": f'"{f.sha256}"'})

    # -- bodies -------------------------------------------------------------------------

    def _body(self, f: _File, head: bool, extra: dict[str, str]) -> None:
        faults = self.hub.faults
        data = f.disk.read_bytes()
        if f.path in faults.corrupt and data:
            middle = len(data) // 2
            data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]
        start, end = 0, len(data) - 1
        status = 200
        wanted = self.headers.get("Range")
        if wanted and not faults.ignore_range:
            span = _parse_range(wanted, len(data))
            if span is None:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start, end = span
            status = 206
        body = data[start:end + 1]
        self.send_response(status)
        headers = {**extra, "Content-Length": str(len(body)), "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream"}
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if head:
            return
        limit = len(body)
        dropping = (faults.drop_after > 0 and faults.drop_match in f.path
                    and self.hub._take("drop_count"))
        if dropping:
            limit = min(limit, faults.drop_after)
        sent = 0
        while sent < limit:
            piece = body[sent:min(limit, sent + _BODY_CHUNK)]
            self.wfile.write(piece)
            sent += len(piece)
            if faults.throttle_s and self.hub._stopping.wait(faults.throttle_s):
                return
        self.wfile.flush()
        if dropping:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _json(self, payload: object, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        for key, value in {"Content-Type": "application/json", "Content-Length": str(len(body)),
                           **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of one 'bytes=a-b' / 'bytes=a-' / 'bytes=-n' range; None: cannot."""
    unit, _, spec = header.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if first == "":
            n = int(last)
            return (max(0, size - n), size - 1) if n > 0 and size else None
        a = int(first)
        b = int(last) if last else size - 1
    except ValueError:
        return None
    if a >= size or b < a:
        return None
    return a, min(b, size - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a model folder as a local hub repo.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--repo", required=True, help="owner/name")
    parser.add_argument("--commit", default=None)
    args = parser.parse_args()
    server = HubServer()
    commit = server.add_repo(args.repo, args.folder, args.commit)
    server.start()
    print(f"HF_ENDPOINT={server.url}  repo={args.repo}  revision={commit}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()


def serve_for_downloads(monkeypatch, repo_id: str, folder: Path, cache: Path) -> HubServer:
    """A hub serving `folder` as `repo_id`, with downloads allowed, pointed at it, into `cache`.

    `monkeypatch` is pytest's; use the returned server as a context manager.
    """
    server = HubServer()
    server.commit = server.add_repo(repo_id, folder)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return server
