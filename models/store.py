"""Where models live on disk: download (resumable, verified), resolve, verify, and pre-load checks.

Downloads talk to the Hugging Face hub's public HTTP scheme directly (the tree API for the file
list, ``{endpoint}/{repo}/resolve/{revision}/{file}`` with HTTP Range for the bytes), so that
progress is reported per chunk, a cancel stops within one chunk, a dropped connection resumes
where it stopped, and HF_ENDPOINT / HF_HUB_OFFLINE are read when the download starts. No torch
here: safetensors headers are parsed directly.
"""

from __future__ import annotations

import errno
import fnmatch
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

from assistant.config import cache_dir
from assistant.errors import DownloadError, ModelError
from models.catalog import (
    PICKLE_PATTERNS,
    REFUSED_PATTERNS,
    SPEECH,
    ModelInfo,
    all_models,
    family_of_model_type,
    get_model,
    model_ids,
    required_files,
)

DEFAULT_ENDPOINT = "https://huggingface.co"
MANIFEST_NAME = ".screensight-model.json"
PARTIAL_DIR = ".partial"
CHUNK_BYTES = 256 * 1024
_HASH_BLOCK = 4 * 1024 * 1024
_MAX_HEADER_BYTES = 100 * 1024 * 1024
_MAX_LISTING_BYTES = 10 * 1024 * 1024
_USER_AGENT = "screensight/0.1 (model download)"
_TRUE = ("1", "ON", "YES", "TRUE")

# Bytes per element of the safetensors dtypes (sub-byte types are checked by offsets only).
_DTYPE_BYTES = (
    ("F64", 8), ("I64", 8), ("U64", 8), ("F32", 4), ("I32", 4), ("U32", 4),
    ("F16", 2), ("BF16", 2), ("I16", 2), ("U16", 2),
    ("I8", 1), ("U8", 1), ("BOOL", 1), ("F8_E4M3", 1), ("F8_E5M2", 1), ("F8_E8M0", 1),
)

Progress = Callable[[int, int], None]


class DownloadCancelled(DownloadError):
    """The user cancelled a download; the partial files stay for a later resume."""


@dataclass
class FileReport:
    """One file as verify saw it."""

    name: str
    size: int
    sha256: str | None = None
    expected_sha256: str | None = None
    problem: str | None = None


@dataclass
class VerifyReport:
    """The result of verify(): ok when problems is empty."""

    ok: bool
    folder: Path | None
    problems: list[str] = field(default_factory=list)
    files: list[FileReport] = field(default_factory=list)


# ---------------------------------------------------------------------------- locations


def models_root() -> Path:
    return cache_dir() / "models"


def model_dir(info: ModelInfo) -> Path:
    """Where a downloaded catalog model lives (a plain transformers folder)."""
    return models_root() / info.id


def is_downloaded(info: ModelInfo) -> bool:
    """True when a download of this model finished (its manifest was written last)."""
    return (model_dir(info) / MANIFEST_NAME).is_file()


def _download_hint(info: ModelInfo) -> str:
    return f"Run: screensight models download {info.id}, or point --model at a folder."


def app_download_hint(role: str) -> str:
    """What to do in the desktop app to get a model of `role` (vision or speech)."""
    if role == SPEECH:
        return "Open ScreenSight > Set up voice questions… to download it or choose a folder."
    return "Open ScreenSight > Set up the model… to download it or choose a folder."


def _looks_like_path(source: str) -> bool:
    return (source.startswith((".", "~", os.sep)) or os.sep in source
            or (os.altsep is not None and os.altsep in source))


def resolve(source: str | os.PathLike[str] | ModelInfo) -> Path:
    """A catalog id (or hub repo id) or a local folder -> the folder to load."""
    if isinstance(source, ModelInfo):
        return _resolve_info(source)
    if isinstance(source, os.PathLike):
        source = os.path.join(os.curdir, os.fspath(source))  # a path, never a catalog id
    source = source.strip()
    if not source:
        raise ModelError("No model was given.",
                         f"Use one of {', '.join(model_ids())}, or a folder.")
    for info in all_models():
        if source in (info.id, info.repo_id):
            return _resolve_info(info)
    path = Path(source).expanduser()
    if path.is_dir():
        return path.resolve()
    if path.exists():
        raise ModelError(f"The model path {path} is a file, not a folder.",
                         "Point --model at the folder that holds config.json.")
    if _looks_like_path(source):
        raise ModelError(f"The model folder {path} does not exist.",
                         f"Check the path, or use a model id: {', '.join(model_ids())}.")
    get_model(source)  # raises the unknown-id error listing the known ids
    raise AssertionError("unreachable")  # pragma: no cover


