"""On-device speech to text: Moonshine (English, fast) and Whisper (multilingual)."""

from __future__ import annotations

import json
import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from base.audio import SAMPLE_RATE
from base.errors import ConfigError, ModelError
from base.transcript import Transcript, TranscriptionStats
from base.vocabulary import Role

log = logging.getLogger(__name__)

MIN_SECONDS = 0.1
# Moonshine hub guidance: about 6.5 tokens per second of speech bounds the output length.
TOKENS_PER_SECOND = 6.5
# Longest audio one transcribe() call accepts; the rest is dropped (the recorder caps at 30 s).
MAX_AUDIO_SECONDS = 120.0
# Window per generate() call: Whisper sees 30 s at a time; Moonshine is best on short segments.
WINDOW_SECONDS = MappingProxyType({"moonshine": 20.0, "whisper": 30.0})
# A window boundary moves back to the quietest 50 ms in the last this-many seconds of the window.
SPLIT_SEARCH_SECONDS = 3.0


def _model_type(folder: Path) -> str:
    """The speech family of a loadable model folder (store.check_loadable has vetted it)."""
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return str(config["model_type"])


def _split_points(pcm: np.ndarray, window: int) -> list[tuple[int, int]]:
    """Cut audio into windows of at most `window` samples, each ending at a quiet moment."""
    spans: list[tuple[int, int]] = []
    start = 0
    frame = SAMPLE_RATE // 20
    search = int(SPLIT_SEARCH_SECONDS * SAMPLE_RATE)
    while len(pcm) - start > window:
        end = start + window
        lo = max(start + frame, end - search)
        region = pcm[lo:end]
        frames = len(region) // frame
        if frames > 0:
            energy = (region[: frames * frame].reshape(frames, frame) ** 2).mean(axis=1)
            end = lo + int(np.argmin(energy)) * frame + frame // 2
        spans.append((start, end))
        start = end
    if len(pcm) - start >= int(MIN_SECONDS * SAMPLE_RATE):
        spans.append((start, len(pcm)))
    return spans


def max_new_tokens_for(seconds: float, limit: int) -> int:
    """Output tokens allowed for `seconds` of audio: ~6.5 a second plus 2, at most `limit`."""
    return max(1, min(limit, math.ceil(seconds * TOKENS_PER_SECOND) + 2))


def _as_mono_float32(pcm: Any) -> np.ndarray:
    audio = np.asarray(pcm, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1) if audio.shape[1] <= audio.shape[0] else audio.mean(axis=0)
    elif audio.ndim != 1:
        raise ValueError(f"audio must be a 1-D array of samples, got shape {audio.shape}")
    return np.nan_to_num(audio, nan=0.0, posinf=1.0, neginf=-1.0)


class SpeechRecognizer:
    """Turns 16 kHz mono float32 audio into text with a Moonshine or Whisper model."""

    sample_rate = SAMPLE_RATE
    family: str = ""
    languages: tuple[str, ...] = ()

    def __init__(self, model: Any, processor: Any, device: str, folder: Path) -> None:
        self.model = model
        self.processor = processor
        self.device = device
        self.folder = folder
        self.max_audio_seconds = MAX_AUDIO_SECONDS
        self.quantized = False  # int8 dynamic linear layers (the CPU default)
        self._lock = threading.Lock()

    @classmethod
    def load(cls, source: str | Path, device: str = "cpu",
             threads: int | None = None, quantize: bool = True) -> SpeechRecognizer:
        """Load a Moonshine or Whisper model folder (safetensors only, no remote code).

        On the CPU, `quantize` turns every linear layer into int8 dynamic (faster-whisper's CPU
        default too): measured on a 2-core EPYC, Moonshine at real size (random weights) took
        0.16-0.23 s for 3 s of speech against 0.39-0.43 s in float32.
        """
        from models.store import check_loadable

        folder = Path(source).expanduser()
        check_loadable(folder, role=Role.SPEECH)
        model_type = _model_type(folder)
        impl = _MoonshineRecognizer if model_type == "moonshine" else _WhisperRecognizer

        import torch
        from safetensors import SafetensorError
        from transformers import AutoProcessor

        from models.runtime import configure_threads

        if threads is not None:
            configure_threads(threads)
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ModelError(
                f"The speech model was asked to run on {device}, but no CUDA GPU is available.",
                "Choose the CPU for speech recognition in Settings.",
            )
        try:
            processor = AutoProcessor.from_pretrained(folder, trust_remote_code=False)
            model = impl.model_class().from_pretrained(
                folder, dtype=torch.float32, use_safetensors=True, trust_remote_code=False
            )
        except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as exc:
            raise ModelError(f"The speech model in {folder} could not be loaded ({exc}).",
                             "Download the speech model again in Settings, or choose another speech "
                             "model folder.") from exc
        model.to(device).eval()
        recognizer = impl(model, processor, device, folder)
        if quantize and device == "cpu":
            recognizer._quantize()
        return recognizer

    def _quantize(self) -> None:
        """Every linear layer of the model (its output projection too) to int8 dynamic."""
        from models.runtime import quantize_linear_int8

        quantize_linear_int8(self.model.model)
        self.model.proj_out = quantize_linear_int8(self.model.proj_out)
        self.quantized = True
        log.info("speech model %s: linear layers int8 dynamic", self.folder.name)

    def transcribe(self, pcm: np.ndarray, language: str | None = None,
                   cancel: threading.Event | None = None) -> Transcript:
        """The transcript of `pcm` (float32 mono 16 kHz); empty text for silence-length audio.

        Audio beyond MAX_AUDIO_SECONDS is dropped; longer audio than one window is cut at quiet
        moments and transcribed window by window. If `cancel` is set, returns what is done so far.
        """
        import torch

        audio = _as_mono_float32(pcm)[: int(self.max_audio_seconds * SAMPLE_RATE)]
        if len(audio) < int(MIN_SECONDS * SAMPLE_RATE):
            return Transcript("")
        wanted = self._check_language(language)
        stop = _CancelCriteria(cancel)
        texts: list[str] = []
        windows = tokens = budget = 0
        seconds = 0.0
        with self._lock, torch.inference_mode():
            for start, end in _split_points(audio, int(WINDOW_SECONDS[self.family] * SAMPLE_RATE)):
                if cancel is not None and cancel.is_set():
                    break
                window = _Window(audio[start:end], wanted, stop)
                text = self._transcribe_window(window)
                wanted = window.language
                windows += 1
                seconds += len(window.audio) / SAMPLE_RATE
                tokens += window.tokens
                budget += window.token_budget
                if text:
                    texts.append(text)
        stats = TranscriptionStats(seconds, windows, tokens, budget)
        return Transcript(" ".join(texts).strip(), wanted, stats)

    def _check_language(self, language: str | None) -> str | None:
        """Normalize 'fr', 'fr-FR', 'FR_ca', 'auto' to a code this model knows, or None."""
        if language is None or language.strip().lower() in ("", "auto"):
            return None
        code = language.strip().lower().replace("_", "-").split("-")[0]
        if code not in self.languages:
            raise ConfigError(
                f"The {self.family} speech model cannot transcribe the language {language!r}.",
                f"Choose one of: {', '.join(self.languages)}, or 'auto'.",
            )
        return code

    def _transcribe_window(self, window: _Window) -> str:
        """Text of one window; sets window.language, .tokens and .token_budget."""
        raise NotImplementedError

    def _decode(self, tokens: Any) -> str:
        text = self.processor.batch_decode(
            tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False
        )[0]
        return text.strip()

    @staticmethod
    def model_class() -> Any:
        raise NotImplementedError


