"""Accessibility facts: the AT-SPI source against a real Qt window on Xvfb (private D-Bus session),
the time bound, the null and scripted sources, and the pure mappings of the UIA and AX sources."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.facts import (
    STATE_WORDS,
    FocusedControl,
    NullFactsSource,
    ScreenFacts,
    ScriptedFactsSource,
    TimedFactsSource,
    default_source,
)
from assistant.facts.atspi import (
    STATE_CHECKABLE,
    STATE_CHECKED,
    STATE_EDITABLE,
    STATE_ENABLED,
    STATE_EXPANDABLE,
    STATE_EXPANDED,
    STATE_INDETERMINATE,
    AtspiFactsSource,
    role_word,
    state_words,
    text_value,
)
from assistant.facts.ax import ax_control
from assistant.facts.types import caret_line
from assistant.facts.uia import TOGGLE_INDETERMINATE, TOGGLE_ON, uia_control
from tests.atspi_session import read_line, stop

ROOT = Path(__file__).resolve().parent.parent

# An order form; stdin names the control to focus, the app answers when Qt has focused it.
ORDER_APP = r"""
import sys
from PySide6.QtCore import QSocketNotifier, QTimer
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (QApplication, QCheckBox, QLineEdit, QPlainTextEdit, QPushButton,
                               QVBoxLayout, QWidget)

app = QApplication(sys.argv)
app.setApplicationName("OrderDesk")
window = QWidget()
window.setWindowTitle("New order - OrderDesk")
layout = QVBoxLayout(window)
customer = QLineEdit("Ada Lovelace")
customer.setAccessibleName("Customer")
layout.addWidget(customer)
gift = QCheckBox("Gift wrap")
gift.setChecked(True)
layout.addWidget(gift)
password = QLineEdit("hunter2")
password.setEchoMode(QLineEdit.EchoMode.Password)
password.setAccessibleName("Card PIN")
layout.addWidget(password)
notes = QPlainTextEdit("First line\nLeave at the door\nThird line")
notes.setAccessibleName("Notes")
cursor = notes.textCursor()
cursor.setPosition(len("First line\nLeave"))
notes.setTextCursor(cursor)
layout.addWidget(notes)
order = QPushButton("Place order")
layout.addWidget(order)
fields = {"customer": customer, "gift": gift, "password": password, "notes": notes, "order": order}
window.show()
window.activateWindow()


def command():
    line = sys.stdin.readline().strip()
    if not line:
        app.quit()
        return
    field = fields[line]
    field.setFocus()
    QTimer.singleShot(100, lambda: print("focused", line, QApplication.focusWidget() is field, flush=True))


