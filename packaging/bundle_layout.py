"""What goes into the frozen ScreenSight bundle: hidden imports, metadata, exclusions, names.

Plain data and small functions, no PyInstaller import, so that packaging/screensight.spec and
tests/test_packaging.py read the same lists. Not a package on purpose (a top-level `packaging`
package would shadow the PyPI `packaging` that transformers needs): load it by path.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_NAME = "ScreenSight"
APP_ID = "org.screensight.ScreenSight"  # reverse-DNS id: .desktop file, AppStream, macOS bundle id
EXE_NAME = "screensight"  # Linux/macOS command; on Windows the GUI is ScreenSight.exe
WINDOWS_GUI_EXE = "ScreenSight"
WINDOWS_CLI_EXE = "screensight-cli"
ENTRY_SCRIPT = ROOT / "packaging" / "entry.py"
ICONS = ROOT / "packaging" / "icons"

# transformers loads model code lazily by name, so analysis cannot see it. These packages are
# imported explicitly (their .py files are shipped anyway; naming them lets PyInstaller find
# the third-party modules they import). Families: idefics3 (SmolVLM: llama text model, GPT-2
# tokenizer), moonshine and whisper (speech).
TRANSFORMERS_PACKAGES = (
    "transformers.models.auto",
    "transformers.models.idefics3",
    "transformers.models.llama",
    "transformers.models.gpt2",
    "transformers.models.moonshine",
    "transformers.models.whisper",
    "transformers.generation",
)

# Our own modules that are imported lazily (inside functions) or by name.
APP_PACKAGES = ("assistant", "base", "benchmark", "models", "screensight", "ui")

EXTRA_HIDDEN_IMPORTS = (
    "pyttsx3.drivers",
    "pyttsx3.drivers.dummy",
    "sounddevice",
    "mss",
)

# pynput picks its backend by platform at import time; PyInstaller's pynput hook finds them by
# importing pynput, which fails on a build machine without a display, so they are named here.
PLATFORM_HIDDEN_IMPORTS = (
    ("linux", ("pyttsx3.drivers.espeak", "pynput.keyboard._xorg", "pynput.mouse._xorg",
               "pynput._util.xorg", "pynput._util.xorg_keysyms", "pynput.keyboard._uinput",
               "pynput._util.uinput", "Xlib.ext.record", "Xlib.ext.xtest")),
    ("win32", ("pyttsx3.drivers.sapi5", "pynput.keyboard._win32", "pynput.mouse._win32",
               "pynput._util.win32", "pynput._util.win32_vks")),
    ("darwin", ("pyttsx3.drivers.nsss", "pynput.keyboard._darwin", "pynput.mouse._darwin",
                "pynput._util.darwin", "pynput._util.darwin_vks")),
)

# Distributions whose metadata must be inside the bundle: transformers and huggingface_hub check
# versions of these with importlib.metadata at import time.
METADATA = (
    "torch",
    "tokenizers",
    "huggingface_hub",
    "safetensors",
    "transformers",
    "numpy",
    "pillow",
    "packaging",
    "filelock",
    "regex",
    "pyyaml",
    "tqdm",
    "jinja2",
    "screensight",
)

# Never in the bundle: test tooling, developer tools, GUI toolkits we do not use.
EXCLUDED_MODULES = (
    "tkinter",
    "_tkinter",
    "pytest",
    "_pytest",
    "pytestqt",
    "hypothesis",
    "ruff",
    "pip",
    "IPython",
    "matplotlib",
    "tensorboard",
    "torch.utils.tensorboard",
    "torchvision",
    "PySide6.QtQml",
    "PySide6.QtQuick",
    "PySide6.QtWebEngineCore",
    "PySide6.Qt3DCore",
    "tests",
)

# Files dropped from the collected data and binaries (destination paths, '/' separated):
# torch's C++ test programs, headers, CMake files and build tools are not needed to run.
DROPPED = (
    "torch/test/*",
    "torch/bin/*",
    "torch/include/*",
    "torch/share/*",
    "torch/lib/*.a",
    "torch/lib/libtorchbind_test.*",
    "torch/lib/libjitbackend_test.*",
    "torch/lib/libbackend_with_compiler.*",
    "torch/lib/libaoti_custom_ops.*",
    "*.pyi",
    "*/__pycache__/*",
)
# Exceptions to DROPPED: torch refuses to import without its shared-memory manager.
KEPT = ("torch/bin/torch_shm_manager*",)


def platform_hidden_imports(platform: str) -> tuple[str, ...]:
    """The hidden imports for sys.platform `platform` ("linux", "win32", "darwin")."""
    for prefix, modules in PLATFORM_HIDDEN_IMPORTS:
        if platform.startswith(prefix):
            return modules
    return ()


def app_modules() -> list[str]:
    """Every module of our own packages, found on disk (importing them would skip the ones for
    other platforms, such as assistant.windows.win32 on Linux)."""
    names = []
    for package in APP_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names.append(".".join(parts))
    return names


def keep(dest: str) -> bool:
    """False for a bundle destination path that matches DROPPED (and not KEPT)."""
    path = dest.replace("\\", "/")
    if any(fnmatch.fnmatch(path, pattern) for pattern in KEPT):
        return True
    return not any(fnmatch.fnmatch(path, pattern) for pattern in DROPPED)


def is_runtime_module(name: str) -> bool:
    """False for modules the app never imports (transformers' modular_* sources, tests)."""
    leaf = name.rsplit(".", 1)[-1]
    return not (leaf.startswith("modular_") or leaf.startswith("convert_") or leaf == "tests"
                or ".tests." in name)


def version() -> str:
    """The project version from pyproject.toml (one place for every installer)."""
    with (ROOT / "pyproject.toml").open("rb") as fh:
        return str(tomllib.load(fh)["project"]["version"])


def macos_info_plist() -> dict:
    """packaging/macos/Info.plist with the version filled in."""
    import plistlib

    with (ROOT / "packaging" / "macos" / "Info.plist").open("rb") as fh:
        info = plistlib.load(fh)
    info["CFBundleShortVersionString"] = version()
    info["CFBundleVersion"] = version()
    return info
