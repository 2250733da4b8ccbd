"""Moving a loaded model's int8-weight layers to int8 activations too, a slice at a time.

fbgemm's int8 x int8 linear is 2-4x faster than the weight-only kernel for decode steps and short
prompts (models.int8_weights.use_int8_activations), but its packed weights take 3-4 ns per weight
to make (about 12 s for Gemma 4 E2B's language model on 2 cores), on every start: the packed form
cannot be kept on disk. So the model loads with weight-only layers and answers at once; between
requests (the engine calls `step` while it is idle) each slice packs layers (or row blocks of a
large one) worth about 0.1 s, after one calibration prompt has recorded every layer's real
inputs, and a layer switches only where its outputs on those inputs stay as they were
(models.int8_weights.ACTIVATION_COSINE).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from models import int8_weights

log = logging.getLogger(__name__)

SLICE_WEIGHTS = 24_000_000  # weights packed per step: about 0.1 s
CALIBRATION_ROWS = 64  # inputs kept per layer from the calibration prompt


class ActivationSwitch:
    """Switches the Int8WeightLinears under `root` to int8 activations, `step` by `step`.

    `calibrate()` runs one prompt through the model (its layers' inputs are recorded then);
    a layer too large for one slice (an output head) is packed in row blocks over several slices
    and switches when its last block is made (int8_weights.piece_rows); `release` gets each
    plain int8 weight a packed one replaced (see use_int8_activations)."""

    def __init__(self, root: Any, calibrate: Callable[[], None],
                 release: Callable[[Any], None] | None = None) -> None:
        kind = int8_weights._make_linear_class()
        self._layers = [(name, module) for name, module in root.named_modules()
                        if isinstance(module, kind) and module.packed is None]
        self._calibrate = calibrate
        self._release = release
        self._rows: dict[str, Any] | None = None
        self._pieces: list[Any] = []  # the packed row blocks made so far of the first layer left
        self.switched = 0
        self.kept: dict[str, float] = {}  # layer -> cosine, where int8 activations were refused
        self.seconds = 0.0  # spent in steps so far

    @property
    def done(self) -> bool:
        return not self._layers

    def step(self) -> bool:
        """One slice of the work; True while some is left."""
        if self.done:
            return False
        started = time.perf_counter()
        try:
            if self._rows is None:
                self._rows = self._record_inputs()
            else:
                self._switch_slice()
        finally:
            self.seconds += time.perf_counter() - started
        if self.done:
            self._rows = None
            log.info("int8 activations: %d layers switched, %d kept on int8 weights only%s, in %.1f s",
                     self.switched, len(self.kept),
                     f" ({', '.join(f'{n} {c:.4f}' for n, c in list(self.kept.items())[:6])})"
                     if self.kept else "", self.seconds)
        return not self.done

    def _record_inputs(self) -> dict[str, Any]:
        rows: dict[str, Any] = {}
        hooks = []
        for name, layer in self._layers:
            def keep(_module: Any, args: tuple[Any, ...], name: str = name) -> None:
                if name not in rows:
                    x = args[0].detach()
                    rows[name] = x.reshape(-1, x.shape[-1])[:CALIBRATION_ROWS].clone()
            hooks.append(layer.register_forward_pre_hook(keep))
        try:
            self._calibrate()
        finally:
            for hook in hooks:
                hook.remove()
        return rows

    def _switch_slice(self) -> None:
        assert self._rows is not None
        budget = SLICE_WEIGHTS
        while self._layers and budget > 0:
            name, layer = self._layers[0]
            rows = self._rows.get(name)
            if rows is None:  # not run by the calibration prompt: nothing to check it on
                self._layers.pop(0)
                self.kept[name] = float("nan")
                continue
            block = int8_weights.piece_rows(layer)
            if block < layer.out_features:  # a large layer: one row block per turn of the loop
                start = len(self._pieces) * block
                stop = min(layer.out_features, start + block)
                self._pieces.append(int8_weights.pack_rows(layer, start, stop))
                budget -= (stop - start) * layer.in_features
                if stop < layer.out_features:
                    continue
            else:
                budget -= layer.weight.numel()
            self._layers.pop(0)
            del self._rows[name]
            packed, self._pieces = self._pieces or None, []
            cosine = int8_weights.use_int8_activations(layer, rows, release=self._release, packed=packed)
            if layer.packed is not None:
                self.switched += 1
            else:
                self.kept[name] = cosine