@dataclass
class _Window:
    """One slice of audio on its way through generate(), with what generate() reported."""

    audio: np.ndarray
    language: str | None
    stop: _CancelCriteria
    tokens: int = 0
    token_budget: int = 0


class _CancelCriteria:
    """A transformers stopping criterion that ends generation when an Event is set."""

    def __init__(self, cancel: threading.Event | None) -> None:
        self.cancel = cancel

    def as_list(self) -> Any:
        from transformers import StoppingCriteria, StoppingCriteriaList

        cancel = self.cancel

        class _Stop(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                import torch

                flag = cancel is not None and cancel.is_set()
                return torch.full((input_ids.shape[0],), flag, dtype=torch.bool,
                                  device=input_ids.device)

        return StoppingCriteriaList([_Stop()])


class _MoonshineRecognizer(SpeechRecognizer):
    family = "moonshine"
    languages = ("en",)

    @staticmethod
    def model_class() -> Any:
        from transformers import MoonshineForConditionalGeneration

        return MoonshineForConditionalGeneration

    def _check_language(self, language: str | None) -> str | None:
        """Moonshine is English-only: any requested language is ignored."""
        return "en"

    def _transcribe_window(self, window: _Window) -> str:
        inputs = self.processor(window.audio, sampling_rate=SAMPLE_RATE, return_tensors="pt")
        inputs = {key: value.to(self.device) for key, value in inputs.items()}
        # The decoder's positions bound the output; the start token takes one of them.
        limit = int(self.model.config.max_position_embeddings) - 1
        window.token_budget = max_new_tokens_for(len(window.audio) / SAMPLE_RATE, limit)
        tokens = self.model.generate(
            **inputs, max_new_tokens=window.token_budget, stopping_criteria=window.stop.as_list()
        )
        window.tokens = int(tokens.shape[-1]) - 1
        window.language = "en"
        return self._decode(tokens)


class _WhisperRecognizer(SpeechRecognizer):
    family = "whisper"

    def __init__(self, model: Any, processor: Any, device: str, folder: Path) -> None:
        super().__init__(model, processor, device, folder)
        lang_to_id = getattr(model.generation_config, "lang_to_id", None) or {}
        self._id_to_lang = {tid: tok.strip("<|>") for tok, tid in lang_to_id.items()}
        self.languages = tuple(self._id_to_lang.values()) or ("en",)
        self._multilingual = bool(lang_to_id)

    @staticmethod
    def model_class() -> Any:
        from transformers import WhisperForConditionalGeneration

        return WhisperForConditionalGeneration

    def _transcribe_window(self, window: _Window) -> str:
        features = self.processor.feature_extractor(
            window.audio, sampling_rate=SAMPLE_RATE, return_tensors="pt"
        ).input_features.to(self.device, self.model.dtype)
        language = window.language
        if not self._multilingual:
            language = "en"
        elif language is None:
            # Detect once (first window) and keep that language for the rest of the audio.
            lang_id = int(self.model.detect_language(input_features=features)[0])
            language = self._id_to_lang.get(lang_id, "en")
        # Four prompt tokens (start, language, task, no-timestamps) share the decoder positions.
        limit = int(self.model.config.max_target_positions) - 5
        kwargs: dict[str, Any] = {"task": "transcribe", "language": language}
        if not self._multilingual:
            kwargs = {}
        window.token_budget = max_new_tokens_for(len(window.audio) / SAMPLE_RATE, limit)
        tokens = self.model.generate(
            features,
            max_new_tokens=window.token_budget,
            stopping_criteria=window.stop.as_list(),
            **kwargs,
        )
        window.tokens = int(tokens.shape[-1])  # Whisper's generate returns the new tokens only
        window.language = language
        return self._decode(tokens)
