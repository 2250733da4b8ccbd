"""The main window: status line, history (newest first), the selected answer, a typed question box."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from assistant.actions import LABELS
from assistant.history import MAX_ENTRIES, HistoryEntry
from ui.a11y import describe, fitting_size, readable_label

ENTRY_ROLE = Qt.ItemDataRole.UserRole + 1
POINT_ROLE = Qt.ItemDataRole.UserRole + 2  # a text line's centre on the desktop, or None




class HistoryList(QListWidget):
    """The history list; Ctrl+C copies the answer alone (not the heading the list shows)."""

    copy_requested = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        if event.matches(QKeySequence.StandardKey.Copy):
            self.copy_requested.emit()
            event.accept()
            return
        super().keyPressEvent(event)


class MainWindow(QMainWindow):
    """Everything is reachable from the keyboard; every control has an accessible name."""

    action_requested = Signal(str)
    question_submitted = Signal(str)
    find_submitted = Signal(str)
    line_activated = Signal(str, object)  # the line's text, its desktop point (None: not on screen)
    close_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("ScreenSight")
        self.setObjectName("main-window")
        self._items: dict[int, QListWidgetItem] = {}
        self._menu_items: dict[str, tuple[QAction, str]] = {}  # action -> (menu entry, its text)
        self.hide_on_close = False

        central = QWidget(self)
        layout = QVBoxLayout(central)

        self.status_label = readable_label(central, "Ready.", "Status",
                                           "What ScreenSight is doing now, or the last error.")
        layout.addWidget(self.status_label)

        self.level_bar = QProgressBar(central)
        self.level_bar.setRange(0, 100)
        self.level_bar.setFormat("Microphone level %p%")
        describe(self.level_bar, "Microphone level", "How loud the microphone hears you while you talk.")
        self.level_bar.hide()
        layout.addWidget(self.level_bar)

        history_label = QLabel("&History (newest first):", central)
        layout.addWidget(history_label)
        self.history = HistoryList(central)
        self.history.setWordWrap(True)
        self.history.setAlternatingRowColors(True)
        describe(self.history, "History, newest first",
              "Descriptions and answers. Use the arrow keys to move; Ctrl+C copies the selected one.")
        history_label.setBuddy(self.history)
        layout.addWidget(self.history, stretch=2)

        lines_label = QLabel("Text &found:", central)
        layout.addWidget(lines_label)
        self.text_lines = QListWidget(central)
        self.text_lines.setWordWrap(True)
        describe(self.text_lines, "Text found",
                 "The lines of the last text read, each with where it is. Use the arrow keys to move "
                 "line by line; Enter clicks the line on the screen.")
        lines_label.setBuddy(self.text_lines)
        layout.addWidget(self.text_lines, stretch=1)

        answer_label = QLabel("Selected &answer:", central)
        layout.addWidget(answer_label)
        self.answer_view = QPlainTextEdit(central)
        self.answer_view.setReadOnly(True)
        self.answer_view.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByKeyboard
                                                 | Qt.TextInteractionFlag.TextSelectableByMouse)
        self.answer_view.setTabChangesFocus(True)
        describe(self.answer_view, "Selected answer",
              "The full text of the answer selected in the history, to read and copy.")
        answer_label.setBuddy(self.answer_view)
        layout.addWidget(self.answer_view, stretch=1)

        question_row = QHBoxLayout()
        question_label = QLabel("&Question:", central)
        self.question_edit = QLineEdit(central)
        self.question_edit.setPlaceholderText("Ask about the last screenshot")
        describe(self.question_edit, "Question",
              "Type a question about the last screenshot and press Enter.")
        question_label.setBuddy(self.question_edit)
        self.ask_button = QPushButton("As&k", central)
        describe(self.ask_button, "Ask", "Ask the typed question about the last screenshot.")
        question_row.addWidget(question_label)
        question_row.addWidget(self.question_edit, stretch=1)
        question_row.addWidget(self.ask_button)
        layout.addLayout(question_row)

        find_row = QHBoxLayout()
        find_label = QLabel("Text to f&ind:", central)
        self.find_edit = QLineEdit(central)
        self.find_edit.setPlaceholderText("A word to find in the window")
        describe(self.find_edit, "Text to find",
                 "Type a word and press Enter to find it in the last screenshot; the Find text key "
                 "finds it in the active window. The mouse pointer moves to it.")
        find_label.setBuddy(self.find_edit)
        find_row.addWidget(find_label)
        find_row.addWidget(self.find_edit, stretch=1)
        layout.addLayout(find_row)

        buttons = QHBoxLayout()
        self.describe_window_button = self._button("Describe &window", "describe-window", buttons)
        self.describe_screen_button = self._button("Describe scr&een", "describe-screen", buttons)
        self.read_button = self._button("&Read text", "read-window", buttons)
        self.stop_button = self._button("S&top speaking", "stop-speaking", buttons)
        self.copy_button = QPushButton("&Copy answer", central)
        describe(self.copy_button, "Copy answer", "Copy the selected answer to the clipboard.")
        buttons.addWidget(self.copy_button)
        layout.addLayout(buttons)
        # Scrolls instead of growing past the screen when large text and a long message need more room.
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Tab goes from control to control, not to it
        scroll.setWidget(central)
        self.setCentralWidget(scroll)

        self._build_menus()
        self.question_edit.returnPressed.connect(self._submit_question)
        self.ask_button.clicked.connect(self._submit_question)
        self.copy_button.clicked.connect(self.copy_selected)
        self.history.currentItemChanged.connect(self._show_selected)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, lambda: self.action_requested.emit("stop-speaking"))
        self.history.copy_requested.connect(self.copy_selected)
        self.text_lines.itemActivated.connect(self._activate_line)
        self.find_edit.returnPressed.connect(self._submit_find)

        self.setTabOrder(self.status_label, self.history)
        self.setTabOrder(self.history, self.text_lines)
        self.setTabOrder(self.text_lines, self.answer_view)
        self.setTabOrder(self.answer_view, self.question_edit)
        self.setTabOrder(self.question_edit, self.ask_button)
        self.setTabOrder(self.ask_button, self.find_edit)
        self.setTabOrder(self.find_edit, self.describe_window_button)
        self.setTabOrder(self.describe_window_button, self.describe_screen_button)
        self.setTabOrder(self.describe_screen_button, self.read_button)
        self.setTabOrder(self.read_button, self.stop_button)
        self.setTabOrder(self.stop_button, self.copy_button)
        self.history.setMinimumHeight(3 * self.fontMetrics().lineSpacing())
        self.answer_view.setMinimumHeight(2 * self.fontMetrics().lineSpacing())
        self.resize(*fitting_size(640, 520))
        screen = QGuiApplication.primaryScreen()
        if screen is not None:  # centred, so the whole window starts on the screen
            room = screen.availableGeometry()
            self.move(room.x() + (room.width() - self.width()) // 2, room.y() + (room.height() - self.height()) // 2)

    # -- building ----------------------------------------------------------------------------

    def _button(self, text: str, action: str, layout: QHBoxLayout) -> QPushButton:
        button = QPushButton(text, self)
        describe(button, text.replace("&", ""), LABELS[action] + ".")
        button.clicked.connect(lambda: self.action_requested.emit(action))
        layout.addWidget(button)
        return button

    def _build_menus(self) -> None:
        bar = self.menuBar()
        app_menu = bar.addMenu("&ScreenSight")
        self._menu_action(app_menu, "&Settings…", "settings", QKeySequence("Ctrl+,"))
        self._menu_action(app_menu, "Set up the &model…", "setup-model")
        self._menu_action(app_menu, "Set up &voice questions…", "setup-speech")
        app_menu.addSeparator()
        self._menu_action(app_menu, "&Quit", "quit", QKeySequence.StandardKey.Quit)
        describe = bar.addMenu("&Describe")
        self._menu_action(describe, "Describe the active &window", "describe-window")
        self._menu_action(describe, "Describe the whole &screen", "describe-screen")
        self._menu_action(describe, "Describe around the &pointer", "describe-pointer")
        self._menu_action(describe, "&Read the text of the active window", "read-window")
        self._menu_action(describe, "Describe in &more detail", "describe-more")
        self._menu_action(describe, "&New screenshot", "new-screenshot")
        text = bar.addMenu("Te&xt")
        self._menu_action(text, "&Read the text of the active window", "read-window")
        self._menu_action(text, "Read the text of the &clipboard image", "read-clipboard")
        self._menu_action(text, "&Find text in the active window", "find-text")
        self._menu_action(text, "Click the f&ound text", "click-found")
        self._menu_action(text, "C&lick this text (the selected line)", "click-line")
        speech = bar.addMenu("S&peech")
        self._menu_action(speech, "&Stop speaking", "stop-speaking")
        self._menu_action(speech, "&Repeat the last answer", "repeat-last")
        self._menu_action(speech, "&Ask a question", "ask-question", QKeySequence("Ctrl+L"))
        self._menu_action(speech, "Ask a spoken &question (hold the key)", "push-to-talk")
        self._menu_action(speech, "&Clear the history", "clear-history")

    def _menu_action(self, menu, text: str, action: str, shortcut: QKeySequence | None = None) -> QAction:
        item = QAction(text, self)
        if shortcut is not None:
            item.setShortcut(shortcut)
        item.setStatusTip(LABELS.get(action, text.replace("&", "").rstrip("…")))
        item.triggered.connect(lambda: self.action_requested.emit(action))
        menu.addAction(item)
        self._menu_items[action] = (item, text)
        return item

    def set_global_keys(self, labels: dict[str, str]) -> None:
        """Show each action's global key (e.g. Ctrl+Alt+Shift+D) beside its menu entry.

        The key is written after a tab, which Qt draws in the shortcut column without making it a
        second, window-only shortcut; entries with a window shortcut keep that one."""
        for action, (item, text) in self._menu_items.items():
            if not item.shortcut().isEmpty():
                continue
            key = labels.get(action, "")
            item.setText(f"{text}\t{key}" if key else text)

    # -- history -----------------------------------------------------------------------------

    def add_entry(self, entry: HistoryEntry) -> None:
        """Put an entry at the top (newest first)."""
        item = QListWidgetItem(entry.display_text())
        item.setData(ENTRY_ROLE, entry)
        self.history.insertItem(0, item)
        self._items[entry.request_id] = item
        while self.history.count() > MAX_ENTRIES:
            old = self.history.takeItem(self.history.count() - 1)
            old_entry = old.data(ENTRY_ROLE)
            if old_entry is not None:
                self._items.pop(old_entry.request_id, None)
        if self.history.currentItem() is None or self.history.currentRow() == 1:
            self.history.setCurrentItem(item)

    def entry(self, request_id: int) -> HistoryEntry | None:
        item = self._items.get(request_id)
        return None if item is None else item.data(ENTRY_ROLE)

    def update_entry(self, entry: HistoryEntry) -> None:
        """Show the entry's current text (streaming pieces, question, status)."""
        item = self._items.get(entry.request_id)
        if item is None:
            return
        item.setData(ENTRY_ROLE, entry)
        item.setText(entry.display_text())
        if item is self.history.currentItem():
            self._show_selected(item)

    def remove_entry(self, request_id: int) -> None:
        item = self._items.pop(request_id, None)
        if item is not None:
            self.history.takeItem(self.history.row(item))

    def entries(self) -> list[HistoryEntry]:
        """Entries as shown, newest first."""
        return [self.history.item(i).data(ENTRY_ROLE) for i in range(self.history.count())]

    def clear_history(self) -> None:
        self.history.clear()
        self._items.clear()
        self.answer_view.clear()

    def copy_selected(self) -> None:
        item = self.history.currentItem()
        if item is not None:
            entry = item.data(ENTRY_ROLE)
            text = entry.answer if entry is not None and entry.answer else item.text()
            QGuiApplication.clipboard().setText(text)
            self.set_status("Copied the answer.")

    def _show_selected(self, item: QListWidgetItem | None, _previous: object = None) -> None:
        self.answer_view.setPlainText(item.text() if item is not None else "")

    # -- text found ------------------------------------------------------------------------

    def show_text_lines(self, lines: list[tuple[str, str, object]]) -> None:
        """Show a read's lines: (text, where it is, its desktop point or None), in reading order."""
        self.text_lines.clear()
        for text, place, point in lines:
            item = QListWidgetItem(f"{text}, {place}" if place else text)
            item.setData(POINT_ROLE, point)
            item.setData(ENTRY_ROLE, text)
            self.text_lines.addItem(item)
        if lines:
            self.text_lines.setCurrentRow(0)

    def selected_line(self) -> tuple[str, object] | None:
        """The selected line's text and desktop point, or None when no line is selected."""
        item = self.text_lines.currentItem()
        return None if item is None else (item.data(ENTRY_ROLE), item.data(POINT_ROLE))

    def _activate_line(self, item: QListWidgetItem) -> None:
        self.line_activated.emit(item.data(ENTRY_ROLE), item.data(POINT_ROLE))

    def focus_find(self) -> None:
        self.show_and_raise()
        _focus_and_select(self.find_edit)

    def _submit_find(self) -> None:
        text = self.find_edit.text().strip()
        if not text:
            self.set_status("Type the text to find first.")
            return
        self.find_submitted.emit(text)

    # -- status, question, level -------------------------------------------------------------

    def set_status(self, text: str) -> None:
        self.status_label.setText(text)

    def show_error(self, text: str) -> None:
        self.status_label.setText("Error: " + text)

    def focus_question(self) -> bool:
        """Bring the window up with the question box focused; True when the box already was the
        window's focus (then Orca may not say it again: see ui.controller.ASK_PROMPT)."""
        already = self.focusWidget() is self.question_edit
        self.show_and_raise()
        _focus_and_select(self.question_edit)
        return already

    def show_and_raise(self) -> None:
        self.show()
        self.setWindowState(self.windowState() & ~Qt.WindowState.WindowMinimized)
        self.raise_()
        self.activateWindow()

    def set_recording(self, recording: bool) -> None:
        self.level_bar.setVisible(recording)
        self.level_bar.setValue(0)

    def set_level(self, level: float) -> None:
        self.level_bar.setValue(max(0, min(100, int(level * 100))))

    def _submit_question(self) -> None:
        text = self.question_edit.text().strip()
        if not text:
            self.set_status("Type a question first.")
            return
        self.question_edit.clear()
        self.question_submitted.emit(text)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        if self.hide_on_close:
            event.ignore()
            self.hide()
        else:
            self.close_requested.emit()
            event.accept()


def _focus_and_select(edit: QLineEdit) -> None:
    """Give `edit` the keyboard focus, then select its text, so that Orca says the field.

    Orca, seeing caret or selection events of a field before its focus event, moves its focus
    there silently and then takes the focus event for the focus it already has: the user heard
    "ScreenSight frame" and nothing of the field. A shortcut focus reason makes QLineEdit select
    its text inside the focus change, before Qt sends the focus event, and so does selecting
    while the window is not yet active (just shown by a hotkey). So the focus comes with no
    selection, and the text is selected only once the field has the focus.
    """
    edit.setFocus(Qt.FocusReason.OtherFocusReason)
    if edit.text():
        QTimer.singleShot(0, edit, lambda: edit.selectAll() if edit.hasFocus() else None)
