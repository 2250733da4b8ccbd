"""The vision encoder through OpenVINO (the benchmark's peer) on the tiny model, when installed."""

import pytest

pytest.importorskip("openvino")


def test_converted_encoder_matches_torch_and_is_cached(tiny_vlm_dir, tmp_path):
    import torch
    from PIL import Image

    from benchmark.kernels import bench_pixels
    from models import openvino_encoder
    from models.vision import VisionLanguageModel

    model = VisionLanguageModel.load(tiny_vlm_dir, dtype="float32")
    peer, note = openvino_encoder.load(model, tmp_path, threads=1, bf16=False)
    assert peer is not None, note
    assert "f32" in note and peer.xml.exists()
    pixels = bench_pixels(model, Image.new("RGB", (900, 500), "navy"))
    with torch.inference_mode():
        want = model.encode_image(pixels)
    got = peer(pixels[0])
    assert got.shape == want.shape
    assert torch.nn.functional.cosine_similarity(got.flatten(), want.flatten(), dim=0) > 0.999
    again, _ = openvino_encoder.load(model, tmp_path, threads=1, bf16=False)
    assert again.xml == peer.xml and len(list(tmp_path.glob("*.xml"))) == 1


def test_a_missing_model_folder_falls_back_with_a_reason(tiny_vlm, tmp_path, monkeypatch):
    from models import openvino_encoder

    monkeypatch.setattr(tiny_vlm, "source", str(tmp_path / "gone"))
    peer, note = openvino_encoder.load(tiny_vlm, tmp_path, threads=1, bf16=False)
    assert peer is None and "could not" in note



def _amx():
    from models.cpu_features import Feature, Processor

    return Processor("x86_64", frozenset({Feature.AVX2, Feature.AVX512F, Feature.AVX512_BF16,
                                          Feature.AMX_TILE, Feature.AMX_BF16, Feature.AMX_INT8}))


def test_model_with_the_openvino_encoder_answers_and_counts_encoder_calls(tiny_vlm_dir, tmp_path):
    import threading

    import torch
    from PIL import Image

    from benchmark.kernels import bench_pixels
    from models.kernel_paths import Runtime
    from models.vision import VisionLanguageModel

    model = VisionLanguageModel.load(tiny_vlm_dir, quantize=True, cpu=_amx(), openvino=True,
                                     compiled_cache=tmp_path)
    assert model.paths.encoder.runtime is Runtime.OPENVINO, model.paths.encoder.reason
    torch_only = VisionLanguageModel.load(tiny_vlm_dir, quantize=True, cpu=_amx())
    image = Image.new("RGB", (900, 500), "navy")
    pixels = bench_pixels(model, image)
    with torch.inference_mode():
        got, want = model.encode_image(pixels), torch_only.encode_image(pixels)
    assert got.dtype == want.dtype == torch.float32
    assert torch.nn.functional.cosine_similarity(got.flatten(), want.flatten(), dim=0) > 0.99
    before = model.vision_encoder_calls
    ctx = model.encode(image, "quick")
    assert model.vision_encoder_calls == before + 1
    assert ctx.vision_tiles == 1 and ctx.vision_s > 0
    assert "".join(model.answer(ctx, "Describe.", max_new_tokens=4, ignore_eos=True))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(InterruptedError):
        model.encode(Image.new("RGB", (600, 400), "white"), "quick", cancel=cancel)


def test_a_failed_conversion_keeps_the_torch_encoder_and_says_why(tiny_vlm_dir, tmp_path, monkeypatch):
    from models import openvino_encoder
    from models.kernel_paths import Runtime
    from models.vision import VisionLanguageModel

    monkeypatch.setattr(openvino_encoder, "load", lambda *args, **kwargs: (None, "conversion failed here"))
    model = VisionLanguageModel.load(tiny_vlm_dir, quantize=True, cpu=_amx(), openvino=True,
                                     compiled_cache=tmp_path)
    assert model.paths.encoder.runtime is Runtime.TORCH
    assert "conversion failed here" in model.paths.encoder.reason
