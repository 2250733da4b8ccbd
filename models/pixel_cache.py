"""Encoded screenshots kept by their pixels and detail level: equal pixels are encoded once."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Generic, TypeVar

from base.images import image_fingerprint

PIXEL_CACHE_SIZE = 2  # encoded screenshots kept (a few MB each): the last two targets

C = TypeVar("C")


class PixelCache(Generic[C]):
    """The newest `size` encoded contexts, keyed by the image's fingerprint and the detail."""

    def __init__(self, size: int = PIXEL_CACHE_SIZE) -> None:
        self._size = size
        self._contexts: OrderedDict[tuple[str, str], C] = OrderedDict()

    @property
    def size(self) -> int:
        return self._size

    def resize(self, size: int) -> None:
        """Keep at most `size` contexts, the newest (0 turns the cache off and empties it)."""
        if size < 0:
            raise ValueError(f"pixel cache size must be 0 or more, not {size}")
        self._size = size
        self._trim()

    def clear(self) -> None:
        self._contexts.clear()

    @staticmethod
    def key(image: Any, detail: str) -> tuple[str, str]:
        return image_fingerprint(image), str(detail)

    def get(self, key: tuple[str, str]) -> C | None:
        """The kept context for `key` (now the newest), or None."""
        found = self._contexts.get(key)
        if found is not None:
            self._contexts.move_to_end(key)
        return found

    def put(self, key: tuple[str, str], context: C) -> None:
        if self._size > 0:
            self._contexts[key] = context
            self._trim()

    def _trim(self) -> None:
        while len(self._contexts) > self._size:
            self._contexts.popitem(last=False)


class KeepsEncodedImages:
    """A model's public control of its pixel cache (`self.pixel_cache`)."""

    pixel_cache: PixelCache[Any]

    @property
    def pixel_cache_size(self) -> int:
        """How many encoded screenshots are kept for an encode of equal pixels (0: none)."""
        return self.pixel_cache.size

    def set_pixel_cache_size(self, size: int) -> None:
        """Keep at most `size` encoded screenshots, the newest (0 turns the cache off and empties it)."""
        self.pixel_cache.resize(size)

    def clear_pixel_cache(self) -> None:
        """Forget the encoded screenshots kept: the next encode of any pixels runs the encoder."""
        self.pixel_cache.clear()
