"""A model folder checked fully: files present, weights readable, sha256 as pinned or as downloaded."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from base.errors import ModelError
from models.catalog import ModelInfo
from models.store.layout import catalog_entry_for, download_hint, read_manifest, resolve, safetensors_files
from models.store.loadable import folder_problems

HASH_BLOCK = 4 * 1024 * 1024


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


def hash_file(path: Path) -> str:
    """The sha256 of a file, as hex."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(HASH_BLOCK):
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
        info = catalog_entry_for(folder)
    report = VerifyReport(ok=True, folder=folder)
    report.problems.extend(str(p) for p in folder_problems(folder))
    manifest = read_manifest(folder) or {}
    listed = manifest.get("files", {}) if isinstance(manifest.get("files"), dict) else {}
    if info is not None and manifest and manifest.get("revision") != info.revision:
        report.problems.append(
            f"The files are from revision {str(manifest.get('revision'))[:12]}, but this version "
            f"of ScreenSight expects {info.revision[:12]}. {download_hint(info)}")
    names = set(listed)
    if folder.is_dir():
        names.update(p.name for p in safetensors_files(folder))
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
        report.sha256 = hash_file(path)
        if expected is not None and report.sha256 != expected and report.problem is None:
            report.problem = f"The file {name} does not match its published sha256 (damaged)."
    return report
