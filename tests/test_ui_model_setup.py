"""First-run model setup: download from a local hub emulator with progress, cancel and resume, or a folder."""

from __future__ import annotations

import functools
import hashlib
import re
import shutil
from pathlib import Path

import pytest
from PySide6.QtGui import QAccessible

from base.vocabulary import Role
from models import catalog, store
from models.catalog import ModelInfo
from tests.hub_server import HubServer, serve_for_downloads
from ui.model_setup import ModelSetupDialog

REPO_ID = "screensight-tests/tiny-vlm"
SPEECH_REPO_ID = "screensight-tests/tiny-moonshine"
COMMAND_LINE = re.compile(r"screensight \w|--model|Run:")


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


# -- the speech model (voice questions) -------------------------------------------------------


@pytest.fixture
def speech_hub(tiny_moonshine_dir, tmp_path, monkeypatch):
    """The tiny Moonshine served by a local hub; downloads allowed, into a fresh cache."""
    with serve_for_downloads(monkeypatch, SPEECH_REPO_ID, Path(tiny_moonshine_dir),
                             tmp_path / "cache") as server:
        yield server


@pytest.fixture
def speech_info(speech_hub, tiny_moonshine_dir) -> ModelInfo:
    digest = hashlib.sha256((Path(tiny_moonshine_dir) / "model.safetensors").read_bytes()).hexdigest()
    return ModelInfo(id="test-moonshine", repo_id=SPEECH_REPO_ID, revision=speech_hub.commit,
                     role="speech", family="moonshine", label="Test tiny Moonshine", size_mb=2,
                     ram_mb=10, licence="MIT", languages=("en",), good_for="Test questions.",
                     files=(("model.safetensors", digest),))


def _speech_dialog(qtbot, info) -> ModelSetupDialog:
    dialog = ModelSetupDialog(info.id, models=[info], role=Role.SPEECH)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _accessible_text(widget) -> str:
    """The words a screen reader gets from a widget's text interface (a plain QLabel has none)."""
    interface = QAccessible.queryAccessibleInterface(widget)
    assert interface is not None
    text = interface.textInterface()
    assert text is not None, f"{widget.accessibleName()!r} exposes no text to assistive technology"
    return text.text(0, text.characterCount())


def test_the_speech_dialog_lists_only_speech_models_with_size_and_licence(qtbot):
    dialog = ModelSetupDialog(role=Role.SPEECH)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.windowTitle() == "Set up voice questions"
    speech_models = [m for m in catalog.all_models() if m.role == Role.SPEECH]
    listed = [dialog.model_combo.itemData(i) for i in range(dialog.model_combo.count())]
    assert listed == [m.id for m in speech_models]
    assert all(catalog.get_model(i).role == Role.SPEECH for i in listed)
    for index, info in enumerate(speech_models):
        dialog.model_combo.setCurrentIndex(index)
        text = dialog.details.text()
        assert info.label in text and f"{info.size_mb} MB" in text and info.licence in text
        assert _accessible_text(dialog.details) == text
    assert "speech model" in dialog.intro.text() and "type questions" in dialog.intro.text()
    assert dialog.speech_button is None  # no second offer inside the speech setup itself


def test_a_speech_download_shows_bytes_cancels_and_resumes(qtbot, speech_hub, speech_info):
    speech_hub.faults.throttle_s = 0.02  # a slow link: 64 KiB per 20 ms
    dialog = _speech_dialog(qtbot, speech_info)
    dialog.start_download()
    assert "Downloading Test tiny Moonshine" in dialog.status.text()
    qtbot.waitUntil(lambda: 50 < dialog.progress.value() < 900, timeout=60_000)
    shown = dialog.progress.format()
    assert re.fullmatch(r"\d+\.\d MB of \d+\.\d MB \(%p%\)", shown), shown
    assert "%" in dialog.progress.text() and "MB of" in dialog.progress.text()
    dialog.cancel_download()
    qtbot.waitUntil(lambda: dialog.download_button.isEnabled(), timeout=30_000)
    assert "paused" in dialog.status.text()
    assert dialog.download_button.text() == "&Resume download"
    assert not dialog.cancel_button.isEnabled()
    assert not store.is_downloaded(speech_info)
    weights_requests = len(speech_hub.requested("model.safetensors"))
    speech_hub.faults.throttle_s = 0.0
    with qtbot.waitSignal(dialog.model_ready, timeout=60_000) as ready:
        qtbot.mouseClick(dialog.download_button, qtbot_left())
    assert ready.args == ["test-moonshine"]
    resumed = speech_hub.requested("model.safetensors")[weights_requests:]
    assert any(r.range and not r.range.startswith("bytes=0-") for r in resumed), resumed
    assert store.verify(speech_info).ok
    assert store.is_downloaded(speech_info)
    assert dialog.progress.value() == 1000 and dialog.progress.format() == "Downloaded"
    assert "ready for voice questions" in dialog.status.text()
    assert dialog.download_button.text() == "&Download"  # no longer "Resume"
    assert _accessible_text(dialog.status) == dialog.status.text()


