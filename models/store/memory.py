"""Is there memory enough to run a model? Free memory now, a folder's estimate, and a smaller model to suggest."""

from __future__ import annotations

import os
from pathlib import Path

from base.errors import ModelError
from models.catalog import ModelInfo, all_models, family_of_model_type
from models.store.layout import catalog_entry_for, safetensors_files
from models.store.loadable import read_config
from models.store.safetensors import DTYPE_BYTES, read_safetensors_header


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


def estimate_ram_mb(folder: Path) -> int:
    """RAM to run a folder's weights: fp32 size x 1.3 plus 200 MB (the catalog's rule)."""
    dtype_bytes = dict(DTYPE_BYTES)
    params = 0
    for path in safetensors_files(folder):
        header = read_safetensors_header(path)
        for key, entry in header.items():
            if key == "__metadata__":
                continue
            begin, end = entry["data_offsets"]
            per = dtype_bytes.get(str(entry.get("dtype")), 1)
            params += (end - begin) // per
    return int(params * 4 / 1e6 * 1.3) + 200


def check_memory(info_or_folder: ModelInfo | Path | str, available_mb: int | None = None) -> None:
    """ModelError suggesting a smaller model when too little memory is free to run this one."""
    if isinstance(info_or_folder, ModelInfo):
        info: ModelInfo | None = info_or_folder
        needed, label, role = info_or_folder.ram_mb, info_or_folder.label, info_or_folder.role
    else:
        folder = Path(info_or_folder)
        info = catalog_entry_for(folder)
        if info is not None:
            needed, label, role = info.ram_mb, info.label, info.role
        else:
            needed, label = estimate_ram_mb(folder), f"The model in {folder}"
            kind = family_of_model_type(str(read_config(folder).get("model_type", "")))
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
