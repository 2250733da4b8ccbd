"""The model catalog: complete, pinned, consistent with the real config files in tests/data."""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
import re
from pathlib import Path

import pytest

from assistant.config import Settings
from base.errors import ModelError
from base.vocabulary import Role
from models import catalog, store

DATA = Path(__file__).parent / "data"
HEX40 = re.compile(r"^[0-9a-f]{40}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _allowed(info: catalog.ModelInfo, name: str) -> bool:
    refused = any(fnmatch.fnmatch(name, p) for p in catalog.REFUSED_PATTERNS)
    return not refused and any(fnmatch.fnmatch(name, p) for p in info.allow_patterns)


def test_the_expected_models_are_there_with_unique_ids():
    ids = [m.id for m in catalog.all_models()]
    assert len(ids) == len(set(ids))
    assert {"smolvlm-256m", "smolvlm-500m", "moonshine-tiny", "moonshine-base",
            "whisper-base"} <= set(ids)
    assert isinstance(catalog.all_models(), tuple)


@pytest.mark.parametrize("info", catalog.all_models(), ids=lambda m: m.id)
def test_entry_is_pinned_and_complete(info: catalog.ModelInfo):
    assert HEX40.match(info.revision), "revision must be a full commit sha"
    assert info.role in tuple(Role)
    assert catalog.family_of_model_type(info.family) == (info.family, info.role)
    assert info.size_mb > 0 and info.ram_mb > info.size_mb // 2
    assert info.licence and info.label and info.good_for and info.languages
    assert "/" in info.repo_id
    assert info.files, "every entry pins the sha256 of its weights"
    for name, digest in info.files:
        assert name.endswith(".safetensors") and HEX64.match(digest)
        assert info.expected_sha256(name) == digest
    assert info.expected_sha256("config.json") is None


def test_pins_differ_between_models():
    """A revision or a weight hash copied from another entry is a wrong pin the format cannot show."""
    models = catalog.all_models()
    repos = [m.repo_id for m in models]
    assert len(set(repos)) == len(repos), "each catalog id is its own hub repo"
    revisions = [m.revision for m in models]
    assert len(set(revisions)) == len(revisions), "two models pinned to the same commit"
    digests = [digest for m in models for _, digest in m.files]
    assert len(set(digests)) == len(digests), "two weight files pinned to the same sha256"


@pytest.mark.parametrize("info", catalog.all_models(), ids=lambda m: m.id)
def test_the_pins_name_files_the_download_keeps(info: catalog.ModelInfo):
    """A pin on a file the download skips (a typo, a refused format, a sub-folder) checks nothing."""
    names = [name for name, _ in info.files]
    assert len(set(names)) == len(names), "a file pinned twice"
    assert "model.safetensors" in names or "model.safetensors.index.json" in names, \
        "the weights transformers loads are not pinned"
    for name in names:
        assert "/" not in name and _allowed(info, name), f"{name} is never downloaded, so its pin is never checked"


@pytest.mark.parametrize("info", catalog.all_models(), ids=lambda m: m.id)
def test_verify_checks_every_pinned_file_against_its_pin(info: catalog.ModelInfo, tmp_path):
    """A download of this model whose files are not the published ones is found damaged, file by file,
    even though the manifest the download wrote agrees with the files."""
    folder = tmp_path / info.id
    folder.mkdir()
    listed = {}
    for number, (name, _) in enumerate(info.files):
        content = f"not the published {name} of {info.id} {number}".encode()
        (folder / name).write_bytes(content)
        listed[name] = {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
    manifest = {"id": info.id, "repo_id": info.repo_id, "revision": info.revision, "files": listed}
    (folder / store.MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")
    report = store.verify(folder)
    assert not report.ok
    checked = {f.name: f for f in report.files}
    for name, digest in info.files:
        assert checked[name].expected_sha256 == digest
        assert checked[name].sha256 == listed[name]["sha256"]
        assert f"The file {name} does not match its published sha256 (damaged)." in report.problems


@pytest.mark.parametrize("info", catalog.all_models(), ids=lambda m: m.id)
def test_allow_patterns_take_what_transformers_needs_and_no_pickles(info: catalog.ModelInfo):
    for wanted in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json",
                   "preprocessor_config.json", "merges.txt", "vocab.json", "chat_template.json"):
        assert _allowed(info, wanted), wanted
    for refused in ("pytorch_model.bin", "model.pt", "weights.pth", "model.ckpt", "data.pkl",
                    "modeling_custom.py", "model.onnx", "flax_model.msgpack", "tf_model.h5"):
        assert not _allowed(info, refused), refused


def test_ids_and_defaults_match_the_settings_defaults():
    settings = Settings()
    assert catalog.default_model("vision").id == settings.vision_model == "smolvlm-256m"
    assert catalog.default_model("speech").id == settings.speech_model == "moonshine-tiny"
    with pytest.raises(ModelError):
        catalog.default_model("smell")


def test_lookup_by_id_or_repo_and_unknown_ids_listed():
    assert catalog.get_model("whisper-base").repo_id == "openai/whisper-base"
    assert catalog.get_model("HuggingFaceTB/SmolVLM-256M-Instruct").id == "smolvlm-256m"
    with pytest.raises(ModelError) as err:
        catalog.get_model("llava")
    assert "'llava'" in err.value.message
    for id_ in catalog.model_ids():
        assert id_ in err.value.hint


def test_entries_are_immutable():
    info = catalog.get_model("smolvlm-256m")
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.revision = "main"  # type: ignore[misc]
    assert catalog.get_model("smolvlm-256m").revision != "main"


@pytest.mark.parametrize(("folder", "id_"), [("SmolVLM-256M-Instruct", "smolvlm-256m"),
                                             ("whisper-base", "whisper-base"),
                                             ("moonshine-tiny", "moonshine-tiny"),
                                             ("moonshine-base", "moonshine-base")])
def test_family_matches_the_real_config(folder: str, id_: str):
    config = json.loads((DATA / folder / "config.json").read_text())
    info = catalog.get_model(id_)
    assert catalog.family_of_model_type(config["model_type"]) == (info.family, info.role)


def test_required_files_are_present_in_the_real_folders():
    for folder, family in (("SmolVLM-256M-Instruct", "idefics3"), ("whisper-base", "whisper")):
        for requirement in catalog.required_files(family):
            assert any(all((DATA / folder / f).is_file() for f in alt) for alt in requirement)
    assert catalog.required_files("llama") == ()
