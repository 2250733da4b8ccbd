"""The app's vision-language model loader: one entry point for every family in the catalog.

The family comes from the folder's config.json model_type (catalog.family_of_model_type), so a
catalog download and a folder the user points at load the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from base.errors import ModelError
from base.vocabulary import Role
from models.catalog import family_of_model_type


def vision_family(folder: Path) -> str:
    """The vision family ("idefics3", "gemma4") of a model folder; ModelError when unsupported."""
    try:
        model_type = str(json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
                         .get("model_type", ""))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        raise ModelError(f"The config.json in {folder} cannot be read ({exc}).",
                         "Download the model again.") from exc
    kind = family_of_model_type(model_type)
    if kind is None or kind[1] != Role.VISION:
        raise ModelError(f"The model in {folder} is of type '{model_type or 'unknown'}', which is not "
                         "a vision model ScreenSight can run.",
                         "Use SmolVLM (idefics3) or Gemma 4 (gemma4).")
    return kind[0]


def load_vision_model(folder: str | Path, device: str = "auto", threads: int | None = None,
                      quantize: bool = False, dtype: str | None = None, openvino: bool = False,
                      progress: Callable[[float], None] | None = None) -> Any:
    """The loaded model of the folder's family (VisionLanguageModel or Gemma4Model).

    device "auto": Gemma 4 takes CUDA, then Apple MPS, then the CPU (models.runtime.pick_device);
    SmolVLM stays on the CPU, where its speed work was done. Any other device is used as given.
    openvino: SmolVLM's vision encoder through OpenVINO where it is installed (Gemma 4 ignores it).
    progress(fraction): a first load that prepares the model for this computer (Gemma 4's int8
    weights, made once and kept) reports how far it is; loads that prepare nothing do not call it.
    """
    from models import runtime

    folder = Path(folder)
    family = vision_family(folder)
    runtime.prefer_passive_openmp()  # before torch is imported
    if device != "auto":
        device = runtime.pick_device(device)  # a device not usable here is refused with what to do
    if family == "gemma4":
        from models.gemma4 import Gemma4Model

        return Gemma4Model.load(folder, device=device, dtype=dtype, threads=threads, quantize=quantize,
                                progress=progress)
    from models.vision import VisionLanguageModel

    return VisionLanguageModel.load(folder, device="cpu" if device == "auto" else device, dtype=dtype,
                                    threads=threads, quantize=quantize, openvino=openvino)
