"""`screensight` with no arguments: the tray app with its window, hotkeys and first-run setup."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog

from assistant.config import Settings, keep_broken, load_settings, settings_path
from assistant.hotkeys import default_backend
from assistant.messages import error_text
from base.errors import ConfigError, ModelError, ScreenSightError
from ui.controller import AppController
from ui.main_window import MainWindow
from ui.push_to_talk import PushToTalk
from ui.single_instance import InstanceServer, send_trigger
from ui.tray import Tray, app_icon

log = logging.getLogger(__name__)


def _load_settings() -> tuple[Settings, str]:
    """The saved settings, or the defaults and a message saying why they could not be read.

    A broken file is moved aside first, so saving the defaults later never overwrites it."""
    try:
        return load_settings(), ""
    except ConfigError as exc:
        try:
            kept = keep_broken(settings_path())
        except (OSError, ConfigError) as move_exc:
            log.warning("could not keep the broken settings file: %s", move_exc)
            kept = None
        where = f" It was kept as {kept.name} in {kept.parent}." if kept is not None else ""
        return Settings(), (f"{exc.message}{where} ScreenSight uses the default settings for now; "
                            "open Settings to choose yours again.")


def model_missing(settings: Settings) -> str:
    """Why the vision model cannot be used yet ("" when it is on disk)."""
    from models.store import resolve

    try:
        resolve(settings.vision_model)
    except ModelError as exc:
        return error_text(exc)
    return ""


class Application:
    """The running app: Qt objects kept alive together, dialogs opened on request."""

    def __init__(self, qt_app: QApplication, server: InstanceServer) -> None:
        self.qt_app = qt_app
        self.server = server
        settings, problem = _load_settings()
        self.window = MainWindow()
        self.window.setWindowIcon(app_icon())
        self.controller = AppController(settings, self.window, default_backend(),
                                        settings_file=settings_path())
        self.controller.dialog_opener = self.open_dialog
        self.controller.quit_requested.connect(self.quit)
        self.window.close_requested.connect(self.quit)
        server.triggered.connect(self.controller.handle_action)
        self.controller.voice = PushToTalk(self.controller)
        self.tray: Tray | None = None
        if Tray.available():
            self.tray = Tray(self.controller.handle_action, qt_app)
            self.tray.set_global_keys(self.controller.global_key_labels())
            self.controller.settings_applied.connect(
                lambda _settings: self.tray.set_global_keys(self.controller.global_key_labels()))
            self.tray.show()
            self.window.hide_on_close = True
        self._settings_problem = problem
        self._dialogs: dict[str, QDialog] = {}

    def start(self) -> None:
        """Show the window, say what needs the user's attention, and load the model in the background."""
        self.window.show()
        self._check_screen_access()
        missing = model_missing(self.controller.settings)
        if missing:
            self.controller.note(missing, "error")
            self.window.set_status(missing)
            QTimer.singleShot(0, lambda: self.open_dialog("setup-model"))
        else:
            self.controller.start_loading()
        if self._settings_problem:  # last, so it stays in the status line
            self.controller.report_error(ConfigError(self._settings_problem))
            self.controller.note(self._settings_problem, "error")
        log.info("ready (hotkeys: %s)", self.controller.hotkeys.name)

    def quit(self) -> None:
        """Quit from any state: the window is closed for good (not hidden to the tray), the loop ends."""
        log.info("quit requested")
        self.window.hide_on_close = False
        for dialog in self._dialogs.values():
            dialog.hide()
        self.window.hide()
        # exit(), not quit(): Qt 6's quit() first asks every window to close and gives up when one
        # refuses, which the main window does while it hides to the tray.
        self.qt_app.exit(0)

    def _check_screen_access(self) -> None:
        """Say at once when the system forbids screen capture (macOS Screen Recording permission)."""
        from assistant.capture import default_locator
        from base.errors import CaptureError

        try:
            default_locator().check_access()
        except CaptureError as exc:
            self.controller.report_error(exc)

    def open_dialog(self, which: str) -> None:
        """Open the settings or the model setup (modeless, so hotkeys keep working); an open one is raised."""
        dialog = self._dialogs.get(which)
        if dialog is not None and dialog.isVisible():
            dialog.raise_()
            dialog.activateWindow()
            return
        if which == "settings":
            from ui.settings_dialog import SettingsDialog

            dialog = SettingsDialog(self.controller.settings, self.window,
                                    voices=_voices(self.controller),
                                    running_on=self.controller.vision.placement())
            dialog.applied.connect(self._apply)
            for edit in dialog.hotkey_edits.values():  # a key pressed into a field is not a global key
                edit.capturing.connect(self.controller.set_key_capture)
            # Voice setup: Settings > Voice questions > Download or choose…
            dialog.speech_setup_requested.connect(lambda: self.open_dialog("setup-speech"))
        elif which == "setup-speech":  # voice setup: the speech model for voice questions
            from base.vocabulary import Role
            from ui.model_setup import ModelSetupDialog

            dialog = ModelSetupDialog(self.controller.settings.speech_model, self.window, role=Role.SPEECH)
            dialog.model_ready.connect(self._use_speech_model)
        else:
            from ui.model_setup import ModelSetupDialog

            dialog = ModelSetupDialog(self.controller.settings.vision_model, self.window,
                                      speech_model=self.controller.settings.speech_model)
            dialog.model_ready.connect(self._use_model)
            # voice setup: the first run offers the speech model as a second, skippable step
            dialog.speech_setup_requested.connect(lambda: self.open_dialog("setup-speech"))
        announcer = getattr(dialog, "announcer", None)
        if announcer is not None:  # the dialog's announcements reach the reader the output setting uses
            announcer.forward = self.controller.announce
        self._dialogs[which] = dialog
        dialog.show()

    def _apply(self, settings: Settings) -> None:
        try:
            self.controller.apply_settings(settings)
        except ScreenSightError as exc:
            self.controller.report_error(exc)

    def _use_model(self, source: str) -> None:
        settings = _copy(self.controller.settings, vision_model=source)
        self._apply(settings)
        self.controller.say_message("The model is set up. Loading it now; ScreenSight says when it is ready.")

    def _use_speech_model(self, source: str) -> None:  # voice setup
        """The speech model setup finished: use it, and show it in an open Settings window."""
        self._apply(_copy(self.controller.settings, speech_model=source))
        settings_dialog = self._dialogs.get("settings")
        if settings_dialog is not None:
            settings_dialog.show_speech_model(source)
        self.controller.say_message("Voice questions are ready: hold the talk key, ask, then let go.")

    def close(self) -> None:
        """Release the hotkeys first, then stop every worker."""
        for dialog in self._dialogs.values():
            cancel = getattr(dialog, "cancel_download", None)
            if cancel is not None:
                cancel()
        if self.tray is not None:
            self.tray.hide()
        self.server.close()
        self.controller.close()