notifier = QSocketNotifier(sys.stdin.fileno(), QSocketNotifier.Type.Read)
notifier.activated.connect(command)
QTimer.singleShot(300, lambda: print("ready", flush=True))
app.exec()
"""


@pytest.fixture(scope="module")
def order_window(atspi_bus: str) -> Iterator[subprocess.Popen]:
    env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=atspi_bus, QT_LINUX_ACCESSIBILITY_ALWAYS_ON="1",
               QT_ACCESSIBILITY="1", QT_QPA_PLATFORM="xcb")
    env.pop("AT_SPI_BUS_ADDRESS", None)
    proc = subprocess.Popen([sys.executable, "-c", ORDER_APP], env=env, cwd=ROOT, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert read_line(proc, "order window") == "ready"
        yield proc
    finally:
        if proc.poll() is None:
            proc.stdin.close()
        stop(proc)


@pytest.fixture
def source(atspi_bus: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AtspiFactsSource]:
    monkeypatch.delenv("AT_SPI_BUS_ADDRESS", raising=False)
    made = AtspiFactsSource(session_bus=atspi_bus, budget=2.0)  # generous: the test desktop is shared
    yield made
    made.close()


def _focus(proc: subprocess.Popen, which: str) -> None:
    proc.stdin.write(which + "\n")
    proc.stdin.flush()
    assert read_line(proc, "order window") == f"focused {which} True"


def _facts_when(source: AtspiFactsSource, name: str, seconds: float = 10.0) -> ScreenFacts | None:
    """The source's answer, asked again until the focused control is `name` (focus events reach
    AT-SPI a little after Qt moves focus)."""
    deadline = time.monotonic() + seconds
    facts = source.current()
    while (facts is None or facts.focused is None or facts.focused.name != name) and time.monotonic() < deadline:
        time.sleep(0.05)
        facts = source.current()
    return facts


def test_focused_line_edit_gives_application_window_role_name_and_text(order_window, source):
    _focus(order_window, "customer")
    facts = _facts_when(source, "Customer")
    assert facts == ScreenFacts("OrderDesk", "New order - OrderDesk",
                                FocusedControl("text field", "Customer", "Ada Lovelace", ()), "atspi")


def test_checked_check_box(order_window, source):
    _focus(order_window, "gift")
    facts = _facts_when(source, "Gift wrap")
    assert facts.focused == FocusedControl("check box", "Gift wrap", None, ("checked",))


def test_button(order_window, source):
    _focus(order_window, "order")
    facts = _facts_when(source, "Place order")
    assert facts.focused == FocusedControl("button", "Place order", None, ())
    assert (facts.application, facts.window) == ("OrderDesk", "New order - OrderDesk")


def test_password_field_never_gives_its_text(order_window, source):
    _focus(order_window, "password")
    facts = _facts_when(source, "Card PIN")
    assert facts.focused == FocusedControl("password field", "Card PIN", None, (), secret=True)
    assert "hunter2" not in repr(facts) and "hunter2" not in facts.texts()


def test_multi_line_text_gives_the_caret_line(order_window, source):
    _focus(order_window, "notes")
    facts = _facts_when(source, "Notes")
    assert facts.focused == FocusedControl("text field", "Notes", "Leave at the door", ())


def test_focus_moves_are_followed(order_window, source):
    # The last focused object is tried first: it must not answer once focus has moved on.
    for which, name in (("customer", "Customer"), ("order", "Place order"), ("customer", "Customer")):
        _focus(order_window, which)
        assert _facts_when(source, name).focused.name == name


def test_timed_default_source_answers_within_its_budget_on_this_desktop(order_window, atspi_bus, monkeypatch):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", atspi_bus)
    monkeypatch.delenv("AT_SPI_BUS_ADDRESS", raising=False)
    _focus(order_window, "gift")
    timed = default_source(budget=2.0)
    try:
        assert isinstance(timed, TimedFactsSource) and timed.name == "atspi"
        facts = _facts_when(timed, "Gift wrap")
        assert facts.focused.states == ("checked",)
    finally:
        timed.close()
        timed.close()


def test_unreachable_bus_means_cannot_tell(tmp_path, monkeypatch):
    monkeypatch.delenv("AT_SPI_BUS_ADDRESS", raising=False)
    gone = AtspiFactsSource(session_bus=f"unix:path={tmp_path / 'no-such-bus'}")
    gone.prepare()
    assert gone.current() is None
    gone.close()
    gone.close()


# ------------------------------------------------------------------------- the time bound


def test_timed_source_answers_none_when_the_inner_source_hangs():
    release = threading.Event()
    hung = ScriptedFactsSource(ScreenFacts("Late", "Window"), release=release)
    timed = TimedFactsSource(hung, budget=0.05)
    try:
        assert timed.current() is None          # late: None
        assert timed.current() is None and hung.calls == 0  # still running: not queued behind it
        release.set()
        deadline = time.monotonic() + 10
        facts = timed.current()
        while facts is None and time.monotonic() < deadline:
            facts = timed.current()
        assert facts == ScreenFacts("Late", "Window")
    finally:
        release.set()
        timed.close()


def test_timed_source_turns_a_failure_into_none():
    class Broken(NullFactsSource):
        def current(self):
            raise RuntimeError("bus gone")

    timed = TimedFactsSource(Broken(), budget=5)
    assert timed.current() is None
    timed.close()


def test_null_and_scripted_sources():
    assert NullFactsSource().current() is None
    facts = [ScreenFacts("A", "1"), None]
    scripted = ScriptedFactsSource(facts)
    assert [scripted.current() for _ in range(3)] == [facts[0], None, None] and scripted.calls == 3
    assert ScriptedFactsSource().current() is None


def test_facts_texts_and_description_leave_out_secrets():
    secret = ScreenFacts("Bank", "Sign in", FocusedControl("password field", "PIN", "1234", (), secret=True))
    assert secret.texts() == ("Bank", "Sign in", "PIN")
    assert "1234" not in secret.focused.describe()
    box = FocusedControl("check box", "Gift wrap", None, ("checked", "disabled"))
    assert box.describe() == 'check box "Gift wrap", checked, disabled'


# ------------------------------------------------------------------------- pure mappings


def _words(*states: int) -> list[int]:
    words = [0, 0]
    for state in states:
        words[state // 32] |= 1 << (state % 32)
    return words


def test_atspi_roles_and_states():
    assert role_word(43) == "button" and role_word(79) == role_word(61) == "text field"
    assert role_word(40) == "password field" and role_word(999, "calendar") == "calendar"
    assert role_word(None) == "unknown"
    assert state_words("check box", _words(STATE_ENABLED, STATE_CHECKED)) == ("checked",)
    assert state_words("check box", _words(STATE_ENABLED)) == ("not checked",)
    assert state_words("check box", _words(STATE_ENABLED, STATE_INDETERMINATE)) == ("partially checked",)
    assert state_words("button", _words()) == ("disabled",)
    assert state_words("combo box", _words(STATE_ENABLED, STATE_EXPANDABLE)) == ("collapsed",)
    assert state_words("combo box", _words(STATE_ENABLED, STATE_EXPANDABLE, STATE_EXPANDED)) == ("expanded",)
    assert state_words("text field", _words(STATE_ENABLED)) == ("read only",)
    assert state_words("text field", _words(STATE_ENABLED, STATE_EDITABLE)) == ()
    assert state_words("menu item", _words(STATE_ENABLED, STATE_CHECKABLE, STATE_CHECKED)) == ("checked",)
    assert state_words("toggle button", _words(STATE_ENABLED, STATE_CHECKED)) == ("pressed",)


def test_text_values():
    assert caret_line("one\ntwo\nthree", 5) == "two"
    assert caret_line("one\ntwo", 4) == "two" and caret_line("one\ntwo", 3) == "one"
    assert caret_line("one\ntwo", 99) == "two" and caret_line("", 0) == ""
    assert text_value("a\n  b   c\nd", 3, multi_line=True) == "b c"
    assert len(text_value("x" * 5000, 0, multi_line=False)) == 300


def test_uia_mapping():
    assert uia_control(50002, "Gift wrap", False, toggle=TOGGLE_ON) == \
        FocusedControl("check box", "Gift wrap", None, ("checked",))
    assert uia_control(50002, "Mixed", False, toggle=TOGGLE_INDETERMINATE).states == ("partially checked",)
    assert uia_control(50004, "Customer", False, value="Ada") == FocusedControl("text field", "Customer", "Ada")
    assert uia_control(50004, "PIN", True, value="1234") == \
        FocusedControl("password field", "PIN", None, (), secret=True)
    assert uia_control(50000, "Save", False, enabled=False).states == ("disabled",)
    assert uia_control(50000, "Bold", False, toggle=TOGGLE_ON) == FocusedControl("toggle button", "Bold", None,
                                                                                  ("pressed",))
    assert uia_control(50003, "Size", False, value="Large", expand=0).states == ("collapsed",)
    assert uia_control(50015, "Volume", False, value=40.0).value == "40"
    assert uia_control(50019, "General", False, selected=True).states == ("selected",)
    assert uia_control(12345, "", False).role == "control"


def test_ax_mapping():
    assert ax_control("AXCheckBox", title="Gift wrap", value=1) == \
        FocusedControl("check box", "Gift wrap", None, ("checked",))
    assert ax_control("AXCheckBox", title="Off", value=0).states == ("not checked",)
    assert ax_control("AXTextField", "AXSecureTextField", description="PIN", value="1234") == \
        FocusedControl("password field", "PIN", None, (), secret=True)
    assert ax_control("AXTextArea", value="a\nsecond line\nc", caret=4).value == "second line"
    assert ax_control("AXTextField", description="Customer", value="Ada").value == "Ada"
    assert ax_control("AXButton", title="OK", enabled=False).states == ("disabled",)
    assert ax_control("AXRadioButton", "AXTabButton", title="General", value=1).role == "tab"
    assert ax_control("AXPopUpButton", title="Size", value="Large", expanded=False) == \
        FocusedControl("combo box", "Size", "Large", ("collapsed",))
    assert ax_control("AXSlider", value=0.5).value == "0.5"
    assert ax_control("AXSomethingNew").role == "somethingnew"


def test_state_words_are_all_listed():
    everything = FocusedControl("x", states=STATE_WORDS)
    assert everything.describe().endswith(", ".join(STATE_WORDS))
