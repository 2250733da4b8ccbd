"""Which dtype and kernels each part of the vision-language model runs with on this processor.

The encoder (vision tower + connector), the prefill of the prompt and the token-by-token
decode need not agree: the encoder is one large batch of matmuls, decode is matrix-vector
work bound by memory. Rules measured on a 2-core Xeon (AMX, AVX-512 BF16/VNNI/FP16), one
512-pixel tile, 2 threads, capping the ISA with ONEDNN_MAX_CPU_ISA for the lower levels:

- encoder: bf16 0.29 s vs int8 dynamic 0.52 s with AMX; on AVX2 bf16 is far slower (5.9 vs
  0.58 s). On a real AVX-512 BF16 processor without AMX (2-core EPYC) torch's bf16 encoder with
  SDPA took 0.57 s against int8 dynamic's 0.50 s, and the prepacked bf16 kernels
  (models.encoder_kernels: oneDNN layout, GELU fused into fc1, attention as bf16 matmuls)
  0.37 s, so those are chosen there. With AVX-512 VNNI, when int8 is allowed, oneDNN's
  prepacked u8s8 kernels (models.encoder_int8) beat those: 0.52-0.61 s against 0.69-0.74 s
  for the prepacked bf16 encoder on a later, busier day on that EPYC, interleaved. Their
  attention stays bf16 matmuls only where bf16 is in hardware: on a 2-core AVX-512 VNNI Xeon
  without BF16 (as Ice Lake and Tiger Lake laptops) those took 0.98 s of a 1.29-1.45 s encoder,
  and torch's fused float32 attention brought it to 0.74-0.86 s (interleaved, same cosine).
- prefill and decode share the KV cache, so one dtype: int8 dynamic decodes at 40 tokens/s on
  one thread against 19.5 for bf16; the 80-token prefill is about the same (0.12 vs 0.10 s).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from models.cpu_features import Feature, Processor


class Kernel(enum.Enum):
    """The number format a part computes in."""

    FLOAT32 = "float32"
    BFLOAT16 = "bfloat16"
    FLOAT16 = "float16"
    INT8_DYNAMIC = "int8-dynamic"  # int8 weights, activations quantized per call, float32 around
    INT8_WEIGHTS = "int8-weights"  # int8 weights, activations in bfloat16 (weight-only)

    @property
    def torch_dtype_name(self) -> str:
        """The torch dtype the part's float tensors are kept in."""
        return {Kernel.INT8_DYNAMIC: "float32", Kernel.INT8_WEIGHTS: "bfloat16"}.get(self, self.value)


class Attention(enum.Enum):
    """How a prepacked encoder computes its attention."""

    BF16_MATMULS = "bf16 matmuls"  # two bf16 matmuls around a softmax: fastest where bf16 is in hardware
    FUSED_FLOAT32 = "fused float32"  # torch's fused (flash) attention: where bf16 is emulated


class Runtime(enum.Enum):
    """The library a part runs in."""

    TORCH = "torch"
    OPENVINO = "openvino"  # optional: the encoder converted from the model's own files


@dataclass(frozen=True)
class PartPath:
    """How one part runs: its kernel, threads (0 = the model's setting), runtime and why."""

    kernel: Kernel
    threads: int = 0
    reason: str = ""
    runtime: Runtime = Runtime.TORCH
    packed: bool = False  # weights prepacked for oneDNN (bf16, or int8 for int8-dynamic), fused GELU
    attention: Attention | None = None  # a prepacked encoder's attention; None: transformers' own

    def describe(self) -> str:
        threads = f" on {self.threads} thread{'s' if self.threads != 1 else ''}" if self.threads else ""
        via = "" if self.runtime is Runtime.TORCH else f" via {self.runtime.value}"
        packed = " prepacked" if self.packed else ""
        attention = f" (attention {self.attention.value})" if self.attention else ""
        return f"{self.kernel.value}{packed}{attention}{threads}{via}"


@dataclass(frozen=True)
class ModelPaths:
    """The path of each part of the model."""

    device: str
    encoder: PartPath
    prefill: PartPath
    decode: PartPath

    def describe(self) -> str:
        """One line, e.g. "encoder bfloat16, prefill int8-dynamic, decode int8-dynamic on 1 thread"."""
        return (f"encoder {self.encoder.describe()}, prefill {self.prefill.describe()}, "
                f"decode {self.decode.describe()}" + ("" if self.device == "cpu" else f" ({self.device})"))

    def as_dict(self) -> dict[str, object]:
        return {"device": self.device, **{
            name: {"kernel": part.kernel.value, "threads": part.threads, "reason": part.reason,
                   "runtime": part.runtime.value, "packed": part.packed,
                   "attention": part.attention.value if part.attention else None}
            for name, part in (("encoder", self.encoder), ("prefill", self.prefill),
                               ("decode", self.decode))}}

    @property
    def mixed(self) -> bool:
        """True when the encoder keeps other float tensors than the language model."""
        return self.encoder.kernel.torch_dtype_name != self.prefill.kernel.torch_dtype_name


