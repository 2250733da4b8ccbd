"""int8 kernels for SmolVLM's SigLIP vision encoder on CPUs with VNNI int8 dot products.

oneDNN's prepacked u8s8 linear (`onednn::qlinear_pointwise`, the kernel torch's own x86
quantization lowers to) reached 680-780 GFLOP/s on a 2-core AVX-512 VNNI EPYC, about twice the
prepacked bf16 linear (300-370) and 1.4x torch's int8 dynamic linear on the same shapes. The
encoder is rebuilt around it:

- every linear layer's weight is quantized per output channel to int8 once and prepacked;
  each call quantizes its input per tensor to uint8 from its own range (as int8 dynamic does,
  with all 8 bits: no reduced range), and the tanh-GELU runs as a post-op of fc1;
- q, k and v are one linear layer (one quantization of the input, one larger matmul) whose
  output feeds the attention the path chose: bf16 for the bf16 matmul attention of
  models.encoder_kernels where bf16 is in hardware, float32 for torch's fused attention where
  it is emulated (there bf16 matmuls ran at 40-65 GFLOP/s against float32's 220);
- layer norms, residual adds and every other linear layer's output stay in float32, so no
  input needs converting before it is quantized.

Measured interleaved in one process, one 512 tile, 2 threads, random SmolVLM-256M at real size:
0.52-0.61 s against 0.69-0.74 s for the prepacked bf16 encoder; cosine to float32 0.9997
(bf16 0.99993, int8 dynamic 0.9990).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from models import encoder_kernels
from models.kernel_paths import Attention

log = logging.getLogger(__name__)

UINT8_STEPS = 255  # uint8 activations: the input's range in 255 steps, zero exactly on one


def available() -> tuple[bool, str]:
    """Whether this torch has oneDNN's prepacked u8s8 linear and it computes right here, and
    why not when it does not."""
    import torch

    if not torch.backends.mkldnn.is_available():
        return False, "this torch has no oneDNN"
    onednn = getattr(torch.ops, "onednn", None)
    if onednn is None or not hasattr(onednn, "qlinear_prepack") or not hasattr(onednn, "qlinear_pointwise"):
        return False, "this torch has no prepacked oneDNN int8 linear"
    try:  # torch marks its quantized tensors deprecated: a torch without them lands here
        generator = torch.Generator().manual_seed(0)
        weight = torch.randn(32, 64, generator=generator)
        x = torch.randn(8, 64, generator=generator)
        values, _scale, _zero_point, owner = quantize_input(x)
        if not torch.equal(values, owner.int_repr()):
            return False, "this torch lays quantized tensors out differently"
        layer = _int8_linear_class()(weight, None, 8, torch.float32)
        error = (layer(x) - x @ weight.T).abs().max().item()
    except (RuntimeError, AttributeError, NotImplementedError) as exc:
        return False, f"oneDNN's int8 linear failed here ({exc})"
    if not error < 0.05 * (x @ weight.T).abs().max().item():
        return False, f"oneDNN's int8 linear computed wrong sums here (error {error:.3f})"
    return True, ""


def quantize_input(flat: Any) -> tuple[Any, float, int, Any]:
    """A float32 matrix as uint8 with its scale and zero point (per tensor, from its own range),
    and the quantized tensor that owns the uint8 memory (keep it while the uint8 is in use)."""
    import torch

    low, high = torch.aminmax(flat)
    low, high = min(float(low), 0.0), max(float(high), 0.0)
    scale = max((high - low) / UINT8_STEPS, 1e-12)
    zero_point = min(UINT8_STEPS, max(0, round(-low / scale)))
    owner = torch.quantize_per_tensor(flat, scale, zero_point, torch.quint8)
    # The quantized tensor's storage read as uint8 (int_repr would copy it: 1.5 ms of a 3 ms call).
    values = torch.empty(0, dtype=torch.uint8).set_(owner.untyped_storage(), 0, owner.shape, owner.stride())
    return values, scale, zero_point, owner


def _int8_linear_class() -> type:
    import torch

    class Int8Linear(torch.nn.Module):
        """A linear layer on int8 weights (per output channel) and uint8 activations (per call),
        prepacked for oneDNN, with an optional fused post-op and the output dtype it is asked for."""

        def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, rows: int, out_dtype: torch.dtype,
                     post_op: str = "none", algorithm: str = "") -> None:
            super().__init__()
            weight = weight.detach().float()
            scale = (weight.abs().amax(dim=1) / 127).clamp_min(1e-12)
            q = torch.round(weight / scale[:, None]).clamp_(-127, 127).to(torch.int8)
            self.register_buffer("packed", torch.ops.onednn.qlinear_prepack(q, [rows, weight.shape[1]]),
                                 persistent=False)
            self.register_buffer("scale", scale, persistent=False)
            self.register_buffer("zero_points", torch.zeros(weight.shape[0], dtype=torch.int64), persistent=False)
            self.register_buffer("bias", None if bias is None else bias.detach().float(), persistent=False)
            self.out_features, self.in_features = weight.shape
            self.out_dtype, self.post_op, self.algorithm = out_dtype, post_op, algorithm

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            flat = x.reshape(-1, self.in_features)
            if flat.dtype != torch.float32:
                flat = flat.float()
            values, scale, zero_point, _owner = quantize_input(flat.contiguous())
            return self.matmul(values, scale, zero_point).reshape(*x.shape[:-1], self.out_features)

        def matmul(self, values: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
            """The kernel alone, on an input already quantized (quantize_input)."""
            return torch.ops.onednn.qlinear_pointwise(
                values, scale, zero_point, self.packed, self.scale, self.zero_points, self.bias,
                1.0, 0, self.out_dtype, self.post_op, [], self.algorithm)

        def extra_repr(self) -> str:
            post = "" if self.post_op == "none" else f", fused {self.post_op} ({self.algorithm})"
            return f"{self.in_features} -> {self.out_features}, int8 prepacked, {self.out_dtype} out{post}"

    return Int8Linear


def fused_attention(query: Any, key: Any, value: Any, attention_mask: Any, scaling: float) -> Any:
    """torch's fused attention; (batch, heads, n, d) in, (batch, n, heads, d) out as
    models.encoder_kernels.matmul_attention gives it."""
    import torch

    out = torch.nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask,
                                                           scale=scaling)
    return out.transpose(1, 2)


def _attention_class() -> type:
    import torch

    class Int8Attention(torch.nn.Module):
        """SigLIP self-attention: q, k and v as one int8 linear layer, the attention `kind`,
        the output projection int8 again."""

        def __init__(self, attention: Any, rows: int, kind: Attention) -> None:
            super().__init__()
            linear = _int8_linear_class()
            parts = (attention.q_proj, attention.k_proj, attention.v_proj)
            weight = torch.cat([part.weight.detach() for part in parts])
            bias = None if parts[0].bias is None else torch.cat([part.bias.detach() for part in parts])
            self.kind = kind
            self.qkv = linear(weight, bias, rows, torch.bfloat16 if kind is Attention.BF16_MATMULS else torch.float32)
            self.out_proj = linear(attention.out_proj.weight, attention.out_proj.bias, rows, torch.float32)
            self.num_heads, self.head_dim, self.scale = attention.num_heads, attention.head_dim, attention.scale
            self.is_causal = False

        def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None,
                    **_kwargs: Any) -> tuple[torch.Tensor, None]:
            batch, length, _ = hidden_states.shape
            qkv = self.qkv(hidden_states).view(batch, length, 3, self.num_heads, self.head_dim)
            query, key, value = qkv.permute(2, 0, 3, 1, 4)
            if self.kind is Attention.BF16_MATMULS:
                out, _ = encoder_kernels.matmul_attention(self, query, key, value, attention_mask,
                                                          scaling=self.scale)
            else:
                out = fused_attention(query, key, value, attention_mask, self.scale)
            return self.out_proj(out.reshape(batch, length, -1)), None

        def extra_repr(self) -> str:
            return f"{self.num_heads} heads, attention {self.kind.value}"

    return Int8Attention


def pack_encoder(vision: Any, connector: Any, rows: int, connector_rows: int,
                 release: Callable[[Any], None] | None = None,
                 attention_kind: Attention = Attention.BF16_MATMULS) -> int:
    """Switch the vision tower and connector to the int8 kernels in place; the linear layers
    replaced. Their float tensors are left in whatever dtype they were (float32 for this path).

    `rows` hints oneDNN's weight layout at the row count one tile gives the tower (its patches),
    `connector_rows` at what reaches the connector after the pixel shuffle; `release` is called
    with each replaced layer's float weight and bias once they are packed (the loader drops
    their pages of the mapped weight file); `attention_kind` is how attention is computed.
    """
    import torch

    def done(*linears: torch.nn.Linear) -> None:
        for old in linears:
            for tensor in (old.weight, old.bias):
                if release is not None and tensor is not None:
                    release(tensor)

    encoder_kernels.register_attention()
    vision.config._attn_implementation = encoder_kernels.ATTENTION
    linear, attention = _int8_linear_class(), _attention_class()
    fused = encoder_kernels.FUSED_ACTIVATIONS.get(getattr(vision.config, "hidden_act", ""))
    count = 0
    for layer in vision.encoder.layers:
        old = layer.self_attn
        layer.self_attn = attention(old, rows, attention_kind)
        done(old.q_proj, old.k_proj, old.v_proj, old.out_proj)
        mlp = layer.mlp
        fc1, fc2 = mlp.fc1, mlp.fc2
        mlp.fc1 = linear(fc1.weight, fc1.bias, rows, torch.float32, *(fused or ()))
        if fused:
            mlp.activation_fn = torch.nn.Identity()
        mlp.fc2 = linear(fc2.weight, fc2.bias, rows, torch.float32)
        done(fc1, fc2)
        count += 6  # q, k and v (as one matmul), out_proj, fc1, fc2
    for parent in list(connector.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is torch.nn.Linear:
                setattr(parent, name, linear(child.weight, child.bias, max(1, connector_rows), torch.float32))
                done(child)
                count += 1
    log.info("vision encoder: %d linear layers on int8 weights and uint8 activations (oneDNN, prepacked), "
             "attention %s", count, attention_kind.value)
    return count
