"""Keys for what is derived from a model folder and cached on disk (compiled or int8 weights)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def weights_key(source: str | Path, extra: str) -> str:
    """Changes when the folder, its weight files or config change, or when `extra` does."""
    digest = hashlib.blake2b(digest_size=8)
    folder = Path(source).resolve()
    digest.update(str(folder).encode())
    for path in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("config.json")):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    digest.update(extra.encode())
    return digest.hexdigest()
