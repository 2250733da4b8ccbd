"""Gemma 4 (E2B / E4B): the screenshot and the spoken question go into one model.

The same contract as models.vision.VisionLanguageModel: `encode` runs the vision encoder once
and keeps the prompt prefix through the image as a KV cache (an ImageContext, cached per image
hash and detail); `answer` streams text token by token about it, stops within one token once
cancelled, and leaves the prefix as it was, so follow-ups never run the vision encoder again.
`answer_spoken` takes the question as 16 kHz audio instead of text: the audio goes through the
model's own audio encoder after the image prefix, the answer streams, and then, in the same
cache, the model is asked for the words it heard (a base.transcript.Transcript at the end of
the stream).

The processor is assembled from its parts (tokenizer, PIL image processor, audio feature
extractor) because transformers' Gemma4Processor also builds a video processor, which needs
torchvision; the placeholder expansion is the processor's own (boi + n image tokens + eoi).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from base.audio import SAMPLE_RATE
from base.errors import AudioError, ModelError
from base.transcript import Transcript, TranscriptionStats
from base.turns import Turn
from base.vocabulary import Detail, choices
from models import int8_weights, narrow_tables
from models.cpu_features import detect
from models.decode_threads import DecodeThreads
from models.int8_activations import ActivationSwitch
from models.kept_turn import KeptTurn, prompt_ids
from models.kernel_paths import Kernel, ModelPaths, PartPath
from models.pixel_cache import KeepsEncodedImages, PixelCache
from models.vision import ImageContext, split_at_image

log = logging.getLogger(__name__)

# Soft tokens per image the model was trained with (Gemma4ImageProcessor's supported budgets).
SOFT_TOKEN_BUDGETS = (70, 140, 280, 560, 1120)
# The image budget per detail level: quick is the fast path on CPUs, normal the model's own
# default, high the most it takes.
DETAIL_BUDGETS = MappingProxyType({Detail.QUICK: 140, Detail.NORMAL: 280, Detail.HIGH: 1120})
MAX_AUDIO_S = 30.0      # the audio encoder's limit (750 soft tokens of 40 ms)
MIN_AUDIO_S = 0.25      # shorter is a key tap, not a question
SILENCE_RMS = 1e-3      # below this (about -60 dBFS) there is nothing to hear
EDGE_SILENCE_RMS = 3e-3  # leading/trailing 20 ms frames below this are cut
TRANSCRIBE_PROMPT = "Write down the question I asked, word for word, in the language I spoke. Nothing else."
SPOKEN_PROMPT = "Answer the question I asked in the recording about this screen."
TRANSCRIPT_TOKENS = 48
# What the language model reads once after loading, so each layer's int8 activations are checked
# on real inputs (models.int8_activations); screen words, as the questions are.
CALIBRATION_PROMPT = ("A dialog titled Save changes asks: Do you want to save the changes to report.txt "
                      "before closing? The buttons are Save, Don't Save and Cancel. What does it say?")
CALIBRATION_LOGITS = 4  # positions whose logits the calibration computes: the head's check rows


@dataclass(frozen=True)
class SpokenAudio:
    """A spoken question checked for the audio encoder: 16 kHz mono float32 in [-1, 1]."""

    pcm: np.ndarray
    seconds: float
    trimmed_s: float = 0.0   # audio past MAX_AUDIO_S that was left out
    clipped: bool = False    # samples at or beyond full scale were found (and limited to it)


def check_audio(pcm: Any, sample_rate: int = SAMPLE_RATE) -> SpokenAudio:
    """The question's audio ready for the encoder, or AudioError saying what to do.

    Silence at both ends is cut; audio longer than MAX_AUDIO_S keeps its first MAX_AUDIO_S
    (trimmed_s says how much was left out); clipped samples are limited to full scale.
    """
    if sample_rate != SAMPLE_RATE:
        raise AudioError(f"The audio is at {sample_rate} Hz; the model takes {SAMPLE_RATE} Hz.",
                         "This is a bug; please report it.")
    samples = np.asarray(pcm, dtype=np.float32).reshape(-1)
    if samples.size and not np.isfinite(samples).all():
        raise AudioError("The recording is damaged (it holds invalid samples).",
                         "Try again; if it keeps happening, choose another microphone in Settings.")
    clipped = bool(samples.size) and float(np.max(np.abs(samples))) >= 1.0
    samples = np.clip(samples, -1.0, 1.0)
    samples = _trim_edges(samples)
    seconds = samples.size / SAMPLE_RATE
    if samples.size == 0 or float(np.sqrt(np.mean(samples ** 2))) < SILENCE_RMS:
        raise AudioError("I heard only silence.",
                         "Hold the talk key, speak your question, then release it. If you did, "
                         "check the microphone and its volume in Settings.")
    if seconds < MIN_AUDIO_S:
        raise AudioError(f"The recording is too short ({seconds:.1f} s) to hold a question.",
                         "Hold the talk key while you speak, and release it after the question.")
    trimmed = max(0.0, seconds - MAX_AUDIO_S)
    if trimmed:
        samples = samples[: int(MAX_AUDIO_S * SAMPLE_RATE)]
    return SpokenAudio(np.ascontiguousarray(samples), samples.size / SAMPLE_RATE, trimmed, clipped)


def _trim_edges(samples: np.ndarray, frame: int = SAMPLE_RATE // 50) -> np.ndarray:
    """Cut quiet 20 ms frames at the start and the end (a little margin stays)."""
    count = samples.size // frame
    if count == 0:
        return samples
    frames = samples[: count * frame].reshape(count, frame)
    loud = np.flatnonzero(np.sqrt(np.mean(frames ** 2, axis=1)) >= EDGE_SILENCE_RMS)
    if loud.size == 0:
        return samples[:0] if float(np.sqrt(np.mean(samples ** 2))) < SILENCE_RMS else samples
    start = max(0, int(loud[0]) - 5) * frame
    end = min(samples.size, (int(loud[-1]) + 6) * frame)
    return samples[start:end]


def _holds_states(layer: Any) -> bool:
    """A cache layer with keys and values of its own (not one that shares another layer's)."""
    return getattr(layer, "is_initialized", False) and hasattr(layer, "get_seq_length")


def _can_cut(cache: Any, remove: int) -> bool:
    """`cache` can lose its last `remove` tokens and still hold, in every sliding-window layer,
    the window the next token needs (a layer cut back before keeps only its window)."""
    for layer in getattr(cache, "layers", ()):
        if not getattr(layer, "is_sliding", False) or not _holds_states(layer):
            continue
        if not getattr(layer, "record_past", False):
            return False
        length = layer.get_seq_length() - remove
        if layer.keys.shape[-2] < min(length, layer.sliding_window - 1) + remove:
            return False
    return True


def _scalar_clamp_linears(model: Any) -> int:
    """Replace Gemma 4's clippable linears by ones that clamp with Python floats; the count.

    Same arithmetic: their clamp bounds are 0-dim tensors, and torch's clamp with tensor bounds
    took 4.3-5.2 ms on a 1260 x 3072 bf16 activation against 0.45 ms with float bounds (2-core
    EPYC); the vision encoder of one window went from 1.63 to 1.49 s. Infinite bounds are skipped.
    """
    import torch

    class ScalarClampLinear(torch.nn.Module):
        def __init__(self, clippable: Any) -> None:
            super().__init__()
            self.linear = clippable.linear
            clipped = bool(getattr(clippable, "use_clipped_linears", False))
            bounds = ((float(clippable.input_min), float(clippable.input_max)),
                      (float(clippable.output_min), float(clippable.output_max))) if clipped else ()
            self.bounds = [None if (lo, hi) == (float("-inf"), float("inf")) else (lo, hi)
                           for lo, hi in bounds] or [None, None]

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            before, after = self.bounds
            if before is not None:
                x = torch.clamp(x, *before)
            x = self.linear(x)
            return x if after is None else torch.clamp(x, *after)

    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child).__name__ == "Gemma4ClippableLinear":
                setattr(parent, name, ScalarClampLinear(child))
                count += 1
    return count


