"""The vision encoder (SigLIP tower + connector) through OpenVINO, an optional runtime.

Converted offline from the loaded torch model (no hub, no export tool), saved once into the
model cache folder, compiled for the CPU in bf16 where the processor computes it natively.
The model's encoder path where it is faster (VisionLanguageModel.load(openvino=True)) and the
benchmark's peer; `load` returns None with the reason when OpenVINO is not installed or the
conversion fails, and the caller keeps the torch path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.cache_keys import weights_key

log = logging.getLogger(__name__)

TILE_SHAPE = (3, 512, 512)


def version() -> str | None:
    """OpenVINO's version, or None when it is not installed."""
    try:
        import openvino
    except ImportError:
        return None
    return str(openvino.get_version())


def _cache_key(source: str, extra: str) -> str:
    """Changes when the model's files or OpenVINO change."""
    return weights_key(source, f"{version()};{extra}")


def _encoder_module(vision: Any, connector: Any) -> Any:
    """The torch module that is converted: pixels (tiles, 3, 512, 512) -> connector features."""
    import torch

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.vision, self.connector = vision, connector

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            return self.connector(self.vision(pixel_values=pixels).last_hidden_state)

    return Encoder().eval()


@dataclass
class OpenVinoEncoder:
    """A compiled OpenVINO encoder: float32 pixels (tiles, 3, 512, 512) in, features (tiles x 64, hidden) out."""

    compiled: Any
    precision: str
    xml: Path
    convert_s: float
    compile_s: float

    def __call__(self, pixels: Any) -> Any:
        import torch

        out = torch.from_numpy(self.compiled(pixels.float().numpy())[0])
        return out.reshape(-1, out.shape[-1])


def load(vlm: Any, cache: Path, threads: int, bf16: bool) -> tuple[OpenVinoEncoder | None, str]:
    """The encoder of `vlm` (a VisionLanguageModel) in OpenVINO, and what happened, in words.

    The float32 weights are read again from the model folder for the conversion, so the loaded
    model may be quantized or bf16; the converted model is kept in `cache`.
    """
    import time

    if version() is None:
        return None, "OpenVINO is not installed (pip install openvino)"
    import openvino as ov
    import torch
    from transformers import AutoModelForImageTextToText

    precision = "bf16" if bf16 else "f32"
    xml = Path(cache) / f"vision-{_cache_key(vlm.source, 'encoder-v1')}.xml"
    t0 = time.perf_counter()
    try:
        if xml.exists():
            model = ov.Core().read_model(xml)
        else:
            full = AutoModelForImageTextToText.from_pretrained(
                vlm.source, dtype=torch.float32, local_files_only=True, use_safetensors=True,
                attn_implementation="sdpa")
            module = _encoder_module(full.model.vision_model, full.model.connector)
            with torch.no_grad():
                model = ov.convert_model(module, example_input=torch.zeros(1, *TILE_SHAPE),
                                         input=[ov.PartialShape([-1, *TILE_SHAPE])])
            del full, module
            xml.parent.mkdir(parents=True, exist_ok=True)
            ov.save_model(model, xml)
        t1 = time.perf_counter()
        compiled = ov.Core().compile_model(model, "CPU", {
            "INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY"})
    except (RuntimeError, OSError, ValueError, TypeError) as exc:
        log.warning("OpenVINO encoder unavailable: %s", exc)
        return None, f"OpenVINO could not convert or compile the encoder ({exc})"
    t2 = time.perf_counter()
    return (OpenVinoEncoder(compiled, precision, xml, t1 - t0, t2 - t1),
            f"OpenVINO {version()}, {precision} compute, {threads} threads")
