"""The models the engine calls for; switching one in the settings takes effect at the next request."""

from __future__ import annotations

import threading
from typing import Any

from assistant.engine import LazyModel, ModelLoader, RecognizerLoader


class ModelSlot:
    """Callable like its loader (loads on first call, on the model worker), but switchable."""

    def __init__(self, loader: LazyModel) -> None:
        self._lock = threading.Lock()
        self._loader = loader

    @property
    def source(self) -> str:
        return self._loader.source

    @property
    def loaded(self) -> bool:
        return self._loader.loaded

    def _switch(self, loader: LazyModel) -> bool:
        """Use `loader` from the next request on; True when it loads another model."""
        with self._lock:
            if loader.options() == self._loader.options():
                return False
            self._loader = loader
            return True

    def __call__(self) -> Any:
        with self._lock:
            loader = self._loader
        return loader()


class VisionSlot(ModelSlot):
    """The vision-language model of the settings."""

    def __init__(self, source: str, quantize: bool = True, threads: int | None = None) -> None:
        super().__init__(ModelLoader(source, quantize=quantize, threads=threads))

    def switch(self, source: str, quantize: bool, threads: int | None) -> bool:
        return self._switch(ModelLoader(source, quantize=quantize, threads=threads))


class SpeechSlot(ModelSlot):
    """The speech recognizer of the settings."""

    def __init__(self, source: str, threads: int | None = None) -> None:
        super().__init__(RecognizerLoader(source, threads=threads))

    def switch(self, source: str) -> bool:
        return self._switch(RecognizerLoader(source, threads=self._loader.threads))
