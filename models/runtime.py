"""CPU/GPU runtime settings for torch: threads, quantization, and keeping memory low (dtypes: kernel_paths)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import warnings
from pathlib import Path

_SAFETENSORS_DTYPES = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}
_MADV_DONTNEED = 4
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def prefer_passive_openmp() -> bool:
    """Make idle OpenMP threads sleep instead of spin (only effective before torch is imported).

    On a 2-core machine that also runs a screen reader, speech synthesis and our own threads,
    spinning threads steal the core the working thread needs: measured here under load, int8
    decoding fell from 9 to 0.3-1.5 tokens/s and a 70-token prefill took 8.5 s instead of 0.4 s.
    An explicit OMP_WAIT_POLICY in the environment wins. Returns True if the policy applies.
    """
    if "torch" in sys.modules:
        return os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE"
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return os.environ["OMP_WAIT_POLICY"].upper() == "PASSIVE"


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


def configure_threads(threads: int | None) -> int:
    """Set torch's intra-op threads (0/None = physical cores); returns the number used."""
    import torch

    wanted = threads or physical_cores()
    torch.set_num_threads(wanted)
    return wanted


DEVICE_NAMES = {"cpu": "the CPU", "cuda": "an NVIDIA GPU (CUDA)", "mps": "Apple's GPU (MPS)"}


def pick_device(requested: str = "auto") -> str:
    """"auto": CUDA when a GPU is usable, then Apple MPS, then the CPU; a device asked for by
    name is checked to be usable here (ModelError saying what to choose otherwise)."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    usable = {"cpu": True, "cuda": torch.cuda.is_available(),
              "mps": mps is not None and mps.is_available()}
    if requested and requested != "auto":
        kind = requested.split(":", 1)[0]
        if kind in usable and not usable[kind]:
            from base.errors import ModelError

            raise ModelError(f"The vision model is set to run on {DEVICE_NAMES[kind]}, but there is "
                             "none this program can use on this computer.",
                             "Choose Automatic or CPU for the device in Settings > Advanced.")
        return requested
    if usable["cuda"]:
        return "cuda"
    if usable["mps"]:
        return "mps"
    return "cpu"


def placement_reason(requested: str, device: str, dtype: str, gpu_first: bool = True) -> str:
    """Why the model runs on `device` in `dtype` ("bfloat16"...), in words for the self-test.

    gpu_first: the family takes a GPU when "auto" finds one (SmolVLM stays on the CPU)."""
    kind = device.split(":", 1)[0]
    if requested and requested != "auto":
        where = "chosen in Settings"
    elif kind == "cpu":
        where = ("automatic: no GPU was found" if gpu_first else
                 "automatic: this model's fast paths are on the CPU")
    else:
        where = f"automatic: {DEVICE_NAMES.get(kind, device)} was found"
    if kind == "cuda":
        why = "the GPU computes it natively" if dtype == "bfloat16" else "the GPU has no bfloat16"
    elif kind == "mps":
        why = "Apple's GPU computes it fastest"
    elif dtype == "bfloat16":
        why = "the processor computes it natively"
    elif dtype == "float32":
        why = "the processor has no native bfloat16"
    else:
        why = "chosen for this model's kernel paths"
    return f"{where}; {dtype} because {why}"


def pick_dtype(device: str, requested: str | None = None):
    """float32 on CPUs without native bf16, bfloat16 on CUDA (float16 where it has no bf16),
    float16 on MPS, or what the caller asked for."""
    import torch

    if requested:
        return getattr(torch, requested)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.startswith("mps"):
        return torch.float16
    from models.cpu_features import Feature, detect

    processor = detect()
    native = any(processor.has(f) for f in (Feature.AMX_BF16, Feature.AVX512_BF16, Feature.ARM_BF16))
    return torch.bfloat16 if native else torch.float32


def checkpoint_dtype(folder: Path) -> str | None:
    """The floating dtype the weights are stored in ("float32", "bfloat16", ...), or None."""
    from models.store import read_safetensors_header

    for path in sorted(Path(folder).glob("*.safetensors")):
        for name, entry in read_safetensors_header(path).items():
            if name != "__metadata__" and isinstance(entry, dict):
                dtype = _SAFETENSORS_DTYPES.get(str(entry.get("dtype")))
                if dtype:
                    return dtype
    return None


def _file_mappings(folder: Path) -> list[tuple[int, int]]:
    """Address ranges where this process has mapped the safetensors files of `folder`."""
    ranges = []
    try:
        lines = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return ranges
    root = str(Path(folder).resolve())
    for line in lines:
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and parts[5].startswith(root) and parts[5].endswith(".safetensors"):
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            ranges.append((lo, hi))
    return ranges


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


class FilePages:
    """Drops pages of memory-mapped weight files from this process once they have been used.

    The loader maps the checkpoint and reads it while quantizing; without this, every page
    read stays resident and the peak memory is the whole fp32 file plus the int8 model.
    Only ranges inside a mapping of the model's own .safetensors files are ever touched,
    and those pages are clean copies of the file (read again from disk if needed).
    """

    def __init__(self, folder: Path) -> None:
        self._libc = _libc()
        self._ranges = _file_mappings(folder) if self._libc is not None else []

    def release(self, tensor) -> None:
        """Forget the resident pages behind `tensor` if it lives in a weight-file mapping."""
        if not self._ranges or tensor is None or tensor.device.type != "cpu":
            return
        start = tensor.data_ptr()
        end = start + tensor.numel() * tensor.element_size()
        lo = (start + _PAGE - 1) // _PAGE * _PAGE
        hi = end // _PAGE * _PAGE
        if hi <= lo or not any(a <= lo and hi <= b for a, b in self._ranges):
            return
        self._libc.madvise(ctypes.c_void_p(lo), ctypes.c_size_t(hi - lo), _MADV_DONTNEED)


def trim_heap() -> None:
    """Give freed heap memory back to the system (glibc keeps it otherwise)."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def quantize_linear_int8(module, pages: FilePages | None = None):
    """Dynamic int8 quantization of every nn.Linear, one layer at a time (CPU only).

    Returns the module, or its quantized replacement when `module` itself is an nn.Linear.
    Each float weight is quantized and dropped before the next one, so memory never holds
    a second full-precision copy of the model.
    """
    import torch
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
    from torch.ao.quantization.qconfig import default_dynamic_qconfig

    def convert(linear):
        weight = linear.weight
        if weight.dtype != torch.float32:
            linear.float()
        linear.qconfig = default_dynamic_qconfig
        with warnings.catch_warnings():
            # torch 2.13 marks quantized tensor creation deprecated; it is what the kernels use.
            warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
            quantized = DynamicLinear.from_float(linear)
        if pages is not None:
            pages.release(weight)
        return quantized

    if type(module) is torch.nn.Linear:
        return convert(module)
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is torch.nn.Linear:
                setattr(parent, name, convert(child))
    return module


