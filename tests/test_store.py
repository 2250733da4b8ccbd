"""models.store against a local hub (tests/hub_server.py): download, resume, faults, verify."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from base.errors import DownloadError, ModelError
from models import store
from models.catalog import ModelInfo, get_model
from tests.hub_server import HubServer, serve_for_downloads

DATA = Path(__file__).parent / "data"
REPO_ID = "test/tiny-vlm"
ALLOWED = {"added_tokens.json", "chat_template.json", "config.json", "generation_config.json",
           "merges.txt", "preprocessor_config.json", "processor_config.json",
           "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.json",
           "model.safetensors"}
NOT_ALLOWED = ("pytorch_model.bin", "onnx/model.onnx", "README.md", "modeling_evil.py")


def _write_weights(path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    save_file({"vision.weight": rng.standard_normal((250, 1000), dtype=np.float32),
               "text.bias": rng.standard_normal((5000,), dtype=np.float32),
               "steps": np.arange(16, dtype=np.int64)}, str(path))


def make_model_folder(folder: Path, *, extras: bool = False) -> Path:
    """A tiny model folder: the real SmolVLM config and tokenizer files, random safetensors."""
    folder.mkdir(parents=True, exist_ok=True)
    for src in (DATA / "SmolVLM-256M-Instruct").iterdir():
        shutil.copy(src, folder / src.name)
    _write_weights(folder / "model.safetensors")
    if extras:
        (folder / "pytorch_model.bin").write_bytes(b"\x80\x04pickle that could run code")
        (folder / "onnx").mkdir()
        (folder / "onnx" / "model.onnx").write_bytes(b"onnx" * 100)
        (folder / "README.md").write_text("# tiny\n")
        (folder / "modeling_evil.py").write_text("import os\n")
    return folder


@pytest.fixture(scope="module")
def repo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("hub") / "tiny-vlm", extras=True)


@pytest.fixture
def hub(repo_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    """A running hub serving the tiny repo; downloads allowed and pointed at it, fresh cache."""
    with serve_for_downloads(monkeypatch, REPO_ID, repo_folder, tmp_path / "cache") as server:
        yield server


@pytest.fixture
def info(hub: HubServer, repo_folder: Path) -> ModelInfo:
    digest = hashlib.sha256((repo_folder / "model.safetensors").read_bytes()).hexdigest()
    return ModelInfo(id="test-tiny", repo_id=REPO_ID, revision=hub.commit, role="vision",
                     family="idefics3", label="Test tiny VLM", size_mb=2, ram_mb=10,
                     licence="Apache-2.0", languages=("en",), good_for="tests",
                     files=(("model.safetensors", digest),))


def _allowed_total(repo_folder: Path) -> int:
    return sum((repo_folder / name).stat().st_size for name in ALLOWED)


def _fast(**kw: float) -> dict:
    return {"retries": 3, "backoff": 0.01, "timeout": 5.0, **kw}


# ------------------------------------------------------------------------------- download


def test_download_reports_progress_and_fetches_only_allowed_files(hub, info, repo_folder):
    events: list[tuple[int, int]] = []
    folder = store.download(info, progress=lambda d, t: events.append((d, t)), **_fast())

    total = _allowed_total(repo_folder)
    assert events[-1] == (total, total)
    assert all(t == total for _, t in events)
    done = [d for d, _ in events]
    assert done == sorted(done) and done[0] == 0
    assert len(events) > 5  # the weights arrive in several chunks, each reported
    assert folder == store.model_dir(info) and store.is_downloaded(info)
    on_disk = {p.name for p in folder.iterdir() if not p.name.startswith(".")}
    assert on_disk == ALLOWED
    for name in ALLOWED:
        assert (folder / name).read_bytes() == (repo_folder / name).read_bytes()
    for name in NOT_ALLOWED:  # never even requested
        assert not hub.requested(name), name
    assert not (folder / store.PARTIAL_DIR).exists()
    assert store.resolve(info) == folder
    store.check_loadable(folder, role="vision")
    report = store.verify(info)
    assert report.ok, report.problems
    weights = next(f for f in report.files if f.name == "model.safetensors")
    assert weights.sha256 == weights.expected_sha256 == info.files[0][1]


def test_download_again_is_a_no_op_that_fetches_no_bytes(hub, info):
    store.download(info, **_fast())
    fetched = len(hub.requested("/resolve/"))
    events: list[tuple[int, int]] = []
    store.download(info, progress=lambda d, t: events.append((d, t)), **_fast())
    assert len(hub.requested("/resolve/")) == fetched
    assert events[0][0] == events[0][1]  # everything already done


def test_resume_after_dropped_connection(hub, info, repo_folder):
    hub.faults.drop_after, hub.faults.drop_count = 300_000, 1
    hub.faults.drop_match = "model.safetensors"
    events: list[tuple[int, int]] = []
    folder = store.download(info, progress=lambda d, t: events.append((d, t)), **_fast())

    weights = [r for r in hub.requested("/__lfs__/") if r.path.endswith("model.safetensors")]
    assert [r.range for r in weights] == [None, "bytes=300000-"]
    assert (folder / "model.safetensors").read_bytes() == \
        (repo_folder / "model.safetensors").read_bytes()
    assert events[-1][0] == events[-1][1]
    assert max(d for d, _ in events) == events[-1][1]


def test_server_that_ignores_range_restarts_the_file(hub, info, repo_folder):
    hub.faults.drop_after, hub.faults.drop_count = 300_000, 1
    hub.faults.drop_match, hub.faults.ignore_range = "model.safetensors", True
    events: list[tuple[int, int]] = []
    folder = store.download(info, progress=lambda d, t: events.append((d, t)), **_fast())
    assert store.verify(info).ok
    assert (folder / "model.safetensors").stat().st_size == \
        (repo_folder / "model.safetensors").stat().st_size
    done = [d for d, _ in events]
    assert done != sorted(done)  # progress went back when the bytes were thrown away
    assert events[-1][0] == events[-1][1]


def test_cancel_keeps_partial_file_and_next_run_resumes(hub, info, repo_folder):
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        if done > 500_000:
            cancel.set()

    with pytest.raises(store.DownloadCancelled) as err:
        store.download(info, progress=progress, cancel=cancel, **_fast())
    assert isinstance(err.value, DownloadError) and "cancelled" in err.value.message
    (part,) = (store.model_dir(info) / store.PARTIAL_DIR).glob("model.safetensors.*.part")
    kept = part.stat().st_size
    assert 0 < kept <= 500_000 + store.CHUNK_BYTES  # stopped within one chunk of the cancel
    assert not store.is_downloaded(info)
    with pytest.raises(ModelError, match="not downloaded"):
        store.resolve(info)

    events: list[tuple[int, int]] = []
    store.download(info, progress=lambda d, t: events.append((d, t)), **_fast())
    assert events[0][0] >= kept  # started from what was already there
    assert hub.requested("model.safetensors")[-1].range == f"bytes={kept}-"
    assert store.verify(info).ok


def test_cancel_before_start_sends_nothing(hub, info):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(store.DownloadCancelled):
        store.download(info, cancel=cancel, **_fast())
    assert hub.requests == []


def test_server_errors_are_retried(hub, info):
    hub.faults.fail_count, hub.faults.fail_match = 2, "/resolve/"
    store.download(info, **_fast())
    assert store.verify(info).ok
    assert hub.faults.fail_count == 0


def test_server_errors_that_persist_give_a_message(hub, info):
    hub.faults.fail_count, hub.faults.fail_status = 1000, 503
    with pytest.raises(DownloadError) as err:
        store.download(info, **_fast(retries=2))
    assert "failed after 3 tries" in err.value.message and "HTTP 503" in err.value.message
    assert "resumes" in err.value.hint
    assert len(hub.requests) == 3
    assert not store.is_downloaded(info)


def test_timeouts_are_retried_then_give_a_message(hub, info):
    hub.faults.stall_s, hub.faults.stall_count = 5.0, 1
    store.download(info, **_fast(timeout=0.5))  # one stalled answer: retried, then fine
    assert store.verify(info).ok

    store.remove(info)
    hub.faults.stall_count = 1000
    with pytest.raises(DownloadError, match="timed out"):
        store.download(info, **_fast(timeout=0.3, retries=1))


def test_paginated_file_list(hub, info):
    hub.faults.page_size = 4
    folder = store.download(info, **_fast())
    assert {p.name for p in folder.iterdir() if not p.name.startswith(".")} == ALLOWED
    assert len(hub.requested("/tree/")) > 3


def test_hostile_file_names_in_the_listing_are_ignored(hub, info, tmp_path):
    hub.faults.extra_tree_entries = [
        {"type": "file", "path": "../escape.json", "size": 3, "oid": "0" * 40},
        {"type": "file", "path": "/etc/absolute.json", "size": 3, "oid": "0" * 40},
        {"type": "file", "path": "sub/../../up.json", "size": 3, "oid": "0" * 40},
    ]
    store.download(info, **_fast())
    assert store.verify(info).ok
    assert not hub.requested("escape") and not hub.requested("absolute")
    assert not list(tmp_path.rglob("escape.json")) and not list(tmp_path.rglob("up.json"))


@pytest.mark.parametrize("name", ["model.safetensors", "config.json"])
def test_wrong_content_is_refused_and_deleted(hub, info, name):
    hub.faults.corrupt = {name}
    with pytest.raises(DownloadError, match="does not match its published checksum"):
        store.download(info, **_fast())
    folder = store.model_dir(info)
    assert not (folder / name).exists()
    assert not list((folder / store.PARTIAL_DIR).glob(f"{name}.*"))
    assert not store.is_downloaded(info)


def test_catalog_pin_refuses_weights_the_hub_vouches_for(hub, repo_folder):
    """A mirror serving other weights under the pinned revision: its own LFS hash is not trusted."""
    real = get_model("smolvlm-256m")
    hub.add_repo(real.repo_id, repo_folder, commit=real.revision)
    with pytest.raises(DownloadError, match="not the file this ScreenSight version expects"):
        store.download("smolvlm-256m", **_fast())
    assert not hub.requested("/resolve/")  # refused from the listing, before any byte
    assert not (store.model_dir(real) / "model.safetensors").exists()
    with pytest.raises(ModelError, match="not downloaded"):
        store.resolve("smolvlm-256m")


def test_unknown_revision_gives_a_clear_message(hub, info):
    stale = dataclasses.replace(info, revision="f" * 40)
    with pytest.raises(DownloadError, match="HTTP 404"):
        store.download(stale, **_fast())


def test_offline_mode_refuses_without_touching_the_network(hub, info, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DownloadError) as err:
        store.download(info, **_fast())
    assert "offline" in err.value.message and "HF_HUB_OFFLINE" in err.value.hint
    assert hub.requests == []


# ------------------------------------------------------------------------------- disk full


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 8 MB tmpfs (needs root and mount rights; skipped elsewhere)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_too_small_is_said_before_downloading(hub, info, small_disk, monkeypatch):
    (small_disk / "filler").write_bytes(b"\0" * 4_000_000)  # leaves less than the ~6 MB
    monkeypatch.setenv("XDG_CACHE_HOME", str(small_disk))
    with pytest.raises(DownloadError) as err:
        store.download(info, **_fast())
    assert "Not enough disk space" in err.value.message and "MB" in err.value.message
    assert not hub.requested("/resolve/")
    assert not (store.model_dir(info) / store.PARTIAL_DIR).exists()


def test_disk_filling_up_during_download_cleans_up(hub, info, small_disk, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(small_disk))
    filled = threading.Event()

    def fill_disk(done: int, total: int) -> None:
        if done > 100_000 and not filled.is_set():  # another program takes the space
            filled.set()
            free = shutil.disk_usage(small_disk).free
            (small_disk / "filler").write_bytes(b"\0" * (free - 64 * 1024))

    with pytest.raises(DownloadError) as err:
        store.download(info, progress=fill_disk, **_fast())
    assert filled.is_set()
    assert "Not enough disk space" in err.value.message
    assert "partial download was removed" in err.value.message
    assert not (store.model_dir(info) / store.PARTIAL_DIR).exists()
    assert not store.is_downloaded(info)


# ------------------------------------------------------------------------------- resolve


def test_missing_model_names_the_download_command():
    with pytest.raises(ModelError) as err:
        store.resolve("smolvlm-256m")
    assert err.value.message == "The model 'smolvlm-256m' is not downloaded."
    assert "screensight models download smolvlm-256m" in err.value.hint


def test_local_folder_is_accepted(tmp_path):
    folder = make_model_folder(tmp_path / "my model")
    assert store.resolve(str(folder)) == folder.resolve()
    assert store.resolve(folder) == folder.resolve()
    store.check_loadable(folder)
    report = store.verify(str(folder))
    assert report.ok, report.problems
    assert [f.name for f in report.files] == ["model.safetensors"]


def test_unknown_id_and_missing_folder_are_explained(tmp_path):
    with pytest.raises(ModelError) as err:
        store.resolve("gpt-99")
    assert "smolvlm-256m" in err.value.hint and "moonshine-tiny" in err.value.hint
    with pytest.raises(ModelError, match="does not exist"):
        store.resolve(str(tmp_path / "nowhere"))


# ------------------------------------------------------------------------------- verify / load


def _flip_byte(path: Path, offset_from_end: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0xFF
    path.write_bytes(bytes(data))


def test_verify_finds_a_changed_byte_in_downloaded_weights(hub, info):
    folder = store.download(info, **_fast())
    _flip_byte(folder / "model.safetensors")
    store.check_loadable(folder)  # the header is intact: only the hash can tell
    report = store.verify(info)
    assert not report.ok
    assert any("sha256" in p for p in report.problems)


def test_truncated_weights(tmp_path):
    folder = make_model_folder(tmp_path / "m")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    with pytest.raises(ModelError, match="damaged.*truncated"):
        store.check_loadable(folder)
    report = store.verify(str(folder))
    assert not report.ok and any("truncated" in p for p in report.problems)


@pytest.mark.parametrize("content", [b"", b"\x01\x02", b"\xff" * 8 + b"{}",
                                     b"\x10\0\0\0\0\0\0\0not json!!!!!!!"])
def test_garbage_weights(tmp_path, content):
    folder = make_model_folder(tmp_path / "m")
    (folder / "model.safetensors").write_bytes(content)
    with pytest.raises(ModelError, match="model.safetensors is damaged"):
        store.check_loadable(folder)


def test_pickle_only_folder_is_refused(tmp_path):
    folder = make_model_folder(tmp_path / "m")
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    with pytest.raises(ModelError) as err:
        store.check_loadable(folder)
    assert "pytorch_model.bin" in err.value.message and "safetensors only" in err.value.message
    assert not store.verify(str(folder)).ok


def test_missing_parts_are_named(tmp_path):
    folder = make_model_folder(tmp_path / "m")
    for name in ("tokenizer.json", "vocab.json"):
        (folder / name).unlink()
    with pytest.raises(ModelError, match="no tokenizer files"):
        store.check_loadable(folder)
    (folder / "config.json").unlink()
    with pytest.raises(ModelError, match="no config.json"):
        store.check_loadable(folder)
    with pytest.raises(ModelError, match="does not exist"):
        store.check_loadable(tmp_path / "absent")


def test_unsupported_architecture_and_wrong_role(tmp_path):
    folder = make_model_folder(tmp_path / "m")
    with pytest.raises(ModelError, match="vision model, not a speech model"):
        store.check_loadable(folder, role="speech")
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "llava_next"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="'llava_next'"):
        store.check_loadable(folder)


def test_sharded_weights_with_a_missing_shard(tmp_path):
    folder = make_model_folder(tmp_path / "m")
    (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors",
                            "b": "model-00002-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(ModelError, match="missing weight files: model-00002-of-00002"):
        store.check_loadable(folder)


# ------------------------------------------------------------------------------- memory


def test_memory_check_suggests_a_smaller_model():
    with pytest.raises(ModelError) as err:
        store.check_memory(get_model("smolvlm-500m"), available_mb=2000)
    assert "2000 MB" in err.value.message and "smolvlm-256m" in err.value.hint
    with pytest.raises(ModelError) as err:
        store.check_memory(get_model("smolvlm-256m"), available_mb=300)
    assert "Close other programs" in err.value.hint
    store.check_memory(get_model("smolvlm-256m"), available_mb=64_000)


def test_memory_check_estimates_a_folder(tmp_path):
    folder = make_model_folder(tmp_path / "m")
    need = store.estimate_ram_mb(folder)
    params = 250 * 1000 + 5000 + 16
    assert need == int(params * 4 / 1e6 * 1.3) + 200
    store.check_memory(folder, available_mb=need)
    with pytest.raises(ModelError, match=f"needs about {need} MB"):
        store.check_memory(folder, available_mb=need - 1)


def test_available_memory_is_read_from_the_system():
    available = store.available_memory_mb()
    assert available is not None and available > 0
