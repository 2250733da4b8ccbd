"""The settings dialog: every setting of the app, checked before it is saved, applied at once."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from enum import StrEnum
from types import MappingProxyType

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from assistant.actions import HOTKEY_ACTIONS, LABELS, hotkey_field
from assistant.config import Hotkeys, Settings
from assistant.hotkeys import parse_bindings
from assistant.prompts import LANGUAGE_NAMES
from assistant.speech_out.tts import Voice
from base.audio import MAX_SPEECH_RATE, MIN_SPEECH_RATE
from base.errors import ConfigError
from base.vocabulary import Detail, Device, Output, ReadWith, Role, TalkMode
from ui.a11y import describe, fitting_size
from ui.key_capture import DESCRIPTION as KEY_CAPTURE_HELP
from ui.key_capture import KeyCaptureEdit
from ui.screen_reader import Announcer

DETAIL_LABELS = MappingProxyType({Detail.QUICK: "Quick (fastest, fewest pixels)", Detail.NORMAL: "Normal",
                                  Detail.HIGH: "High (slowest, reads small text best)"})
READ_WITH_LABELS = MappingProxyType({ReadWith.OCR: "Text recognition (exact)",
                                     ReadWith.MODEL: "The vision model (for handwriting-like content)"})
OUTPUT_LABELS = MappingProxyType({Output.VOICE: "ScreenSight's own voice", Output.SCREEN_READER: "My screen reader",
                                  Output.BOTH: "Both", Output.TEXT: "Text only (nothing spoken)"})
DEVICE_LABELS = MappingProxyType({Device.AUTO: "Automatic (a GPU when there is one, else the CPU)",
                                  Device.CPU: "The CPU", Device.CUDA: "An NVIDIA GPU (CUDA)",
                                  Device.MPS: "Apple's GPU (MPS)"})
TALK_MODE_LABELS = MappingProxyType({TalkMode.HOLD: "Hold the key while talking",
                                     TalkMode.TOGGLE: "Press once; a pause ends the question"})




def _select(combo: QComboBox, value: object) -> None:
    index = combo.findData(value.value if isinstance(value, StrEnum) else value)
    if index < 0:
        combo.addItem(str(value), value)
        index = combo.count() - 1
    combo.setCurrentIndex(index)


def model_choices(role: Role) -> list[tuple[str, str]]:
    """(id, label with size, licence and whether it is on disk) for each catalog model of a role."""
    from models import catalog, store

    choices = []
    for info in catalog.all_models():
        if info.role != role:
            continue
        where = "downloaded" if store.is_downloaded(info) else "not downloaded yet"
        choices.append((info.id, f"{info.label}, {info.size_mb} MB, {info.licence}, {where}"))
    return choices


class SettingsDialog(QDialog):
    """Modeless; `applied` carries the new Settings when the user presses OK or Apply."""

    applied = Signal(object)
    speech_setup_requested = Signal()  # Voice questions > Download or choose…

    def __init__(self, settings: Settings, parent: QWidget | None = None,
                 voices: Sequence[Voice] = (), microphones: Sequence[tuple[str, str]] | None = None,
                 running_on: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("ScreenSight settings")
        self.setAccessibleName("ScreenSight settings")
        self._settings = settings
        self.announcer = Announcer(self, self)
        layout = QVBoxLayout(self)
        self.tabs = QTabWidget(self)
        describe(self.tabs, "Settings pages", "General, speech, hotkeys, voice questions and advanced settings.")
        layout.addWidget(self.tabs)

        # General
        general, form = self._page("&General")
        self.vision_model = QComboBox(general)
        for model_id, label in model_choices(Role.VISION):
            self.vision_model.addItem(label, model_id)
        self.choose_folder = QPushButton("Use a model &folder…", general)
        describe(self.choose_folder, "Use a model folder",
                  "Pick a folder on disk that holds a vision model (for offline machines).")
        self.choose_folder.clicked.connect(self._choose_folder)
        row = QHBoxLayout()
        row.addWidget(self.vision_model, 1)
        row.addWidget(self.choose_folder)
        self._row(form, "&Model:", self.vision_model, "Model",
                  "The vision model that describes the screen; size and licence are shown.", row)
        self.detail = QComboBox(general)
        for level in Detail:
            self.detail.addItem(DETAIL_LABELS[level], level.value)
        self._row(form, "&Detail:", self.detail, "Detail level",
                  "How many pixels the model looks at: more detail is slower.")
        self.language = QComboBox(general)
        self.language.addItem("Automatic (the language of the question)", "auto")
        for code, name in sorted(LANGUAGE_NAMES.items(), key=lambda item: item[1]):
            self.language.addItem(name, code)
        self._row(form, "Answer &language:", self.language, "Answer language",
                  "The language answers are given in.")
        self.read_with = QComboBox(general)
        for way in ReadWith:
            self.read_with.addItem(READ_WITH_LABELS[way], way.value)
        self._row(form, "&Read text with:", self.read_with, "Read text with",
                  "Text recognition reads the exact text; the vision model can guess handwriting-like "
                  "content but may invent text, so its answer starts with: Described by the model.")
        self.text_engine = QComboBox(general)
        self.text_engine.addItem("Automatic (the best engine for the language that works)", "automatic")
        for name in _text_engines():
            self.text_engine.addItem(name, name)
        self._row(form, "&Text recognition engine:", self.text_engine, "Text recognition engine",
                  "The engine that reads text, in the answer language; with an automatic answer language, "
                  "in the language of the script found on the screen.")
        self.start_with_system = QCheckBox("&Start ScreenSight when I log in", general)
        describe(self.start_with_system, "Start with the system", "Start ScreenSight when you log in.")
        form.addRow(self.start_with_system)
        self.keep_history = QCheckBox("&Keep the history after closing", general)
        describe(self.keep_history, "Keep history",
                  "Save descriptions and answers so they are there next time. Off deletes the saved copy.")
        form.addRow(self.keep_history)

        # Speech output
        speech, form = self._page("S&peech")
        self.output = QComboBox(speech)
        for output in Output:
            self.output.addItem(OUTPUT_LABELS[output], output.value)
        self._row(form, "Speak &with:", self.output, "Output",
                  "Who speaks the answers: ScreenSight's voice, your screen reader, both, or nobody.")
        self.voice = QComboBox(speech)
        self.voice.addItem("Default voice", "")
        for voice in voices:
            self.voice.addItem(voice.name, voice.id)
        self._row(form, "&Voice:", self.voice, "Voice", "The voice ScreenSight speaks with.")
        self.rate = QSpinBox(speech)
        self.rate.setRange(MIN_SPEECH_RATE, MAX_SPEECH_RATE)
        self.rate.setSingleStep(10)
        self.rate.setSuffix(" words per minute")
        self._row(form, "&Rate:", self.rate, "Speech rate",
                  f"How fast ScreenSight speaks, {MIN_SPEECH_RATE} to {MAX_SPEECH_RATE}.")
        self.volume = QSpinBox(speech)
        self.volume.setRange(0, 100)
        self.volume.setSingleStep(5)
        self.volume.setSuffix(" %")
        self._row(form, "V&olume:", self.volume, "Volume", "How loud ScreenSight speaks, 0 to 100 percent.")

        # Hotkeys
        keys, form = self._page("&Hotkeys")
        note = QLabel("In a field, press the key combination (for example Ctrl+Alt+Shift+D), or type it "
                      "as <ctrl>+<alt>+<shift>+d. Backspace clears a field, which turns that key off.", keys)
        note.setWordWrap(True)
        form.addRow(note)
        self.hotkey_edits: dict[str, QLineEdit] = {}  # KeyCaptureEdit: text() is the settings syntax
        for action in HOTKEY_ACTIONS:
            edit = KeyCaptureEdit(keys)
            self.hotkey_edits[action] = edit
            self._row(form, LABELS[action] + ":", edit, LABELS[action],
                      f"Global key combination for: {LABELS[action].lower()}. {KEY_CAPTURE_HELP}")

        # Voice questions
        voice_in, form = self._page("Voice &questions")
        self.speech_model = QComboBox(voice_in)
        for model_id, label in model_choices(Role.SPEECH):
            self.speech_model.addItem(label, model_id)
        self.speech_setup = QPushButton("&Download or choose…", voice_in)
        describe(self.speech_setup, "Download or choose the speech model",
                 "Download a speech model with progress, or use a folder on disk.")
        self.speech_setup.clicked.connect(self.speech_setup_requested)
        speech_row = QHBoxLayout()
        speech_row.addWidget(self.speech_model, 1)
        speech_row.addWidget(self.speech_setup)
        self._row(form, "Speech &recognition model:", self.speech_model, "Speech recognition model",
                  "The model that turns your spoken question into text; size, licence and whether "
                  "it is downloaded are shown.", speech_row)
        self.microphone = QComboBox(voice_in)
        self.microphone.addItem("Default microphone", "")
        for device_id, name in (microphones if microphones is not None else _microphones()):
            self.microphone.addItem(name, device_id)
        self._row(form, "&Microphone:", self.microphone, "Microphone", "The microphone for voice questions.")
        self.push_to_talk_mode = QComboBox(voice_in)
        for mode in TalkMode:
            self.push_to_talk_mode.addItem(TALK_MODE_LABELS[mode], mode.value)
        self._row(form, "&Talk key works by:", self.push_to_talk_mode, "Push-to-talk mode",
                  "Hold the talk key while speaking, or press it once and stop talking to finish.")
        self.earcons = QCheckBox("Play a &sound when recording starts and stops", voice_in)
        describe(self.earcons, "Earcons", "A short sound when the microphone starts and stops listening.")
        form.addRow(self.earcons)

        # Advanced
        advanced, form = self._page("Advan&ced")
        self.quantize = QCheckBox("&Faster, smaller model arithmetic (int8)", advanced)
        describe(self.quantize, "Quantize",
                 "Use 8-bit arithmetic for the describing and speech models: faster, slightly less exact.")
        form.addRow(self.quantize)
        self.prepare_in_background = QCheckBox("P&repare the screen in the background", advanced)
        describe(self.prepare_in_background, "Prepare in background",
                  "Look at the screen before you press a key, so answers start sooner. Uses more power.")
        form.addRow(self.prepare_in_background)
        self.ground_descriptions = QCheckBox("&Use the text on screen to check descriptions", advanced)
        describe(self.ground_descriptions, "Check descriptions",
                 "Give the model the text and controls known to be on the screen, and mark quoted text "
                 "that is not there as unconfirmed.")
        form.addRow(self.ground_descriptions)
        self.threads = QSpinBox(advanced)
        self.threads.setRange(0, 256)
        self.threads.setSpecialValueText("Automatic")
        self._row(form, "CPU &threads:", self.threads, "CPU threads",
                  "How many processor threads the model uses; Automatic uses the physical cores.")

        self.device = QComboBox(advanced)
        for device in Device:
            self.device.addItem(DEVICE_LABELS[device], device.value)
        self._row(form, "Model de&vice:", self.device, "Model device",
                  "Where the vision model runs. Automatic takes an NVIDIA GPU, then Apple's GPU, "
                  "then the CPU; the change applies when the model loads next.")
        self.device_in_use = QLabel(f"In use now: {running_on}." if running_on else
                                    "In use now: the model is not loaded yet.", advanced)
        self.device_in_use.setWordWrap(True)
        self.device_in_use.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByKeyboard)
        describe(self.device_in_use, "Device in use", "Where the vision model runs now, and in which "
                 "number format.")
        form.addRow(self.device_in_use)

        self.error_label = QLabel("", self)
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByKeyboard)
        describe(self.error_label, "Problems", "What must be fixed before the settings can be saved.")
        self.error_label.hide()
        layout.addWidget(self.error_label)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Apply
            | QDialogButtonBox.StandardButton.Cancel | QDialogButtonBox.StandardButton.RestoreDefaults, self)
        # Mnemonics of their own: without one, Alt+A would open the Advanced page instead of Apply.
        self.buttons.button(QDialogButtonBox.StandardButton.Apply).setText("&Apply")
        self.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).setText("R&estore defaults")
        for button in self.buttons.buttons():
            text = button.text().replace("&", "")
            describe(button, text, {"OK": "Save the settings and close.", "Apply": "Save the settings now.",
                                     "Cancel": "Close without saving."}.get(text, "Fill in the default settings."))
        self.buttons.accepted.connect(self._ok)
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(QDialogButtonBox.StandardButton.Apply).clicked.connect(self.apply)
        self.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(
            lambda: self.load(Settings()))
        layout.addWidget(self.buttons)
        self.load(settings)
        hint = self.sizeHint()
        self.resize(*fitting_size(hint.width(), hint.height()))

    # -- building ----------------------------------------------------------------------------

    def _page(self, title: str) -> tuple[QWidget, QFormLayout]:
        """A settings page that scrolls when large text leaves too little room."""
        scroll = QScrollArea(self.tabs)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        page = QWidget(scroll)
        form = QFormLayout(page)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        scroll.setWidget(page)
        self.tabs.addTab(scroll, title)
        return page, form

    def _row(self, form: QFormLayout, label: str, widget: QWidget, name: str, description: str,
             layout: QHBoxLayout | None = None) -> None:
        text = QLabel(label, widget.parentWidget())
        text.setBuddy(widget)
        describe(widget, name, description)
        if isinstance(widget, QComboBox):  # long entries must not make the dialog wider than the screen
            widget.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            widget.setMinimumContentsLength(16)
        form.addRow(text, layout if layout is not None else widget)

    def show_speech_model(self, source: str) -> None:
        """The speech model was set up elsewhere (the setup dialog): show it, freshly labelled."""
        self.speech_model.clear()
        for model_id, label in model_choices(Role.SPEECH):
            self.speech_model.addItem(label, model_id)
        _select(self.speech_model, source)
        self._settings = dataclasses.replace(self._settings, speech_model=source)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a model folder")
        if folder:
            _select(self.vision_model, folder)

    # -- values ------------------------------------------------------------------------------

    def load(self, settings: Settings) -> None:
        """Show `settings` in the controls."""
        _select(self.vision_model, settings.vision_model)
        _select(self.detail, settings.detail)
        _select(self.language, settings.language)
        _select(self.read_with, settings.read_with)
        _select(self.text_engine, settings.text_engine)
        self.start_with_system.setChecked(settings.start_with_system)
        self.keep_history.setChecked(settings.keep_history)
        _select(self.output, settings.output)
        _select(self.voice, settings.voice)
        self.rate.setValue(settings.rate)
        self.volume.setValue(round(settings.volume * 100))
        for action, edit in self.hotkey_edits.items():
            edit.setText(getattr(settings.hotkeys, hotkey_field(action)))
        _select(self.speech_model, settings.speech_model)
        _select(self.microphone, settings.microphone)
        _select(self.push_to_talk_mode, settings.push_to_talk_mode)
        self.earcons.setChecked(settings.earcons)
        self.quantize.setChecked(settings.quantize)
        self.prepare_in_background.setChecked(settings.prepare_in_background)
        self.ground_descriptions.setChecked(settings.ground_descriptions)
        self.threads.setValue(settings.threads)
        _select(self.device, settings.device)

    def collect(self) -> Settings:
        """The settings the controls show; ConfigError naming the first problem."""
        bindings = {a: e.text().strip() for a, e in self.hotkey_edits.items() if e.text().strip()}
        _combos, problems = parse_bindings(bindings)
        if problems:
            raise ConfigError(problems[0], "Fix it on the Hotkeys page.")
        hotkeys = Hotkeys(**{hotkey_field(a): e.text().strip() for a, e in self.hotkey_edits.items()})
        settings = dataclasses.replace(
            self._settings,
            vision_model=self.vision_model.currentData(), detail=self.detail.currentData(),
            language=self.language.currentData(), start_with_system=self.start_with_system.isChecked(),
            keep_history=self.keep_history.isChecked(), output=self.output.currentData(),
            voice=self.voice.currentData(), rate=self.rate.value(), volume=self.volume.value() / 100,
            hotkeys=hotkeys, speech_model=self.speech_model.currentData(),
            microphone=self.microphone.currentData(), push_to_talk_mode=self.push_to_talk_mode.currentData(),
            earcons=self.earcons.isChecked(), quantize=self.quantize.isChecked(),
            prepare_in_background=self.prepare_in_background.isChecked(), threads=self.threads.value(),
            read_with=self.read_with.currentData(), text_engine=self.text_engine.currentData(),
            ground_descriptions=self.ground_descriptions.isChecked(), device=self.device.currentData(),
        )
        settings.validate()
        return settings

    def apply(self) -> bool:
        """Check and send the settings; a problem is shown and announced instead."""
        try:
            settings = self.collect()
        except ConfigError as exc:
            text = f"{exc.message} {exc.hint}".strip()
            self.error_label.setText(text)
            self.error_label.show()
            self.announcer.announce(text, assertive=True)
            return False
        self.error_label.hide()
        self._settings = settings
        self.applied.emit(settings)
        return True

    def _ok(self) -> None:
        if self.apply():
            self.accept()


def _text_engines() -> list[str]:
    """The text recognition engines that exist on this platform, best first."""
    from assistant.text_recognition.registry import default_registry

    registry = default_registry()
    return list(dict.fromkeys(entry.name for entry in registry.candidates("en") + registry.candidates("")))


def _microphones() -> list[tuple[str, str]]:
    from base.errors import AudioError

    try:
        from assistant.speech_in.audio_in import list_input_devices

        return list_input_devices()
    except (ImportError, AudioError):
        return []
