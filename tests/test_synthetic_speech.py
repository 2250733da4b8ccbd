"""The random-weight speech models: real classes, real processors and tokenizers, hub layout."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from models.synthetic_speech import build_tiny_moonshine, default_data_dir


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_moonshine_folder_has_safetensors_weights_and_real_vocab(tiny_moonshine_dir: Path) -> None:
    names = {p.name for p in tiny_moonshine_dir.iterdir()}
    assert "model.safetensors" in names
    assert not any(name.endswith(".bin") for name in names)
    config = json.loads((tiny_moonshine_dir / "config.json").read_text())
    real = json.loads((default_data_dir() / "moonshine-tiny" / "config.json").read_text())
    assert config["model_type"] == "moonshine"
    assert config["hidden_size"] < real["hidden_size"]
    for key in ("vocab_size", "bos_token_id", "eos_token_id", "decoder_start_token_id",
                "max_position_embeddings"):
        assert config[key] == real[key], key


def test_moonshine_processor_is_raw_audio_extractor_plus_standin_tokenizer(
    tiny_moonshine_dir: Path,
) -> None:
    from tokenizers import Tokenizer
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_moonshine_dir)
    extractor = processor.feature_extractor
    assert type(extractor).__name__ == "Wav2Vec2FeatureExtractor"
    assert extractor.sampling_rate == 16000
    assert extractor.feature_size == 1
    assert extractor.do_normalize is False
    tokenizer = processor.tokenizer
    assert tokenizer.convert_tokens_to_ids(["<unk>", "<s>", "</s>", "<<ST_0>>"]) == [0, 1, 2, 32000]
    assert tokenizer.pad_token_id == 2
    original = Tokenizer.from_file(
        str(default_data_dir() / "moonshine-tiny" / "tokenizer.standin.json")
    )
    text = "What does the red error say?"
    assert tokenizer(text).input_ids == original.encode(text).ids
    assert tokenizer.decode(original.encode(text).ids, skip_special_tokens=True) == text


def test_whisper_folder_keeps_real_processor_and_generation_config(tiny_whisper_dir: Path) -> None:
    from transformers import AutoProcessor, GenerationConfig

    processor = AutoProcessor.from_pretrained(tiny_whisper_dir)
    assert type(processor).__name__ == "WhisperProcessor"
    assert processor.feature_extractor.feature_size == 80
    tokenizer = processor.tokenizer
    assert tokenizer.convert_tokens_to_ids("<|startoftranscript|>") == 50258
    assert tokenizer.convert_tokens_to_ids("<|fr|>") == 50265
    generation = GenerationConfig.from_pretrained(tiny_whisper_dir)
    assert len(generation.lang_to_id) == 99
    assert generation.task_to_id["transcribe"] == 50359
    config = json.loads((tiny_whisper_dir / "config.json").read_text())
    assert (config["model_type"], config["vocab_size"], config["num_mel_bins"]) == (
        "whisper", 51865, 80)
    assert config["d_model"] == 64


def test_builds_are_seeded(tiny_moonshine_dir: Path, tmp_path: Path) -> None:
    again = build_tiny_moonshine(tmp_path / "again")
    assert _sha(again / "model.safetensors") == _sha(tiny_moonshine_dir / "model.safetensors")
    other = build_tiny_moonshine(tmp_path / "other", seed=1)
    assert _sha(other / "model.safetensors") != _sha(tiny_moonshine_dir / "model.safetensors")


def test_models_load_with_real_classes_from_safetensors(
    tiny_moonshine_dir: Path, tiny_whisper_dir: Path
) -> None:
    from transformers import MoonshineForConditionalGeneration, WhisperForConditionalGeneration

    moonshine = MoonshineForConditionalGeneration.from_pretrained(tiny_moonshine_dir,
                                                                  use_safetensors=True)
    whisper = WhisperForConditionalGeneration.from_pretrained(tiny_whisper_dir, use_safetensors=True)
    assert moonshine.config.vocab_size == 32768
    assert whisper.config.d_model == 64
