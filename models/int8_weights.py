"""Weight-only int8 linear layers for a language model that decodes on the CPU.

Decoding reads every weight once per token and is bound by memory. int8 weights with one scale
per output row halve the bytes read against bf16; activations stay in the model's float dtype
(nothing of them is quantized, so large activation outliers keep their precision; float32 ones
are rounded to bf16 for the kernel, see the note under FEW_ROWS). Calls with
few rows (decode steps, short prompts) run torch's int8 weight-only kernel, which reads the
int8 weights directly; longer prefills widen the weight into a per-thread bf16 scratch buffer
and run the float matmul, then scale the output rows.

Measured on a 2-core EPYC (AVX-512 BF16, no AMX), 2 threads, a 1536 x 12288 weight: one row
0.30 ms against 1.33 ms in bf16; 16 rows 2.5 against 1.9 ms (int8 kernel) and 3.6 ms widened;
150 rows 23.6 ms (int8 kernel), 9.3 ms widened, 7.5 ms in bf16. Widening is a plain copy into
a buffer that is kept (1.6 ms for 19 M weights); allocating it per call took 14 ms.
"""

from __future__ import annotations

import functools
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

FEW_ROWS = 16  # up to this many rows per call the int8 kernel is used, beyond it the widened weight
# Float32 activations go through the weight-only kernel in bf16: torch's float32 version of it
# took 13.6 ms for one row of a 1536 x 12288 weight against 1.9 ms in bf16, 303 against 40 ms for
# Gemma 4's 262144-row output head, and 143 against 5.5 ms for 8 rows (2-core AVX-512 VNNI Xeon
# without BF16, 2 threads; the same ratio capped to AVX2). The rows lose what bf16 rounds off,
# as on a processor that computes in bf16.
COLUMN_MULTIPLE = 16  # torch's int8 weight-only kernel gives wrong sums for other input widths


KERNEL_ALIGNMENT = 64  # bytes: torch's bf16 weight-only kernel faults on int8 weights not aligned so


def kernel_aligned(weight: Any, release: Callable[[Any], None] | None = None) -> Any:
    """`weight`, or a copy of it at an address torch's int8 weight-only kernel can read.

    With 4 rows or more its bf16 version faults (a general protection fault: the app dies) on a
    weight that does not start on a 64-byte boundary. Safetensors files align their tensors to 8
    bytes only, so an int8 weight mapped from the kept file can start anywhere; torch's own
    allocations are 64-byte aligned. `release` gets the original once it was copied.
    """
    if weight.data_ptr() % KERNEL_ALIGNMENT == 0:
        return weight
    copy = weight.clone()
    if release is not None:
        release(weight)
    return copy


class WidenedWeights:
    """Scratch memory for widening int8 weights, one buffer per thread, grown to the largest."""

    def __init__(self) -> None:
        self._local = threading.local()

    def widen(self, weight: Any, dtype: Any) -> Any:
        """`weight` (int8, rows x columns) copied into this thread's buffer as `dtype`."""
        import torch

        buffer = getattr(self._local, "buffer", None)
        if buffer is None or buffer.dtype != dtype or buffer.numel() < weight.numel():
            buffer = torch.empty(weight.numel(), dtype=dtype)
            self._local.buffer = buffer
        view = buffer[:weight.numel()].view(weight.shape)
        view.copy_(weight)
        return view


def quantize_rows(weight: Any, chunk: int = 2048) -> tuple[Any, Any]:
    """int8 weights and one float32 scale per row (absolute maximum / 127, rounded to nearest).

    Row blocks go through one float32 buffer (4x faster than whole-tensor steps, and no second
    full-size copy of the weight).
    """
    import torch

    w = weight.detach()
    scale = w.abs().amax(dim=1).float().div_(127.0)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    inverse = scale.reciprocal()
    q = torch.empty(w.shape, dtype=torch.int8)
    buffer = torch.empty(min(chunk, w.shape[0]), w.shape[1])
    for start in range(0, w.shape[0], chunk):
        stop = min(w.shape[0], start + chunk)
        block = buffer[:stop - start]
        torch.mul(w[start:stop], inverse[start:stop, None], out=block)
        q[start:stop].copy_(block.round_().clamp_(-127, 127))
    return q, scale