def _resolve_info(info: ModelInfo) -> Path:
    if not is_downloaded(info):
        raise ModelError(f"The model '{info.id}' is not downloaded.", _download_hint(info),
                         app_download_hint(info.role))
    return model_dir(info)


# ---------------------------------------------------------------------------- safetensors


def read_safetensors_header(path: Path) -> dict:
    """Parse and check a safetensors header; ModelError saying what is wrong with the file."""
    name = path.name
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise _damaged(name, f"only {size} bytes long")
            header_len = int.from_bytes(head, "little")
            if header_len > _MAX_HEADER_BYTES or header_len > size - 8:
                raise _damaged(name, "its header length is impossible; the file is truncated "
                                     "or not a safetensors file")
            raw = fh.read(header_len)
    except OSError as exc:
        raise ModelError(f"The weight file {name} cannot be read ({exc.strerror or exc}).",
                         "Check the file's permissions, or download the model again.") from exc
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _damaged(name, "its header is not valid JSON") from exc
    if not isinstance(header, dict):
        raise _damaged(name, "its header is not a JSON object")
    data_len = size - 8 - header_len
    _check_tensor_table(name, header, data_len)
    return header


def _check_tensor_table(name: str, header: dict, data_len: int) -> None:
    dtype_bytes = dict(_DTYPE_BYTES)
    covered = 0
    max_end = 0
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        if not (isinstance(entry, dict) and isinstance(entry.get("data_offsets"), list)
                and len(entry["data_offsets"]) == 2 and isinstance(entry.get("shape"), list)):
            raise _damaged(name, f"the entry for tensor {key!r} is malformed")
        begin, end = entry["data_offsets"]
        if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end):
            raise _damaged(name, f"tensor {key!r} has invalid offsets")
        if end > data_len:
            raise _damaged(name, f"it is truncated: tensor {key!r} ends at byte {end} but the "
                                 f"file holds only {data_len} bytes of data")
        per = dtype_bytes.get(str(entry.get("dtype")))
        if per is not None and all(isinstance(d, int) and d >= 0 for d in entry["shape"]):
            if math.prod(entry["shape"]) * per != end - begin:
                raise _damaged(name, f"tensor {key!r} has the wrong number of bytes for its shape")
        covered += end - begin
        max_end = max(max_end, end)
    if max_end != data_len or covered != data_len:
        raise _damaged(name, f"its tensors cover {covered} bytes but the file holds {data_len} "
                             "bytes of data (truncated, padded or overwritten)")


def _damaged(name: str, why: str) -> ModelError:
    return ModelError(f"The weight file {name} is damaged: {why}.",
                      "Download the model again (screensight models download ID), "
                      "or replace the file.",
                      "Download the model again, or choose another folder, in its setup window "
                      "(ScreenSight menu).")


def _safetensors_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.safetensors") if p.is_file())


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


# ---------------------------------------------------------------------------- loadability


def _read_config(folder: Path) -> dict:
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ModelError(f"The model folder {folder} has no config.json.",
                         "Point --model at the folder of a transformers model, or download "
                         "the model again.",
                         "Choose the folder that holds config.json, or download the model in its "
                         "setup window (ScreenSight menu).")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"The config.json in {folder} cannot be read ({exc}).",
                         "Download the model again.") from exc
    if not isinstance(config, dict):
        raise ModelError(f"The config.json in {folder} is not a JSON object.",
                         "Download the model again.")
    return config


def _problems(folder: Path, role: str | None = None) -> list[ModelError]:
    """Everything that would stop the loaders, cheapest checks first; empty when loadable."""
    if not folder.exists():
        return [ModelError(f"The model folder {folder} does not exist.",
                           "Check the path, or download the model: "
                           "screensight models download ID.",
                           "Choose another folder, or download the model in its setup window "
                           "(ScreenSight menu).")]
    if not folder.is_dir():
        return [ModelError(f"The model path {folder} is not a folder.",
                           "Point --model at the folder that holds config.json.",
                           "Choose the folder that holds config.json.")]
    try:
        config = _read_config(folder)
    except ModelError as exc:
        return [exc]
    problems: list[ModelError] = []
    model_type = str(config.get("model_type", ""))
    kind = family_of_model_type(model_type)
    if kind is None:
        supported = "idefics3 (SmolVLM) or gemma4 (Gemma 4) for vision; moonshine or whisper for speech"
        problems.append(ModelError(
            f"The model in {folder} is of type '{model_type or 'unknown'}', which ScreenSight "
            "cannot run.", f"Use a supported model: {supported}."))
    else:
        family, model_role = kind
        if role is not None and role != model_role:
            problems.append(ModelError(
                f"The model in {folder} is a {model_role} model, not a {role} model.",
                f"Choose a {role} model for this setting."))
        for requirement in required_files(family):
            if not any(all((folder / f).is_file() for f in alt) for alt in requirement):
                wanted = " or ".join(" + ".join(alt) for alt in requirement)
                what = "tokenizer" if any("tokenizer.json" in alt for alt in requirement) \
                    else "processor"
                problems.append(ModelError(
                    f"The model folder {folder} has no {what} files (needs {wanted}).",
                    "Copy the complete model folder, or download the model again."))
    problems.extend(_weight_problems(folder))
    return problems


