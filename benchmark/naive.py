"""The naive path the benchmark compares with: processor defaults and transformers' model.generate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NaiveAnswer:
    """The plain transformers path's answer and what its vision encoder cost."""

    text: str
    vision_tiles: int
    vision_s: float


def generate_naive(model: Any, image: Any, prompt: str, max_new_tokens: int,
                   ignore_eos: bool = False) -> NaiveAnswer:
    """`model`'s (a models.vision.VisionLanguageModel) answer to `prompt` about `image` the plain way:
    the processor's default tiling, no kept prefix, model.generate."""
    import torch

    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    text = model.processor.apply_chat_template(messages, add_generation_prompt=True)
    inputs = model.processor(text=text, images=[image], return_tensors="pt").to(model.device)
    kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": False}
    if ignore_eos:
        kwargs["min_new_tokens"] = max_new_tokens
    with torch.inference_mode(), model.vision_timing() as timing:
        out = model.model.generate(**inputs, **kwargs)
    answer = model.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    return NaiveAnswer(answer, timing.tiles, timing.seconds)
