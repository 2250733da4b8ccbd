"""Model setup (first run, Settings, push-to-talk without a speech model): say what will be
downloaded (name, size, licence), download it with progress, cancel and resume, or use a folder.

One dialog for both roles: the vision model (describes the screen) and the speech model (voice
questions). The vision dialog also offers the speech model when it is not on disk, as a
separate, skippable step (`speech_setup_requested`)."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from assistant.messages import error_text
from base.errors import ModelError, ScreenSightError
from base.vocabulary import Role, Tier
from ui.a11y import ReadableText, describe, readable_label
from ui.bridge import MessageRelay
from ui.screen_reader import Announcer

log = logging.getLogger(__name__)

TITLES = MappingProxyType({Role.VISION: "Set up the ScreenSight model", Role.SPEECH: "Set up voice questions"})
INTROS = MappingProxyType({
    Role.VISION: "ScreenSight describes the screen with a model that runs on this computer. "
            "It has to be downloaded once; nothing you see or say ever leaves the computer.",
    Role.SPEECH: "Voice questions need a speech model: it turns what you say into text, on this "
            "computer. It has to be downloaded once; nothing you say ever leaves the computer. "
            "Without it you can still type questions.",
})
READY = MappingProxyType({Role.VISION: "The model is downloaded and ready.",
                          Role.SPEECH: "The speech model is downloaded and ready for voice questions."})


def speech_offer(speech_model: str) -> str:
    """The first-run offer of the speech model ("" when it is already on disk or a folder)."""
    from models import catalog, store

    try:
        store.resolve(speech_model)
        return ""
    except ModelError:
        pass
    try:
        info = catalog.get_model(speech_model)
    except ModelError:
        info = catalog.default_model(Role.SPEECH)
    if info.role != Role.SPEECH:
        info = catalog.default_model(Role.SPEECH)
    return (f"Voice questions need a speech model too ({info.label}, {info.size_mb} MB, licence "
            f"{info.licence}). Set it up now, or later in Settings, Voice questions; "
            "without it you can type questions.")


_DOWNLOAD_ACTION = "Press Try again, or choose a model folder with Use a folder on disk…"
_FOLDER_ACTION = "Choose another folder with Use a folder on disk…, or press Download."
_COMMAND_LINE = re.compile(r"\bscreensight \w|--\w")


def _app_error_text(exc: BaseException, action: str) -> str:
    """An error as the dialog shows it: what went wrong and what to do *in the app*. A hint meant
    for the command line (`screensight models ...`, `--model`) is replaced by the dialog's own
    action; an app hint is used as it is."""
    if not isinstance(exc, ScreenSightError):
        return f"{error_text(exc)} {action}"
    if exc.app_hint:
        return f"{exc.message} {exc.app_hint}"
    if not exc.hint or _COMMAND_LINE.search(exc.hint):
        return f"{exc.message} {action}"
    return f"{exc.message} {exc.hint} {action}"


def _mb(value: int) -> str:
    return f"{value / 1e6:.1f} MB"


class ModelSetupDialog(QDialog):
    """Downloads on a worker thread; cancel keeps the partial files, so Download resumes."""

    model_ready = Signal(str)  # a catalog id or a folder of `role`, ready to load
    speech_setup_requested = Signal()  # vision dialog: the user wants voice questions set up too

    def __init__(self, current: str = "", parent: QWidget | None = None,
                 models: Sequence[object] | None = None, role: Role = Role.VISION,
                 speech_model: str | None = None, recommended: Tier | None = None) -> None:
        """`role`: which model is set up; `speech_model` (vision only): the speech model of
        the settings, offered as a second step when it is not on disk; `recommended` (vision
        only): the tier to preselect, by default the one for this computer's RAM and GPU."""
        super().__init__(parent)
        from models import catalog

        if role not in TITLES:
            raise ValueError(f"unknown model role {role!r}")
        self.role = role
        self.setWindowTitle(TITLES[role])
        self.setAccessibleName(TITLES[role])
        self.models = catalog.tier_ordered(list(models) if models is not None else [
            m for m in catalog.all_models() if m.role == role])
        if role == Role.VISION and recommended is None:
            from models.machine import recommended_tier_here

            recommended = recommended_tier_here()
        self.recommended = recommended if role == Role.VISION else None
        self.announcer = Announcer(self, self)
        self.relay = MessageRelay(self)
        self._cancel: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self._announced_quarter = -1

        layout = QVBoxLayout(self)
        self.intro = readable_label(self, INTROS[role], "About this download",
                                    "What the model is for, and that it runs on this computer.")
        layout.addWidget(self.intro)
        row = QHBoxLayout()
        choose = QLabel("&Model:", self)
        self.model_combo = QComboBox(self)
        # The tier labels are long: the box keeps a sensible width (its list shows them whole), so the
        # dialog fits a 1280x800 screen at 200 % text.
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(28)
        for info in self.models:
            label = catalog.tier_choice_label(info)
            if self.recommended is not None and info.tier == self.recommended and info.tier_default:
                label += " (recommended for this computer)"
            self.model_combo.addItem(label, info.id)
        describe(self.model_combo, "Model", "Which model to download: the tiers from fast to best "
                 "quality, with the one recommended for this computer marked.")
        choose.setBuddy(self.model_combo)
        row.addWidget(choose)
        row.addWidget(self.model_combo, 1)
        layout.addLayout(row)
        self.details = readable_label(self, "", "What will be downloaded",
                                      "The model's name, size, licence and folder.")
        layout.addWidget(self.details)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("Not started")
        describe(self.progress, "Download progress", "How much of the model has been downloaded.")
        layout.addWidget(self.progress)
        # Read-only text, not a QLabel: a screen reader reads its words (errors included) and
        # it grows with them, so a long error is never cut off.
        self.status = readable_label(self, "", "Download status",
                                     "What the download is doing, or what went wrong.")
        layout.addWidget(self.status)

        buttons = QHBoxLayout()
        self.download_button = QPushButton("&Download", self)
        describe(self.download_button, "Download", "Download the model; continues where it stopped.")
        self.cancel_button = QPushButton("&Cancel download", self)
        describe(self.cancel_button, "Cancel download", "Stop the download; it can be resumed later.")
        self.cancel_button.setEnabled(False)
        self.folder_button = QPushButton("Use a &folder on disk…", self)
        describe(self.folder_button, "Use a folder on disk",
                  "Use a model folder you already have, for computers without internet.")
        self.close_button = QPushButton("C&lose", self)
        describe(self.close_button, "Close", "Close this window; the download can be done later.")
        for button in (self.download_button, self.cancel_button, self.folder_button, self.close_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self.speech_label, self.speech_button = self._speech_offer(layout, role, speech_model)

        self.model_combo.currentIndexChanged.connect(self._show_details)
        self.download_button.clicked.connect(self.start_download)
        self.cancel_button.clicked.connect(self.cancel_download)
        self.folder_button.clicked.connect(self._choose_folder)
        self.close_button.clicked.connect(self.close)
        self.relay.progress.connect(self._on_progress, Qt.ConnectionType.QueuedConnection)
        self.relay.done.connect(self._on_done, Qt.ConnectionType.QueuedConnection)
        self.relay.message.connect(self._on_retry, Qt.ConnectionType.QueuedConnection)
        self.model_combo.setCurrentIndex(self._preselected(current))
        self._show_details()

    def _preselected(self, current: str) -> int:
        """The row to start on: the current model when the user chose it (it is on disk or not
        the default), else the recommended tier's first choice."""
        from models import catalog, store

        index = self.model_combo.findData(current)
        if index >= 0:
            info = self.models[index]
            if store.is_downloaded(info) or info.id != catalog.default_model(self.role).id:
                return index
        for row, info in enumerate(self.models):
            if self.recommended is not None and info.tier == self.recommended and info.tier_default:
                return row
        return max(index, 0)

    def _speech_offer(self, layout: QVBoxLayout, role: Role,
                      speech_model: str | None) -> tuple[ReadableText | None, QPushButton | None]:
        """The skippable second step of the first run: the speech model for voice questions."""
        text = speech_offer(speech_model) if role == Role.VISION and speech_model is not None else ""
        if not text:
            return None, None
        label = readable_label(self, text, "Voice questions",
                               "The speech model voice questions need, and that it is optional.")
        layout.addWidget(label)
        button = QPushButton("Set up &voice questions…", self)
        describe(button, "Set up voice questions",
                 "Open the download of the speech model for spoken questions; optional.")
        button.clicked.connect(self.speech_setup_requested)
        layout.addWidget(button)
        return label, button

    # -- showing -----------------------------------------------------------------------------

    def selected(self):  # -> models.catalog.ModelInfo
        return self.models[self.model_combo.currentIndex()]

    def _show_details(self) -> None:
        from models import catalog, store

        info = self.selected()
        recommended = (" Recommended for this computer." if self.recommended is not None
                       and info.tier == self.recommended and info.tier_default else "")
        self.details.setText(
            f"{catalog.tier_choice_label(info)}: {catalog.model_facts(info)}{recommended} "
            f"{info.good_for}\nIt will be saved in {store.model_dir(info)}.")
        if store.is_downloaded(info):
            self.progress.setValue(1000)
            self.progress.setFormat("Downloaded")

    def _on_retry(self, text: str) -> None:
        """The connection failed and the download waits before trying again: say so."""
        if self.downloading:
            self._set_status(text)

    def _set_status(self, text: str, assertive: bool = False) -> None:
        self.status.setText(text)
        self.announcer.announce(text, assertive)

    # -- download ----------------------------------------------------------------------------

    @property
    def downloading(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start_download(self) -> None:
        if self.downloading:
            return
        from models import store

        info = self.selected()
        self._cancel = threading.Event()
        cancel, relay = self._cancel, self.relay
        self._announced_quarter = -1

        def work() -> None:
            try:
                relay.done.emit(store.download(info, progress=relay.report_progress, cancel=cancel,
                                               on_retry=relay.message.emit))
            except ScreenSightError as exc:
                relay.done.emit(exc)
            except OSError as exc:
                relay.done.emit(ScreenSightError(f"The download failed ({exc}).", "Try again later."))

        self._thread = threading.Thread(target=work, name="model-download", daemon=True)
        self.download_button.setEnabled(False)
        self.model_combo.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._set_status(f"Downloading {info.label}…")
        self._thread.start()

    def cancel_download(self) -> None:
        if self._cancel is not None and self.downloading:
            self._cancel.set()
            self.status.setText("Stopping the download…")

    def _on_progress(self, done: int, total: int) -> None:
        if total:
            self.progress.setValue(int(1000 * done / total))
            self.progress.setFormat(f"{_mb(done)} of {_mb(total)} (%p%)")
            quarter = int(4 * done / total)
            if quarter != self._announced_quarter and 0 < quarter < 4:
                self._announced_quarter = quarter
                self.announcer.announce(f"Download {quarter * 25} percent.")
        else:
            self.progress.setFormat(f"{_mb(done)}")

    def _on_done(self, outcome: object) -> None:
        from models.store import DownloadCancelled

        self.download_button.setEnabled(True)
        self.model_combo.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if isinstance(outcome, DownloadCancelled):
            self.download_button.setText("&Resume download")
            self.download_button.setAccessibleName("Resume download")
            self._set_status("Download paused. Press Resume download to continue where it stopped.")
        elif isinstance(outcome, BaseException):
            self.download_button.setText("&Try again")
            self.download_button.setAccessibleName("Try again")
            self._set_status("Error: " + _app_error_text(outcome, _DOWNLOAD_ACTION), assertive=True)
        else:
            self.download_button.setText("&Download")
            self.download_button.setAccessibleName("Download")
            self.progress.setValue(1000)
            self.progress.setFormat("Downloaded")
            self._ready(READY[self.role])
            self.model_ready.emit(self.selected().id)

    # -- a folder instead --------------------------------------------------------------------

    def _choose_folder(self) -> None:
        what = "speech model" if self.role == Role.SPEECH else "model"
        folder = QFileDialog.getExistingDirectory(self, f"Choose the {what} folder")
        if folder:
            self.use_folder(Path(folder))

    def use_folder(self, folder: Path) -> bool:
        """Check a folder and use it; a problem is shown and announced."""
        from models.store import check_loadable

        try:
            check_loadable(folder, self.role)
        except ModelError as exc:
            self._set_status("Error: " + _app_error_text(exc, _FOLDER_ACTION), assertive=True)
            return False
        self._ready(f"Using the model in {folder}.")
        self.model_ready.emit(str(folder))
        return True

    def _ready(self, text: str) -> None:
        """The model is there; the vision dialog then points at the speech model, if missing."""
        if self.speech_button is not None:
            text += " Voice questions need a speech model too: press Set up voice questions, or Close to skip."
            self.speech_button.setFocus()
        self._set_status(text)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.cancel_download()
        super().closeEvent(event)

    def wait(self, timeout: float = 10.0) -> bool:
        """Wait for a running download thread to end (after cancel; for shutdown and tests)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.downloading