def test_a_speech_folder_is_accepted_and_a_vision_folder_refused(qtbot, tiny_moonshine_dir,
                                                                  tiny_vlm_dir):
    dialog = ModelSetupDialog(role=Role.SPEECH)
    qtbot.addWidget(dialog)
    dialog.show()
    announced = []
    dialog.announcer.announced.connect(announced.append)
    with qtbot.assertNotEmitted(dialog.model_ready):
        assert not dialog.use_folder(Path(tiny_vlm_dir))
    status = dialog.status.text()
    assert status.startswith("Error: ")
    assert "is a vision model, not a speech model" in status and str(tiny_vlm_dir) in status
    assert not COMMAND_LINE.search(status), status
    assert _accessible_text(dialog.status) == status
    qtbot.waitUntil(lambda: any("not a speech model" in text for text in announced), timeout=5000)
    with qtbot.waitSignal(dialog.model_ready, timeout=5000) as ready:
        assert dialog.use_folder(Path(tiny_moonshine_dir))
    assert ready.args == [str(tiny_moonshine_dir)]
    assert str(tiny_moonshine_dir) in dialog.status.text()
    assert not dialog.status.text().startswith("Error")


def _failed_download(qtbot, dialog) -> tuple[str, list[str]]:
    announced = []
    dialog.announcer.announced.connect(announced.append)
    with qtbot.assertNotEmitted(dialog.model_ready):
        dialog.start_download()
        qtbot.waitUntil(lambda: dialog.download_button.isEnabled(), timeout=60_000)
    status = dialog.status.text()
    qtbot.waitUntil(lambda: status in announced, timeout=5000)
    return status, announced


def test_a_speech_download_the_hub_refuses_says_what_to_do_in_the_app(qtbot, speech_hub, speech_info):
    speech_hub.faults.fail_status, speech_hub.faults.fail_count = 404, 100
    speech_hub.faults.fail_match = "/api/"
    dialog = _speech_dialog(qtbot, speech_info)
    status, _announced = _failed_download(qtbot, dialog)
    assert status.startswith("Error: ") and "HTTP 404" in status
    assert "Use a folder on disk" in status
    assert not COMMAND_LINE.search(status), status
    assert dialog.download_button.text() == "&Try again"
    assert _accessible_text(dialog.status) == status
    assert not store.is_downloaded(speech_info)


def test_a_speech_download_with_the_server_down_says_what_to_do_in_the_app(qtbot, speech_info,
                                                                           monkeypatch):
    down = HubServer()  # bound, then closed: its port refuses connections
    url = down.url
    down._httpd.server_close()
    monkeypatch.setenv("HF_ENDPOINT", url)
    # The real retries (1 + 2 + 4 + 8 + 16 s) take half a minute; the same five, quicker.
    monkeypatch.setattr(store, "download", functools.partial(store.download, backoff=0.01))
    dialog = _speech_dialog(qtbot, speech_info)
    status, announced = _failed_download(qtbot, dialog)
    # While it retried, the person was told it is waiting, not left with "Downloading…".
    assert any("Trying again in" in text and "try 2 of 6" in text for text in announced), announced
    assert status.startswith("Error: ") and "could not reach" in status
    assert "Try again" in status and "Use a folder on disk" in status
    assert not COMMAND_LINE.search(status), status
    assert dialog.download_button.text() == "&Try again"
    assert _accessible_text(dialog.status) == status