def _int8_language_model(model: Any, folder: Path, cache: Path,
                         progress: Callable[[float], None] | None = None) -> int:
    """int8 weights for the linear layers of the language model and its output head; the count.

    Made once and kept in `cache` (models.int8_cache); later loads read them from there. The
    vision and audio towers keep their float weights (they run once per image or question, on
    many rows, where the float matmul is fastest). The output head is tied to the token
    embedding, which keeps its float table for lookups. `progress(fraction)` follows the
    making of the weights not kept yet (the first load: about half a minute for E2B on 2 cores).
    """
    from models import int8_cache, runtime

    stored = int8_cache.load(cache, folder)
    scratch = int8_weights.WidenedWeights()
    pages = runtime.FilePages(folder)
    made = int8_weights.quantize_linears(
        model.model.language_model, scratch, pages.release, _prefixed(stored, "language_model."),
        None if progress is None else lambda done, total: progress(done / total))
    head = model.lm_head
    kept = (stored["lm_head.weight"], stored["lm_head.scale"]) if stored and "lm_head.weight" in stored else None
    model.lm_head = int8_weights.int8_linear(head, scratch, stored=kept)
    pages.release(head.weight)
    runtime.trim_heap()
    made = {f"language_model.{name}": t for name, t in made.items()}
    made.update({"lm_head.weight": model.lm_head.weight, "lm_head.scale": model.lm_head.scale})
    if stored is None or set(stored) != set(made):
        int8_cache.save(cache, folder, made)
    return len(made) // 2


