"""Where models live on disk and what a model folder holds: the cache layout, the download
manifest, resolving a catalog id or a folder to the folder to load, and removal."""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
from pathlib import Path

from base.errors import ModelError
from base.paths import cache_dir
from base.vocabulary import Role
from models.catalog import ModelInfo, all_models, get_model, model_ids

MANIFEST_NAME = ".screensight-model.json"  # written last: a folder with it is a finished download
PARTIAL_DIR = ".partial"                   # downloads in progress, kept for a resume


def models_root() -> Path:
    return cache_dir() / "models"


def model_dir(info: ModelInfo) -> Path:
    """Where a downloaded catalog model lives (a plain transformers folder)."""
    return models_root() / info.id


def is_downloaded(info: ModelInfo) -> bool:
    """True when a download of this model finished (its manifest was written last)."""
    return (model_dir(info) / MANIFEST_NAME).is_file()


def download_hint(info: ModelInfo) -> str:
    """What to do on the command line to get a catalog model."""
    return f"Run: screensight models download {info.id}, or point --model at a folder."


def app_download_hint(role: Role | str) -> str:
    """What to do in the desktop app to get a model of `role` (vision or speech)."""
    if role == Role.SPEECH:
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
        raise ModelError(f"The model '{info.id}' is not downloaded.", download_hint(info),
                         app_download_hint(info.role))
    return model_dir(info)


def safetensors_files(folder: Path) -> list[Path]:
    """The weight files of a folder, sorted."""
    return sorted(p for p in folder.glob("*.safetensors") if p.is_file())


def matches(name: str, patterns: tuple[str, ...]) -> bool:
    """True when a file name matches one of the glob patterns."""
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


def read_manifest(folder: Path) -> dict | None:
    """The manifest a finished download wrote (id, revision, files), or None."""
    try:
        data = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def catalog_entry_for(folder: Path) -> ModelInfo | None:
    """The catalog model a folder was downloaded as, or None for a folder from elsewhere."""
    manifest = read_manifest(folder)
    if manifest:
        for info in all_models():
            if info.id == manifest.get("id"):
                return info
    return None


def remove(info: ModelInfo) -> None:
    """Delete a downloaded model and any partial download of it."""
    shutil.rmtree(model_dir(info), ignore_errors=True)
