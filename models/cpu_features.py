"""What this processor can compute fast: its vector/matrix features, any cap on them, and GPUs.

Read once at model load from the operating system (/proc/cpuinfo on Linux, sysctl on macOS,
IsProcessorFeaturePresent on Windows) and from torch's own kernel dispatch level. A cap set in
the environment (ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA) lowers what counts as usable, so a
machine capped to AVX2 chooses the paths an AVX2 laptop would.
"""

from __future__ import annotations

import enum
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path


class Feature(enum.Enum):
    """Processor features that decide which kernels are fast."""

    AVX2 = "avx2"
    AVX_VNNI = "avx_vnni"
    AVX512F = "avx512f"
    AVX512_VNNI = "avx512_vnni"
    AVX512_BF16 = "avx512_bf16"
    AVX512_FP16 = "avx512_fp16"
    AMX_TILE = "amx_tile"
    AMX_BF16 = "amx_bf16"
    AMX_INT8 = "amx_int8"
    NEON = "neon"
    ARM_BF16 = "arm_bf16"
    ARM_I8MM = "arm_i8mm"


class Accelerator(enum.Enum):
    """Devices torch can run the model on besides the CPU."""

    CUDA = "cuda"
    MPS = "mps"


# /proc/cpuinfo names: x86 "flags", ARM "Features".
_LINUX_FLAGS = {
    "avx2": Feature.AVX2, "avx_vnni": Feature.AVX_VNNI, "avx512f": Feature.AVX512F,
    "avx512_vnni": Feature.AVX512_VNNI, "avx512_bf16": Feature.AVX512_BF16,
    "avx512_fp16": Feature.AVX512_FP16, "amx_tile": Feature.AMX_TILE, "amx_bf16": Feature.AMX_BF16,
    "amx_int8": Feature.AMX_INT8, "asimd": Feature.NEON, "neon": Feature.NEON,
    "bf16": Feature.ARM_BF16, "i8mm": Feature.ARM_I8MM,
}
_SYSCTL_KEYS = {
    "hw.optional.avx2_0": Feature.AVX2, "hw.optional.avx512f": Feature.AVX512F,
    "hw.optional.avx512vnni": Feature.AVX512_VNNI, "hw.optional.neon": Feature.NEON,
    "hw.optional.AdvSIMD": Feature.NEON, "hw.optional.arm.FEAT_BF16": Feature.ARM_BF16,
    "hw.optional.arm.FEAT_I8MM": Feature.ARM_I8MM,
}
# IsProcessorFeaturePresent constants (winnt.h); finer x86 features are not exposed there.
_WINDOWS_PF = {40: Feature.AVX2, 41: Feature.AVX512F, 19: Feature.NEON}

_X86_LEVELS: tuple[tuple[str, frozenset[Feature]], ...] = (
    # oneDNN ISA names (ONEDNN_MAX_CPU_ISA), lowest first, with the features each one allows.
    ("SSE41", frozenset()),
    ("AVX", frozenset()),
    ("AVX2", frozenset({Feature.AVX2})),
    ("AVX2_VNNI", frozenset({Feature.AVX2, Feature.AVX_VNNI})),
    ("AVX2_VNNI_2", frozenset({Feature.AVX2, Feature.AVX_VNNI})),
    ("AVX512_CORE", frozenset({Feature.AVX2, Feature.AVX_VNNI, Feature.AVX512F})),
    ("AVX512_CORE_VNNI", frozenset({Feature.AVX2, Feature.AVX_VNNI, Feature.AVX512F,
                                    Feature.AVX512_VNNI})),
    ("AVX512_CORE_BF16", frozenset({Feature.AVX2, Feature.AVX_VNNI, Feature.AVX512F,
                                    Feature.AVX512_VNNI, Feature.AVX512_BF16})),
    ("AVX512_CORE_FP16", frozenset({Feature.AVX2, Feature.AVX_VNNI, Feature.AVX512F,
                                    Feature.AVX512_VNNI, Feature.AVX512_BF16,
                                    Feature.AVX512_FP16})),
)
_ATEN_LEVELS = {"default": "AVX", "avx2": "AVX2"}  # ATEN_CPU_CAPABILITY values that cap


def _arm_only() -> frozenset[Feature]:
    return frozenset({Feature.NEON, Feature.ARM_BF16, Feature.ARM_I8MM})


