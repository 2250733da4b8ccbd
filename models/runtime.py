"""CPU/GPU runtime choices for torch: threads, dtype, quantization."""

from __future__ import annotations

import os
from pathlib import Path


def physical_cores() -> int:
    """Physical cores (hyperthreads slow matmul-bound work down), at least 1."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return os.cpu_count() or 1
    pairs = set()
    phys = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "physical id":
            phys = value.strip()
        elif key.strip() == "core id":
            pairs.add((phys, value.strip()))
    return len(pairs) or os.cpu_count() or 1


def cpu_has_native_bf16() -> bool:
    """True where the CPU computes bfloat16 natively (AVX512-BF16 or AMX); elsewhere bf16 is far slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def configure_threads(threads: int | None) -> int:
    """Set torch's intra-op threads (0/None = physical cores); returns the number used."""
    import torch

    wanted = threads or physical_cores()
    torch.set_num_threads(wanted)
    return wanted


def pick_dtype(device: str, requested: str | None = None):
    """float32 on CPUs without native bf16, bfloat16 on CUDA, or what the caller asked for."""
    import torch

    if requested:
        return getattr(torch, requested)
    if device.startswith("cuda"):
        return torch.bfloat16
    return torch.bfloat16 if cpu_has_native_bf16() else torch.float32


def quantize_linear_int8(module):
    """Dynamic int8 quantization of every nn.Linear (CPU only); returns the module."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    return quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
