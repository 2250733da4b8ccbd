"""Password-field detection through the real AT-SPI bus, against a real Qt window on Xvfb."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from assistant.secure_input import (
    ROLE_PASSWORD_TEXT,
    STATE_FOCUSED,
    AtspiDetector,
    FixedDetector,
    NullDetector,
    default_detector,
    has_state,
)
from tests.atspi_session import LAUNCHER, private_env, read_line, stop

ROOT = Path(__file__).resolve().parent.parent

# A sign-in window: a user-name field and a password field; stdin says which one gets focus.
SIGN_IN_APP = r"""
import sys
from PySide6.QtCore import QSocketNotifier, QTimer
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QVBoxLayout, QWidget

app = QApplication(sys.argv)
window = QWidget()
window.setWindowTitle("Sign in")
layout = QVBoxLayout(window)
layout.addWidget(QLabel("User name"))
user = QLineEdit()
user.setAccessibleName("User name")
layout.addWidget(user)
layout.addWidget(QLabel("Password"))
password = QLineEdit()
password.setEchoMode(QLineEdit.EchoMode.Password)
password.setAccessibleName("Password")
layout.addWidget(password)
window.show()
window.activateWindow()


def command():
    line = sys.stdin.readline().strip()
    if not line:
        app.quit()
        return
    field = password if line == "password" else user
    field.setFocus()
    QTimer.singleShot(200, lambda: print("focused", line, QApplication.focusWidget() is field,
                                         flush=True))


notifier = QSocketNotifier(sys.stdin.fileno(), QSocketNotifier.Type.Read)
notifier.activated.connect(command)
QTimer.singleShot(300, lambda: print("ready", flush=True))
app.exec()
"""


@contextmanager
def _sign_in_window_on(bus: str) -> Iterator[subprocess.Popen]:
    """The sign-in window in a child process, accessible on the AT-SPI bus of session bus `bus`."""
    env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=bus, QT_LINUX_ACCESSIBILITY_ALWAYS_ON="1",
               QT_QPA_PLATFORM="xcb")
    env.pop("AT_SPI_BUS_ADDRESS", None)
    proc = subprocess.Popen([sys.executable, "-c", SIGN_IN_APP], env=env, cwd=ROOT, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert read_line(proc, "sign-in window") == "ready"
        yield proc
    finally:
        if proc.poll() is None:
            proc.stdin.close()
        stop(proc)


@pytest.fixture(scope="module")
def sign_in_window(atspi_bus: str) -> Iterator[subprocess.Popen]:
    with _sign_in_window_on(atspi_bus) as proc:
        yield proc


def _focus(proc: subprocess.Popen, which: str) -> None:
    proc.stdin.write(which + "\n")
    proc.stdin.flush()
    assert read_line(proc, "sign-in window") == f"focused {which} True"


@pytest.fixture
def detector(atspi_bus: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AtspiDetector]:
    monkeypatch.delenv("AT_SPI_BUS_ADDRESS", raising=False)
    made = AtspiDetector(session_bus=atspi_bus)
    yield made
    made.close()


def _wait_for(detector: AtspiDetector, wanted: bool | None, seconds: float = 10.0) -> bool | None:
    """The detector's answer, asked again until it is `wanted` (focus events reach AT-SPI late)."""
    deadline = time.monotonic() + seconds
    answer = detector.focused_password_field()
    while answer is not wanted and time.monotonic() < deadline:
        time.sleep(0.1)
        answer = detector.focused_password_field()
    return answer


def _wait_for_atspi_bus(session_bus: str, seconds: float = 10.0) -> str:
    """The AT-SPI bus address, asked of the launcher on `session_bus` until it answers."""
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    bus = DBusAddress("/org/a11y/bus", bus_name="org.a11y.Bus", interface="org.a11y.Bus")
    deadline = time.monotonic() + seconds
    while True:
        try:
            with open_dbus_connection(bus=session_bus) as conn:
                reply = conn.send_and_get_reply(new_method_call(bus, "GetAddress"), timeout=1.0)
            if reply.body and reply.body[0]:
                return reply.body[0]
        except (OSError, TimeoutError, RuntimeError) as exc:
            last = exc
        else:
            last = reply
        if time.monotonic() > deadline:
            raise AssertionError(f"the AT-SPI bus launcher did not answer within {seconds} s: {last!r}")
        time.sleep(0.05)  # polling interval of a wait with a deadline