def _load_dtype(folder: Path, device: str, compute: Any) -> Any:
    """The dtype to load the weights in: as stored where the model computes wider on the CPU
    (then models.narrow_tables widens all but the token tables), else the compute dtype."""
    import torch

    from models import runtime

    stored = runtime.checkpoint_dtype(folder)
    if device == "cpu" and compute == torch.float32 and stored in ("bfloat16", "float16"):
        return getattr(torch, stored)
    return compute


def _prefixed(tensors: dict[str, Any] | None, prefix: str) -> dict[str, Any] | None:
    """The entries of `tensors` under `prefix`, with the prefix taken off."""
    if tensors is None:
        return None
    return {name[len(prefix):]: t for name, t in tensors.items() if name.startswith(prefix)}


def _matmul_vision_attention(model: Any) -> bool:
    """The vision tower's attention as bf16 matmuls (models.encoder_kernels) where oneDNN runs
    them; whether it now does.

    torch's fused CPU attention computes in float32: on a 2-core EPYC (AVX-512 BF16) it took 33
    of a vision layer's 78 ms for a window's 1260 patches, and the window's encode went from
    2.24 to 1.88 s (median of 4, interleaved) with the matmuls, cosine 0.99992 to it.
    """
    from models import encoder_kernels

    usable, why = encoder_kernels.available()
    if not usable:
        log.info("Gemma 4 vision attention stays fused: %s", why)
        return False
    encoder_kernels.register_attention()
    model.config.vision_config._attn_implementation = encoder_kernels.ATTENTION
    return True


def _paths(device: str, dtype: str, int8: bool, why_not: str, threads: int,
           matmul_attention: bool = False, widened: bool = False) -> ModelPaths:
    """The kernel path of each part: the towers in the float dtype, the language model in int8
    weights (float activations) where they were made."""
    tower_reason = (f"{dtype} as the towers are stored" if device == "cpu" else f"{device} computes in {dtype}")
    if device == "cpu" and widened:
        tower_reason = f"{dtype}: bf16 is not in hardware here (the token tables stay as stored)"
    if matmul_attention:
        tower_reason += "; vision attention as bf16 matmuls"
    tower = PartPath(Kernel(dtype), reason=tower_reason)
    if int8:
        reason = "int8 weights halve the memory read per token; activations stay " + dtype
        return ModelPaths(device, tower, PartPath(Kernel.INT8_WEIGHTS, reason=reason),
                          PartPath(Kernel.INT8_WEIGHTS, threads, reason=reason + "; threads per step"))
    lm = PartPath(Kernel(dtype), reason=why_not)
    return ModelPaths(device, tower, lm, PartPath(Kernel(dtype), threads if device == "cpu" else 0,
                                                  reason=why_not))


def image_budget(detail: Detail, size: tuple[int, int], patch: int = 16, pooling: int = 3) -> int:
    """Soft tokens for an image of `size` at `detail`: the level's budget, never more than the
    smallest supported budget that holds the image at its own resolution (no upscaling)."""
    if detail not in tuple(Detail):
        raise ValueError(f"detail must be one of {choices(Detail)}, not {detail!r}")
    side = patch * pooling
    native = max(1, math.ceil(size[0] / side) * math.ceil(size[1] / side))
    fits = next((b for b in SOFT_TOKEN_BUDGETS if b >= native), SOFT_TOKEN_BUDGETS[-1])
    return min(DETAIL_BUDGETS[detail], fits)


