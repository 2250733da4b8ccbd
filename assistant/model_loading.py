"""The one place models are loaded: resolve the source, check the memory, load on first use on the
model worker, and swap to another model when the settings change.

Folder checks (safetensors only, the right files, the right role) are store.check_loadable's,
which each model's own load() runs; this module decides when and which model loads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from PIL import Image

from assistant.ports import SpeechToText, TextReader, VisionModel
from base.vocabulary import Role

log = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M")

GROUND_OCR_THREADS = 1  # ONNX Runtime threads of the recognizer beside the encoder (on the calling thread)


def check_source(source: str | Path, role: Role) -> Path:
    """The folder of `source` (a catalog id or a folder), checked to be loadable as a `role` model
    (ModelError with what to do otherwise), without loading it."""
    from models.store import check_loadable, resolve

    folder = resolve(str(source))
    check_loadable(folder, role=role)
    return folder


def hears_audio(source: str | Path) -> bool:
    """The vision model `source` (a catalog id or a folder) takes spoken questions as audio
    (Gemma 4), so voice questions need no speech recognizer; read from the catalog or the
    folder's config.json without loading anything. False when it cannot be told."""
    from base.errors import ScreenSightError
    from models import catalog

    try:
        return catalog.get_model(str(source)).family == "gemma4"
    except ScreenSightError:
        pass
    from models.loader import vision_family

    try:
        return vision_family(Path(source)) == "gemma4"
    except ScreenSightError:
        return False


class Ready(Generic[T]):
    """A model that is loaded already (tests, the benchmark): a provider that never loads."""

    loaded = True

    def __init__(self, model: T) -> None:
        self.model = model

    def __call__(self, progress: Callable[[float], None] | None = None) -> T:
        return self.model


class LazyModel(Generic[M]):
    """Loads a model on first use, on the worker thread (never the UI thread)."""

    def __init__(self, source: str | Path, threads: int | None = None, device: str = "cpu") -> None:
        self.source = str(source)
        self.threads = threads
        self.device = device
        self._model: M | None = None

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def loaded_model(self) -> M | None:
        """The model when it is loaded, else None (never loads)."""
        return self._model

    def unload(self) -> None:
        """Drop the loaded model (it is loaded again on next use)."""
        self._model = None

    def options(self) -> tuple:
        """What decides which model this loads (a changed tuple means another model)."""
        return (self.source, self.threads, self.device)

    def __call__(self, progress: Callable[[float], None] | None = None) -> M:
        if self._model is None:
            from models.store import check_memory, resolve

            folder = resolve(self.source)
            check_memory(folder)
            self._model = self._load(folder, progress)
        return self._model

    def _load(self, folder: Path, progress: Callable[[float], None] | None) -> M:
        raise NotImplementedError


class VisionModelLoader(LazyModel[VisionModel]):
    """The vision-language model."""

    def __init__(self, source: str | Path, quantize: bool = True, threads: int | None = None,
                 device: str = "auto", openvino: bool = False, dtype: str | None = None) -> None:
        super().__init__(source, threads, str(device))  # a Device word or a torch device name
        self.quantize = quantize
        self.openvino = openvino  # the vision encoder in OpenVINO where it is installed and faster
        self.dtype = dtype  # every float part in this dtype ("float32"...); None: chosen per processor

    def options(self) -> tuple:
        return (*super().options(), self.quantize, self.openvino, self.dtype)

    def _load(self, folder: Path, progress: Callable[[float], None] | None) -> VisionModel:
        from models.loader import load_vision_model

        return load_vision_model(folder, device=self.device, threads=self.threads, quantize=self.quantize,
                                 dtype=self.dtype, openvino=self.openvino, progress=progress)


class SpeechModelLoader(LazyModel[SpeechToText]):
    """The speech recognizer (int8 on the CPU unless `quantize` is off, as for the vision model)."""

    def __init__(self, source: str | Path, threads: int | None = None, quantize: bool = True) -> None:
        super().__init__(source, threads)
        self.quantize = quantize

    def options(self) -> tuple:
        return (*super().options(), self.quantize)

    def _load(self, folder: Path, progress: Callable[[float], None] | None) -> SpeechToText:
        from models.speech import SpeechRecognizer

        return SpeechRecognizer.load(folder, device=self.device, threads=self.threads, quantize=self.quantize)


class ModelSlot(Generic[M]):
    """Callable like its loader (loads on first call, on the model worker), but switchable: a switch
    in the settings takes effect at the next request."""

    def __init__(self, loader: LazyModel[M]) -> None:
        self._lock = threading.Lock()
        self._loader = loader

    @property
    def source(self) -> str:
        return self._loader.source

    @property
    def loaded(self) -> bool:
        return self._loader.loaded

    def _switch(self, loader: LazyModel[M]) -> bool:
        """Use `loader` from the next request on; True when it loads another model."""
        with self._lock:
            if loader.options() == self._loader.options():
                return False
            self._loader = loader
            return True

    def __call__(self, progress: Callable[[float], None] | None = None) -> M:
        with self._lock:
            loader = self._loader
        return loader(progress)


