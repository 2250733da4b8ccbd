"""Fixed-length answers: a vision model whose answers run to their token limit, for measurements.

Random-weight models (the tests') and timed runs (the benchmark, the soak) need answers of a known
length; the app's engine knows nothing of this: it is given the wrapped model like any other.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

from assistant.ports import ModelProvider, VisionModel
from base.turns import Turn

M = TypeVar("M")


class TokenCount:
    """Tokens the current answer has generated so far (the model's own count, not text pieces:
    a random-weight Gemma 4 writes many tokens that are no text on their own)."""

    def __init__(self) -> None:
        self.value = 0
        self.times: list[float] = []  # time.monotonic() of each token of the current answer

    def counting(self, chained: Callable[[int], None] | None) -> Callable[[int], None]:
        """An `on_token` that counts from zero for a new answer, then calls `chained`."""
        self.value = 0
        self.times = []

        def on_token(token: int) -> None:
            self.value += 1
            self.times.append(time.monotonic())
            if chained is not None:
                chained(token)

        return on_token

    def rate(self) -> float | None:
        """Tokens per second of the current answer after its first token (None: too few)."""
        times = self.times
        if len(times) < 3 or times[-1] <= times[0]:
            return None
        return (len(times) - 1) / (times[-1] - times[0])


class FixedLengthAnswers:
    """A VisionModel that answers through `model` with end-of-sequence ignored (all else passes
    through); `tokens`, where given, counts each answer's tokens."""

    def __init__(self, model: Any, tokens: TokenCount | None = None) -> None:
        self.model = model
        self.tokens = tokens

    def encode(self, image: Any, *args: Any, **kwargs: Any) -> Any:
        return self.model.encode(image, *args, **kwargs)

    def answer(self, ctx: Any, prompt: str, cancel: threading.Event | None = None,
               max_new_tokens: int = 256, history: Sequence[Turn] = (), **kwargs: Any) -> Iterator[str]:
        """The wrapped model's answer, `max_new_tokens` long."""
        if self.tokens is not None:
            kwargs["on_token"] = self.tokens.counting(kwargs.get("on_token"))
        return self.model.answer(ctx, prompt, cancel=cancel, max_new_tokens=max_new_tokens, history=history,
                                 ignore_eos=True, **kwargs)

    def answer_spoken(self, ctx: Any, audio: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """The wrapped model's answer to a spoken question (models that hear audio), full length."""
        if self.tokens is not None:
            kwargs["on_token"] = self.tokens.counting(kwargs.get("on_token"))
        return self.model.answer_spoken(ctx, audio, *args, ignore_eos=True, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


class FixedLengthProvider(Generic[M]):
    """A ModelProvider giving `provider`'s model wrapped in FixedLengthAnswers (loaded when it loads)."""

    def __init__(self, provider: ModelProvider[M], tokens: TokenCount | None = None) -> None:
        self.provider = provider
        self.tokens = tokens
        self._wrapped: tuple[Any, FixedLengthAnswers] | None = None

    @property
    def loaded(self) -> bool:
        return self.provider.loaded

    def __call__(self, progress: Callable[[float], None] | None = None) -> VisionModel:
        model = self.provider(progress)
        if self._wrapped is None or self._wrapped[0] is not model:  # the provider switched models
            self._wrapped = (model, FixedLengthAnswers(model, self.tokens))
        return self._wrapped[1]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.provider, name)
