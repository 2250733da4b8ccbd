"""The models the engine calls for; switching one in the settings takes effect at the next request."""

from __future__ import annotations

import threading
from typing import Any

from assistant.engine import ModelLoader


class VisionSlot:
    """Callable like ModelLoader (loads on first call, on the model worker), but switchable."""

    def __init__(self, source: str, quantize: bool = True, threads: int | None = None) -> None:
        self._lock = threading.Lock()
        self._loader = ModelLoader(source, quantize=quantize, threads=threads)

    @property
    def source(self) -> str:
        return self._loader.source

    @property
    def loaded(self) -> bool:
        return self._loader.loaded

    def switch(self, source: str, quantize: bool, threads: int | None) -> bool:
        """Use another model from the next request on; True when something changed."""
        with self._lock:
            old = self._loader
            if (old.source, old.quantize, old.threads) == (str(source), quantize, threads):
                return False
            self._loader = ModelLoader(source, quantize=quantize, threads=threads)
            return True

    def __call__(self) -> Any:
        with self._lock:
            loader = self._loader
        return loader()


class SpeechSlot:
    """Loads the speech recognizer on first use (on the model worker); switchable like VisionSlot."""

    def __init__(self, source: str, threads: int | None = None) -> None:
        self._lock = threading.Lock()
        self.source = source
        self.threads = threads
        self._model: Any = None

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def switch(self, source: str) -> bool:
        with self._lock:
            if source == self.source:
                return False
            self.source, self._model = source, None
            return True

    def __call__(self) -> Any:
        with self._lock:
            model, source = self._model, self.source
        if model is None:
            from models.speech import SpeechRecognizer
            from models.store import resolve

            model = SpeechRecognizer.load(resolve(source), threads=self.threads)
            with self._lock:
                if self.source == source:
                    self._model = model
        return model
