"""The main window on its own: history newest first, copy, Escape, the question box, names."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QAbstractButton, QApplication, QLineEdit, QListWidget, QPlainTextEdit, QWidget

from assistant.history import HistoryEntry
from ui.main_window import MainWindow


def _window(qtbot) -> MainWindow:
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    # Shortcuts only fire in the active window.
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    return window


def test_history_is_newest_first_and_streams(qtbot):
    window = _window(qtbot)
    window.add_entry(HistoryEntry(1, "Active window", answer="A settings dialog.", status="done"))
    second = HistoryEntry(2, "Question", question="What is red?")
    window.add_entry(second)
    second.answer += "The error "
    window.update_entry(second)
    second.answer += "message."
    second.status = "done"
    window.update_entry(second)
    texts = [window.history.item(i).text() for i in range(window.history.count())]
    assert texts[0] == "Question:\nQ: What is red?\nA: The error message."
    assert texts[1] == "Active window: A settings dialog."
    assert [e.request_id for e in window.entries()] == [2, 1]
    window.history.setCurrentRow(0)
    assert "The error message." in window.answer_view.toPlainText()


def test_copy_puts_the_selected_answer_on_the_clipboard(qtbot):
    window = _window(qtbot)
    window.add_entry(HistoryEntry(1, "Active window", answer="Copy me.", status="done"))
    window.history.setCurrentRow(0)
    window.history.setFocus()
    QGuiApplication.clipboard().clear()
    qtbot.keyClick(window.history, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text() == "Copy me."
    QGuiApplication.clipboard().clear()
    qtbot.mouseClick(window.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == "Copy me."


def test_escape_asks_to_stop_speaking(qtbot):
    window = _window(qtbot)
    window.history.setFocus()
    with qtbot.waitSignal(window.action_requested, timeout=2000) as signal:
        qtbot.keyClick(window.history, Qt.Key.Key_Escape)
    assert signal.args == ["stop-speaking"]


def test_question_box_submits_and_refuses_empty(qtbot):
    window = _window(qtbot)
    with qtbot.assertNotEmitted(window.question_submitted):
        qtbot.keyClick(window.question_edit, Qt.Key.Key_Return)
    assert "Type a question" in window.status_label.text()
    qtbot.keyClicks(window.question_edit, "what does the red text say?")
    with qtbot.waitSignal(window.question_submitted, timeout=2000) as signal:
        qtbot.keyClick(window.question_edit, Qt.Key.Key_Return)
    assert signal.args == ["what does the red text say?"]
    assert window.question_edit.text() == ""


def test_buttons_request_their_actions(qtbot):
    window = _window(qtbot)
    for button, action in ((window.describe_window_button, "describe-window"),
                           (window.describe_screen_button, "describe-screen"),
                           (window.read_button, "read-window"),
                           (window.stop_button, "stop-speaking")):
        with qtbot.waitSignal(window.action_requested, timeout=2000) as signal:
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        assert signal.args == [action]


def test_every_focusable_control_has_a_name_and_the_tab_order_reaches_it(qtbot):
    window = _window(qtbot)
    focusable = [w for w in window.findChildren(QWidget)
                 if w.isVisibleTo(window) and w.focusPolicy() & Qt.FocusPolicy.TabFocus
                 and isinstance(w, (QAbstractButton, QLineEdit, QListWidget, QPlainTextEdit))]
    assert len(focusable) >= 8
    for widget in focusable:
        assert widget.accessibleName(), f"{widget!r} has no accessible name"
        assert widget.accessibleDescription(), f"{widget!r} has no accessible description"
    reached = []
    widget = window.question_edit
    while widget not in reached:  # the focus chain is a ring: once round
        reached.append(widget)
        widget = widget.nextInFocusChain()
    for control in focusable:
        assert control in reached


def test_mnemonics_are_visible_on_buttons_and_labels(qtbot):
    window = _window(qtbot)
    for button in window.findChildren(QAbstractButton):
        if button.isVisibleTo(window) and button.text():
            assert "&" in button.text(), f"button {button.text()!r} has no mnemonic"


def test_recording_shows_a_named_level_meter(qtbot):
    window = _window(qtbot)
    assert not window.level_bar.isVisible()
    window.set_recording(True)
    window.set_level(0.42)
    assert window.level_bar.isVisible()
    assert window.level_bar.value() == 42
    assert window.level_bar.accessibleName() == "Microphone level"
    window.set_recording(False)
    assert not window.level_bar.isVisible()


def test_double_text_size_still_fits_every_label(qtbot, qapp):
    font = qapp.font()
    try:
        big = font.__class__(font)
        big.setPointSizeF(font.pointSizeF() * 2)
        qapp.setFont(big)
        window = _window(qtbot)
        window.resize(window.sizeHint())
        QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)  # the layout, laid out now
        for button in window.findChildren(QAbstractButton):
            if button.isVisibleTo(window):
                text = button.text().replace("&", "")
                needed = button.fontMetrics().horizontalAdvance(text)
                assert button.width() >= needed, f"{text!r} is clipped at 200 % text"
    finally:
        qapp.setFont(font)


def test_each_alt_letter_reaches_one_control(qtbot):
    from tests.ui_mnemonics import clashes, visible_mnemonics

    window = _window(qtbot)
    assert clashes(window) == {}
    letters = dict(visible_mnemonics(window))
    assert "s" in letters and letters["s"].startswith("menu")  # Alt+S opens the ScreenSight menu


def test_menus_show_the_global_keys(qtbot):
    window = _window(qtbot)
    window.set_global_keys({"describe-window": "Ctrl+Alt+Shift+D", "push-to-talk": "Ctrl+Alt+Shift+Space"})
    entries = {a.text().split("\t")[0]: a.text() for menu in window.menuBar().actions()
               for a in menu.menu().actions()}
    assert entries["Describe the active &window"] == "Describe the active &window\tCtrl+Alt+Shift+D"
    assert entries["Ask a spoken &question (hold the key)"].endswith("\tCtrl+Alt+Shift+Space")
    assert entries["&Quit"] == "&Quit"  # keeps its own window shortcut, Ctrl+Q
    window.set_global_keys({})
    assert window.menuBar().actions()[1].menu().actions()[0].text() == "Describe the active &window"


def test_the_status_line_is_text_a_screen_reader_can_read_and_grows(qtbot):
    from PySide6.QtGui import QAccessible

    window = _window(qtbot)
    window.set_status("Done.")
    interface = QAccessible.queryAccessibleInterface(window.status_label)
    assert interface.textInterface() is not None
    assert interface.textInterface().text(0, interface.textInterface().characterCount()) == "Done."
    one_line = window.status_label.height()
    window.show_error("The model could not be loaded because " + "it is far too long a message " * 12)
    qtbot.waitUntil(lambda: window.status_label.height() > 2 * one_line, timeout=5000)
    assert window.status_label.text().startswith("Error: The model")
