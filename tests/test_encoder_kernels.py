"""The prepacked bf16 encoder kernels: attention equal to torch's, encoder equal to float32."""

import pytest
import torch

from models import encoder_kernels
from models.cpu_features import Feature, Processor
from models.vision import VisionLanguageModel
from tests.helpers import assert_encoder_matches, invoice_screen

ZEN4 = Processor("x86_64", frozenset({Feature.AVX2, Feature.AVX512F, Feature.AVX512_VNNI,
                                      Feature.AVX512_BF16}))


@pytest.mark.parametrize("scratch", [encoder_kernels.SCRATCH_BYTES, 1])
def test_matmul_attention_equals_sdpa_with_and_without_a_padding_mask(monkeypatch, scratch):
    monkeypatch.setattr(encoder_kernels, "SCRATCH_BYTES", scratch)  # 1: one head per chunk
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 40, 16) for _ in range(3))
    keep = torch.ones(2, 40, dtype=torch.bool)
    keep[1, 25:] = False  # the second tile's last patches are padding
    mask = keep[:, None, None, :].expand(2, 1, 40, 40)
    for attention_mask in (None, mask):
        ours, weights = encoder_kernels.matmul_attention(None, q, k, v, attention_mask, scaling=0.25)
        theirs = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask,
                                                                  scale=0.25).transpose(1, 2)
        assert weights is None and ours.shape == (2, 40, 3, 16)
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_the_loader_packs_the_encoder_and_its_features_match_float32(tiny_vlm_dir):
    packed = VisionLanguageModel.load(tiny_vlm_dir, quantize=False, cpu=ZEN4)  # int8 would take models.encoder_int8
    reference = VisionLanguageModel.load(tiny_vlm_dir, quantize=False, dtype="float32")
    usable, why = encoder_kernels.available()
    if not usable:  # oneDNN has no bf16 here: the load says so and keeps torch's kernels
        assert not packed.paths.encoder.packed and why in packed.paths.encoder.reason
        return
    assert packed.paths.encoder.packed
    layers = [m for m in packed.model.model.vision_model.modules() if type(m).__name__ == "PackedLinear"]
    assert layers and any(layer.post_op == "gelu" for layer in layers)
    assert packed.model.config.vision_config._attn_implementation == encoder_kernels.ATTENTION
    assert_encoder_matches(packed, reference)


def test_an_encode_with_packed_kernels_answers_and_counts_one_encoder_run(tiny_vlm_dir):
    model = VisionLanguageModel.load(tiny_vlm_dir, quantize=False, cpu=ZEN4)
    model.set_pixel_cache_size(0)
    before = model.vision_encoder_calls
    ctx = model.encode(invoice_screen(), "normal")
    assert model.vision_encoder_calls == before + 1  # one image, however many tiles
    assert 1 < ctx.vision_tiles <= ctx.tiles
    text = "".join(model.answer(ctx, "What is the total?", max_new_tokens=6, ignore_eos=True))
    assert text


def test_a_packed_linear_with_fused_gelu_equals_linear_then_gelu():
    usable, why = encoder_kernels.available()
    if not usable:
        assert why  # the reason the loader logs and shows
        return
    torch.manual_seed(1)
    linear = torch.nn.Linear(64, 96)
    x = torch.randn(5, 7, 64)
    plain = encoder_kernels._packed_linear_class()(linear, 35)
    fused = encoder_kernels._packed_linear_class()(linear, 35, "gelu", "tanh")
    with torch.inference_mode():
        expected = linear(x)
        torch.testing.assert_close(plain(x).float(), expected, atol=0.05, rtol=0.02)
        torch.testing.assert_close(fused(x).float(), torch.nn.functional.gelu(expected, approximate="tanh"),
                                   atol=0.05, rtol=0.02)


@pytest.mark.parametrize("quantize", [True, False])
def test_the_encoder_layers_get_the_patches_laid_out_row_by_row(tiny_vlm_dir, quantize):
    """The patch convolution's transposed output would make every residual add strided."""
    model = VisionLanguageModel.load(tiny_vlm_dir, quantize=quantize, cpu=ZEN4)
    seen = []
    first = model.model.model.vision_model.encoder.layers[0]
    handle = first.register_forward_pre_hook(lambda _m, args: seen.append(args[0].is_contiguous()))
    try:
        model.set_pixel_cache_size(0)
        model.encode(invoice_screen(), "quick")
    finally:
        handle.remove()
    assert seen and all(seen)


def test_gemma4_vision_attention_on_the_cpu_runs_as_matmuls_and_matches_sdpa(tiny_gemma4_dir):
    from models.gemma4 import Gemma4Model

    model = Gemma4Model.load(tiny_gemma4_dir, device="cpu", dtype="bfloat16")
    usable, _why = encoder_kernels.available()
    vision_config = model.model.config.vision_config
    if not usable:
        assert vision_config._attn_implementation == "sdpa"
        return
    assert vision_config._attn_implementation == encoder_kernels.ATTENTION
    assert "vision attention as bf16 matmuls" in model.paths.encoder.reason
    outputs = {}
    tower = model.model.model.vision_tower
    handle = tower.register_forward_hook(
        lambda _m, _a, out: outputs.__setitem__(vision_config._attn_implementation,
                                                out.last_hidden_state.float().clone()))
    try:
        for implementation in (encoder_kernels.ATTENTION, "sdpa"):
            vision_config._attn_implementation = implementation
            model.pixel_cache.clear()
            model.encode(invoice_screen())
    finally:
        handle.remove()
        vision_config._attn_implementation = encoder_kernels.ATTENTION
    ours, theirs = outputs[encoder_kernels.ATTENTION], outputs["sdpa"]
    assert torch.isfinite(ours).all()
    cosine = torch.nn.functional.cosine_similarity(ours.flatten(), theirs.flatten(), dim=0)
    assert cosine > 0.999, float(cosine)