def parse_linux_cpuinfo(text: str) -> frozenset[Feature]:
    """Features named on the first "flags" (x86) or "Features" (ARM) line of /proc/cpuinfo."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return frozenset(_LINUX_FLAGS[f] for f in value.split() if f in _LINUX_FLAGS)
    return frozenset()


def parse_sysctl(text: str) -> frozenset[Feature]:
    """Features set to 1 in `sysctl hw.optional` output ("hw.optional.neon: 1" lines)."""
    found = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        feature = _SYSCTL_KEYS.get(key.strip())
        if feature is not None and value.strip() == "1":
            found.add(feature)
    return frozenset(found)


def windows_features(present: Callable[[int], bool]) -> frozenset[Feature]:
    """Features reported by IsProcessorFeaturePresent (passed in, so it can be tested anywhere)."""
    return frozenset(feature for code, feature in _WINDOWS_PF.items() if present(code))


# torch.cpu probes (cpuinfo-based, so they work on every OS) and what each one proves.
_TORCH_PROBES = {
    "_is_avx2_supported": (Feature.AVX2,),
    "_is_avx512_supported": (Feature.AVX512F,),
    "_is_vnni_supported": (Feature.AVX512_VNNI,),
    "_is_avx512_bf16_supported": (Feature.AVX512_BF16,),
    # Every AMX processor so far has all three parts; Windows tells nothing finer.
    "_is_amx_tile_supported": (Feature.AMX_TILE, Feature.AMX_BF16, Feature.AMX_INT8),
}


def features_from_torch(capability: str | None,
                        probes: Mapping[str, bool] | None = None) -> frozenset[Feature]:
    """What torch proves: its dispatch level ("AVX512", "AVX2") and its torch.cpu probes."""
    level = (capability or "").upper()
    found = {Feature.AVX2, Feature.AVX512F} if level == "AVX512" else set()
    if level == "AVX2":
        found.add(Feature.AVX2)
    for name, yes in (probes or {}).items():
        if yes:
            found.update(_TORCH_PROBES.get(name, ()))
    return frozenset(found)


def isa_cap(environ: Mapping[str, str]) -> str | None:
    """The lowest processor cap set in the environment (a oneDNN ISA name), or None."""
    caps = []
    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        value = environ.get(name, "").strip().upper()
        if value and value != "ALL":
            caps.append(value)
    aten = _ATEN_LEVELS.get(environ.get("ATEN_CPU_CAPABILITY", "").strip().lower())
    if aten:
        caps.append(aten)
    order = [name for name, _ in _X86_LEVELS]
    known = [c for c in caps if c in order]
    return min(known, key=order.index) if known else None


def apply_cap(features: Iterable[Feature], cap: str | None) -> frozenset[Feature]:
    """`features` limited to what the oneDNN ISA `cap` allows (ARM features are never capped)."""
    features = frozenset(features)
    allowed = dict(_X86_LEVELS).get(cap or "")
    if allowed is None:
        return features
    return (features & allowed) | (features & _arm_only())


@dataclass(frozen=True)
class Processor:
    """The processor as the model runtime sees it."""

    arch: str
    features: frozenset[Feature]
    torch_capability: str | None = None
    cap: str | None = None
    accelerators: frozenset[Accelerator] = frozenset()

    @property
    def usable(self) -> frozenset[Feature]:
        """Features kernels may use here: after the environment's cap and torch's own level."""
        usable = apply_cap(self.features, self.cap)
        level = (self.torch_capability or "").upper()
        if level in ("AVX2", "DEFAULT", "NO AVX"):
            usable = apply_cap(usable, "AVX2" if level == "AVX2" else "AVX")
        return usable

    def has(self, feature: Feature) -> bool:
        return feature in self.usable

    @property
    def native_bf16(self) -> bool:
        """True where bfloat16 matmuls run in hardware (AMX or AVX-512 BF16)."""
        return self.has(Feature.AMX_BF16) or self.has(Feature.AVX512_BF16)

    def describe(self) -> str:
        """One line for logs and reports, e.g. "x86_64: avx2 avx512f amx_bf16 (torch AVX512)"."""
        names = " ".join(f.value for f in Feature if f in self.usable) or "no vector features known"
        extra = [f"torch {self.torch_capability}"] if self.torch_capability else []
        hidden = sorted(f.value for f in self.features - self.usable)
        if self.cap:
            extra.append(f"capped to {self.cap}")
        if hidden:
            extra.append("not used: " + " ".join(hidden))
        extra += [a.value for a in Accelerator if a in self.accelerators]
        return f"{self.arch}: {names}" + (f" ({'; '.join(extra)})" if extra else "")

    def as_dict(self) -> dict[str, object]:
        return {"arch": self.arch, "features": sorted(f.value for f in self.features),
                "usable": sorted(f.value for f in self.usable),
                "torch_capability": self.torch_capability, "cap": self.cap,
                "accelerators": sorted(a.value for a in self.accelerators)}


def os_features() -> frozenset[Feature]:
    """The features the operating system reports for this processor (empty if it cannot say)."""
    if sys.platform.startswith("linux"):
        try:
            return parse_linux_cpuinfo(Path("/proc/cpuinfo").read_text())
        except OSError:
            return frozenset()
    if sys.platform == "darwin":
        try:
            done = subprocess.run(["sysctl", "hw.optional"], capture_output=True, text=True,
                                  timeout=5, check=False)
        except (OSError, subprocess.SubprocessError):
            return frozenset()
        return parse_sysctl(done.stdout)
    if sys.platform == "win32":
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        return windows_features(lambda code: bool(kernel32.IsProcessorFeaturePresent(code)))
    return frozenset()


def torch_capability() -> str | None:
    """torch's CPU kernel level ("AVX512", "AVX2", "DEFAULT"...), or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    get = getattr(torch.backends.cpu, "get_cpu_capability", None)
    return str(get()) if get is not None else None


def torch_probes() -> dict[str, bool]:
    """The torch.cpu feature probes this torch has, and their answers (empty without torch)."""
    try:
        import torch.cpu
    except ImportError:
        return {}
    found = {}
    for name in _TORCH_PROBES:
        probe = getattr(torch.cpu, name, None)
        if probe is not None:
            found[name] = bool(probe())
    return found


def accelerators() -> frozenset[Accelerator]:
    """CUDA and MPS devices torch can use here."""
    try:
        import torch
    except ImportError:
        return frozenset()
    found = set()
    if torch.cuda.is_available():
        found.add(Accelerator.CUDA)
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.add(Accelerator.MPS)
    return frozenset(found)


def detect(environ: Mapping[str, str] | None = None) -> Processor:
    """This machine's processor, read now (imports torch)."""
    environ = os.environ if environ is None else environ
    capability = torch_capability()
    features = os_features() | features_from_torch(capability, torch_probes())
    return Processor(arch=platform.machine() or "unknown", features=features,
                     torch_capability=capability, cap=isa_cap(environ),
                     accelerators=accelerators())
