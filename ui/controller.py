"""Wires the engine, speaker, hotkeys and window together and carries out every action (Qt thread)."""

from __future__ import annotations

import itertools
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from types import MappingProxyType
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from assistant.actions import hotkey_bindings
from assistant.config import Settings, save_settings
from assistant.engine import Engine, EngineOptions, Request, Result
from assistant.history import HistoryEntry, HistoryStore, kind_label
from assistant.hotkeys import HotkeyBackend
from assistant.messages import error_text
from assistant.model_loading import SpeechSlot, TextRecognizerLoader, VisionSlot
from assistant.speech_out.output import make_speaker
from base.errors import ScreenSightError
from base.vocabulary import OWN_VOICE_OUTPUTS, Mode, Output, ReadWith, Target
from ui.bridge import EngineBridge, HotkeyRelay, MessageRelay
from ui.main_window import MainWindow
from ui.screen_reader import AnnouncementReader, Announcer

log = logging.getLogger(__name__)

DESCRIBE_TARGETS = MappingProxyType({
    "describe-window": (Mode.DESCRIBE, Target.WINDOW),
    "describe-screen": (Mode.DESCRIBE, Target.SCREEN),
    "describe-pointer": (Mode.DESCRIBE, Target.POINTER),
    "read-window": (Mode.READ, Target.WINDOW),
})


MAX_TOKENS_ENV = "SCREENSIGHT_MAX_TOKENS"
FIND_PROMPT = "Type the text to find and press Enter, or hold the talk key and say it."
# Said when the Ask key returns to a question box that already had the focus: Orca keeps its
# focus on the box while the user is in a program without accessibility (xterm), and when Qt
# does not see the window lose the activation (a quick return) no focus event comes at all, so
# Orca said nothing there. Orca speaks through speech-dispatcher at the same priority, so where
# it does say the box as well, both are heard, one after the other.
ASK_PROMPT = "Question box: type your question and press Enter."


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