def _weight_problems(folder: Path) -> list[ModelError]:
    weights = _safetensors_files(folder)
    if not weights:
        pickles = sorted(p.name for p in folder.iterdir()
                         if p.is_file() and _matches(p.name, PICKLE_PATTERNS))
        if pickles:
            return [ModelError(
                f"The model folder {folder} has only pickle weights ({', '.join(pickles)}); "
                "ScreenSight loads safetensors only.",
                "Pickle files can run code when loaded. Use the model's .safetensors files.")]
        return [ModelError(f"The model folder {folder} has no weights (*.safetensors).",
                           "Copy the complete model folder, or download the model again.")]
    problems: list[ModelError] = []
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map", {})
            shards = sorted(set(weight_map.values()))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
            return [ModelError(f"The weight index of {folder} cannot be read ({exc}).",
                               "Download the model again.")]
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            problems.append(ModelError(
                f"The model folder {folder} is missing weight files: {', '.join(missing)}.",
                "Copy the complete model folder, or download the model again."))
    for path in weights:
        try:
            read_safetensors_header(path)
        except ModelError as exc:
            problems.append(exc)
    return problems


def check_loadable(folder: Path, role: str | None = None) -> None:
    """Raise ModelError with a clear message when the loaders could not load this folder."""
    problems = _problems(Path(folder), role)
    if problems:
        raise problems[0]


# ---------------------------------------------------------------------------- memory


