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
# Entries whose weight sha256 no public record gives; their downloads are checked against the
# hub's own sha256 at the pinned revision (see the catalog's note).
UNPINNED_WEIGHTS = {"gemma4-e4b"}


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
    assert info.files or info.id in UNPINNED_WEIGHTS, "every entry pins the sha256 of its weights"
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
    assert "model.safetensors" in names or "model.safetensors.index.json" in names \
        or info.id in UNPINNED_WEIGHTS, "the weights transformers loads are not pinned"
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
                                             ("moonshine-base", "moonshine-base"),
                                             ("gemma4-e2b", "gemma4-e2b"),
                                             ("gemma4-e4b", "gemma4-e4b")])
def test_family_matches_the_real_config(folder: str, id_: str):
    config = json.loads((DATA / folder / "config.json").read_text())
    info = catalog.get_model(id_)
    assert catalog.family_of_model_type(config["model_type"]) == (info.family, info.role)


def test_required_files_are_present_in_the_real_folders():
    for folder, family in (("SmolVLM-256M-Instruct", "idefics3"), ("whisper-base", "whisper"),
                           ("gemma4-e2b", "gemma4")):
        for requirement in catalog.required_files(family):
            assert any(all((DATA / folder / f).is_file() for f in alt) for alt in requirement)
    assert catalog.required_files("llama") == ()


def test_tiers_name_the_models_a_user_chooses_from():
    assert {t: [m.id for m in catalog.tier_models(t)] for t in catalog.Tier} == {
        catalog.Tier.FAST: ["smolvlm-256m"],
        catalog.Tier.BALANCED: ["smolvlm-500m"],
        catalog.Tier.QUALITY: ["gemma4-e2b", "gemma4-e4b"],
    }
    assert catalog.TIER_LABELS[catalog.Tier.FAST] == "Fast (any laptop)"
    assert catalog.TIER_LABELS[catalog.Tier.QUALITY].startswith("Best quality, many languages")
    for info in catalog.tier_models(catalog.Tier.QUALITY):
        assert info.family == "gemma4" and info.licence == "Apache-2.0"
        assert len(info.languages) > 40 and {"uk", "cs", "zh"} <= set(info.languages)
    assert catalog.get_model("gemma4-e2b").ram_mb < catalog.get_model("gemma4-e4b").ram_mb


@pytest.mark.parametrize(("ram_mb", "gpu", "tier"), [
    (4096, False, catalog.Tier.FAST), (4096, True, catalog.Tier.FAST),
    (8192, False, catalog.Tier.BALANCED), (8192, True, catalog.Tier.QUALITY),
    (16384, False, catalog.Tier.BALANCED), (65536, False, catalog.Tier.BALANCED),
    (32768, True, catalog.Tier.QUALITY),
])
def test_recommended_tier_follows_ram_and_gpu(ram_mb: int, gpu: bool, tier: catalog.Tier):
    assert catalog.recommended_tier(ram_mb, gpu) == tier


def _readme_first_words() -> dict[str, float]:
    """The README's table of each tier's measured first spoken word: model id -> seconds."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = text[text.index("| tier | model | first spoken word, window |"):].split("\n\n")[0]
    rows = [line.split("|") for line in table.splitlines()[2:]]
    return {row[2].strip(): float(row[3].strip().removesuffix(" s")) for row in rows}


def test_the_measured_first_answers_are_the_benchmarks_figures_in_the_readme():
    measured = _readme_first_words()
    assert set(measured) == {"smolvlm-256m", "smolvlm-500m", "gemma4-e2b", "gemma4-e4b"}
    for model_id, seconds in measured.items():
        assert catalog.get_model(model_id).first_word_s == seconds
    assert catalog.MEASURED_ON == "a 2-core CPU"


def test_each_tier_shows_size_licence_languages_memory_and_first_answer():
    fast = catalog.model_facts(catalog.get_model("smolvlm-256m"))
    assert fast == ("518 MB download, licence Apache-2.0, English, needs about 1500 MB of memory, "
                    "first spoken word for a window after 1.1 s (measured on a 2-core CPU).")
    quality = catalog.model_facts(catalog.get_model("gemma4-e2b"))
    assert "over 140 languages" in quality and "after 3.5 s (measured on a 2-core CPU)" in quality
    assert "after 1.2 s" in catalog.model_facts(catalog.get_model("smolvlm-500m"))
    assert "after 7.5 s" in catalog.model_facts(catalog.get_model("gemma4-e4b"))
    assert "not measured yet" in catalog.first_word_text(dataclasses.replace(catalog.get_model("gemma4-e4b"),
                                                                                first_word_s=None))
    assert "first spoken word" not in catalog.model_facts(catalog.get_model("moonshine-tiny"))
    assert (catalog.tier_choice_label(catalog.get_model("smolvlm-500m"))
            == "Balanced: SmolVLM 500M (balanced)")
    ordered = catalog.tier_ordered(list(reversed(catalog.all_models())))
    assert [m.id for m in ordered][:4] == ["smolvlm-256m", "smolvlm-500m", "gemma4-e2b", "gemma4-e4b"]


def test_the_machine_survey_reads_memory_and_gpu_without_torch():
    import subprocess
    import sys

    code = ("import sys; from models import machine; print(machine.total_memory_mb(), "
            "machine.has_gpu(), machine.recommended_tier_here().value, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout.split()
    total = int(out[0])
    meminfo = next(int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:"))
    assert 0 < total <= meminfo
    assert out[1] == str(Path("/proc/driver/nvidia/version").exists())
    assert out[2] == catalog.recommended_tier(total, out[1] == "True").value
    assert out[3] == "False"
