"""Random-weight vision-language models built with the real transformers classes.

Tests (tiny sizes) and the benchmark (real sizes) use these; the app never does. The real
configuration, processor, tokenizer and chat template are copied from a folder of hub files,
so image-token handling and prompts are exactly the real model's.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

# Files of a hub model folder other than the weights.
PROCESSOR_FILES = (
    "added_tokens.json",
    "chat_template.json",
    "generation_config.json",
    "merges.txt",
    "preprocessor_config.json",
    "processor_config.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
)

# Text-model sizes per variant; "tiny" also shrinks the vision encoder.
VARIANTS: Mapping[str, Mapping[str, int]] = MappingProxyType({
    "tiny": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16},
    "256m": {},
    "500m": {"hidden_size": 960, "intermediate_size": 2560, "num_hidden_layers": 32,
             "num_attention_heads": 15, "num_key_value_heads": 5, "head_dim": 64},
})
TINY_VISION = MappingProxyType({"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
               "num_attention_heads": 2})


def default_config_dir() -> Path:
    """The SmolVLM-256M-Instruct hub files kept in the repository's tests/data."""
    return Path(__file__).resolve().parent.parent / "tests" / "data" / "SmolVLM-256M-Instruct"


def build_vlm(out_dir: Path, variant: str = "tiny", config_dir: Path | None = None,
              seed: int = 0) -> Path:
    """Write a random-weight Idefics3 (SmolVLM) model in the hub layout to `out_dir`."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; use one of {sorted(VARIANTS)}")
    config_dir = Path(config_dir or default_config_dir())
    config = AutoConfig.from_pretrained(config_dir)
    for key, value in VARIANTS[variant].items():
        setattr(config.text_config, key, value)
    if variant == "tiny":
        for key, value in TINY_VISION.items():
            setattr(config.vision_config, key, value)
    config.dtype = "float32"
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config, dtype=torch.float32)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    for name in PROCESSOR_FILES:
        if (config_dir / name).exists():
            shutil.copyfile(config_dir / name, out_dir / name)
    return out_dir