def own_float_weights(module, pages: FilePages | None = None, dtype=None, skip=()) -> None:
    """Copy parameters and buffers that still point into the weight file into `dtype` memory.

    `dtype` defaults to float32; modules in `skip` (and everything under them) are left alone.
    """
    import torch

    dtype = dtype or torch.float32
    skipped = {id(sub) for part in skip for sub in part.modules()}
    copies: dict[int, torch.Tensor] = {}  # tied weights stay tied
    for sub in module.modules():
        if id(sub) in skipped:
            continue
        for store in (sub._parameters, sub._buffers):
            for name, tensor in list(store.items()):
                if tensor is None or not tensor.is_floating_point():
                    continue
                if id(tensor) not in copies:
                    copy = tensor.detach().to(dtype, copy=True)
                    if isinstance(tensor, torch.nn.Parameter):
                        copy = torch.nn.Parameter(copy, requires_grad=tensor.requires_grad)
                    copies[id(tensor)] = copy
                    if pages is not None:
                        pages.release(tensor)
                store[name] = copies[id(tensor)]


def measure_matmul(m: int = 1024, k: int = 768, n: int = 3072, seconds: float = 1.0,
                   int8: bool = True, bf16: bool = True) -> dict[str, float]:
    """This machine's GFLOP/s on one (m x k) @ (k x n) matmul: float32, bfloat16, int8 dynamic
    linear, and (where oneDNN runs it) the prepacked u8s8 kernel alone, its input quantized once.

    The default shape is one linear layer of the vision encoder on one tile.
    """
    import time

    import torch

    flops = 2.0 * m * k * n
    x = torch.randn(m, k)
    w = torch.randn(n, k)
    results: dict[str, float] = {}

    def rate(fn) -> float:
        fn()
        count, start = 0, time.perf_counter()
        while True:
            fn()
            count += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds and count >= 3:
                return flops * count / elapsed / 1e9

    with torch.inference_mode():
        results["fp32_gflops"] = rate(lambda: torch.nn.functional.linear(x, w))
        if bf16:
            xb, wb = x.bfloat16(), w.bfloat16()
            results["bf16_gflops"] = rate(lambda: torch.nn.functional.linear(xb, wb))
        if int8:
            linear = torch.nn.Linear(k, n, bias=False)
            linear.weight.data.copy_(w)
            quantized = quantize_linear_int8(linear)
            results["int8_gflops"] = rate(lambda: quantized(x))
            u8s8 = _u8s8_matmul(x, w)
            if u8s8 is not None:
                results["u8s8_gflops"] = rate(u8s8)
    return results


def _u8s8_matmul(x, w):
    """oneDNN's prepacked u8s8 matmul of `x` (quantized once, outside the call) by `w`, as a
    call to time; None where that kernel does not run here."""
    import torch

    from models import encoder_int8

    if not encoder_int8.available()[0]:
        return None
    layer = encoder_int8._int8_linear_class()(w, None, x.shape[0], torch.float32)
    values, scale, zero_point, owner = encoder_int8.quantize_input(x)

    def call():
        return layer.matmul(values, scale, zero_point)

    call.owner = owner  # the quantized input stays alive while the call is timed
    return call