@functools.cache  # one class, made when torch is first needed
def _make_linear_class() -> type:
    import torch

    class Int8WeightLinear(torch.nn.Module):
        """A Linear with int8 weights and per-row scales; input and output in the float dtype."""

        def __init__(self, weight: Any, scale: Any, bias: Any, dtype: Any,
                     scratch: WidenedWeights, few_rows: int = FEW_ROWS) -> None:
            super().__init__()
            self.in_features = weight.shape[1]
            self.out_features = weight.shape[0]
            self.register_buffer("weight", kernel_aligned(weight.contiguous()))
            self.register_buffer("scale", scale.to(dtype).contiguous())
            self.register_buffer("bias", None if bias is None else bias.detach().to(dtype).clone())
            self.scratch = scratch
            self.few_rows = few_rows

            # fbgemm's packed weights, row blocks in order, once `use_int8_activations` took them
            self.packed: tuple[Any, ...] | None = None

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            shape = x.shape
            rows = x.reshape(-1, self.in_features)
            if self.packed is not None:  # int8 x int8 (VNNI); the activations quantized per row
                out = packed_linear(rows.float(), self.packed)
                return out.to(self.scale.dtype).reshape(*shape[:-1], self.out_features)
            if rows.dtype != self.scale.dtype:
                rows = rows.to(self.scale.dtype)
            if rows.shape[0] <= self.few_rows and self.scale.dtype == torch.float32:
                # torch's weight-only kernel is 7-30x slower in float32 than in bf16 (see the note under FEW_ROWS)
                out = torch.ops.aten._weight_int8pack_mm(rows.to(torch.bfloat16).contiguous(), self.weight,
                                                         self.scale.to(torch.bfloat16)).float()
            elif rows.shape[0] <= self.few_rows:
                out = torch.ops.aten._weight_int8pack_mm(rows.contiguous(), self.weight, self.scale)
            else:
                wide = self.scratch.widen(self.weight, self.scale.dtype)
                out = torch.nn.functional.linear(rows, wide).mul_(self.scale)
            if self.bias is not None:
                out = out + self.bias
            return out.reshape(*shape[:-1], self.out_features)

        def extra_repr(self) -> str:
            kind = "int8 weights and activations" if self.packed is not None else "int8 weights"
            return f"in_features={self.in_features}, out_features={self.out_features}, {kind}"

    return Int8WeightLinear


def int8_linear(linear: Any, scratch: WidenedWeights, dtype: Any | None = None,
                stored: tuple[Any, Any] | None = None) -> Any:
    """An Int8WeightLinear computing what `linear` computes (`stored`: its int8 weight and
    scales made before, used instead of quantizing again)."""
    source = linear.weight
    if source.shape[1] % COLUMN_MULTIPLE:
        raise ValueError(f"int8 weights need an input width that is a multiple of {COLUMN_MULTIPLE}")
    q, scale = stored if stored is not None else quantize_rows(source)
    return _make_linear_class()(q, scale, getattr(linear, "bias", None), dtype or source.dtype, scratch)


def available() -> tuple[bool, str]:
    """Whether torch's int8 weight-only kernel runs here, and why not when it does not."""
    try:
        import torch

        x = torch.ones(1, 32, dtype=torch.bfloat16)
        w = torch.ones(8, 32, dtype=torch.int8)
        out = torch.ops.aten._weight_int8pack_mm(x, w, torch.ones(8, dtype=torch.bfloat16))
    except (AttributeError, RuntimeError, NotImplementedError) as exc:
        return False, f"torch's int8 weight-only kernel is missing ({exc})"
    if float(out[0, 0]) != 32.0:
        return False, "torch's int8 weight-only kernel gave a wrong result"
    return True, ""


def quantizable(root: Any) -> list[str]:
    """Names (under `root`) of the nn.Linear layers int8 weights are made for, in order."""
    import torch

    return [name for name, module in root.named_modules()
            if type(module) is torch.nn.Linear and module.in_features % COLUMN_MULTIPLE == 0]