class AppController(QObject):
    """The app's behaviour; the window, tray and hotkeys only ask it for actions."""

    quit_requested = Signal()
    settings_applied = Signal(object)   # Settings
    entry_finished = Signal(object)     # HistoryEntry (tests and the tray listen)
    model_loaded = Signal(object)       # None, or the ScreenSightError (emitted on the worker)

    def __init__(self, settings: Settings, window: MainWindow, hotkeys: HotkeyBackend,
                 settings_file: Path | None = None, capture: Callable[[], Any] | None = None,
                 history: HistoryStore | None = None, vision: VisionSlot | None = None,
                 screen_readers: Callable[[], Any] | None = None, pointer: Any = None,
                 text_recognizer: TextRecognizerLoader | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.settings_file = settings_file
        self.window = window
        self.hotkeys = hotkeys
        self.history = history or HistoryStore(settings.keep_history)
        self.announcer = Announcer(window, self)
        self.bridge = EngineBridge(self)
        self.messages = MessageRelay(self)
        self.hotkey_relay = HotkeyRelay(self)
        self.hotkey_problems: list[str] = []
        self.voice: Any = None  # ui.push_to_talk.PushToTalk, attached by the app
        self.dialog_opener: Callable[[str], None] | None = None  # "settings" | "setup-model"
        self.max_tokens = _env_int(MAX_TOKENS_ENV)  # a cap for tests and slow machines
        self.loading = False  # the models are being loaded in the background
        self._note_ids = itertools.count(-1, -1)  # history entries that are messages, not requests

        threads = settings.threads or None
        self.vision = vision or VisionSlot(settings.vision_model, settings.quantize, threads, settings.device)
        self.speech = SpeechSlot(settings.speech_model, threads, settings.quantize)
        # Makes the assistant.speech_out.screen_readers.ReaderWatch a speaker uses (tests pass their own readers).
        self._screen_readers = screen_readers or (lambda: None)
        self.speaker = make_speaker(settings, AnnouncementReader(self.announcer),
                                    self.messages.report_speech_error, self._speech_notice,
                                    self._screen_readers())
        if capture is None:
            from assistant.capture import default_backend

            capture = default_backend
        self._capture_factory = capture
        self.background: Any = None  # assistant.background.BackgroundPreparer while the setting is on
        from assistant.secure_input import default_detector

        self.secure_input = default_detector()
        if pointer is None:
            from assistant.pointer import default_pointer

            pointer = default_pointer()
        self.pointer = pointer  # assistant.pointer.PointerControl
        self.found: tuple[str, tuple[int, int]] | None = None  # the last Find text match on screen
        self.text_recognizer = text_recognizer or TextRecognizerLoader(settings.text_engine, settings.language)
        self.engine = Engine(self.vision, capture=capture, speaker=self.speaker,
                             listener=self.bridge.listener, detail=settings.detail,
                             language=settings.language, transcriber=self.speech,
                             secure_input=self.secure_input, text_recognizer=self.text_recognizer,
                             pointer=pointer, read_with=settings.read_with,
                             grounding=settings.ground_descriptions)

        queued = Qt.ConnectionType.QueuedConnection
        self.bridge.started.connect(self._on_started, queued)
        self.bridge.status.connect(self._on_status, queued)
        self.bridge.progress.connect(self._on_progress, queued)
        self.bridge.question.connect(self._on_question, queued)
        self.bridge.text.connect(self._on_text, queued)
        self.bridge.finished.connect(self._on_finished, queued)
        self.messages.error.connect(self.report_error, queued)
        self.messages.speech_error.connect(self.report_speech_error, queued)
        self.messages.message.connect(self._show_notice, queued)
        self.messages.announcement.connect(self._announce, queued)
        self.hotkey_relay.pressed.connect(self.handle_action, queued)
        self.hotkey_relay.released.connect(self.handle_release, queued)
        self.model_loaded.connect(self._on_loaded, queued)
        window.action_requested.connect(self.handle_action)
        window.question_submitted.connect(self.ask_typed)
        window.find_submitted.connect(self.find_typed)
        window.line_activated.connect(self.click_line)

        for entry in self.history.load():
            window.add_entry(entry)
        self.register_hotkeys()
        self._apply_background()

    # -- set-up ------------------------------------------------------------------------------

    def _speech_notice(self, text: str) -> None:
        # From the speaker's thread (e.g. "No screen reader is running…", which the speaker also
        # says in the own voice): shown and put in the history through a queued signal.
        self.messages.message.emit(text)

    def _show_notice(self, text: str) -> None:
        self.window.set_status(text)
        self.note(text)

    def announce(self, text: str, assertive: bool = False) -> None:
        """Tell the screen reader (dialogs forward their announcements here); any thread."""
        self.messages.announcement.emit(text, assertive)

    def _announce(self, text: str, assertive: bool = False, speak: bool = True) -> None:
        """Tell the screen reader. With output "screen reader" that is the speaker (the detected
        reader, or the own voice while none runs): Qt's announcement event reaches Orca only from
        version 46 on. speak=False for speech errors, which must not loop through the speaker."""
        if speak and self.speaker is not None and self.settings.output == Output.SCREEN_READER:
            if assertive:
                self.speaker.stop()
            self.speaker.say(text)
            return
        self.announcer.announce(text, assertive)

    def register_hotkeys(self) -> list[str]:
        """(Re-)register the hotkeys from the settings; problems are shown and announced."""
        self.hotkeys.stop()
        self.hotkey_problems = self.hotkeys.start(hotkey_bindings(self.settings.hotkeys),
                                                  self.hotkey_relay.on_press,
                                                  self.hotkey_relay.on_release)
        self.window.set_global_keys(self.global_key_labels())
        for problem in self.hotkey_problems:
            log.warning("hotkeys: %s", problem)
        if self.hotkey_problems:
            self.window.show_error(" ".join(self.hotkey_problems))
            self._announce(self.hotkey_problems[0], assertive=True)
        return self.hotkey_problems

    def set_key_capture(self, capturing: bool) -> None:
        """A hotkey field in Settings has focus (True) or lost it: let the keys reach it meanwhile."""
        if capturing:
            self.hotkeys.suspend()
            return
        problems = self.hotkeys.resume()
        if problems:
            self.report_error(ScreenSightError(" ".join(problems)))

    def global_key_labels(self) -> dict[str, str]:
        """Action -> its global key as a person reads it (Ctrl+Alt+Shift+D), for the menus."""
        from assistant.hotkeys import parse_bindings

        combos, _problems = parse_bindings(hotkey_bindings(self.settings.hotkeys))
        return {action: combo.label() for action, combo in combos.items()}

    # -- actions -----------------------------------------------------------------------------

    def handle_action(self, action: str) -> None:
        """Carry out a hotkey, menu, tray or `--trigger` action."""
        log.info("action %s", action)
        if action in DESCRIBE_TARGETS:
            mode, target = DESCRIBE_TARGETS[action]
            self.submit(Request(mode=mode, target=target))
        elif action == "describe-more":
            self.submit(Request(mode=Mode.MORE, target=None if self.engine.conversation else Target.WINDOW))
        elif action == "new-screenshot":
            self.engine.new_conversation()
            self.submit(Request(mode=Mode.DESCRIBE, target=Target.WINDOW))
        elif action == "find-text":
            self.find_text()
        elif action == "click-found":
            self.click_found()
        elif action == "click-line":
            selected = self.window.selected_line()
            if selected is None:
                self.say_message("No line is selected. Read the text first, then choose a line.")
            else:
                self.click_line(*selected)
        elif action == "read-clipboard":
            self.read_clipboard()
        elif action == "stop-speaking":
            self.stop()
        elif action == "repeat-last":
            self.repeat_last()
        elif action == "ask-question":
            if self.window.focus_question():
                self.say_message(ASK_PROMPT)
        elif action == "push-to-talk":
            self._voice("press")
        elif action == "show":
            self.window.show_and_raise()
        elif action == "clear-history":
            self.window.clear_history()
            self.history.clear()
            self.window.set_status("History cleared.")
        elif action in ("settings", "setup-model", "setup-speech"):
            self.window.show_and_raise()
            if self.dialog_opener is not None:
                self.dialog_opener(action)
        elif action == "quit":
            self.quit_requested.emit()
        else:
            self.report_error(ScreenSightError(f"Unknown action {action!r}."))

    def handle_release(self, action: str) -> None:
        if action == "push-to-talk":
            self._voice("release")

    def _voice(self, event: str) -> None:
        if self.voice is None:
            self.report_error(ScreenSightError("Voice questions are not available.",
                                               "Type the question instead (Ctrl+L in the window)."))
            return
        if event == "press":
            self.voice.press()
        else:
            self.voice.release()

    def start_loading(self) -> bool:
        """Load the chosen models in the background now; the status says so until they are ready."""
        if not self.engine.warm_up(self.model_loaded.emit):
            return False
        self.loading = True
        self.window.set_status("Loading the model…")
        return True

    def _on_loaded(self, error: object) -> None:
        self.loading = False
        if error is not None:
            self.report_error(error)
            self.note(error_text(error) if isinstance(error, BaseException) else str(error), "error")
            return
        if self.engine.busy:
            return  # a request pressed during loading runs now and owns the status
        from assistant.hotkeys import parse_combo

        hint = ""
        try:
            key = parse_combo(self.settings.hotkeys.describe_window).label()
            hint = f" Press {key} to describe the active window."
        except ScreenSightError:
            pass
        self.window.set_status("Ready." + hint)
        # Short: with Orca, speech-dispatcher queues Orca's own speech behind ours; the key is shown.
        self._announce("ScreenSight is ready.")

    def note(self, text: str, status: str = "done", kind: str = "Message") -> HistoryEntry:
        """Put a message (not an answer) into the history, e.g. why the settings were reset."""
        entry = HistoryEntry(next(self._note_ids), kind, answer=text, status=status)
        self.window.add_entry(entry)
        self.history.add(entry)
        return entry

    def submit(self, request: Request) -> int:
        request.speak = self.speaker is not None
        if request.max_new_tokens is None and self.max_tokens:
            request.max_new_tokens = self.max_tokens
        request_id = self.engine.submit(request)
        if self.loading:  # kept, and answered once the model is loaded
            self.say_message("The model is still loading; ScreenSight answers as soon as it is ready.")
        return request_id

    def ask_typed(self, question: str) -> int:
        """A typed question about the last screenshot (or the whole screen when there is none)."""
        target = None if self.engine.conversation is not None else "screen"
        return self.submit(Request(mode=Mode.ASK, target=target, question=question))

    # -- text: find and click -----------------------------------------------------------------

    def find_text(self) -> int | None:
        """The Find text key: the word typed in "Text to find", searched in the active window (or, from
        ScreenSight's own window, in the last screenshot); with no word the window is read, then asked for one."""
        word = self.window.find_edit.text().strip()
        if self.window.isActiveWindow():
            if word:
                return self.find_typed(word)
            self.window.focus_find()
            self.say_message(FIND_PROMPT)
            return None
        return self.submit(Request(mode=Mode.FIND, target=Target.WINDOW, question=word))

    def find_prompt_open(self) -> bool:
        """True while the user is at "Text to find" in ScreenSight's window (the Find text prompt)."""
        return self.window.isActiveWindow() and self.window.find_edit.hasFocus()

    def voice_request(self, audio: Future) -> Request:
        """What the talk key asks: with the Find text prompt open, the words said are the text to find (in
        the last screenshot); otherwise a question about the active window ("find Save" included)."""
        if self.find_prompt_open():
            target = None if self.engine.conversation is not None else Target.WINDOW
            return Request(mode=Mode.FIND, target=target, audio=audio)
        return Request(mode=Mode.ASK, target=Target.WINDOW, audio=audio)

    def find_typed(self, word: str) -> int:
        """A word typed in "Text to find" and Enter: searched in the last screenshot."""
        if self.engine.conversation is None:
            return self.submit(Request(mode=Mode.FIND, target=Target.WINDOW, question=word))
        return self.submit(Request(mode=Mode.FIND, target=None, question=word))

    def click_found(self) -> None:
        """The Click key: clicks where Find text moved the pointer."""
        if self.found is None:
            self.say_message("Nothing has been found to click yet. Use Find text first.")
            return
        self.click_line(*self.found)

    def click_line(self, text: str, point: object) -> None:
        """Clicks the centre of a line of text on the screen, as a sighted user would."""
        if not isinstance(point, tuple):
            self.say_message(f"{text} is in a picture, not on the screen, so it cannot be clicked.")
            return
        from PySide6.QtCore import QPoint
        from PySide6.QtGui import QGuiApplication

        x, y = point
        if self.window.isVisible() and self.window.frameGeometry().contains(QPoint(x, y)):
            self.window.hide()  # the click must reach the window under ScreenSight's own
            QGuiApplication.sync()
        try:
            self.pointer.click(x, y)
        except ScreenSightError as exc:
            self.report_error(exc)
            return
        self.say_message(f"Clicked {text}.")

    def read_clipboard(self) -> int | None:
        """Reads the text of the image on the clipboard (a screenshot someone pasted, a copied picture)."""
        from PySide6.QtCore import QBuffer, QIODevice
        from PySide6.QtGui import QGuiApplication

        image = QGuiApplication.clipboard().image()
        if image.isNull():
            self.say_message("There is no image on the clipboard.")
            return None
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")
        import io

        from PIL import Image

        picture = Image.open(io.BytesIO(bytes(buffer.data())))
        picture.load()
        return self.submit(Request(mode=Mode.READ, target=Target.CLIPBOARD, image=picture, read_with=ReadWith.OCR))

    def _show_recognized(self, result: Result) -> None:
        """A read or find result: its lines in the Text found list; a find's match kept for Click."""
        recognized = result.recognized
        assert recognized is not None
        from assistant.pointer import screen_point

        rect = result.capture.rect if result.capture is not None else None
        self.window.show_text_lines([(line.text, recognized.where(line),
                                      screen_point(rect, recognized.image_size, line.box))
                                     for line in recognized.lines])
        for note in recognized.notes:
            self.note(note, kind="Text recognition")
        if result.request.mode != Mode.FIND:
            return
        if result.request.audio is not None and result.question:
            self.window.find_edit.setText(result.question)  # what was heard, to correct and search again
        if result.found is not None and result.point is not None:
            self.found = (result.found.text, result.point)
        elif not result.question.strip():
            self.window.focus_find()

    def stop(self) -> None:
        self.engine.cancel()
        if self.voice is not None:
            self.voice.cancel()
        self.window.set_status("Stopped.")

    def repeat_last(self) -> None:
        result = self.engine.last_result
        if result is None or not result.text:
            self.say_message("There is nothing to repeat yet.")
            return
        self.engine.stop_speaking()
        if self.speaker is not None:
            self.speaker.say(result.text)
        self.window.set_status("Repeating the last answer.")

    def say_message(self, text: str, assertive: bool = False) -> None:
        """A short message: shown, announced to the screen reader, and spoken in the own voice."""
        self.window.set_status(text)
        self._announce(text, assertive)
        if self.speaker is not None and self.settings.output in OWN_VOICE_OUTPUTS:
            self.speaker.say(text)

    def report_error(self, exc: object) -> None:
        """An error: shown, announced to the screen reader, and spoken in the own voice."""
        text = self.report_speech_error(exc)
        if self.speaker is not None and self.settings.output in OWN_VOICE_OUTPUTS \
                and not _is_speech_error(exc):
            self.speaker.say(text)

    def report_speech_error(self, exc: object) -> str:
        """Show and announce an error without speaking it (the own voice may be what failed)."""
        text = error_text(exc) if isinstance(exc, BaseException) else str(exc)
        log.warning("error: %s", text)
        self.window.show_error(text)
        self._announce(text, assertive=True, speak=not _is_speech_error(exc))
        return text

    # -- engine events (queued to the Qt thread) ---------------------------------------------

    def _on_started(self, request_id: int, request: Request) -> None:
        entry = HistoryEntry(request_id, kind_label(request.mode, request.target),
                             question=request.question)
        self.window.add_entry(entry)
        self.window.set_status(f"Working: {entry.kind}…")

    def _on_status(self, request_id: int, message: str) -> None:
        self.window.set_status(message)
        self._announce(message)

    def _on_progress(self, request_id: int, message: str, percent: int) -> None:
        """Shown, not spoken: the step was announced when it began (see assistant.load_progress)."""
        self.window.set_status(f"{message}: {percent} %")

    def _on_question(self, request_id: int, question: str) -> None:
        entry = self.window.entry(request_id)
        if entry is not None:
            entry.question = question
            self.window.update_entry(entry)

    def _on_text(self, request_id: int, piece: str) -> None:
        entry = self.window.entry(request_id)
        if entry is not None:
            entry.answer += piece
            self.window.update_entry(entry)

    def _on_finished(self, result: Result) -> None:
        entry = self.window.entry(result.request_id)
        if entry is None:
            return  # dropped before it started: nothing was shown
        entry.trace = result.trace.as_dict().get("seconds", {})
        if result.capture is not None:
            c = result.capture
            entry.capture = {"source": c.source, "title": c.title, "rect": list(c.rect)}
        if result.question:
            entry.question = result.question
        if result.error is not None:
            entry.status, entry.answer = "error", error_text(result.error)
            self.report_error(result.error)
        elif result.cancelled:
            entry.status, entry.answer = "stopped", result.text
            if not result.text:
                self.window.remove_entry(result.request_id)
                self.history.add(entry)
                self.entry_finished.emit(entry)
                return
        else:
            entry.status, entry.answer = "done", result.text
            self.window.set_status("Done.")
            if result.recognized is not None:
                self._show_recognized(result)
        self.window.update_entry(entry)
        self.history.add(entry)
        self.entry_finished.emit(entry)

    # -- settings ----------------------------------------------------------------------------

    def apply_settings(self, new: Settings) -> None:
        """Save and apply settings now, without a restart."""
        old, self.settings = self.settings, new
        save_settings(new, self.settings_file)
        self.engine.configure(EngineOptions(detail=new.detail, language=new.language, read_with=new.read_with,
                                            grounding=new.ground_descriptions))
        self.text_recognizer.switch(new.text_engine, new.language)
        threads = new.threads or None
        if self.vision.switch(new.vision_model, new.quantize, threads, new.device):
            self.engine.new_conversation()
            self.start_loading()
        self.speech.switch(new.speech_model, new.quantize)
        if new.output != old.output or self.speaker is None:
            self._replace_speaker()
        elif (new.voice, new.rate, new.volume) != (old.voice, old.rate, old.volume):
            try:
                self.speaker.tts.configure(voice=new.voice or None, rate=new.rate, volume=new.volume)
            except ScreenSightError as exc:
                self.report_error(exc)
        if (new.prepare_in_background, new.detail) != (old.prepare_in_background, old.detail):
            self._apply_background()
        if new.hotkeys != old.hotkeys:
            self.register_hotkeys()
        if new.keep_history != old.keep_history:
            self.history.set_keep(new.keep_history)
        if new.debug_log_content != old.debug_log_content:
            from assistant.logging_setup import setup_logging

            setup_logging(new.debug_log_content, verbose=bool(os.environ.get("SCREENSIGHT_DEBUG")))
        if new.start_with_system != old.start_with_system:
            from assistant.autostart import set_autostart

            try:
                set_autostart(new.start_with_system)
            except ScreenSightError as exc:
                self.report_error(exc)
        if self.voice is not None:
            self.voice.apply_settings(new)
        self.settings_applied.emit(new)
        self.window.set_status("Settings saved.")

    def _apply_background(self) -> None:
        """Start or stop preparing the active window in the background (opt-in setting)."""
        if self.background is not None:
            self.background.stop()
            self.background = None
        if self.settings.prepare_in_background:
            from assistant.background import BackgroundPreparer

            self.background = BackgroundPreparer(self.engine, self._capture_factory, target=Target.WINDOW,
                                                 detail=self.settings.detail)
            self.background.start()

    def _replace_speaker(self) -> None:
        old = self.speaker
        self.speaker = make_speaker(self.settings, AnnouncementReader(self.announcer),
                                    self.messages.report_speech_error, self._speech_notice,
                                    self._screen_readers())
        self.engine.set_speaker(self.speaker)
        if old is not None:
            old.stop()
            threading.Thread(target=old.close, name="old-speaker-close", daemon=True).start()

    # -- shutdown ----------------------------------------------------------------------------

    def close(self) -> None:
        self.hotkeys.stop()
        if self.background is not None:
            self.background.stop()
        if self.voice is not None:
            self.voice.close()
        self.engine.close(timeout=0.5)
        self.secure_input.close()
        if self.speaker is not None:
            self.speaker.close()


def _is_speech_error(exc: object) -> bool:
    from base.errors import SpeechError

    return isinstance(exc, SpeechError)
