"""Processor feature detection: the OS parsers, torch's probes and the environment's caps."""

from models.cpu_features import (
    Feature,
    Processor,
    apply_cap,
    detect,
    features_from_torch,
    isa_cap,
    parse_linux_cpuinfo,
    parse_sysctl,
    windows_features,
)

XEON_FLAGS = ("processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse4_2 avx avx2 fma avx512f "
              "avx512bw avx512_vnni avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8 avx_vnni\n"
              "processor\t: 1\nflags\t\t: fpu avx2\n")
LAPTOP_FLAGS = "flags\t\t: fpu sse4_2 avx avx2 fma avx_vnni\n"
ARM_FEATURES = "processor\t: 0\nBogoMIPS\t: 48.00\nFeatures\t: fp asimd evtstrm aes crc32 i8mm bf16\n"


def test_linux_cpuinfo_flags_of_an_amx_xeon():
    assert parse_linux_cpuinfo(XEON_FLAGS) == {
        Feature.AVX2, Feature.AVX512F, Feature.AVX512_VNNI, Feature.AVX512_BF16, Feature.AVX512_FP16,
        Feature.AMX_BF16, Feature.AMX_TILE, Feature.AMX_INT8, Feature.AVX_VNNI}


def test_linux_cpuinfo_of_a_laptop_and_an_arm_board():
    assert parse_linux_cpuinfo(LAPTOP_FLAGS) == {Feature.AVX2, Feature.AVX_VNNI}
    assert parse_linux_cpuinfo(ARM_FEATURES) == {Feature.NEON, Feature.ARM_I8MM,
                                                 Feature.ARM_BF16}
    assert parse_linux_cpuinfo("processor\t: 0\n") == frozenset()


def test_macos_sysctl_of_apple_silicon():
    text = ("hw.optional.arm.FEAT_BF16: 1\nhw.optional.arm.FEAT_I8MM: 0\nhw.optional.neon: 1\n"
            "hw.optional.floatingpoint: 1\n")
    assert parse_sysctl(text) == {Feature.ARM_BF16, Feature.NEON}
    assert parse_sysctl("hw.optional.avx2_0: 1\nhw.optional.avx512f: 0\n") == {Feature.AVX2}


def test_windows_processor_feature_constants():
    assert windows_features(lambda code: code in (40, 41)) == {Feature.AVX2, Feature.AVX512F}
    assert windows_features(lambda code: code == 19) == {Feature.NEON}
    assert windows_features(lambda code: False) == frozenset()


def test_torch_level_and_probes():
    assert features_from_torch("AVX512") == {Feature.AVX2, Feature.AVX512F}
    assert features_from_torch("AVX2") == {Feature.AVX2}
    assert features_from_torch("DEFAULT", {"_is_amx_tile_supported": True, "_is_vnni_supported": False}) == {
        Feature.AMX_TILE, Feature.AMX_BF16, Feature.AMX_INT8}


def test_environment_caps_take_the_lowest():
    assert isa_cap({}) is None
    assert isa_cap({"ONEDNN_MAX_CPU_ISA": "ALL"}) is None
    assert isa_cap({"ONEDNN_MAX_CPU_ISA": "avx512_core_bf16"}) == "AVX512_CORE_BF16"
    assert isa_cap({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE", "ATEN_CPU_CAPABILITY": "avx2"}) == "AVX2"
    assert isa_cap({"ATEN_CPU_CAPABILITY": "avx512"}) is None


def test_a_cap_hides_features_above_it():
    xeon = parse_linux_cpuinfo(XEON_FLAGS)
    assert apply_cap(xeon, "AVX2") == {Feature.AVX2}
    assert apply_cap(xeon, "AVX512_CORE_BF16") == xeon - {Feature.AVX512_FP16, Feature.AMX_BF16,
                                                         Feature.AMX_TILE, Feature.AMX_INT8}
    assert apply_cap(xeon, None) == xeon
    arm = parse_linux_cpuinfo(ARM_FEATURES)
    assert apply_cap(arm, "AVX2") == arm


def test_processor_usable_features_follow_torch_and_the_cap():
    xeon = parse_linux_cpuinfo(XEON_FLAGS)
    assert Processor("x86_64", xeon, "AVX512").native_bf16
    capped = Processor("x86_64", xeon, "AVX512", cap="AVX2")
    assert capped.usable == {Feature.AVX2} and not capped.native_bf16
    assert "capped to AVX2" in capped.describe() and "amx_bf16" in capped.describe()
    assert Processor("x86_64", xeon, "AVX2").usable == {Feature.AVX2}
    assert Processor("x86_64", xeon, "AVX2").as_dict()["features"] == sorted(f.value for f in xeon)


def test_detect_on_this_machine_agrees_with_torch():
    import torch

    found = detect({})
    assert found.torch_capability == torch.backends.cpu.get_cpu_capability()
    assert features_from_torch(found.torch_capability) <= found.features
    assert detect({"ONEDNN_MAX_CPU_ISA": "AVX2"}).usable <= {Feature.AVX2}
