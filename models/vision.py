"""The vision-language model: encode a screenshot once, answer many prompts about it, streaming.

`prepare` runs the processor and the vision encoder and keeps the prompt prefix up to and
including the image as a KV cache (an ImageContext). `answer` appends a prompt to that prefix
and streams text token by token; follow-ups reuse the cache and never run the vision encoder
again.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import ModelError

DETAILS = ("quick", "normal", "high")
TILE = 512  # SigLIP tile side used by SmolVLM's processor


@dataclass
class ImageContext:
    """An encoded screenshot: the KV cache of the prompt prefix through the image tokens."""

    cache: Any
    prefix_len: int
    detail: str
    tiles: int
    image_size: tuple[int, int]
    preprocess_s: float = 0.0
    encode_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


@dataclass(frozen=True)
class Turn:
    """One earlier question and its answer, replayed as text after the image."""

    question: str
    answer: str


def tiling_kwargs(detail: str, size: tuple[int, int]) -> dict[str, Any]:
    """Processor options deciding how many 512-pixel tiles an image of `size` becomes.

    quick: one tile of the whole image; normal: up to 1024 px on the long side (about 2x2 tiles
    plus the overview); high: the processor's own default (up to 4x4 plus the overview).
    Small images are never scaled up beyond the tile grid they need.
    """
    if detail not in DETAILS:
        raise ValueError(f"detail must be one of {DETAILS}, not {detail!r}")
    longest = max(size)
    if detail == "quick" or longest <= TILE:
        return {"do_image_splitting": False}
    cap = 1024 if detail == "normal" else 2048
    edge = min(cap, math.ceil(longest / TILE) * TILE)
    return {"do_image_splitting": True, "size": {"longest_edge": edge}}


class VisionLanguageModel:
    """A SmolVLM-class (Idefics3) model loaded from a folder of safetensors."""

    def __init__(self, model: Any, processor: Any, device: str, source: str) -> None:
        self.model = model
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.device = device
        self.source = source
        eos = model.generation_config.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        end = self.tokenizer.convert_tokens_to_ids("<end_of_utterance>")
        if isinstance(end, int) and end != self.tokenizer.unk_token_id:
            self.eos_ids.add(end)
        self.vision_encoder_calls = 0

    @classmethod
    def load(cls, source: str | Path, device: str = "cpu", dtype: str | None = None,
             threads: int | None = None, quantize: bool = False,
             attn: str = "sdpa") -> VisionLanguageModel:
        """Load from a model folder (safetensors only, never remote code)."""
        from models import runtime
        from models.store import check_loadable

        folder = Path(source)
        check_loadable(folder)
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        runtime.configure_threads(threads)
        torch_dtype = runtime.pick_dtype(device, dtype)
        try:
            processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
            model = AutoModelForImageTextToText.from_pretrained(
                folder, dtype=torch_dtype, local_files_only=True, use_safetensors=True,
                trust_remote_code=False, attn_implementation=attn,
            )
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ModelError(f"The model in {folder} could not be loaded ({exc}).",
                             "Run: screensight models verify, or download the model again.") from exc
        model.eval()
        model.to(device)
        if quantize and device == "cpu":
            runtime.quantize_linear_int8(model.model.text_model)
            runtime.quantize_linear_int8(model.lm_head)
            runtime.quantize_linear_int8(model.model.connector)
            runtime.quantize_linear_int8(model.model.vision_model)
        vlm = cls(model, processor, device, str(folder))
        vlm._count_vision_calls()
        return vlm

    def _count_vision_calls(self) -> None:
        def hook(_module: Any, _args: Any, _output: Any) -> None:
            self.vision_encoder_calls += 1

        self.model.model.vision_model.register_forward_hook(hook)

    # -- prompts -----------------------------------------------------------------------------

    def _render(self, prompt: str, history: Sequence[Turn]) -> tuple[str, str]:
        """The chat-template text split into (prefix through the image, the rest)."""
        first_q = history[0].question if history else prompt
        messages: list[dict[str, Any]] = [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": first_q}]}
        ]
        turns = list(history) + [Turn(prompt, "")]
        for i, turn in enumerate(turns):
            if i > 0:
                messages.append({"role": "user", "content": [{"type": "text", "text": turn.question}]})
            if turn.answer:
                messages.append({"role": "assistant",
                                 "content": [{"type": "text", "text": turn.answer.strip()}]})
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True)
        marker = "<image>"
        if text.count(marker) != 1:
            raise ModelError("The prompt must hold exactly one image.", "This is a bug; please report it.")
        cut = text.index(marker) + len(marker)
        return text[:cut], text[cut:]

    # -- the two steps ---------------------------------------------------------------------------

    def prepare(self, image: Any, detail: str = "quick",
                cancel: threading.Event | None = None) -> ImageContext:
        """Run the processor and vision encoder on `image` and keep the prefix KV cache."""
        import torch
        from transformers import DynamicCache

        prefix_text, _ = self._render("", [])
        t0 = time.monotonic()
        inputs = self.processor(text=prefix_text, images=[image], return_tensors="pt",
                                **tiling_kwargs(detail, image.size))
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        t1 = time.monotonic()
        if cancel is not None and cancel.is_set():
            raise InterruptedError("cancelled before encoding")
        cache = DynamicCache(config=self.model.config.text_config)
        with torch.inference_mode():
            self.model(**inputs, cache=cache, use_cache=True, logits_to_keep=1)
        t2 = time.monotonic()
        return ImageContext(
            cache=cache,
            prefix_len=int(inputs["input_ids"].shape[1]),
            detail=detail,
            tiles=int(inputs["pixel_values"].shape[1]),
            image_size=tuple(image.size),
            preprocess_s=t1 - t0,
            encode_s=t2 - t1,
        )

    def answer(self, ctx: ImageContext, prompt: str, cancel: threading.Event | None = None,
               max_new_tokens: int = 256, history: Sequence[Turn] = (),
               ignore_eos: bool = False,
               on_token: Callable[[int], None] | None = None) -> Iterator[str]:
        """Stream the answer to `prompt` about the image in `ctx`, as text pieces.

        Stops within one token once `cancel` is set. The context's cache is returned to the
        image prefix afterwards, so the same context serves the next question.
        """
        import torch

        _, suffix = self._render(prompt, history)
        ids = self.tokenizer(suffix, add_special_tokens=False, return_tensors="pt").input_ids
        ids = ids.to(self.device)
        with ctx.lock:
            cache = ctx.cache
            try:
                generated: list[int] = []
                emitted = ""
                with torch.inference_mode():
                    out = self.model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1)
                    for _ in range(max_new_tokens):
                        if cancel is not None and cancel.is_set():
                            return
                        token = int(torch.argmax(out.logits[0, -1]))
                        if token in self.eos_ids and not ignore_eos:
                            break
                        generated.append(token)
                        if on_token is not None:
                            on_token(token)
                        text = self.tokenizer.decode(generated, skip_special_tokens=True)
                        if not text.endswith("\ufffd") and len(text) > len(emitted):
                            piece, emitted = text[len(emitted):], text
                            yield piece
                        if cancel is not None and cancel.is_set():
                            return
                        step = torch.tensor([[token]], device=self.device)
                        out = self.model(input_ids=step, cache=cache, use_cache=True, logits_to_keep=1)
            finally:
                extra = cache.get_seq_length() - ctx.prefix_len
                if extra > 0:
                    cache.crop(-extra)

    def generate_naive(self, image: Any, prompt: str, max_new_tokens: int,
                       ignore_eos: bool = False) -> str:
        """The plain transformers path (processor defaults + model.generate), for the benchmark."""
        import torch

        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True)
        inputs = self.processor(text=text, images=[image], return_tensors="pt").to(self.device)
        kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": False}
        if ignore_eos:
            kwargs["min_new_tokens"] = max_new_tokens
        with torch.inference_mode():
            out = self.model.generate(**inputs, **kwargs)
        return self.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