def test_a_download_status_never_shows_a_command_line(qtbot, info):
    """Errors whose only hint is for the command line get the dialog's action instead."""
    from base.errors import DownloadError, ModelError

    dialog = _dialog(qtbot, info)
    dialog._on_done(DownloadError("The download broke.", "Run: screensight models download x."))
    assert dialog.status.text() == ("Error: The download broke. Press Try again, or choose a model "
                                    "folder with Use a folder on disk…")
    dialog._on_done(ModelError("Gone.", "Point --model at a folder.", "Choose another folder."))
    assert dialog.status.text() == "Error: Gone. Choose another folder."


def test_the_first_run_offers_voice_questions_when_the_speech_model_is_missing(qtbot, info):
    dialog = ModelSetupDialog(info.id, models=[info], speech_model="moonshine-tiny")
    qtbot.addWidget(dialog)
    dialog.show()
    tiny = catalog.get_model("moonshine-tiny")
    offer = dialog.speech_label.text()
    assert tiny.label in offer and f"{tiny.size_mb} MB" in offer and tiny.licence in offer
    assert _accessible_text(dialog.speech_label) == offer
    with qtbot.waitSignal(dialog.speech_setup_requested, timeout=5000):
        qtbot.mouseClick(dialog.speech_button, qtbot_left())


def test_no_voice_offer_when_the_speech_model_is_a_folder_on_disk(qtbot, info, tiny_moonshine_dir):
    dialog = ModelSetupDialog(info.id, models=[info], speech_model=str(tiny_moonshine_dir))
    qtbot.addWidget(dialog)
    assert dialog.speech_label is None and dialog.speech_button is None


def test_the_dialog_texts_are_readable_by_assistive_technology(qtbot, info):
    dialog = _dialog(qtbot, info)
    dialog.status.setText("Error: something long enough to wrap " * 8)
    for widget in (dialog.intro, dialog.details, dialog.status):
        assert _accessible_text(widget) == widget.text() and widget.text()
    qtbot.waitUntil(lambda: dialog.status.height() >= dialog.status.heightForWidth(
        dialog.status.width()), timeout=5000)  # the whole error is visible, none cut off


def qtbot_left():
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


# -- tiers ----------------------------------------------------------------------------------------


def _tier_dialog(qtbot, current: str, recommended) -> ModelSetupDialog:
    dialog = ModelSetupDialog(current, recommended=recommended)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


@pytest.mark.parametrize(("tier", "model_id"), [(catalog.Tier.FAST, "smolvlm-256m"),
                                                (catalog.Tier.BALANCED, "smolvlm-500m"),
                                                (catalog.Tier.QUALITY, "gemma4-e2b")])
def test_the_tiers_are_listed_with_the_recommended_one_preselected(qtbot, tmp_path, monkeypatch,
                                                                  tier, model_id):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # nothing downloaded
    dialog = _tier_dialog(qtbot, "smolvlm-256m", tier)
    labels = [dialog.model_combo.itemText(i) for i in range(dialog.model_combo.count())]
    assert [label.split(":")[0] for label in labels] == [
        "Fast (any laptop)", "Balanced", catalog.TIER_LABELS[catalog.Tier.QUALITY],
        catalog.TIER_LABELS[catalog.Tier.QUALITY]]
    assert sum("(recommended for this computer)" in label for label in labels) == 1
    assert dialog.selected().id == model_id
    assert "(recommended for this computer)" in dialog.model_combo.currentText()
    text = dialog.details.text()
    info = catalog.get_model(model_id)
    assert catalog.model_facts(info) in text and "Recommended for this computer." in text
    assert f"{info.size_mb} MB" in text and info.licence in text and f"{info.ram_mb} MB" in text


def test_the_details_say_languages_memory_and_the_measured_first_answer(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    dialog = _tier_dialog(qtbot, "smolvlm-256m", catalog.Tier.FAST)
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("gemma4-e2b"))
    text = dialog.details.text()
    assert "over 140 languages" in text and "about 8000 MB of memory" in text
    assert "first spoken word for a window after 3.5 s (measured on a 2-core CPU)" in text
    assert "Recommended" not in text


def test_a_model_the_user_chose_stays_selected_over_the_recommendation(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    dialog = _tier_dialog(qtbot, "gemma4-e4b", catalog.Tier.FAST)
    assert dialog.selected().id == "gemma4-e4b"
