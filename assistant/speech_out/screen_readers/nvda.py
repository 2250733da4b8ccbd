"""NVDA through its controller client DLL (nvdaControllerClient64.dll / 32.dll), by ctypes.

The DLL comes from the Windows-only dependency accessible_output2, which ships NVDA's own
controller client; only the file is used (found without importing the package), the calls are
ours. Nothing here is imported or loaded until NVDA is asked for, so it imports on any system.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import struct
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant.speech_out.screen_readers.base import ScreenReader, Spoken

log = logging.getLogger(__name__)

DLL_PACKAGE = "accessible_output2"


def dll_name(pointer_bits: int | None = None) -> str:
    bits = pointer_bits or struct.calcsize("P") * 8
    return "nvdaControllerClient64.dll" if bits == 64 else "nvdaControllerClient32.dll"


def find_dll(package: str = DLL_PACKAGE, pointer_bits: int | None = None) -> Path | None:
    """The controller client inside the installed package (or a frozen app's copy of it)."""
    roots: list[Path] = []
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.submodule_search_locations:
        roots.extend(Path(location) for location in spec.submodule_search_locations)
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        roots.append(Path(frozen) / package)
    for root in roots:
        candidate = root / "lib" / dll_name(pointer_bits)
        if candidate.is_file():
            return candidate
    return None


def load_controller(path: Path) -> Any:
    """Load the DLL and declare the functions used (each returns a Windows error code, 0 is OK)."""
    lib = ctypes.WinDLL(str(path))  # type: ignore[attr-defined]  # Windows only
    for name, args in (("nvdaController_testIfRunning", ()), ("nvdaController_cancelSpeech", ()),
                       ("nvdaController_speakText", (ctypes.c_wchar_p,)),
                       ("nvdaController_brailleMessage", (ctypes.c_wchar_p,))):
        function = getattr(lib, name)
        function.argtypes = list(args)
        function.restype = ctypes.c_ulong
    return lib


class NVDAReader(ScreenReader):
    """NVDA: speakText queues in NVDA's own speech (its voice, rate, language); cancelSpeech stops it."""

    name = "nvda"
    description = "NVDA"
    braille_only = True

    def __init__(self, loader: Callable[[], Any] | None = None) -> None:
        self._loader = loader or self._load
        self._lock = threading.Lock()
        self._lib: Any = None
        self._problem = ""

    def _load(self) -> Any:
        if sys.platform != "win32":
            raise OSError("NVDA runs on Windows only")
        path = find_dll()
        if path is None:
            raise OSError(f"{dll_name()} was not found (is {DLL_PACKAGE} installed?)")
        return load_controller(path)

    def _controller(self) -> Any:
        with self._lock:
            if self._lib is None and not self._problem:
                try:
                    self._lib = self._loader()
                except OSError as exc:
                    self._problem = str(exc)
                    log.info("NVDA controller unavailable: %s", exc)
            return self._lib

    def is_running(self) -> bool:
        lib = self._controller()
        return lib is not None and lib.nvdaController_testIfRunning() == 0

    def speak(self, text: str, interrupt: bool = False) -> Spoken:
        lib = self._controller()
        if lib is None:
            return Spoken.failed(self._problem)
        if interrupt:
            lib.nvdaController_cancelSpeech()
        code = lib.nvdaController_speakText(text)
        return Spoken.handed_over() if code == 0 else Spoken.failed(f"NVDA refused the text (error {code})")

    def braille(self, text: str) -> Spoken:
        lib = self._controller()
        if lib is None:
            return Spoken.failed(self._problem)
        code = lib.nvdaController_brailleMessage(text)
        return Spoken.handed_over() if code == 0 else Spoken.failed(f"NVDA refused the braille (error {code})")

    def cancel(self) -> None:
        # The controller API has no per-client cancel: this silences NVDA's current speech.
        lib = self._controller()
        if lib is not None:
            lib.nvdaController_cancelSpeech()
