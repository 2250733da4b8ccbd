"""Password-field detection through the real AT-SPI bus, against a real Qt window on Xvfb."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
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
from tests.atspi_session import LAUNCHER, read_line, stop

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


@pytest.fixture(scope="module")
def sign_in_window(atspi_bus: str) -> Iterator[subprocess.Popen]:
    env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=atspi_bus, QT_LINUX_ACCESSIBILITY_ALWAYS_ON="1",
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


def test_no_accessible_application_means_cannot_tell(monkeypatch):
    monkeypatch.delenv("AT_SPI_BUS_ADDRESS", raising=False)
    # Nothing on this bus exposes a focused object until a window appears: not a "no".
    other = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        address = other.stdout.readline().strip()
        env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=address)
        launcher = subprocess.Popen([LAUNCHER, "--launch-immediately"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            empty = AtspiDetector(session_bus=address)
            time.sleep(0.5)
            assert empty.focused_password_field() is None
            empty.close()
        finally:
            stop(launcher)
    finally:
        stop(other)


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
        detector.answer = False
        engine.submit(Request(mode="describe", target="window", max_new_tokens=2, speak=False))
        assert engine.wait_idle(60)
        assert "password" not in listener.results[-1].text.lower() and listener.results[-1].capture
    finally:
        engine.close()