def quantize_linears(root: Any, scratch: WidenedWeights, release: Callable[[Any], None] | None = None,
                     stored: Mapping[str, Any] | None = None,
                     progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Replace the quantizable layers under `root` by Int8WeightLinears, one at a time.

    `stored` holds "<name>.weight" (int8) and "<name>.scale" of layers made before (see
    int8_cache); the others are quantized now. `release` gets each float weight once it is
    replaced (to drop its pages of the weight file). `progress(done, total)` follows the layers
    quantized now (not the stored ones). Returns every layer's int8 weight and scale under the
    same names.
    """
    made: dict[str, Any] = {}
    names = quantizable(root)
    fresh = sum(_stored_pair(root, stored, name) is None for name in names)
    done = 0
    for name in names:
        parent_name, _, attr = name.rpartition(".")
        parent = root.get_submodule(parent_name) if parent_name else root
        linear = getattr(parent, attr)
        kept = _stored_pair(root, stored, name)
        replacement = int8_linear(linear, scratch, stored=kept)
        setattr(parent, attr, replacement)
        made[f"{name}.weight"] = replacement.weight
        made[f"{name}.scale"] = replacement.scale
        if release is not None:
            release(linear.weight)
        if kept is None and progress is not None:
            done += 1
            progress(done, fresh)
    return made


def _stored_pair(root: Any, stored: Mapping[str, Any] | None, name: str) -> tuple[Any, Any] | None:
    """The stored int8 weight and scale of the layer `name` under `root`, if they fit it."""
    if stored is None or f"{name}.weight" not in stored or f"{name}.scale" not in stored:
        return None
    kept = (stored[f"{name}.weight"], stored[f"{name}.scale"])
    weight = root.get_submodule(name).weight
    return kept if tuple(kept[0].shape) == tuple(weight.shape) else None


ACTIVATION_COSINE = 0.9995  # int8 activations are kept for a layer whose outputs stay this close


def activations_available() -> tuple[bool, str]:
    """Whether fbgemm's int8 x int8 linear (activations quantized per row, as each call comes)
    runs here: x86 with its quantized engine."""
    try:
        import torch

        engines = torch.backends.quantized.supported_engines
    except (AttributeError, RuntimeError) as exc:
        return False, f"torch has no quantized engine ({exc})"
    if "fbgemm" not in engines and "x86" not in engines:
        return False, "fbgemm (x86 only) is not in this torch"
    return True, ""


WHOLE_WEIGHTS = 24_000_000  # a layer up to this size is packed whole (about 0.1 s) ...
PIECE_WEIGHTS = 12_000_000  # ... a larger one in row blocks of about this many weights


def packed_linear(rows: Any, packed: tuple[Any, ...]) -> Any:
    """fbgemm's dynamic int8 linear of float32 `rows` through packed row blocks, joined."""
    import torch

    if len(packed) == 1:
        return torch.ops.quantized.linear_dynamic(rows, packed[0], False)
    return torch.cat([torch.ops.quantized.linear_dynamic(rows, piece, False) for piece in packed], dim=1)


def piece_rows(layer: Any) -> int:
    """Rows of `layer` packed at a time: all of them, or blocks of about PIECE_WEIGHTS weights
    where the layer is larger than WHOLE_WEIGHTS (fbgemm packs a 262144 x 1536 output head in
    12 s whole, in 2-2.7 s as 8192-row blocks of 60-85 ms each; a call through those blocks took
    12-17 ms against 35-37 ms weight-only, one row, 2 threads on a 2-core EPYC)."""
    if layer.in_features * layer.out_features <= WHOLE_WEIGHTS:
        return layer.out_features
    return max(1, PIECE_WEIGHTS // layer.in_features)


def pack_rows(layer: Any, start: int, stop: int) -> Any:
    """fbgemm's packed form of rows `start`..`stop` of the Int8WeightLinear `layer`."""
    import torch

    scale = layer.scale[start:stop].double()
    zero = torch.zeros(stop - start, dtype=torch.long)
    with warnings.catch_warnings():  # quantized tensors are deprecated; torch is pinned (2.13)
        warnings.filterwarnings("ignore", category=UserWarning, message=".*quantize_per_tensor")
        weight = torch._make_per_channel_quantized_tensor(layer.weight[start:stop], scale, zero, 0)
    bias = None if layer.bias is None else layer.bias[start:stop].float()
    return torch.ops.quantized.linear_prepack(weight, bias)


def use_int8_activations(layer: Any, rows: Any, least: float = ACTIVATION_COSINE,
                         release: Callable[[Any], None] | None = None,
                         packed: Sequence[Any] | None = None) -> float:
    """Let the Int8WeightLinear `layer` quantize its activations too (fbgemm's int8 GEMM: on a
    2-core EPYC 2-4x faster than the weight-only kernel for 1-30 rows, 1.1-1.8x for 150-300),
    where that keeps its outputs on `rows` (real inputs of this layer, 2-D) within cosine
    `least` of the weight-only outputs; activation outliers (a few channels far larger than the
    rest) lose precision per-row quantization cannot give back, and such a layer stays as it is.
    `packed`: the layer's row blocks made before (pack_rows), else it is packed whole now.
    The packed copy replaces the plain int8 weight (same size; `release` gets the plain one, to
    drop its pages where it was mapped from the int8 cache file). Returns the cosine measured."""
    import torch

    blocks = tuple(packed) if packed is not None else (pack_rows(layer, 0, layer.out_features),)
    with torch.no_grad():
        want = layer(rows).float()
        got = packed_linear(rows.float(), blocks)
        cosine = float(torch.nn.functional.cosine_similarity(got.flatten(), want.flatten(), dim=0))
    if cosine >= least:
        layer.packed = blocks
        plain, layer.weight = layer.weight, torch.empty(0, dtype=torch.int8)  # packed holds them now
        if release is not None:
            release(plain)
    return cosine