class VisionSlot(ModelSlot[VisionModel]):
    """The vision-language model of the settings."""

    def __init__(self, source: str, quantize: bool = True, threads: int | None = None,
                 device: str = "auto") -> None:
        super().__init__(VisionModelLoader(source, quantize=quantize, threads=threads, device=device))

    def switch(self, source: str, quantize: bool, threads: int | None, device: str = "auto") -> bool:
        return self._switch(VisionModelLoader(source, quantize=quantize, threads=threads, device=device))

    def placement(self) -> str:
        """Where the loaded model runs, in words ("the CPU, bfloat16"); "" before it is loaded."""
        with self._lock:
            model = self._loader.loaded_model
        if model is None:
            return ""
        from models.runtime import DEVICE_NAMES

        device = str(getattr(model, "device", "cpu"))
        dtype = str(getattr(model, "dtype", "")).removeprefix("torch.")
        where = DEVICE_NAMES.get(device.split(":", 1)[0], device)
        return f"{where}, {dtype}" if dtype else where


class SpeechSlot(ModelSlot[SpeechToText]):
    """The speech recognizer of the settings."""

    def __init__(self, source: str, threads: int | None = None, quantize: bool = True) -> None:
        super().__init__(SpeechModelLoader(source, threads=threads, quantize=quantize))

    def switch(self, source: str, quantize: bool = True) -> bool:
        return self._switch(SpeechModelLoader(source, threads=self._loader.threads, quantize=quantize))


# -- text recognition -------------------------------------------------------------------------

def ocr_language(language: str) -> str:
    """The language text recognition reads: the answer language; "auto" lets the script found decide."""
    return language or "auto"


class TextRecognizerLoader:
    """The text recognizer, made on first use on the worker thread and kept.

    engine "automatic" uses the registry's engines in order, moving on when one fails (the
    recognizer's notes say so); a name uses that engine only."""

    def __init__(self, engine: str = "automatic", language: str = "auto",
                 registry: Callable[[], Any] | None = None) -> None:
        self.engine = engine
        self.language = language
        self._registry = registry
        self._recognizer: TextReader | None = None

    @property
    def loaded(self) -> bool:
        return self._recognizer is not None

    @property
    def custom_registry(self) -> bool:
        """True when made with a registry of its own (tests), not the built-in engines."""
        return self._registry is not None

    def switch(self, engine: str, language: str) -> bool:
        """Use another engine or language from the next request on; True when that changes anything."""
        if (engine, ocr_language(language)) == (self.engine, ocr_language(self.language)):
            return False
        self.engine, self.language, self._recognizer = engine, language, None
        return True

    def __call__(self) -> TextReader:
        if self._recognizer is None:
            if self._registry is not None:
                registry = self._registry()
            else:
                from assistant.text_recognition.registry import default_registry

                registry = default_registry()
            language = ocr_language(self.language)
            if self.engine in ("", "automatic"):
                log.info("text recognition for %s: %s", language, "; ".join(registry.plan(language)))
                recognizer = registry.automatic(language)
                recognizer.read(Image.new("RGB", (32, 32), "white"))  # loads the first engine that works
            else:
                recognizer = registry.choose(language, self.engine).recognizer
            self._recognizer = recognizer
        return self._recognizer


def grounding_registry() -> Any:
    """The default engines with PP-OCR on GROUND_OCR_THREADS threads: with one, ONNX Runtime starts no
    pool threads of its own, so all its work stays on the lowered-priority grounding thread."""
    from assistant.text_recognition.base import PPOCR_LANGUAGES
    from assistant.text_recognition.registry import EngineEntry, default_registry

    registry = default_registry()
    registry.register(EngineEntry("PP-OCR", _one_thread_ppocr, languages=PPOCR_LANGUAGES), first=True)
    return registry


def _one_thread_ppocr(_language: str) -> Any:
    from base.errors import TextRecognitionError

    try:
        from assistant.text_recognition.ppocr import PPOCRRecognizer

        return PPOCRRecognizer(threads=GROUND_OCR_THREADS)
    except ImportError as exc:
        raise TextRecognitionError(f"ONNX Runtime is not installed ({exc}).") from exc


class GroundingRecognizer:
    """The recognizer that runs beside the vision encoder: the same engine and language as the
    Read text recognizer (`main`), its PP-OCR on one thread. A loader with its own registry (tests)
    or any other callable is used as it is."""

    def __init__(self, main: Callable[[], TextReader]) -> None:
        self.main = main
        self._loader: TextRecognizerLoader | None = None

    def __call__(self) -> TextReader:
        main = self.main
        if not isinstance(main, TextRecognizerLoader) or main.custom_registry:
            return main()
        if self._loader is None or (self._loader.engine, self._loader.language) != (main.engine, main.language):
            self._loader = TextRecognizerLoader(main.engine, main.language, registry=grounding_registry)
        return self._loader()
