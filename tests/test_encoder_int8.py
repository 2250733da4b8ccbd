"""The prepacked int8 encoder kernels: the linear layer, the quantized input, and the loaded
encoder's features against float32."""

import pytest
import torch

from models import encoder_int8, encoder_kernels
from models.cpu_features import Feature, Processor
from models.kernel_paths import Attention, Kernel
from models.vision import VisionLanguageModel
from tests.helpers import assert_encoder_matches, invoice_screen

ZEN4 = Processor("x86_64", frozenset({Feature.AVX2, Feature.AVX512F, Feature.AVX512_VNNI,
                                      Feature.AVX512_BF16}))
ICE_LAKE = Processor("x86_64", frozenset({Feature.AVX2, Feature.AVX512F, Feature.AVX512_VNNI}))  # no BF16
USABLE, WHY = encoder_int8.available()
needs_kernels = pytest.mark.skipif(not USABLE, reason=f"oneDNN's int8 linear does not run here: {WHY}")


@needs_kernels
@pytest.mark.parametrize("shift", [0.0, 3.0, -3.0])  # inputs around zero, all positive, all negative
def test_the_int8_linear_equals_the_float_one_with_and_without_fused_gelu(shift):
    torch.manual_seed(2)
    linear = torch.nn.Linear(64, 96)
    x = torch.randn(5, 7, 64) + shift
    plain = encoder_int8._int8_linear_class()(linear.weight, linear.bias, 35, torch.float32)
    fused = encoder_int8._int8_linear_class()(linear.weight, linear.bias, 35, torch.bfloat16, "gelu", "tanh")
    with torch.inference_mode():
        expected = linear(x)
        got, got_fused = plain(x), fused(x)
    assert got.shape == expected.shape and got.dtype == torch.float32 and got_fused.dtype == torch.bfloat16
    scale = expected.abs().max()
    assert (got - expected).abs().max() < 0.02 * scale
    gelu = torch.nn.functional.gelu(expected, approximate="tanh")
    assert (got_fused.float() - gelu).abs().max() < 0.03 * scale


@needs_kernels
def test_the_quantized_input_is_the_quantized_tensors_own_memory_and_spans_its_range():
    torch.manual_seed(3)
    x = torch.randn(40, 24) * 5 + 1
    values, scale, zero_point, owner = encoder_int8.quantize_input(x)
    assert values.dtype == torch.uint8 and torch.equal(values, owner.int_repr())
    assert values.data_ptr() == owner.data_ptr()  # no copy
    assert values.min() == 0 and values.max() == 255  # the whole range used
    torch.testing.assert_close((values.float() - zero_point) * scale, x, atol=scale / 2 + 1e-6, rtol=0)
    zeros, _scale, zero, _owner = encoder_int8.quantize_input(torch.zeros(3, 4))
    assert zero == 0 and not zeros.any()  # an all-zero input stays zero, no division by zero


@needs_kernels
@pytest.mark.parametrize(("processor", "kind"), [(ZEN4, Attention.BF16_MATMULS), (ICE_LAKE, Attention.FUSED_FLOAT32)])
def test_the_loader_packs_the_encoder_in_int8_and_its_features_match_float32(tiny_vlm_dir, processor, kind):
    packed = VisionLanguageModel.load(tiny_vlm_dir, quantize=True, cpu=processor)
    reference = VisionLanguageModel.load(tiny_vlm_dir, quantize=False, dtype="float32")
    assert packed.paths.encoder.kernel is Kernel.INT8_DYNAMIC and packed.paths.encoder.packed
    assert packed.paths.encoder.attention is kind
    vision = packed.model.model.vision_model
    layers = [m for m in vision.modules() if type(m).__name__ == "Int8Linear"]
    attention = [m for m in vision.modules() if type(m).__name__ == "Int8Attention"]
    assert len(attention) == len(vision.encoder.layers) and {m.kind for m in attention} == {kind}
    qkv_dtype = torch.bfloat16 if kind is Attention.BF16_MATMULS else torch.float32
    assert {m.qkv.out_dtype for m in attention} == {qkv_dtype}
    assert any(layer.post_op == "gelu" for layer in layers)
    assert not any(type(m) is torch.nn.Linear for m in vision.modules())
    assert any(type(m).__name__ == "Int8Linear" for m in packed.model.model.connector.modules())
    assert packed.model.config.vision_config._attn_implementation == encoder_kernels.ATTENTION
    assert_encoder_matches(packed, reference)


@needs_kernels
def test_an_encode_on_int8_kernels_answers_and_counts_one_encoder_run(tiny_vlm_dir):
    model = VisionLanguageModel.load(tiny_vlm_dir, quantize=True, cpu=ZEN4)
    assert model.paths.encoder.packed
    model.set_pixel_cache_size(0)
    before = model.vision_encoder_calls
    ctx = model.encode(invoice_screen(), "normal")
    assert model.vision_encoder_calls == before + 1
    assert 1 < ctx.vision_tiles <= ctx.tiles
    text = "".join(model.answer(ctx, "What is the total?", max_new_tokens=6, ignore_eos=True))
    assert text


def test_where_the_int8_kernels_do_not_run_the_encoder_stays_int8_dynamic_and_says_why(tiny_vlm_dir, monkeypatch):
    monkeypatch.setattr(encoder_int8, "available", lambda: (False, "no u8s8 kernel in this test"))
    model = VisionLanguageModel.load(tiny_vlm_dir, quantize=True, cpu=ZEN4)
    encoder = model.paths.encoder
    assert encoder.kernel is Kernel.INT8_DYNAMIC and not encoder.packed
    assert "no u8s8 kernel in this test" in encoder.reason
    vision = model.model.model.vision_model
    assert not any(type(m).__name__ == "Int8Linear" for m in vision.modules())
    assert any(type(m).__name__ == "Linear" and "dynamic" in type(m).__module__ for m in vision.modules())
    model.set_pixel_cache_size(0)
    assert "".join(model.answer(model.encode(invoice_screen(), "quick"), "What is it?", max_new_tokens=3,
                                ignore_eos=True))
