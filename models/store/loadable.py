"""Would the loaders load this folder? Every problem found, cheapest checks first, each with what to do."""

from __future__ import annotations

import json
from pathlib import Path

from base.errors import ModelError
from models.catalog import PICKLE_PATTERNS, family_of_model_type, required_files
from models.store.layout import matches, safetensors_files
from models.store.safetensors import read_safetensors_header


def read_config(folder: Path) -> dict:
    """A model folder's config.json; ModelError saying what to do when it is missing or broken."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ModelError(f"The model folder {folder} has no config.json.",
                         "Point --model at the folder of a transformers model, or download "
                         "the model again.",
                         "Choose the folder that holds config.json, or download the model in its "
                         "setup window (ScreenSight menu).")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"The config.json in {folder} cannot be read ({exc}).",
                         "Download the model again.") from exc
    if not isinstance(config, dict):
        raise ModelError(f"The config.json in {folder} is not a JSON object.",
                         "Download the model again.")
    return config


def folder_problems(folder: Path, role: str | None = None) -> list[ModelError]:
    """Everything that would stop the loaders, cheapest checks first; empty when loadable."""
    if not folder.exists():
        return [ModelError(f"The model folder {folder} does not exist.",
                           "Check the path, or download the model: "
                           "screensight models download ID.",
                           "Choose another folder, or download the model in its setup window "
                           "(ScreenSight menu).")]
    if not folder.is_dir():
        return [ModelError(f"The model path {folder} is not a folder.",
                           "Point --model at the folder that holds config.json.",
                           "Choose the folder that holds config.json.")]
    try:
        config = read_config(folder)
    except ModelError as exc:
        return [exc]
    problems: list[ModelError] = []
    model_type = str(config.get("model_type", ""))
    kind = family_of_model_type(model_type)
    if kind is None:
        supported = "idefics3 (SmolVLM) for vision; moonshine or whisper for speech"
        problems.append(ModelError(
            f"The model in {folder} is of type '{model_type or 'unknown'}', which ScreenSight "
            "cannot run.", f"Use a supported model: {supported}."))
    else:
        family, model_role = kind
        if role is not None and role != model_role:
            problems.append(ModelError(
                f"The model in {folder} is a {model_role} model, not a {role} model.",
                f"Choose a {role} model for this setting."))
        for requirement in required_files(family):
            if not any(all((folder / f).is_file() for f in alt) for alt in requirement):
                wanted = " or ".join(" + ".join(alt) for alt in requirement)
                what = "tokenizer" if any("tokenizer.json" in alt for alt in requirement) \
                    else "processor"
                problems.append(ModelError(
                    f"The model folder {folder} has no {what} files (needs {wanted}).",
                    "Copy the complete model folder, or download the model again."))
    problems.extend(_weight_problems(folder))
    return problems


def _weight_problems(folder: Path) -> list[ModelError]:
    weights = safetensors_files(folder)
    if not weights:
        pickles = sorted(p.name for p in folder.iterdir()
                         if p.is_file() and matches(p.name, PICKLE_PATTERNS))
        if pickles:
            return [ModelError(
                f"The model folder {folder} has only pickle weights ({', '.join(pickles)}); "
                "ScreenSight loads safetensors only.",
                "Pickle files can run code when loaded. Use the model's .safetensors files.")]
        return [ModelError(f"The model folder {folder} has no weights (*.safetensors).",
                           "Copy the complete model folder, or download the model again.")]
    problems: list[ModelError] = []
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map", {})
            shards = sorted(set(weight_map.values()))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
            return [ModelError(f"The weight index of {folder} cannot be read ({exc}).",
                               "Download the model again.")]
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            problems.append(ModelError(
                f"The model folder {folder} is missing weight files: {', '.join(missing)}.",
                "Copy the complete model folder, or download the model again."))
    for path in weights:
        try:
            read_safetensors_header(path)
        except ModelError as exc:
            problems.append(exc)
    return problems


def check_loadable(folder: Path, role: str | None = None) -> None:
    """Raise ModelError with a clear message when the loaders could not load this folder."""
    problems = folder_problems(Path(folder), role)
    if problems:
        raise problems[0]
