"""The vision-language model: encode a screenshot once, answer many prompts about it, streaming.

`encode` runs the processor and the vision encoder and keeps the prompt prefix up to and
including the image as a KV cache (an ImageContext, which also says what the encoding cost).
`answer` appends a prompt to that prefix and streams text token by token; follow-ups reuse the
cache and never run the vision encoder again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from base.errors import ModelError
from base.turns import Turn
from base.vocabulary import Detail, choices
from models.cpu_features import Processor
from models.kept_turn import KeptTurn, prompt_ids
from models.kernel_paths import Attention, Kernel, ModelPaths, Runtime, choose_paths
from models.pixel_cache import KeepsEncodedImages, PixelCache

log = logging.getLogger(__name__)

TILE = 512  # SigLIP tile side used by SmolVLM's processor


def encoder_input(image: Any, detail: str) -> tuple[Any, dict[str, Any]]:
    """The image resized once, with PIL, to the grid the processor would make, and its options.

    The processor would first scale a screenshot to 2048 pixels and then down again, in float
    arrays; one resize of the 8-bit image straight to the final size is several times faster.
    """
    from PIL import Image

    kwargs = tiling_kwargs(detail, image.size)
    if not kwargs["do_image_splitting"]:
        size = (TILE, TILE)
    else:
        edge = kwargs["size"]["longest_edge"]
        w, h = image.size
        if w >= h:
            w1, h1 = edge, int(edge / (w / h))
            h1 += h1 % 2
        else:
            w1, h1 = int(edge * (w / h)), edge
            w1 += w1 % 2
        size = (math.ceil(w1 / TILE) * TILE, math.ceil(h1 / TILE) * TILE)
    if image.mode != "RGB":
        image = image.convert("RGB")
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return image, {**kwargs, "do_resize": False}


@dataclass
class ImageContext:
    """An encoded screenshot: the KV cache of the prompt prefix through the image tokens."""

    cache: Any
    prefix_len: int
    detail: str
    tiles: int
    image_size: tuple[int, int]
    preprocess_s: float = 0.0
    encode_s: float = 0.0       # the whole prefix forward pass (vision encoder and text prefix)
    vision_s: float = 0.0       # the vision encoder alone
    vision_tiles: int = 0       # tiles the vision encoder ran on (0: taken from the cache, nothing ran)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    tail_ids: list[int] = field(default_factory=list, repr=False)
    tail: list[tuple[Any, Any]] = field(default_factory=list, repr=False)
    image_tokens: int = 0  # soft tokens the image became (families with an image budget)
    kept: Any = field(default=None, repr=False)  # Gemma 4: the whole cache after the last answer (tail_ids)
    last_turn: KeptTurn | None = field(default=None, repr=False)  # the last answer's exact tokens


@dataclass
class VisionTiming:
    """What the vision encoder did during one call (filled by its forward hooks)."""

    started: float = 0.0
    tiles: int = 0
    seconds: float = 0.0


def tiling_kwargs(detail: str, size: tuple[int, int]) -> dict[str, Any]:
    """Processor options deciding how many 512-pixel tiles an image of `size` becomes.

    quick: one tile of the whole image; normal: up to 1024 px on the long side (about 2x2 tiles
    plus the overview); high: the processor's own default (up to 4x4 plus the overview).
    Small images are never scaled up beyond the tile grid they need.
    """
    if detail not in tuple(Detail):
        raise ValueError(f"detail must be one of {choices(Detail)}, not {detail!r}")
    longest = max(size)
    if detail == Detail.QUICK or longest <= TILE:
        return {"do_image_splitting": False}
    cap = 1024 if detail == Detail.NORMAL else 2048
    edge = min(cap, math.ceil(longest / TILE) * TILE)
    return {"do_image_splitting": True, "size": {"longest_edge": edge}}


def _usable_packing(paths: ModelPaths) -> ModelPaths:
    """The paths with the encoder unpacked (and why) where its prepacked kernels do not run here."""
    from models import encoder_int8, encoder_kernels

    if not paths.encoder.packed:
        return paths
    int8 = paths.encoder.kernel is Kernel.INT8_DYNAMIC
    usable, why = (encoder_int8 if int8 else encoder_kernels).available()
    if usable:
        return paths
    log.warning("vision encoder keeps torch's %s kernels: %s", paths.encoder.kernel.value, why)
    return dataclasses.replace(paths, encoder=dataclasses.replace(
        paths.encoder, packed=False, attention=None,
        reason=f"{paths.encoder.kernel.value} without prepacking, because {why}"))


def _pack_encoder(model: Any, paths: ModelPaths, release: Callable[[Any], None] | None = None) -> None:
    """The encoder on the prepacked kernels of its path (int8 or bf16), in place; int8 calls
    `release` with each float weight once it is packed."""
    from models import encoder_int8, encoder_kernels

    vision_config = model.config.vision_config
    tokens = (vision_config.image_size // vision_config.patch_size) ** 2
    vision, connector, rows = model.model.vision_model, model.model.connector, tokens // model.config.scale_factor ** 2
    if paths.encoder.kernel is Kernel.INT8_DYNAMIC:
        encoder_int8.pack_encoder(vision, connector, tokens, rows, release,
                                  paths.encoder.attention or Attention.BF16_MATMULS)
    else:
        encoder_kernels.pack_encoder(vision, connector, tokens, rows)


def _contiguous_patches(vision: Any) -> None:
    """Lay the patch embeddings out row by row before the encoder layers.

    SigLIP's embeddings are the patch convolution's output transposed (a strided view), and
    torch keeps that layout through every residual add, so each add, layer norm and linear input
    of the tower worked on strided memory. Measured on a 2-core EPYC, one 512 tile, prepacked
    bf16: the 25 residual adds took 15.0 ms and the strided copies 15.5 ms. Same values either way.
    """
    def contiguous(_module: Any, _args: Any, output: Any) -> Any:
        return output.contiguous()

    vision.embeddings.register_forward_hook(contiguous)


def split_at_image(text: str, marker: str) -> tuple[str, str]:
    """A rendered chat prompt cut right after its one image marker: the prefix that is encoded
    once, and the rest that each question adds."""
    if text.count(marker) != 1:
        raise ModelError("The prompt must hold exactly one image.", "This is a bug; please report it.")
    cut = text.index(marker) + len(marker)
    return text[:cut], text[cut:]


class VisionLanguageModel(KeepsEncodedImages):
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
        self.vision_encoder_calls = 0  # images run through the vision encoder (tests, diagnostics)
        self._timing = threading.local()  # the VisionTiming of the call running on this thread
        self.quantized = False
        self.paths: ModelPaths | None = None  # the kernel path of each part, chosen at load
        self._openvino: Any = None  # the compiled OpenVINO encoder, when the paths chose it
        self.processor_info = ""  # the processor's features as the paths saw them
        self.threads = 0  # torch threads for the encoder and prefills (0: leave torch's setting)
        # Token-by-token decoding runs on one thread: a one-token step is hundreds of tiny
        # parallel regions, and measured on 2 cores one thread was as fast when idle (16-21 vs
        # 20-25 tokens/s) and 10x faster whenever anything else wanted the CPU.
        self.decode_threads = 1
        self.pixel_cache: PixelCache[ImageContext] = PixelCache()
        self._cancel_local = threading.local()

    @classmethod
    def load(cls, source: str | Path, device: str = "cpu", dtype: str | None = None,
             threads: int | None = None, quantize: bool = False,
             attn: str = "sdpa", cpu: Processor | None = None, openvino: bool = False,
             compiled_cache: Path | None = None) -> VisionLanguageModel:
        """Load from a model folder (safetensors only, never remote code).

        The kernel path of each part is chosen for `cpu` (default: this machine's processor).
        `openvino` lets the vision encoder run in OpenVINO where that is faster (when it is
        installed; converted once into `compiled_cache`, default the app's cache folder); any
        failure keeps the torch encoder and the reason is logged and shown in the paths.
        """
        from models import cpu_features, runtime
        from models.store import check_loadable

        folder = Path(source)
        check_loadable(folder)
        runtime.prefer_passive_openmp()
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        used_threads = runtime.configure_threads(threads)
        processor_features = cpu or cpu_features.detect()
        paths = _usable_packing(choose_paths(processor_features, device, quantize, dtype, openvino=openvino))
        int8 = paths.prefill.kernel is Kernel.INT8_DYNAMIC
        torch_dtype = getattr(torch, paths.prefill.kernel.torch_dtype_name)
        if int8 and dtype is None:
            # Map the weights as stored (no converted full-precision copy in memory); each linear
            # layer is quantized from the file, the rest is copied to its dtype afterwards.
            torch_dtype = getattr(torch, runtime.checkpoint_dtype(folder) or "float32")
        try:
            processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
            model = AutoModelForImageTextToText.from_pretrained(
                folder, dtype=torch_dtype, local_files_only=True, use_safetensors=True,
                trust_remote_code=False, attn_implementation=attn,
            )
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ModelError(f"The model in {folder} could not be loaded ({exc}).",
                             "Run: screensight models verify, or download the model again.",
                             "Download the model again in ScreenSight > Set up the model….") from exc
        model.eval()
        model.to(device)
        encoder_parts = (model.model.connector, model.model.vision_model)
        encoder_dtype = getattr(torch, paths.encoder.kernel.torch_dtype_name)
        packs_int8 = paths.encoder.packed and paths.encoder.kernel is Kernel.INT8_DYNAMIC
        if int8:
            pages = runtime.FilePages(folder)
            runtime.quantize_linear_int8(model.model.text_model, pages)
            if packs_int8:  # packed from the mapped file: no float32 copy of the weights first
                _pack_encoder(model, paths, pages.release)
            elif paths.encoder.kernel is Kernel.INT8_DYNAMIC:
                for part in encoder_parts:
                    runtime.quantize_linear_int8(part, pages)
            model.lm_head = runtime.quantize_linear_int8(model.lm_head, pages)
            for part in encoder_parts:
                runtime.own_float_weights(part, pages, encoder_dtype)
            runtime.own_float_weights(model, pages, skip=encoder_parts)
            gc.collect()
            runtime.trim_heap()
        else:
            for part in encoder_parts:
                part.to(encoder_dtype)
        if paths.encoder.packed and not packs_int8:
            _pack_encoder(model, paths)
        _contiguous_patches(model.model.vision_model)
        vlm = cls(model, processor, device, str(folder))
        if paths.encoder.runtime is Runtime.OPENVINO:
            paths = vlm._start_openvino(paths, compiled_cache, used_threads)
        vlm.quantized = int8
        vlm.paths = paths
        vlm.processor_info = processor_features.describe()
        vlm.threads = used_threads
        vlm.decode_threads = paths.decode.threads or used_threads
        vlm._time_vision_calls()
        vlm._install_cancel_points()
        log.info("vision model %s on %s; paths: %s", folder.name, vlm.processor_info,
                 paths.describe())
        return vlm

    def _start_openvino(self, paths: ModelPaths, cache: Path | None, threads: int) -> ModelPaths:
        """Compile the OpenVINO encoder; the paths as they then are (torch, with why, on failure)."""
        from models import openvino_encoder

        if cache is None:
            from base.paths import cache_dir

            cache = cache_dir() / "compiled"
        encoder, note = openvino_encoder.load(self, cache, threads, bf16=paths.encoder.kernel is Kernel.BFLOAT16)
        if encoder is None:
            log.warning("vision encoder stays in torch: %s", note)
            return dataclasses.replace(paths, encoder=dataclasses.replace(
                paths.encoder, runtime=Runtime.TORCH, reason=f"torch, because {note}"))
        self._openvino = encoder
        # The torch copy of the encoder is not needed any more: drop its weights, keeping the
        # modules on their device (transformers reads the model's device from the first weight).
        # encoder_input always makes full tiles, which the compiled encoder takes.
        import torch

        for part in (self.model.model.vision_model, self.model.model.connector):
            for tensor in [*part.parameters(), *part.buffers()]:
                tensor.data = torch.empty(0, dtype=tensor.dtype, device=tensor.device)
        gc.collect()
        from models.runtime import trim_heap

        trim_heap()
        return paths

    @property
    def encoder_dtype(self) -> Any:
        """The torch dtype the vision encoder computes in."""
        import torch

        if self.paths is None:
            return self.model.dtype
        return getattr(torch, self.paths.encoder.kernel.torch_dtype_name)

    def encode_image(self, pixel_values: Any, pixel_attention_mask: Any = None) -> Any:
        """Image features for the language model: (tiles x 64, hidden) from (1, tiles, 3, H, W).

        The tiles go through the encoder one at a time, in the encoder's own dtype: on a 2-core
        EPYC five tiles took 2.2 s one by one against 3.2 s as one batch (the activations of one
        tile stay in cache), and only a padded tile pays for an attention mask. The features
        come back in the language model's float dtype.
        """
        import torch

        inner = self.model.model
        batch, count = pixel_values.shape[:2]
        pixels = pixel_values.reshape(batch * count, *pixel_values.shape[2:])
        real = pixels.flatten(1).ne(0).any(1)  # padding tiles are all zero
        pixels = pixels[real].to(self.encoder_dtype)
        masks = None
        if pixel_attention_mask is not None:
            size = self.model.config.vision_config.patch_size
            mask = pixel_attention_mask.reshape(batch * count, *pixel_attention_mask.shape[2:])[real]
            masks = mask.unfold(1, size, size).unfold(2, size, size).sum(dim=(-1, -2)) > 0
        if self._openvino is not None:
            if masks is not None and not bool(masks.all()):
                raise ModelError("The OpenVINO encoder takes full 512-pixel tiles only.",
                                 "This is a bug; please report it.")
            return self._encode_openvino(pixels)
        embed = inner.text_model.get_input_embeddings()
        features = []
        for index in range(pixels.shape[0]):
            patch_mask = None if masks is None or bool(masks[index].all()) else masks[index:index + 1]
            hidden = inner.vision_model(pixel_values=pixels[index:index + 1],
                                        patch_attention_mask=patch_mask).last_hidden_state
            tile = inner.connector(hidden)
            features.append(tile.reshape(-1, tile.shape[-1]).to(embed.weight.dtype))
        self.vision_encoder_calls += 1
        return torch.cat(features)

    def _encode_openvino(self, pixels: Any) -> Any:
        """Full tiles through the OpenVINO encoder (cancel is checked before: it runs as one call)."""
        cancel = getattr(self._cancel_local, "event", None)
        if cancel is not None and cancel.is_set():
            raise InterruptedError("cancelled while encoding")
        started = time.perf_counter()
        features = self._openvino(pixels)
        self.vision_encoder_calls += 1
        timing = getattr(self._timing, "current", None)
        if timing is not None:
            timing.tiles += int(pixels.shape[0])
            timing.seconds += time.perf_counter() - started
        embed = self.model.model.text_model.get_input_embeddings()
        return features.to(embed.weight.dtype)

    def _prefix_embeddings(self, input_ids: Any, features: Any) -> Any:
        """The token embeddings of the prefix with the image features put at the image tokens."""
        inner = self.model.model
        embeds = inner.text_model.get_input_embeddings()(input_ids)
        mask = (input_ids == self.model.config.image_token_id).unsqueeze(-1)
        if int(mask.sum()) * embeds.shape[-1] != features.numel():
            raise ModelError("The image features do not fit the image tokens of the prompt.",
                             "This is a bug; please report it.")
        return embeds.masked_scatter(mask, features.to(embeds.dtype))

    @contextlib.contextmanager
    def vision_timing(self) -> Iterator[VisionTiming]:
        """Counts the vision encoder's tiles and seconds of the calls made on this thread inside."""
        timing = self._timing.current = VisionTiming()
        try:
            yield timing
        finally:
            self._timing.current = None

    def _install_cancel_points(self) -> None:
        """Let a long forward pass (the vision encoder, a long prefill) stop between layers."""

        def check(_module: Any, _args: Any) -> None:
            cancel = getattr(self._cancel_local, "event", None)
            if cancel is not None and cancel.is_set():
                raise InterruptedError("cancelled while encoding")

        layers = list(getattr(self.model.model.vision_model.encoder, "layers", []))
        layers += list(getattr(self.model.model.text_model, "layers", []))
        for layer in layers:
            layer.register_forward_pre_hook(check)

    def _time_vision_calls(self) -> None:
        def before(_module: Any, args: Any, kwargs: Any) -> None:
            timing = getattr(self._timing, "current", None)
            if timing is not None:
                timing.started = time.perf_counter()

        def after(_module: Any, args: Any, kwargs: Any, _output: Any) -> None:
            timing = getattr(self._timing, "current", None)
            if timing is not None:
                pixels = kwargs.get("pixel_values", args[0] if args else None)
                timing.tiles += int(pixels.shape[0]) if pixels is not None else 0
                timing.seconds += time.perf_counter() - timing.started

        vision = self.model.model.vision_model
        vision.register_forward_pre_hook(before, with_kwargs=True)
        vision.register_forward_hook(after, with_kwargs=True)

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
        return split_at_image(text, "<image>")

    # -- the two steps ---------------------------------------------------------------------------

    def encode(self, image: Any, detail: Detail = Detail.QUICK,
               cancel: threading.Event | None = None) -> ImageContext:
        """Run the processor and vision encoder on `image` and keep the prefix KV cache.

        Equal pixels at the same detail are encoded once: the kept context comes back with zero
        costs (nothing ran for this call)."""
        import torch
        from transformers import DynamicCache

        key = PixelCache.key(image, detail)
        cached = self.pixel_cache.get(key)
        if cached is not None:
            # Same cache and lock; no preprocessing or encoding happened for this request.
            return dataclasses.replace(cached, preprocess_s=0.0, encode_s=0.0, vision_s=0.0, vision_tiles=0)
        prefix_text, _ = self._render("", [])
        t0 = time.monotonic()
        fitted, kwargs = encoder_input(image, detail)
        inputs = self.processor(text=prefix_text, images=[fitted], return_tensors="pt", **kwargs)
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        t1 = time.monotonic()
        if cancel is not None and cancel.is_set():
            raise InterruptedError("cancelled before encoding")
        cache = DynamicCache(config=self.model.config.text_config)
        self._use_threads(self.threads)
        self._cancel_local.event = cancel
        try:
            with torch.inference_mode(), self.vision_timing() as timing:
                features = self.encode_image(inputs["pixel_values"], inputs.get("pixel_attention_mask"))
                embeds = self._prefix_embeddings(inputs["input_ids"], features)
                self.model(inputs_embeds=embeds, attention_mask=inputs.get("attention_mask"),
                           cache=cache, use_cache=True, logits_to_keep=1)
        finally:
            self._cancel_local.event = None
        t2 = time.monotonic()
        ctx = ImageContext(
            cache=cache,
            prefix_len=int(inputs["input_ids"].shape[1]),
            detail=detail,
            tiles=int(inputs["pixel_values"].shape[1]),
            image_size=tuple(image.size),
            preprocess_s=t1 - t0,
            encode_s=t2 - t1,
            vision_s=timing.seconds,
            vision_tiles=timing.tiles,
        )
        self.pixel_cache.put(key, ctx)
        return ctx

    def answer(self, ctx: ImageContext, prompt: str, cancel: threading.Event | None = None,
               max_new_tokens: int = 256, history: Sequence[Turn] = (),
               ignore_eos: bool = False,
               on_token: Callable[[int], None] | None = None) -> Iterator[str]:
        """Stream the answer to `prompt` about the image in `ctx`, as text pieces.

        Stops within one token once `cancel` is set. The context's cache is returned to the
        image prefix afterwards, so the same context serves the next question; the keys and
        values computed after the prefix are kept aside, and the next prompt that starts with
        the same tokens (a follow-up replaying this answer, or the same prompt again) reuses
        them instead of computing them again. `max_new_tokens=0` only pre-fills the prompt.
        """
        import torch

        suffix, ids = prompt_ids(lambda turns: self._render(prompt, turns)[1], self._ids, history,
                                 ctx.last_turn)
        with ctx.lock:
            cache = ctx.cache
            fed: list[int] = []
            generated: list[int] = []
            try:
                reused = self._restore_tail(ctx, ids)
                fed = list(ids)
                emitted = ""
                with torch.inference_mode():
                    first = torch.tensor([ids[reused:]], device=self.device)
                    self._use_threads(self.threads)
                    out = self.model(input_ids=first, cache=cache, use_cache=True, logits_to_keep=1)
                    self._use_threads(self.decode_threads)
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
                        fed.append(token)
                        out = self.model(input_ids=step, cache=cache, use_cache=True, logits_to_keep=1)
            finally:
                self._use_threads(self.threads)
                ctx.last_turn = KeptTurn(suffix, tuple(ids), tuple(generated),
                                         self.tokenizer.decode(generated, skip_special_tokens=True))
                extra = cache.get_seq_length() - ctx.prefix_len
                if extra > 0:
                    self._save_tail(ctx, fed, extra)
                    cache.crop(-extra)
                if self.device == "cpu":
                    from models.runtime import trim_heap

                    trim_heap()  # the step-by-step cache growth leaves freed heap behind

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    def _use_threads(self, count: int) -> None:
        if count > 0 and self.device == "cpu":
            import torch

            if torch.get_num_threads() != count:
                torch.set_num_threads(count)

    def _restore_tail(self, ctx: ImageContext, ids: Sequence[int]) -> int:
        """Put back the kept keys/values of the tokens `ids` starts with; how many were reused."""
        same = 0
        limit = min(len(ctx.tail_ids), len(ids) - 1)  # at least one token is run for the logits
        while same < limit and ctx.tail_ids[same] == ids[same]:
            same += 1
        if same > 0:
            for index, (keys, values) in enumerate(ctx.tail):
                ctx.cache.update(keys[:, :, :same], values[:, :, :same], index)
        return same

    def _save_tail(self, ctx: ImageContext, fed: Sequence[int], extra: int) -> None:
        """Keep the keys/values past the image prefix (the tokens `fed`) for the next prompt."""
        layers = getattr(ctx.cache, "layers", None)
        if extra != len(fed) or not layers:
            ctx.tail_ids, ctx.tail = [], []
            return
        start = ctx.prefix_len
        ctx.tail = [(layer.keys[:, :, start:].clone(), layer.values[:, :, start:].clone())
                    for layer in layers]
        ctx.tail_ids = list(fed)
