"""The int8 weights made from a model folder, kept on disk so that later loads skip quantizing.

Quantizing Gemma 4 E2B's language model (2.3 B weights) takes 11-25 s on a 2-core machine; the
stored result (2.3 GB) loads in a few seconds. One file per model folder, named after the
folder and keyed on its weight files (models.cache_keys): a changed model gets a new file and
the old one is removed. Writing is best effort: a full or read-only disk only means the next
load quantizes again, and that is logged.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from models.cache_keys import weights_key

log = logging.getLogger(__name__)

FORMAT = "int8-rows-1"  # changes when the stored layout or the quantization changes
SPARE_BYTES = 1 << 30  # never fill the disk: keep this much free after writing


def cache_file(cache: Path, source: str | Path) -> Path:
    """Where the int8 weights of the model in `source` are kept."""
    return cache / f"{Path(source).resolve().name}-{weights_key(source, FORMAT)}.safetensors"


def load(cache: Path, source: str | Path) -> dict[str, Any] | None:
    """The stored int8 weights of `source`, or None when there are none (or they are unreadable)."""
    path = cache_file(cache, source)
    if not path.is_file():
        return None
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
    except (OSError, RuntimeError, ValueError, SafetensorError) as exc:  # a truncated or corrupt file: make it again
        log.warning("int8 weights in %s are unreadable (%s); quantizing again", path, exc)
        path.unlink(missing_ok=True)
        return None
    return _kernel_aligned(tensors, cache)


def _kernel_aligned(tensors: dict[str, Any], cache: Path) -> dict[str, Any]:
    """The tensors where the int8 kernels can read them (int8_weights.kernel_aligned): mapped
    ones that start off the kernel's alignment are copied, one at a time, each one's file pages
    dropped once copied, so memory holds one copy of the weights throughout."""
    from models import runtime
    from models.int8_weights import kernel_aligned

    pages = runtime.FilePages(cache)
    copied = 0
    for name, tensor in list(tensors.items()):
        tensors[name] = kernel_aligned(tensor, pages.release)
        copied += tensors[name] is not tensor
    if copied:
        log.info("int8 weights: %d of %d copied from the kept file to aligned memory", copied, len(tensors))
    return tensors


def save(cache: Path, source: str | Path, tensors: Mapping[str, Any]) -> Path | None:
    """Store `tensors` for `source` (replacing older files of the same folder); the path, or
    None when the disk has no room or refuses (logged)."""
    path = cache_file(cache, source)
    size = sum(t.numel() * t.element_size() for t in tensors.values())
    try:
        cache.mkdir(parents=True, exist_ok=True)
        if shutil.disk_usage(cache).free < size + SPARE_BYTES:
            log.info("int8 weights not kept: %s has less than %d MB free", cache, (size + SPARE_BYTES) >> 20)
            return None
        from safetensors.torch import save_file

        partial = path.with_suffix(".partial")
        save_file({name: t.contiguous() for name, t in tensors.items()}, str(partial),
                  metadata={"format": FORMAT})
        os.replace(partial, path)
    except (OSError, RuntimeError) as exc:
        path.with_suffix(".partial").unlink(missing_ok=True)
        log.warning("int8 weights not kept in %s (%s)", cache, exc)
        return None
    same_folder = re.compile(re.escape(Path(source).resolve().name) + r"-[0-9a-f]{16}\.safetensors")
    for old in cache.iterdir():
        if old != path and same_folder.fullmatch(old.name):
            old.unlink(missing_ok=True)
    return path
