"""Where models live on disk: download (resumable, verified), resolve, verify, and pre-load checks.

One module per concern: layout (the cache folders, the manifest, resolving an id or a folder,
removal), safetensors (headers checked without torch), loadable (would the loaders load this
folder), memory (is there room to run it), verify (sha256 against the pins) and download
(progress, cancel, resume). No torch here. The names callers use are re-exported here.
"""

from __future__ import annotations

from models.store.download import CHUNK_BYTES, DownloadCancelled, download, downloads_disabled, hub_endpoint
from models.store.layout import (
    MANIFEST_NAME,
    PARTIAL_DIR,
    app_download_hint,
    is_downloaded,
    model_dir,
    models_root,
    remove,
    resolve,
)
from models.store.loadable import check_loadable
from models.store.memory import available_memory_mb, check_memory, estimate_ram_mb
from models.store.safetensors import read_safetensors_header
from models.store.verify import FileReport, VerifyReport, verify

__all__ = [
    "CHUNK_BYTES", "MANIFEST_NAME", "PARTIAL_DIR", "DownloadCancelled", "FileReport", "VerifyReport",
    "app_download_hint", "available_memory_mb", "check_loadable", "check_memory", "download",
    "downloads_disabled", "estimate_ram_mb", "hub_endpoint", "is_downloaded", "model_dir", "models_root",
    "read_safetensors_header", "remove", "resolve", "verify",
]
