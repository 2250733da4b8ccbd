"""Random-weight Moonshine and Whisper speech recognizers built with the real transformers classes.

Tests (tiny sizes) and the benchmark (real sizes) use these; the app never does. The real
configuration, feature extractor and tokenizer files are used, so the processors, special tokens
and generation settings are exactly the real models'.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

# Feature extractor of UsefulSensors/moonshine-tiny and -base on the hub (preprocessor_config.json):
# Moonshine takes raw 16 kHz audio, not a spectrogram, and is trained on unnormalized audio.
MOONSHINE_FEATURE_EXTRACTOR = MappingProxyType({
    "do_normalize": False,
    "feature_size": 1,
    "padding_side": "right",
    "padding_value": 0.0,
    "return_attention_mask": True,
    "sampling_rate": 16000,
})

# Sizes small enough for unit tests (seconds to build, milliseconds a token); vocab stays real.
TINY_MOONSHINE = MappingProxyType({
    "hidden_size": 64,
    "intermediate_size": 128,
    "encoder_num_hidden_layers": 2,
    "decoder_num_hidden_layers": 2,
    "encoder_num_attention_heads": 4,
    "decoder_num_attention_heads": 4,
    "encoder_num_key_value_heads": 4,
    "decoder_num_key_value_heads": 4,
    # With tied embeddings and the default 0.02 init, a random decoder only repeats its start
    # token (the residual stream is the input embedding), so transcripts would all be empty.
    "initializer_range": 0.1,
})
TINY_WHISPER = MappingProxyType({
    "d_model": 64,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 128,
    "decoder_ffn_dim": 128,
})

# Files of the openai/whisper-* hub folders other than the weights and the model config.
WHISPER_FILES = (
    "added_tokens.json",
    "generation_config.json",
    "merges.txt",
    "normalizer.json",
    "preprocessor_config.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
)


def default_data_dir() -> Path:
    """The repository's tests/data folder with the real hub configuration files."""
    return Path(__file__).resolve().parent.parent / "tests" / "data"


def _random_model(model_class: type, src: Path, sizes: Mapping[str, int], seed: int) -> object:
    """The real class built from the config in `src`, with `sizes` overriding, seeded random weights."""
    import torch
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(src)
    for key, value in sizes.items():
        setattr(config, key, value)
    config.dtype = "float32"
    torch.manual_seed(seed)
    return model_class(config).eval()


def _save_model(model: object, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)


def build_tiny_moonshine(out_dir: Path, data_dir: Path | None = None, seed: int = 0,
                         tiny: bool = True) -> Path:
    """Write a random-weight Moonshine model plus its processor to `out_dir` (hub layout)."""
    from tokenizers import Tokenizer
    from transformers import (
        MoonshineForConditionalGeneration,
        PreTrainedTokenizerFast,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2Processor,
    )

    src = Path(data_dir) if data_dir is not None else default_data_dir() / "moonshine-tiny"
    out_dir = Path(out_dir)
    model = _random_model(MoonshineForConditionalGeneration, src, TINY_MOONSHINE if tiny else {}, seed)
    _save_model(model, out_dir)

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_file(str(src / "tokenizer.standin.json")),
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="</s>",
    )
    extractor = Wav2Vec2FeatureExtractor(**MOONSHINE_FEATURE_EXTRACTOR)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(out_dir)
    _check_layout(out_dir)
    return out_dir


def build_tiny_whisper(out_dir: Path, data_dir: Path | None = None, seed: int = 0,
                       tiny: bool = True) -> Path:
    """Write a random-weight Whisper model plus the real whisper processor files to `out_dir`."""
    from transformers import GenerationConfig, WhisperForConditionalGeneration

    src = Path(data_dir) if data_dir is not None else default_data_dir() / "whisper-base"
    out_dir = Path(out_dir)
    model = _random_model(WhisperForConditionalGeneration, src, TINY_WHISPER if tiny else {}, seed)
    model.generation_config = GenerationConfig.from_pretrained(src)
    if tiny:
        # The real alignment heads name layers the tiny model does not have (word timestamps only).
        model.generation_config.alignment_heads = [[0, 0]]
    _save_model(model, out_dir)
    for name in WHISPER_FILES:
        if (src / name).exists() and name != "generation_config.json":
            shutil.copyfile(src / name, out_dir / name)
    _check_layout(out_dir)
    return out_dir


def _check_layout(out_dir: Path) -> None:
    """Fail early if a build did not produce a loadable hub folder."""
    config = json.loads((out_dir / "config.json").read_text())
    if "model_type" not in config or not (out_dir / "model.safetensors").exists():
        raise RuntimeError(f"incomplete model folder written to {out_dir}")