def available_memory_mb() -> int | None:
    """Memory the system can give a new program now (MemAvailable, within a cgroup limit)."""
    available: int | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) // 1024
                break
    except (OSError, ValueError, IndexError):
        available = None
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20
        except (ValueError, OSError, AttributeError):
            return None
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text().strip()
        if limit != "max":
            available = min(available, (int(limit) - int(used)) // 2**20)
    except (OSError, ValueError):
        pass
    return available


def _manifest(folder: Path) -> dict | None:
    try:
        data = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _catalog_entry_for(folder: Path) -> ModelInfo | None:
    manifest = _manifest(folder)
    if manifest:
        for info in all_models():
            if info.id == manifest.get("id"):
                return info
    return None


# Families whose loader keeps the weights in the dtype they are stored in (bfloat16) instead of
# converting them to float32: their RAM follows the stored bytes.
_LOADED_AS_STORED = ("gemma4",)


def estimate_ram_mb(folder: Path) -> int:
    """RAM to run a folder's weights: fp32 size x 1.3 plus 200 MB (the catalog's rule); for
    families loaded as stored, the stored size x 1.1 plus 500 MB."""
    dtype_bytes = dict(_DTYPE_BYTES)
    params = stored = 0
    for path in _safetensors_files(folder):
        header = read_safetensors_header(path)
        for key, entry in header.items():
            if key == "__metadata__":
                continue
            begin, end = entry["data_offsets"]
            per = dtype_bytes.get(str(entry.get("dtype")), 1)
            params += (end - begin) // per
            stored += end - begin
    kind = family_of_model_type(str(_read_config(folder).get("model_type", "")))
    if kind is not None and kind[0] in _LOADED_AS_STORED:
        return int(stored / 1e6 * 1.1) + 500
    return int(params * 4 / 1e6 * 1.3) + 200


def check_memory(info_or_folder: ModelInfo | Path | str, available_mb: int | None = None) -> None:
    """ModelError suggesting a smaller model when too little memory is free to run this one."""
    if isinstance(info_or_folder, ModelInfo):
        info: ModelInfo | None = info_or_folder
        needed, label, role = info_or_folder.ram_mb, info_or_folder.label, info_or_folder.role
    else:
        folder = Path(info_or_folder)
        info = _catalog_entry_for(folder)
        if info is not None:
            needed, label, role = info.ram_mb, info.label, info.role
        else:
            needed, label = estimate_ram_mb(folder), f"The model in {folder}"
            kind = family_of_model_type(str(_read_config(folder).get("model_type", "")))
            role = kind[1] if kind else None
    if available_mb is None:
        available_mb = available_memory_mb()
    if available_mb is None or needed <= available_mb:
        return
    smaller = [m for m in all_models()
               if m.role == role and m.ram_mb < needed and m.ram_mb <= available_mb
               and (info is None or m.id != info.id)]
    smaller.sort(key=lambda m: m.ram_mb, reverse=True)
    if smaller:
        hint = (f"Choose a smaller model: {smaller[0].id} ({smaller[0].label}, about "
                f"{smaller[0].ram_mb} MB), or close other programs.")
    else:
        hint = "Close other programs to free memory, then try again."
    raise ModelError(f"{label} needs about {needed} MB of memory, but only {available_mb} MB "
                     "is free.", hint)


# ---------------------------------------------------------------------------- verify


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def verify(source: str | ModelInfo | Path) -> VerifyReport:
    """Check a model folder fully: files present, safetensors readable, sha256 as pinned."""
    info: ModelInfo | None = source if isinstance(source, ModelInfo) else None
    try:
        folder = Path(source) if isinstance(source, Path) else resolve(source)
    except ModelError as exc:
        return VerifyReport(ok=False, folder=None, problems=[str(exc)])
    if info is None:
        info = _catalog_entry_for(folder)
    report = VerifyReport(ok=True, folder=folder)
    report.problems.extend(str(p) for p in _problems(folder))
    manifest = _manifest(folder) or {}
    listed = manifest.get("files", {}) if isinstance(manifest.get("files"), dict) else {}
    if info is not None and manifest and manifest.get("revision") != info.revision:
        report.problems.append(
            f"The files are from revision {str(manifest.get('revision'))[:12]}, but this version "
            f"of ScreenSight expects {info.revision[:12]}. {_download_hint(info)}")
    names = set(listed)
    if folder.is_dir():
        names.update(p.name for p in _safetensors_files(folder))
    if info is not None:
        names.update(name for name, _ in info.files)
    for name in sorted(names):
        report.files.append(_verify_file(folder, name, info, listed.get(name)))
    report.problems.extend(f.problem for f in report.files if f.problem)
    report.ok = not report.problems
    return report


def _verify_file(folder: Path, name: str, info: ModelInfo | None, listed: object) -> FileReport:
    path = folder / name
    expected = info.expected_sha256(name) if info else None
    if expected is None and isinstance(listed, dict):
        expected = listed.get("sha256")
    if not path.is_file():
        return FileReport(name, 0, None, expected, f"The file {name} is missing.")
    report = FileReport(name, path.stat().st_size, expected_sha256=expected)
    if isinstance(listed, dict) and listed.get("size") not in (None, report.size):
        report.problem = (f"The file {name} has {report.size} bytes; the download had "
                          f"{listed.get('size')}.")
    if name.endswith(".safetensors") or expected is not None:
        report.sha256 = _hash_file(path)
        if expected is not None and report.sha256 != expected and report.problem is None:
            report.problem = f"The file {name} does not match its published sha256 (damaged)."
    return report


# ---------------------------------------------------------------------------- download


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
    if "/" in path or _matches(path, REFUSED_PATTERNS):
        return False
    return _matches(path, info.allow_patterns)


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
        return _hash_file(path) == remote.sha256
    if remote.git_oid is not None:
        digest = hashlib.sha1(f"blob {remote.size}\0".encode())  # noqa: S324 - git's own id
        with path.open("rb") as fh:
            while block := fh.read(_HASH_BLOCK):
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
        "files": {f.path: {"size": f.size, "sha256": f.sha256 or _hash_file(folder / f.path)}
                  for f in files},
    }
    tmp = folder / (MANIFEST_NAME + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, folder / MANIFEST_NAME)


def remove(info: ModelInfo) -> None:
    """Delete a downloaded model and any partial download of it."""
    shutil.rmtree(model_dir(info), ignore_errors=True)


__all__ = [
    "DownloadCancelled", "FileReport", "VerifyReport", "available_memory_mb", "check_loadable",
    "check_memory", "download", "downloads_disabled", "estimate_ram_mb", "hub_endpoint",
    "is_downloaded", "model_dir", "models_root", "read_safetensors_header", "remove", "resolve",
    "verify",
]