def audio_token_count(mask: Any) -> int:
    """Soft tokens the audio encoder makes from a feature mask (two stride-2 convolutions)."""
    mask = np.asarray(mask)
    for _ in range(2):
        t = len(mask)
        mask = mask[::2][: (t + 2 - 3) // 2 + 1]
    return int(mask.sum())


class Gemma4Parts:
    """The processor's parts: tokenizer (with the chat template), image processor, audio features."""

    def __init__(self, folder: Path) -> None:
        from transformers import AutoTokenizer, Gemma4AudioFeatureExtractor
        from transformers.models.gemma4.image_processing_pil_gemma4 import Gemma4ImageProcessorPil

        config = json.loads((folder / "processor_config.json").read_text(encoding="utf-8"))
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        image = {k: v for k, v in config.get("image_processor", {}).items()
                 if k not in ("image_processor_type", "processor_class")}
        audio = {k: v for k, v in config.get("feature_extractor", {}).items()
                 if k not in ("feature_extractor_type", "processor_class")}
        self.image_processor = Gemma4ImageProcessorPil(**image)
        self.feature_extractor = Gemma4AudioFeatureExtractor(**audio)
        self.audio_seq_length = int(config.get("audio_seq_length", 750))
        tok = self.tokenizer
        self.image_token, self.boi, self.eoi = tok.image_token, tok.boi_token, tok.eoi_token
        self.audio_token, self.boa, self.eoa = tok.audio_token, tok.boa_token, tok.eoa_token

    def chat(self, messages: list[dict[str, Any]], generation_prompt: bool = True) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False,
                                                  add_generation_prompt=generation_prompt)

    def ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    def image_inputs(self, image: Any, soft_tokens: int) -> dict[str, Any]:
        return self.image_processor(images=[image], max_soft_tokens=soft_tokens, return_tensors="pt")

    def audio_inputs(self, audio: SpokenAudio) -> tuple[dict[str, Any], int]:
        features = self.feature_extractor([audio.pcm], sampling_rate=SAMPLE_RATE, return_tensors="pt")
        count = min(audio_token_count(features["input_features_mask"][0]), self.audio_seq_length)
        return dict(features), count