# Runs before the module's sign-in window exists: its own window takes the keyboard focus, and
# without a window manager the sign-in window could not take it back.
def test_no_accessible_application_means_cannot_tell(monkeypatch):
    monkeypatch.delenv("AT_SPI_BUS_ADDRESS", raising=False)
    # Nothing on this bus exposes a focused object until a window appears: not a "no".
    env = private_env()
    other = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        address = other.stdout.readline().strip()
        env["DBUS_SESSION_BUS_ADDRESS"] = address
        launcher = subprocess.Popen([LAUNCHER, "--launch-immediately"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_for_atspi_bus(address)
            empty = AtspiDetector(session_bus=address)
            try:
                assert empty.focused_password_field() is None
                # The same detector on the same bus answers as soon as a window with focus appears:
                # the None above was "nothing is focused", not a broken connection.
                with _sign_in_window_on(address) as window:
                    _focus(window, "password")
                    assert _wait_for(empty, True) is True
            finally:
                empty.close()
        finally:
            stop(launcher)
    finally:
        stop(other)


def test_focused_password_field_is_detected(sign_in_window, detector):
    _focus(sign_in_window, "password")
    assert _wait_for(detector, True) is True


def test_focused_plain_field_is_not_a_password(sign_in_window, detector):
    _focus(sign_in_window, "user")
    assert _wait_for(detector, False) is False
    _focus(sign_in_window, "password")
    assert _wait_for(detector, True) is True
    _focus(sign_in_window, "user")
    assert _wait_for(detector, False) is False


def test_unreachable_bus_means_cannot_tell(tmp_path, monkeypatch):
    monkeypatch.delenv("AT_SPI_BUS_ADDRESS", raising=False)
    gone = AtspiDetector(session_bus=f"unix:path={tmp_path / 'no-such-bus'}")
    assert gone.focused_password_field() is None
    gone.close()
    gone.close()  # twice is harmless
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    assert AtspiDetector().focused_password_field() is None


def test_state_words_and_constants():
    # FOCUSED is bit 12 of the first word; a second word holds states 32 and up.
    assert has_state([1 << STATE_FOCUSED], STATE_FOCUSED)
    assert not has_state([0, 1 << STATE_FOCUSED], STATE_FOCUSED)
    assert has_state([0, 1], 32) and not has_state([0], 32)
    assert ROLE_PASSWORD_TEXT == 40


def test_null_and_fixed_detectors():
    assert NullDetector().focused_password_field() is None
    fixed = FixedDetector(True)
    assert fixed.focused_password_field() is True and fixed.calls == 1
    assert isinstance(default_detector(), AtspiDetector if sys.platform.startswith("linux")
                      else NullDetector)


def test_engine_says_a_password_field_has_focus_instead_of_describing(tiny_vlm, tmp_path):
    from PIL import Image

    from assistant.capture import ImageBackend
    from assistant.engine import Engine, EngineListener, Request
    from assistant.model_loading import Ready

    class Results(EngineListener):
        def __init__(self):
            self.results = []

        def on_finished(self, result):
            self.results.append(result)

    listener = Results()
    detector = FixedDetector(True)
    backend = ImageBackend(Image.new("RGB", (640, 400), "white"))
    engine = Engine(Ready(tiny_vlm), capture=lambda: backend, listener=listener,
                    secure_input=detector)
    try:
        calls = tiny_vlm.vision_encoder_calls
        engine.submit(Request(mode="describe", target="window", speak=False))
        assert engine.wait_idle(60)
        refused = listener.results[-1]
        assert refused.error is None and "password field has focus" in refused.text.lower()
        assert refused.capture is None  # not even captured
        assert tiny_vlm.vision_encoder_calls == calls and detector.calls == 1
        picture = tmp_path / "p.png"
        Image.new("RGB", (300, 200), "gray").save(picture)
        engine.submit(Request(mode="describe", target="file", image_path=picture, max_new_tokens=2,
                              speak=False))
        assert engine.wait_idle(60)
        assert detector.calls == 1  # an image file is not the screen: not asked
        # Background preparation (the app's, while the user reads) must not look at the secret either.
        asked, encoded = detector.calls, tiny_vlm.vision_encoder_calls
        assert engine.prepare_ahead(Request(mode="describe", target="window")) is not None
        assert engine.wait_idle(60)
        assert detector.calls == asked + 1 and tiny_vlm.vision_encoder_calls == encoded
        detector.answer = False
        engine.submit(Request(mode="describe", target="window", max_new_tokens=2, speak=False))
        assert engine.wait_idle(60)
        assert "password" not in listener.results[-1].text.lower() and listener.results[-1].capture
    finally:
        engine.close()


def _app_env_on(monkeypatch: pytest.MonkeyPatch, atspi_bus: str) -> None:
    """The app under test finds the private AT-SPI bus the way it finds the user's: the session bus."""
    monkeypatch.delenv("AT_SPI_BUS_ADDRESS", raising=False)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", atspi_bus)


def test_the_app_refuses_to_describe_a_focused_password_field(sign_in_window, detector, atspi_bus, qtbot,
                                                              monkeypatch, tmp_path, tiny_vlm_dir):
    """The app's own detector (made by the controller, not handed in) keeps the secret off the model."""
    import dataclasses

    from assistant.config import Settings
    from assistant.history import HistoryStore
    from assistant.hotkeys import ManualHotkeys
    from assistant.model_loading import VisionSlot
    from assistant.prompts import PASSWORD_MESSAGE
    from ui.controller import AppController
    from ui.main_window import MainWindow

    _app_env_on(monkeypatch, atspi_bus)
    monkeypatch.setenv("SCREENSIGHT_TTS", "spy")
    settings = dataclasses.replace(Settings(vision_model=str(tiny_vlm_dir), quantize=False))
    window = MainWindow()
    qtbot.addWidget(window)
    slot = VisionSlot(str(tiny_vlm_dir), quantize=False)
    app = AppController(settings, window, ManualHotkeys(), settings_file=tmp_path / "s.toml",
                        history=HistoryStore(False, path=tmp_path / "h.jsonl"), vision=slot)
    app.max_tokens = 2
    try:
        _focus(sign_in_window, "password")
        assert _wait_for(detector, True) is True
        calls = slot().vision_encoder_calls
        with qtbot.waitSignal(app.entry_finished, timeout=120_000) as signal:
            app.hotkeys.press("describe-window")
        entry = signal.args[0]
        assert entry.status == "done" and entry.answer == PASSWORD_MESSAGE
        assert slot().vision_encoder_calls == calls  # nothing was shown to the model
        qtbot.waitUntil(lambda: PASSWORD_MESSAGE in " ".join(app.speaker.tts.texts()), timeout=10_000)
        _focus(sign_in_window, "user")
        assert _wait_for(detector, False) is False
        with qtbot.waitSignal(app.entry_finished, timeout=120_000) as signal:
            app.hotkeys.press("describe-window")
        assert signal.args[0].status == "done" and "password" not in signal.args[0].answer.lower()
    finally:
        app.close()


def test_the_command_line_refuses_to_describe_a_focused_password_field(sign_in_window, detector, atspi_bus,
                                                                       tiny_vlm_dir):
    from assistant.prompts import PASSWORD_MESSAGE
    from tests.helpers import run_cli

    env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=atspi_bus)
    env.pop("AT_SPI_BUS_ADDRESS", None)
    _focus(sign_in_window, "password")
    assert _wait_for(detector, True) is True
    out = run_cli("describe", "--window", "--model", str(tiny_vlm_dir), "--no-speak", "--max-tokens", "2",
                  env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == PASSWORD_MESSAGE
    _focus(sign_in_window, "user")
    assert _wait_for(detector, False) is False
    out = run_cli("describe", "--window", "--model", str(tiny_vlm_dir), "--no-speak", "--max-tokens", "2",
                  env=env)
    assert out.returncode == 0, out.stderr
    assert PASSWORD_MESSAGE not in out.stdout
