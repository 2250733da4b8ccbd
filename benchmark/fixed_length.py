"""Fixed-length answers: a vision model whose answers run to their token limit, for measurements.

Random-weight models (the tests') and timed runs (the benchmark, the soak) need answers of a known
length; the app's engine knows nothing of this: it is given the wrapped model like any other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

from assistant.ports import ModelProvider, VisionModel
from base.turns import Turn

M = TypeVar("M")


class FixedLengthAnswers:
    """A VisionModel that answers through `model` with end-of-sequence ignored (all else passes through)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def encode(self, image: Any, *args: Any, **kwargs: Any) -> Any:
        return self.model.encode(image, *args, **kwargs)

    def answer(self, ctx: Any, prompt: str, cancel: threading.Event | None = None,
               max_new_tokens: int = 256, history: Sequence[Turn] = (), **kwargs: Any) -> Iterator[str]:
        """The wrapped model's answer, `max_new_tokens` long."""
        return self.model.answer(ctx, prompt, cancel=cancel, max_new_tokens=max_new_tokens, history=history,
                                 ignore_eos=True, **kwargs)

    def answer_spoken(self, ctx: Any, audio: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """The wrapped model's answer to a spoken question (models that hear audio), full length."""
        return self.model.answer_spoken(ctx, audio, *args, ignore_eos=True, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


class FixedLengthProvider(Generic[M]):
    """A ModelProvider giving `provider`'s model wrapped in FixedLengthAnswers (loaded when it loads)."""

    def __init__(self, provider: ModelProvider[M]) -> None:
        self.provider = provider
        self._wrapped: tuple[Any, FixedLengthAnswers] | None = None

    @property
    def loaded(self) -> bool:
        return self.provider.loaded

    def __call__(self, progress: Callable[[float], None] | None = None) -> VisionModel:
        model = self.provider(progress)
        if self._wrapped is None or self._wrapped[0] is not model:  # the provider switched models
            self._wrapped = (model, FixedLengthAnswers(model))
        return self._wrapped[1]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.provider, name)
