"""What this computer has for the models, read without loading torch: memory and a GPU."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

from base.vocabulary import Tier


def total_memory_mb() -> int | None:
    """The computer's physical memory in MB (within a cgroup limit), or None when unreadable."""
    total: int | None = None
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20
    except (ValueError, OSError, AttributeError):
        total = _macos_memory_mb()
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max" and total is not None:
            total = min(total, int(limit) // 2**20)
    except (OSError, ValueError):
        pass
    return total


def _macos_memory_mb() -> int | None:
    if sys.platform != "darwin":
        return None
    import subprocess

    try:
        out = subprocess.run(["sysctl", "-n", "hw.memsize"], capture_output=True, text=True,
                             timeout=5, check=True).stdout
        return int(out.strip()) // 2**20
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def has_gpu() -> bool:
    """An NVIDIA driver is installed (Linux, Windows) or this is a Mac with Apple silicon.

    A cheap guess for the setup's recommendation; the loader asks torch what is usable."""
    if sys.platform == "darwin":
        return platform.machine() == "arm64"
    if sys.platform.startswith("linux"):
        return Path("/proc/driver/nvidia/version").exists()
    if sys.platform == "win32":
        system = Path(os.environ.get("SystemRoot", r"C:\Windows")) / "System32"
        return (system / "nvcuda.dll").exists()
    return False


def recommended_tier_here() -> Tier:
    """The setup's first choice for this computer (catalog.recommended_tier of its RAM and GPU)."""
    from models.catalog import recommended_tier

    return recommended_tier(total_memory_mb() or 0, has_gpu())
