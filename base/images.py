"""Value helpers for pictures that every layer uses."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image


def image_fingerprint(image: Image.Image) -> str:
    """A stable hash of the pixels, size and mode: equal pictures give equal strings, so a
    screenshot already encoded is recognized and encoded once."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{image.mode}:{image.width}x{image.height}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()