def _copy(settings: Settings, **changes: object) -> Settings:
    import dataclasses

    return dataclasses.replace(settings, **changes)


def _voices(controller: AppController) -> list:
    speaker = controller.speaker
    if speaker is None:
        return []
    try:
        return speaker.tts.voices()
    except ScreenSightError:
        return []


def _hotkey_hint(settings: Settings) -> str:
    from assistant.hotkeys import parse_combo

    try:
        return f"Press {parse_combo(settings.hotkeys.describe_window).label()} to describe the active window."
    except ConfigError:
        return ""


def _quit_on_signals(qt_app: QApplication) -> None:
    """SIGINT/SIGTERM end the event loop cleanly (Python only sees signals between Qt events)."""
    import signal

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: qt_app.quit())
    timer = QTimer(qt_app)
    timer.timeout.connect(lambda: None)
    timer.start(250)


def main(argv: Sequence[str] | None = None) -> int:
    """Start the app, or bring the running one to the front; returns the exit code."""
    if os.environ.get("SCREENSIGHT_DEBUG"):
        logging.getLogger().setLevel(logging.INFO)
    qt_app = QApplication.instance() or QApplication(list(argv) if argv is not None else sys.argv[:1])
    qt_app.setApplicationName("ScreenSight")
    qt_app.setApplicationDisplayName("ScreenSight")
    qt_app.setWindowIcon(app_icon())
    qt_app.setQuitOnLastWindowClosed(False)
    server = InstanceServer()
    if not server.listen():
        send_trigger("show", server.name)
        print("ScreenSight is already running; its window was brought to the front.", file=sys.stderr)
        return 0
    _load_sound_library()
    app = Application(qt_app, server)
    _quit_on_signals(qt_app)
    app.start()
    try:
        code = qt_app.exec()
    finally:
        _close_within(app, QUIT_SECONDS)
    _end_process(code)
    return code  # pragma: no cover - _end_process does not return


def _load_sound_library() -> None:
    """Load PortAudio on this thread before any worker does: sounddevice points the process's
    stderr at /dev/null while PortAudio starts, which swallowed other threads' log lines."""
    from assistant.speech_out import audio_out
    from base.errors import AudioError

    try:
        audio_out._sounddevice()
    except AudioError as exc:
        log.warning("%s", exc)  # said again, with what to do, when sound is first needed


def _end_process(code: int) -> None:
    """End the process now that everything is closed and saved. A model load cannot be stopped,
    and letting the interpreter finalise while it runs on the worker thread aborted the process
    (std::terminate inside torch, seen when quitting during a load)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


QUIT_SECONDS = 1.5  # the user asked to quit: everything is released within this, or the process ends


def _close_within(app: Application, seconds: float) -> None:
    """Close the app's workers on this (the Qt) thread; when one hangs (a model load, a sound
    device) or a worker thread keeps the interpreter from exiting, a watchdog ends the process
    after `seconds`, so Quit always quits. Settings and history are saved as they change."""
    import threading

    def force_exit() -> None:
        log.warning("quit: workers still busy after %.1f s; ending the process", seconds)
        logging.shutdown()
        os._exit(0)

    watchdog = threading.Timer(seconds, force_exit)
    watchdog.daemon = True
    watchdog.start()  # left running: interpreter shutdown also waits for worker threads
    app.close()