DECODE_THREADS = 1  # see VisionLanguageModel: one thread decodes as fast when idle, far faster under load


def choose_paths(processor: Processor, device: str = "cpu", quantize: bool = True,
                 dtype: str | None = None, openvino: bool = False) -> ModelPaths:
    """The fastest correct path per part for `processor` (feature sets in, paths out).

    `quantize` allows int8 dynamic kernels on the CPU; `dtype` ("float32", "bfloat16"...) forces
    the float format of every part that is not int8; `openvino` allows the encoder in OpenVINO
    where it was measured faster (bf16 on AMX: 0.17-0.22 s per tile against torch's 0.27-0.41 s;
    on AVX-512 BF16 0.31 s against the prepacked torch kernels' 0.37 s).
    """
    if device.startswith("cuda") or device == "mps":
        kernel = Kernel(dtype) if dtype else (Kernel.BFLOAT16 if device.startswith("cuda")
                                              else Kernel.FLOAT16)
        part = PartPath(kernel, reason=f"{device} computes in {kernel.value}")
        return ModelPaths(device, part, part, part)
    if dtype:
        forced = Kernel(dtype)
        encoder = PartPath(forced, reason=f"{dtype} asked for")
        lm_float = PartPath(forced, reason=f"{dtype} asked for")
    elif processor.native_bf16 and openvino:
        encoder = PartPath(Kernel.BFLOAT16, reason="OpenVINO's bf16 kernels, measured faster than torch's",
                           runtime=Runtime.OPENVINO)
        lm_float = PartPath(Kernel.BFLOAT16, reason="bf16 matmuls in hardware")
    elif processor.has(Feature.AMX_BF16):
        encoder = PartPath(Kernel.BFLOAT16, reason="AMX computes bf16 matmuls in hardware")
        lm_float = PartPath(Kernel.BFLOAT16, reason="AMX computes bf16 matmuls in hardware")
    else:
        bf16 = processor.native_bf16
        lm_float = PartPath(Kernel.BFLOAT16 if bf16 else Kernel.FLOAT32,
                            reason="AVX-512 BF16" if bf16 else "no native bf16 on this processor")
        encoder = lm_float
        if quantize and processor.has(Feature.AVX512_VNNI):
            encoder = PartPath(Kernel.INT8_DYNAMIC, packed=True,
                               attention=Attention.BF16_MATMULS if bf16 else Attention.FUSED_FLOAT32,
                               reason="AVX-512 VNNI: prepacked u8s8 kernels, measured faster than bf16 "
                                      "and int8 dynamic" + ("" if bf16 else "; attention fused in float32, "
                                                            "as bf16 is emulated here"))
        elif bf16:
            encoder = PartPath(Kernel.BFLOAT16, packed=True, attention=Attention.BF16_MATMULS,
                               reason="AVX-512 BF16: prepacked bf16 kernels, measured faster than int8 dynamic")
        elif quantize:
            encoder = PartPath(Kernel.INT8_DYNAMIC, reason=_int8_reason(processor))
    if quantize:
        reason = "int8 weights halve the memory read per token; " + _int8_reason(processor)
        prefill = PartPath(Kernel.INT8_DYNAMIC, reason=reason)
        decode = PartPath(Kernel.INT8_DYNAMIC, DECODE_THREADS, reason=reason)
    else:
        prefill = lm_float
        decode = PartPath(lm_float.kernel, DECODE_THREADS, reason=lm_float.reason)
    return ModelPaths(device, encoder, prefill, decode)


def _int8_reason(processor: Processor) -> str:
    if processor.has(Feature.AMX_INT8):
        return "int8 on AMX"
    if processor.has(Feature.AVX512_VNNI) or processor.has(Feature.AVX_VNNI):
        return "int8 dot products on VNNI"
    if processor.has(Feature.NEON):
        return "int8 on NEON"
    return "int8 on AVX2" if processor.has(Feature.AVX2) else "int8 kernels"

