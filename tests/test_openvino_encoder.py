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
