"""First-run model setup: download from a local hub emulator with progress, cancel and resume, or a folder."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from models import store
from models.catalog import ModelInfo
from tests.hub_server import serve_for_downloads
from ui.model_setup import ModelSetupDialog

REPO_ID = "screensight-tests/tiny-vlm"


@pytest.fixture
def hub(tiny_vlm_dir, tmp_path, monkeypatch):
    """The tiny model served by a local hub; downloads allowed, into a fresh cache."""
    with serve_for_downloads(monkeypatch, REPO_ID, Path(tiny_vlm_dir), tmp_path / "cache") as server:
        yield server


@pytest.fixture
def info(hub, tiny_vlm_dir) -> ModelInfo:
    digest = hashlib.sha256((Path(tiny_vlm_dir) / "model.safetensors").read_bytes()).hexdigest()
    return ModelInfo(id="test-tiny", repo_id=REPO_ID, revision=hub.commit, role="vision",
                     family="idefics3", label="Test tiny VLM", size_mb=3, ram_mb=10,
                     licence="Apache-2.0", languages=("en",), good_for="Tests.",
                     files=(("model.safetensors", digest),))


def _dialog(qtbot, info) -> ModelSetupDialog:
    dialog = ModelSetupDialog(info.id, models=[info])
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_explains_name_size_licence_and_folder(qtbot, info):
    dialog = _dialog(qtbot, info)
    text = dialog.details.text()
    assert "Test tiny VLM" in text and "3 MB" in text and "Apache-2.0" in text
    assert str(store.model_dir(info)) in text


def test_download_shows_progress_and_reports_the_model(qtbot, info):
    dialog = _dialog(qtbot, info)
    values = []
    dialog.progress.valueChanged.connect(values.append)
    with qtbot.waitSignal(dialog.model_ready, timeout=60_000) as ready:
        qtbot.mouseClick(dialog.download_button, qtbot_left())
    assert ready.args == ["test-tiny"]
    assert store.is_downloaded(info)
    assert store.verify(info).ok
    assert values[-1] == 1000 and values == sorted(values)
    assert "ready" in dialog.status.text()


def test_cancel_then_resume_continues_the_partial_download(qtbot, hub, info):
    hub.faults.throttle_s = 0.02  # a slow link: 64 KiB per 20 ms
    dialog = _dialog(qtbot, info)
    dialog.start_download()
    qtbot.waitUntil(lambda: 50 < dialog.progress.value() < 900, timeout=60_000)
    dialog.cancel_download()
    qtbot.waitUntil(lambda: dialog.download_button.isEnabled(), timeout=30_000)
    assert "paused" in dialog.status.text()
    assert dialog.download_button.text() == "&Resume download"
    assert not store.is_downloaded(info)
    weights_requests = len(hub.requested("model.safetensors"))
    hub.faults.throttle_s = 0.0
    with qtbot.waitSignal(dialog.model_ready, timeout=60_000):
        dialog.download_button.click()
    resumed = hub.requested("model.safetensors")[weights_requests:]
    assert any(r.range and not r.range.startswith("bytes=0-") for r in resumed), resumed
    assert store.verify(info).ok


def test_a_failing_download_says_so(qtbot, hub, info):
    hub.faults.fail_status, hub.faults.fail_count, hub.faults.fail_match = 404, 100, "/api/"
    dialog = _dialog(qtbot, info)
    announced = []
    dialog.announcer.announced.connect(announced.append)
    dialog.start_download()
    qtbot.waitUntil(lambda: dialog.download_button.isEnabled(), timeout=60_000)
    assert dialog.status.text().startswith("Error: ")
    assert dialog.download_button.text() == "&Try again"
    qtbot.waitUntil(lambda: any(text.startswith("Error: ") for text in announced), timeout=5000)


def test_a_model_folder_can_be_used_instead(qtbot, info, tiny_vlm_dir, tmp_path):
    dialog = _dialog(qtbot, info)
    with qtbot.waitSignal(dialog.model_ready, timeout=5000) as ready:
        assert dialog.use_folder(Path(tiny_vlm_dir))
    assert ready.args == [str(tiny_vlm_dir)]
    broken = tmp_path / "broken"
    shutil.copytree(tiny_vlm_dir, broken)
    (broken / "model.safetensors").unlink()
    with qtbot.assertNotEmitted(dialog.model_ready):
        assert not dialog.use_folder(broken)
    assert "has no weights" in dialog.status.text()


def qtbot_left():
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton
