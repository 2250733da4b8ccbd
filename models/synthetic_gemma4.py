"""Random-weight Gemma 4 models built with the real transformers classes.

Tests (tiny sizes) and the benchmark (real E2B/E4B sizes) use these; the app never does. The
configuration is the real one (tests/data/gemma4-e2b, gemma4-e4b), the processor settings and
chat template are the real model's, and the tokenizer is a small stand-in with the real special
tokens; the multimodal token ids in the config are set from that tokenizer, as transformers'
conversion script sets them from the real one.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

PROCESSOR_FILES = ("chat_template.jinja", "processor_config.json", "tokenizer.json",
                   "tokenizer_config.json")
CONFIG_DIRS = MappingProxyType({"tiny": "gemma4-e2b", "e2b": "gemma4-e2b", "e4b": "gemma4-e4b"})

# The tiny variant keeps the real structure (sliding and full layers, shared KV layers,
# per-layer inputs, double-wide MLPs) at toy sizes; the sliding window is shorter than an
# image prefix so the tests run the sliding-window cache as the real model does.
TINY_TEXT: Mapping[str, object] = MappingProxyType({
    "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 6,
    "layer_types": (["sliding_attention"] * 2 + ["full_attention"]) * 2,
    "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16, "global_head_dim": 32,
    "hidden_size_per_layer_input": 8, "num_kv_shared_layers": 3, "sliding_window": 32,
})
TINY_VISION: Mapping[str, object] = MappingProxyType({
    "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
    "num_key_value_heads": 2, "head_dim": 16, "global_head_dim": 16,
})
# The first subsampling width must stay 128: the encoder sizes its projection from it as if it
# were the mel-bin count.
TINY_AUDIO: Mapping[str, object] = MappingProxyType({
    "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
    "subsampling_conv_channels": [128, 8], "output_proj_dims": 32,
})


def default_config_dir(variant: str = "tiny") -> Path:
    """The Gemma 4 hub files kept in the repository's tests/data."""
    if variant not in CONFIG_DIRS:
        raise ValueError(f"unknown variant {variant!r}; use one of {sorted(CONFIG_DIRS)}")
    return Path(__file__).resolve().parent.parent / "tests" / "data" / CONFIG_DIRS[variant]


def build_gemma4(out_dir: Path, variant: str = "tiny", config_dir: Path | None = None,
                 seed: int = 0, dtype: str = "float32") -> Path:
    """Write a random-weight Gemma4ForConditionalGeneration in the hub layout to `out_dir`."""
    import torch
    from transformers import AutoTokenizer, Gemma4Config, Gemma4ForConditionalGeneration

    config_dir = Path(config_dir or default_config_dir(variant))
    files_dir = default_config_dir("e2b")  # processor, tokenizer and template (same for E4B)
    raw = json.loads((config_dir / "config.json").read_text(encoding="utf-8"))
    tokenizer = AutoTokenizer.from_pretrained(files_dir)
    if variant == "tiny":
        raw["text_config"].update(TINY_TEXT)
        raw["text_config"]["vocab_size"] = len(tokenizer)
        raw["text_config"]["vocab_size_per_layer_input"] = len(tokenizer)
        raw["vision_config"].update(TINY_VISION)
        raw["audio_config"].update(TINY_AUDIO)
    ids = tokenizer.convert_tokens_to_ids
    raw.update(image_token_id=ids(tokenizer.image_token), boi_token_id=ids(tokenizer.boi_token),
               eoi_token_id=ids(tokenizer.eoi_token), audio_token_id=ids(tokenizer.audio_token),
               boa_token_id=ids(tokenizer.boa_token), eoa_token_id=ids(tokenizer.eoa_token),
               video_token_id=ids("<|video|>"))
    eos = [tokenizer.eos_token_id, ids(tokenizer.eot_token)]
    raw["eos_token_id"] = eos
    for part in ("text_config", "vision_config", "audio_config"):
        raw[part]["dtype"] = dtype
    config = Gemma4Config.from_dict(raw)
    torch.manual_seed(seed)
    model = Gemma4ForConditionalGeneration._from_config(config, dtype=getattr(torch, dtype))
    if config.text_config.vocab_size > len(tokenizer):
        # Real sizes keep the real 262,144-row embedding and output layer (their cost is the
        # real one) while the stand-in tokenizer knows only its own ids: zero rows past it (the
        # output layer is tied to them), so random logits there are 0 and greedy decoding picks
        # tokens the tokenizer can write out.
        with torch.no_grad():
            model.get_input_embeddings().weight[len(tokenizer):] = 0
    model.generation_config.eos_token_id = [*eos, ids(tokenizer.str_token)]
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    for name in PROCESSOR_FILES:
        shutil.copyfile(files_dir / name, out_dir / name)
    return out_dir