class Gemma4Model(KeepsEncodedImages):
    """Gemma 4 E2B/E4B loaded from a folder of safetensors, with the VisionLanguageModel contract."""

    hears_audio = True  # the engine sends push-to-talk audio here instead of a recognizer

    def __init__(self, model: Any, parts: Gemma4Parts, device: str, source: str,
                 compute_dtype: Any = None) -> None:
        self.model = model
        self.compute_dtype = compute_dtype if compute_dtype is not None else model.dtype  # tables may differ
        self.parts = parts
        self.tokenizer = parts.tokenizer
        self.device = device
        self.source = source
        eos = model.generation_config.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        end = self.tokenizer.convert_tokens_to_ids(self.tokenizer.eot_token)
        if isinstance(end, int):
            self.eos_ids.add(end)
        self.vision_encoder_calls = 0
        self.audio_encoder_calls = 0
        self.last_vision_s = 0.0
        self.last_audio_s = 0.0
        self.last_image_tokens = 0
        self.last_prefill_tokens = 0  # tokens the last prompt's prefill ran on (kept ones excluded)
        self.quantized = False  # int8 weights in the language model
        self._activation_switch: ActivationSwitch | None = None  # int8 activations, made while idle
        self.paths: ModelPaths | None = None  # the kernel path of each part, chosen at load
        self.processor_info = ""
        self.threads = 0
        self.decode_threads = DecodeThreads(1)  # per-step thread count, from the steps' times
        self.pixel_cache: PixelCache[ImageContext] = PixelCache()
        self._cancel_local = threading.local()

    @property
    def dtype(self) -> Any:
        return self.compute_dtype

    @classmethod
    def load(cls, source: str | Path, device: str = "cpu", dtype: str | None = None,
             threads: int | None = None, quantize: bool = False,
             attn: str = "sdpa", int8_cache: Path | None = None,
             progress: Callable[[float], None] | None = None) -> Gemma4Model:
        """Load from a model folder (safetensors only, never remote code); device "auto" picks
        CUDA, then Apple MPS, then the CPU. On the CPU `quantize` gives the language model int8
        weights, kept in `int8_cache` (default: the app's cache folder) after the first load;
        `progress(fraction)` follows their making (not called when they were kept)."""
        from models import runtime
        from models.store import check_loadable

        folder = Path(source)
        check_loadable(folder)
        runtime.prefer_passive_openmp()
        from transformers import Gemma4ForConditionalGeneration

        device = runtime.pick_device(device)
        used_threads = runtime.configure_threads(threads)
        torch_dtype = runtime.pick_dtype(device, dtype)
        load_dtype = _load_dtype(folder, device, torch_dtype)
        try:
            parts = Gemma4Parts(folder)
            model = Gemma4ForConditionalGeneration.from_pretrained(
                folder, dtype=load_dtype, local_files_only=True, use_safetensors=True,
                trust_remote_code=False,
                # The audio encoder has only its own (eager) attention.
                attn_implementation={"text_config": attn, "vision_config": attn,
                                     "audio_config": "eager", "": attn},
            )
        except (OSError, ValueError, KeyError, RuntimeError, json.JSONDecodeError) as exc:
            raise ModelError(f"The model in {folder} could not be loaded ({exc}).",
                             "Run: screensight models verify, or download the model again.",
                             "Download the model again in ScreenSight > Set up the model….") from exc
        model.eval()
        model.to(device)
        _scalar_clamp_linears(model)
        matmul_attention = device == "cpu" and str(torch_dtype) == "torch.bfloat16" and _matmul_vision_attention(model)
        int8, why_not = False, "int8 weights not asked for" if device == "cpu" else f"{device} runs as stored"
        if quantize and device == "cpu":
            int8, why_not = int8_weights.available()
            if int8:
                from base.paths import cache_dir

                int8_cache = int8_cache or cache_dir() / "int8"
                _int8_language_model(model, folder, int8_cache, progress)
        if load_dtype != torch_dtype:
            tables = narrow_tables.keep_tables_narrow(model, torch_dtype)
            runtime.trim_heap()
            log.info("Gemma 4 computes in %s; its token tables stay %s as stored: %s",
                     str(torch_dtype).removeprefix("torch."), str(load_dtype).removeprefix("torch."),
                     ", ".join(tables))
        vlm = cls(model, parts, device, str(folder), torch_dtype)
        vlm.quantized = int8
        if int8 and int8_weights.activations_available()[0]:
            # the kept int8 weights are mapped from their file: a replaced one's pages are dropped
            pages = runtime.FilePages(int8_cache) if int8_cache is not None else None
            # the language model's layers and the output head (the towers keep float weights)
            vlm._activation_switch = ActivationSwitch(model, vlm._calibrate,
                                                      None if pages is None else pages.release)
        vlm.paths = _paths(device, str(torch_dtype).removeprefix("torch."), int8, why_not, used_threads,
                           matmul_attention, load_dtype != torch_dtype)
        vlm.processor_info = detect().describe() if device == "cpu" else device
        log.info("Gemma 4 %s on %s; paths: %s", folder.name, vlm.processor_info, vlm.paths.describe())
        vlm.threads = used_threads
        vlm.decode_threads = DecodeThreads(used_threads if device == "cpu" else 1)
        vlm._install_hooks()
        return vlm

    # -- int8 activations, between requests ----------------------------------------------------

    def prepare_step(self) -> bool:
        """One slice (about 0.1 s) of the work left after loading: the language model's layers
        move to int8 activations (models.int8_activations). The engine calls it while idle; True
        while some is left. The model answers correctly before, during and after."""
        switch = self._activation_switch
        if switch is None:
            return False
        import torch

        try:
            with torch.inference_mode():
                more = switch.step()
        except (RuntimeError, ValueError, AttributeError) as exc:  # weight-only layers keep working
            log.warning("int8 activations stopped after %d layers: %s", switch.switched, exc)
            more = False
        if not more:
            self._activation_switch = None
            from models import runtime

            runtime.trim_heap()  # fbgemm's packing scratch
            if switch.switched:
                reason = (f"int8 weights and activations (fbgemm) in {switch.switched} layers, "
                          f"{len(switch.kept)} kept on int8 weights only")
                self.paths = dataclasses.replace(
                    self.paths, prefill=PartPath(Kernel.INT8_DYNAMIC, reason=reason),
                    decode=PartPath(Kernel.INT8_DYNAMIC, self.paths.decode.threads,
                                    reason=reason + "; threads per step"))
        return more

    def _calibrate(self) -> None:
        """One text prompt through the language model (its layers' real inputs are recorded;
        the output head's on the last CALIBRATION_LOGITS positions)."""
        import torch

        self._use_threads(self.threads)
        text = self.parts.chat([{"role": "user", "content": [{"type": "text", "text": CALIBRATION_PROMPT}]}])
        ids = torch.tensor([self.parts.ids(text)], device=self.device)
        self.model(input_ids=ids, use_cache=False, logits_to_keep=CALIBRATION_LOGITS)

    # -- hooks: encoder call counts and timings, cancel between layers ------------------------

    def _install_hooks(self) -> None:
        from transformers.modeling_layers import GradientCheckpointingLayer

        def check(_module: Any, _args: Any) -> None:
            cancel = getattr(self._cancel_local, "event", None)
            if cancel is not None and cancel.is_set():
                raise InterruptedError("cancelled while encoding")

        for module in self.model.modules():
            if isinstance(module, GradientCheckpointingLayer):
                module.register_forward_pre_hook(check)
        inner = self.model.model
        self._time_calls(inner.vision_tower, "vision")
        if inner.audio_tower is not None:
            self._time_calls(inner.audio_tower, "audio")

    def _time_calls(self, tower: Any, kind: str) -> None:
        started = [0.0]

        def before(_module: Any, _args: Any) -> None:
            started[0] = time.perf_counter()

        def after(_module: Any, _args: Any, _output: Any) -> None:
            spent = time.perf_counter() - started[0]
            if kind == "vision":
                self.vision_encoder_calls += 1
                self.last_vision_s = spent
            else:
                self.audio_encoder_calls += 1
                self.last_audio_s = spent

        tower.register_forward_pre_hook(before)
        tower.register_forward_hook(after)

    # -- prompts -------------------------------------------------------------------------------

    def _render(self, prompt: str, history: Sequence[Turn], audio: bool = False) -> tuple[str, str]:
        """The chat text split into (prefix through the image placeholder, the rest)."""
        first_q = history[0].question if history else prompt
        first: list[dict[str, Any]] = [{"type": "image"}]
        if audio and not history:
            first.append({"type": "audio"})
        first.append({"type": "text", "text": first_q})
        messages: list[dict[str, Any]] = [{"role": "user", "content": first}]
        turns = list(history) + [Turn(prompt, "")]
        for i, turn in enumerate(turns):
            if i > 0:
                content: list[dict[str, Any]] = []
                if audio and i == len(turns) - 1:
                    content.append({"type": "audio"})
                content.append({"type": "text", "text": turn.question})
                messages.append({"role": "user", "content": content})
            if turn.answer:
                messages.append({"role": "assistant",
                                 "content": [{"type": "text", "text": turn.answer.strip()}]})
        text = self.parts.chat(messages)
        return split_at_image(text, self.parts.image_token)

    # -- the two steps ---------------------------------------------------------------------------

    def encode(self, image: Any, detail: Detail = Detail.QUICK,
               cancel: threading.Event | None = None) -> ImageContext:
        """Run the vision encoder on `image` at the detail's image budget; keep the prefix cache.

        Equal pixels at the same detail are encoded once: the kept context comes back with zero
        costs (nothing ran for this call)."""
        import torch
        from transformers import DynamicCache

        key = PixelCache.key(image, detail)
        cached = self.pixel_cache.get(key)
        if cached is not None:
            # A context of its own: the last answer's cache stays with the context it ran on.
            return dataclasses.replace(cached, preprocess_s=0.0, encode_s=0.0, vision_s=0.0, vision_tiles=0,
                                       kept=None, tail_ids=[], last_turn=None)
        prefix_text, _ = self._render("", [])
        t0 = time.monotonic()
        if image.mode != "RGB":
            image = image.convert("RGB")
        budget = image_budget(detail, image.size, self.parts.image_processor.patch_size,
                              self.parts.image_processor.pooling_kernel_size)
        pixels = self.parts.image_inputs(image, budget)
        soft = int(pixels["num_soft_tokens_per_image"][0])
        parts = self.parts
        expanded = prefix_text[: -len(parts.image_token)] + parts.boi + parts.image_token * soft + parts.eoi
        ids = torch.tensor([parts.ids(expanded)], device=self.device)
        t1 = time.monotonic()
        if cancel is not None and cancel.is_set():
            raise InterruptedError("cancelled before encoding")
        cache = DynamicCache(config=self.model.config.get_text_config())
        self._use_threads(self.threads)
        self._cancel_local.event = cancel
        calls = self.vision_encoder_calls
        try:
            with torch.inference_mode():
                self.model(input_ids=ids,
                           pixel_values=pixels["pixel_values"].to(self.device, self.compute_dtype),
                           image_position_ids=pixels["image_position_ids"].to(self.device),
                           cache=cache, use_cache=True, logits_to_keep=1)
        finally:
            self._cancel_local.event = None
        t2 = time.monotonic()
        self.last_image_tokens = soft
        ran = self.vision_encoder_calls > calls
        ctx = ImageContext(cache=cache, prefix_len=int(ids.shape[1]), detail=detail, tiles=1,
                           image_size=tuple(image.size), preprocess_s=t1 - t0, encode_s=t2 - t1,
                           vision_s=self.last_vision_s if ran else 0.0, vision_tiles=int(ran),
                           image_tokens=soft)
        self.pixel_cache.put(key, ctx)
        return ctx

    def answer(self, ctx: ImageContext, prompt: str, cancel: threading.Event | None = None,
               max_new_tokens: int = 256, history: Sequence[Turn] = (),
               ignore_eos: bool = False,
               on_token: Callable[[int], None] | None = None) -> Iterator[str]:
        """Stream the answer to `prompt` about the image in `ctx`, as text pieces.

        Stops within one token once `cancel` is set; the image prefix in `ctx` is never changed
        (the answer runs on a copy of its cache), so the same context serves the next question.
        `max_new_tokens=0` does nothing (SmolVLM pre-fills the prompt then; here nothing is kept).
        """
        if max_new_tokens <= 0:
            return  # nothing to pre-fill ahead: each answer runs on its own copy of the prefix
        suffix, ids = prompt_ids(lambda turns: self._render(prompt, turns)[1], self.parts.ids,
                                 history, ctx.last_turn)
        cache, reused = self._answer_cache(ctx, ids)
        fed: list[int] = list(ids[:reused])
        written: list[int] = []

        def note(token: int) -> None:
            written.append(token)
            if on_token is not None:
                on_token(token)

        try:
            yield from self._stream(cache, ids[reused:], None, cancel, max_new_tokens,
                                    ignore_eos, note, fed)
        finally:
            self._keep(ctx, cache, fed, KeptTurn(
                suffix, tuple(ids), tuple(written),
                self.tokenizer.decode(written, skip_special_tokens=True)))

    def _answer_cache(self, ctx: ImageContext, ids: Sequence[int]) -> tuple[Any, int]:
        """The cache this answer runs on and how many of `ids` it holds already.

        The cache the last answer left (its tokens in ctx.tail_ids) is taken and cut back to
        the tokens `ids` starts with (a follow-up replays the last question and answer), when
        every layer still holds what it needs for that; otherwise a fresh copy of the prefix.
        The copy records the past of its sliding-window layers, so it can be cut back later.
        """
        with ctx.lock:
            kept, kept_ids = ctx.kept, ctx.tail_ids
            ctx.kept, ctx.tail_ids = None, []
            if kept is not None:
                same = 0
                limit = min(len(kept_ids), len(ids) - 1)  # at least one token runs for the logits
                while same < limit and kept_ids[same] == ids[same]:
                    same += 1
                if same > 0 and _can_cut(kept, len(kept_ids) - same):
                    kept.crop(-(len(kept_ids) - same))
                    return kept, same
            cache = copy.deepcopy(ctx.cache)
        cache.activate_past_recording()
        return cache, 0

    def _keep(self, ctx: ImageContext, cache: Any, fed: list[int], turn: KeptTurn) -> None:
        """Keep the answer's cache for the next prompt when it holds exactly the prefix and `fed`
        (an answer stopped inside a forward pass leaves layers out of step: not kept), and the
        answer's own tokens for the prompt of a follow-up (models.kept_turn)."""
        expected = ctx.prefix_len + len(fed)
        layers = [layer for layer in getattr(cache, "layers", ()) if _holds_states(layer)]
        with ctx.lock:
            ctx.last_turn = turn
            if fed and layers and all(layer.get_seq_length() == expected for layer in layers):
                ctx.kept, ctx.tail_ids = cache, list(fed)

    def hear(self, pcm: Any, sample_rate: int = SAMPLE_RATE) -> SpokenAudio:
        """The recording checked for the audio encoder (see check_audio)."""
        return check_audio(pcm, sample_rate)

    def answer_spoken(self, ctx: ImageContext, audio: SpokenAudio, prompt: str = SPOKEN_PROMPT,
                      cancel: threading.Event | None = None, max_new_tokens: int = 256,
                      history: Sequence[Turn] = (), ignore_eos: bool = False,
                      on_token: Callable[[int], None] | None = None,
                      transcript_tokens: int = TRANSCRIPT_TOKENS) -> Iterator[str | Transcript]:
        """Stream the answer to the question spoken in `audio` about the image in `ctx`.

        The audio is encoded by the model's audio encoder and placed in the question's turn,
        before `prompt` (the instruction: language, grounding). Text pieces stream first; then,
        unless cancelled, one Transcript: the model asked, in the same cache, for the words it
        heard (the audio is not encoded twice).
        """
        _, suffix = self._render(prompt, history, audio=True)
        features, count = self.parts.audio_inputs(audio)
        parts = self.parts
        marker = parts.audio_token
        if suffix.count(marker) != 1:
            raise ModelError("The prompt must hold exactly one recording.", "This is a bug; please report it.")
        suffix = suffix.replace(marker, parts.boa + marker * count + parts.eoa)
        with ctx.lock:
            cache = copy.deepcopy(ctx.cache)
        audio_inputs = {"input_features": features["input_features"].to(self.device, self.compute_dtype),
                        "input_features_mask": features["input_features_mask"].to(self.device)}
        stream = self._stream(cache, parts.ids(suffix), audio_inputs, cancel, max_new_tokens,
                              ignore_eos, on_token)
        yield from stream
        if cancel is not None and cancel.is_set():
            return
        # The answer's turn ends and a user turn asks for the words; the rendered chat starts
        # with <bos>, which the middle of a conversation does not repeat.
        follow = parts.chat([{"role": "user", "content": [{"type": "text", "text": TRANSCRIBE_PROMPT}]}])
        follow = follow[follow.index(parts.tokenizer.sot_token):]
        follow_ids = parts.ids(parts.tokenizer.eot_token + "\n" + follow)
        heard = "".join(self._stream(cache, follow_ids, None, cancel, transcript_tokens, False, None))
        if cancel is not None and cancel.is_set():
            return
        yield Transcript(" ".join(heard.split()), None,
                         TranscriptionStats(audio_seconds=audio.seconds, windows=1,
                                            token_budget=transcript_tokens))

    def transcribe(self, pcm: Any, language: str | None = None,
                   cancel: threading.Event | None = None,
                   max_new_tokens: int = TRANSCRIPT_TOKENS) -> Transcript:
        """The words spoken in `pcm` (16 kHz mono), written down by the model from its audio
        encoder alone (no image): the SpeechToText interface, for Find text by voice without a
        speech recognizer. Bad audio raises AudioError; `language` is a hint passed on as is."""
        from transformers import DynamicCache

        audio = check_audio(pcm)
        parts = self.parts
        text = parts.chat([{"role": "user", "content": [{"type": "audio"},
                                                        {"type": "text", "text": TRANSCRIBE_PROMPT}]}])
        if text.count(parts.audio_token) != 1:
            raise ModelError("The prompt must hold exactly one recording.", "This is a bug; please report it.")
        features, count = parts.audio_inputs(audio)
        text = text.replace(parts.audio_token, parts.boa + parts.audio_token * count + parts.eoa)
        extra = {"input_features": features["input_features"].to(self.device, self.compute_dtype),
                 "input_features_mask": features["input_features_mask"].to(self.device)}
        cache = DynamicCache(config=self.model.config.get_text_config())
        heard = "".join(self._stream(cache, parts.ids(text), extra, cancel, max_new_tokens, False, None))
        return Transcript(" ".join(heard.split()), language,
                          TranscriptionStats(audio_seconds=audio.seconds, windows=1,
                                             token_budget=max_new_tokens))

    def _stream(self, cache: Any, ids: Sequence[int], extra: dict[str, Any] | None,
                cancel: threading.Event | None, max_new_tokens: int, ignore_eos: bool,
                on_token: Callable[[int], None] | None,
                fed: list[int] | None = None) -> Iterator[str]:
        """Prefill `ids` (with audio features in `extra`) onto `cache`, then decode greedily;
        `fed` gets every token once its forward pass has put it into the cache."""
        import torch

        generated: list[int] = []
        emitted = ""
        self._cancel_local.event = cancel
        try:
            with torch.inference_mode():
                first = torch.tensor([list(ids)], device=self.device)
                self._use_threads(self.threads)
                self.last_prefill_tokens = len(ids)
                out = self.model(input_ids=first, cache=cache, use_cache=True, logits_to_keep=1,
                                 **(extra or {}))
                if fed is not None:
                    fed.extend(ids)
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
                    threads = self.decode_threads.next()
                    self._use_threads(threads)
                    started = time.perf_counter()
                    out = self.model(input_ids=step, cache=cache, use_cache=True, logits_to_keep=1)
                    self.decode_threads.record(threads, time.perf_counter() - started)
                    if fed is not None:
                        fed.append(token)
        finally:
            self._cancel_local.event = None
            self._use_threads(self.threads)

    def _use_threads(self, count: int) -> None:
        if count > 0 and self.device == "cpu":
            import torch

            if torch.get_num_threads() != count:
                torch.set_num_threads(count)
