"""The one model-loading place: sources checked before loading, lazy loads, slots that switch."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.model_loading import Ready, SpeechSlot, VisionModelLoader, VisionSlot, check_source
from base.errors import ModelError
from base.vocabulary import Role


def test_check_source_names_a_model_of_the_wrong_role(tiny_moonshine_dir: Path) -> None:
    assert check_source(str(tiny_moonshine_dir), Role.SPEECH) == tiny_moonshine_dir
    with pytest.raises(ModelError) as caught:
        check_source(str(tiny_moonshine_dir), Role.VISION)
    assert "is a speech model, not a vision model" in caught.value.message
    assert caught.value.hint


def test_check_source_of_a_missing_folder_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as caught:
        check_source(str(tmp_path / "nowhere"), Role.VISION)
    assert "does not exist" in caught.value.message and "smolvlm-256m" in caught.value.hint


def test_a_loader_loads_on_first_call_once_and_again_after_unload(tiny_vlm_dir: Path) -> None:
    loader = VisionModelLoader(str(tiny_vlm_dir), quantize=False, threads=1)
    assert not loader.loaded
    model = loader()
    assert loader.loaded and loader() is model
    loader.unload()
    assert not loader.loaded and loader() is not model


def test_a_slot_switches_only_when_the_model_changes() -> None:
    slot = VisionSlot("smolvlm-256m", quantize=True, threads=None)
    assert not slot.switch("smolvlm-256m", True, None)
    assert slot.switch("smolvlm-256m", False, None) and slot.source == "smolvlm-256m"
    assert slot.switch("smolvlm-500m", False, None) and slot.source == "smolvlm-500m"
    assert not slot.loaded
    speech = SpeechSlot("moonshine-tiny", threads=2)
    assert not speech.switch("moonshine-tiny")
    assert speech.switch("whisper-base") and speech.source == "whisper-base"
    assert speech.switch("whisper-base", quantize=False)  # int8 off in the settings: loaded again


def test_the_speech_slot_follows_the_int8_setting(tiny_moonshine_dir: Path) -> None:
    quantized = SpeechSlot(str(tiny_moonshine_dir), threads=1)()
    plain = SpeechSlot(str(tiny_moonshine_dir), threads=1, quantize=False)()
    assert quantized.quantized and not plain.quantized


def test_a_switched_slot_loads_the_new_model(tiny_vlm_dir: Path, tmp_path: Path) -> None:
    slot = VisionSlot(str(tmp_path / "missing"), quantize=False, threads=1)
    with pytest.raises(ModelError):
        slot()
    assert slot.switch(str(tiny_vlm_dir), False, 1)
    assert slot() is slot() and slot.loaded


def test_ready_is_a_provider_that_never_loads() -> None:
    thing = object()
    ready = Ready(thing)
    assert ready.loaded and ready() is thing


def test_a_slot_switches_when_the_device_changes() -> None:
    slot = VisionSlot("smolvlm-256m", quantize=True, threads=None)
    assert not slot.switch("smolvlm-256m", True, None, "auto")
    assert slot.switch("smolvlm-256m", True, None, "cpu")
    assert slot.placement() == ""  # nothing is loaded yet


def test_the_loader_runs_the_model_on_the_device_chosen(tiny_gemma4_dir: Path) -> None:
    slot = VisionSlot(str(tiny_gemma4_dir), quantize=False, threads=1, device="cpu")
    model = slot()
    assert model.device == "cpu"
    assert str(next(model.model.parameters()).device) == "cpu"
    assert slot.placement() == f"the CPU, {str(model.dtype).removeprefix('torch.')}"


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_a_device_this_computer_lacks_is_refused_with_what_to_choose(tiny_gemma4_dir: Path,
                                                                    device: str) -> None:
    import torch

    mps = getattr(torch.backends, "mps", None)
    if torch.cuda.is_available() if device == "cuda" else (mps is not None and mps.is_available()):
        pytest.skip(f"this computer has {device}")
    with pytest.raises(ModelError) as caught:
        VisionModelLoader(str(tiny_gemma4_dir), quantize=False, threads=1, device=device)()
    assert "there is none this program can use" in caught.value.message
    assert "Settings > Advanced" in caught.value.hint
