"""The per-part kernel choice: processor feature sets in, paths out."""

import pytest

from models.cpu_features import Accelerator, Feature, Processor
from models.kernel_paths import Attention, Kernel, Runtime, choose_paths

AVX2 = Processor("x86_64", frozenset({Feature.AVX2}))
AVX2_VNNI = Processor("x86_64", frozenset({Feature.AVX2, Feature.AVX_VNNI}))
ZEN4 = Processor("x86_64", frozenset({Feature.AVX2, Feature.AVX512F, Feature.AVX512_VNNI,
                                      Feature.AVX512_BF16}))
AMX = Processor("x86_64", ZEN4.features | {Feature.AMX_TILE, Feature.AMX_BF16, Feature.AMX_INT8},
                "AVX512")
ICE_LAKE = Processor("x86_64", frozenset({Feature.AVX2, Feature.AVX512F, Feature.AVX512_VNNI}))
NEON = Processor("arm64", frozenset({Feature.NEON, Feature.ARM_BF16}))


def test_amx_runs_the_encoder_in_bf16_and_the_language_model_in_int8():
    paths = choose_paths(AMX, quantize=True)
    assert paths.encoder.kernel is Kernel.BFLOAT16
    assert paths.prefill.kernel is Kernel.INT8_DYNAMIC and paths.decode.kernel is Kernel.INT8_DYNAMIC
    assert paths.decode.threads == 1 and paths.prefill.threads == 0
    assert paths.mixed
    assert paths.describe() == "encoder bfloat16, prefill int8-dynamic, decode int8-dynamic on 1 thread"
    assert "AMX" in paths.encoder.reason


@pytest.mark.parametrize("processor", [AVX2, AVX2_VNNI, NEON])
def test_without_native_bf16_everything_is_int8_dynamic(processor):
    paths = choose_paths(processor, quantize=True)
    assert {p.kernel for p in (paths.encoder, paths.prefill, paths.decode)} == {Kernel.INT8_DYNAMIC}
    assert not paths.mixed and not paths.encoder.packed


def test_avx512_vnni_without_amx_runs_the_encoder_on_prepacked_int8_kernels():
    paths = choose_paths(ZEN4, quantize=True)
    assert paths.encoder.kernel is Kernel.INT8_DYNAMIC and paths.encoder.packed
    assert "VNNI" in paths.encoder.reason
    assert paths.prefill.kernel is Kernel.INT8_DYNAMIC and paths.decode.kernel is Kernel.INT8_DYNAMIC
    assert not paths.mixed  # float32 around the int8 kernels, as the language model
    assert paths.describe() == ("encoder int8-dynamic prepacked (attention bf16 matmuls), prefill int8-dynamic, "
                                "decode int8-dynamic on 1 thread")
    assert paths.as_dict()["encoder"]["packed"] is True
    assert paths.as_dict()["encoder"]["attention"] == "bf16 matmuls"
    assert not choose_paths(AMX).encoder.packed  # AMX keeps the measured bf16 SDPA path
    assert not choose_paths(AVX2_VNNI).encoder.packed  # 256-bit VNNI: not measured, int8 dynamic


def test_avx512_vnni_without_bf16_keeps_the_int8_kernels_with_fused_float32_attention():
    paths = choose_paths(ICE_LAKE, quantize=True)
    assert paths.encoder.kernel is Kernel.INT8_DYNAMIC and paths.encoder.packed
    assert paths.encoder.attention is Attention.FUSED_FLOAT32
    assert "attention fused in float32" in paths.encoder.reason
    assert "(attention fused float32)" in paths.describe()
    unquantized = choose_paths(ICE_LAKE, quantize=False)
    assert unquantized.encoder.kernel is Kernel.FLOAT32 and unquantized.encoder.attention is None


def test_avx512_bf16_without_int8_runs_the_encoder_on_prepacked_bf16_kernels():
    paths = choose_paths(ZEN4, quantize=False)
    assert paths.encoder.kernel is Kernel.BFLOAT16 and paths.encoder.packed
    assert paths.describe().startswith("encoder bfloat16 prepacked (attention bf16 matmuls), prefill bfloat16")


def test_int8_reasons_name_the_instructions():
    assert "VNNI" in choose_paths(AVX2_VNNI).prefill.reason
    assert "AVX2" in choose_paths(AVX2).prefill.reason
    assert "NEON" in choose_paths(NEON).prefill.reason


def test_capped_amx_machine_chooses_the_laptop_path():
    capped = Processor("x86_64", AMX.features, "AVX512", cap="AVX2")
    assert choose_paths(capped) == choose_paths(AVX2)


def test_without_quantization_floats_follow_native_bf16():
    paths = choose_paths(AMX, quantize=False)
    assert {paths.encoder.kernel, paths.prefill.kernel, paths.decode.kernel} == {Kernel.BFLOAT16}
    assert choose_paths(ZEN4, quantize=False).encoder.kernel is Kernel.BFLOAT16
    assert choose_paths(AVX2, quantize=False).decode.kernel is Kernel.FLOAT32


def test_an_asked_dtype_applies_to_every_float_part():
    paths = choose_paths(AMX, quantize=False, dtype="float32")
    assert {paths.encoder.kernel, paths.prefill.kernel, paths.decode.kernel} == {Kernel.FLOAT32}
    paths = choose_paths(AMX, quantize=True, dtype="float32")
    assert paths.encoder.kernel is Kernel.FLOAT32 and paths.decode.kernel is Kernel.INT8_DYNAMIC


def test_gpus_compute_in_half_precision():
    gpu = Processor("x86_64", AVX2.features, accelerators=frozenset({Accelerator.CUDA}))
    assert choose_paths(gpu, device="cuda").decode.kernel is Kernel.BFLOAT16
    assert choose_paths(NEON, device="mps").encoder.kernel is Kernel.FLOAT16
    assert choose_paths(AVX2, device="cuda").describe().endswith("(cuda)")


def test_paths_as_a_dict_for_reports():
    data = choose_paths(AMX).as_dict()
    assert data["encoder"]["kernel"] == "bfloat16" and data["decode"]["threads"] == 1


def test_openvino_encoder_only_where_it_was_measured_faster():
    paths = choose_paths(AMX, openvino=True)
    assert paths.encoder.runtime is Runtime.OPENVINO and paths.encoder.kernel is Kernel.BFLOAT16
    assert paths.decode.runtime is Runtime.TORCH and paths.decode.kernel is Kernel.INT8_DYNAMIC
    assert paths.describe().startswith("encoder bfloat16 via openvino,")
    assert choose_paths(AMX).encoder.runtime is Runtime.TORCH
    assert choose_paths(ZEN4, openvino=True).encoder.runtime is Runtime.OPENVINO
    for other in (AVX2, NEON):
        assert choose_paths(other, openvino=True).encoder.runtime is Runtime.TORCH
    assert choose_paths(AMX, openvino=True, dtype="float32").encoder.runtime is Runtime.TORCH
