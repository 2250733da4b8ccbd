"""Accessible names and descriptions, set the same way on every control."""

from __future__ import annotations

import functools
import sys

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer
from PySide6.QtGui import QAccessible, QAccessibleEvent, QAccessibleInterface, QGuiApplication, QPalette, QTextDocument
from PySide6.QtWidgets import QComboBox, QFrame, QSizePolicy, QTextEdit, QWidget


def describe(widget: QWidget, name: str, description: str) -> QWidget:
    """Give a control its accessible name, description and tooltip (a combo box's list too, and
    on AT-SPI desktops the announcement of its new choice)."""
    widget.setAccessibleName(name)
    widget.setAccessibleDescription(description)
    widget.setToolTip(description)
    if isinstance(widget, QComboBox):
        widget.view().setAccessibleName(f"{name} choices")
        widget.view().setAccessibleDescription(description)
        if uses_atspi() and widget.findChild(ComboChoiceAnnouncer) is None:
            ComboChoiceAnnouncer(widget)
    return widget


def uses_atspi() -> bool:
    """Whether Qt's accessibility goes to AT-SPI here (Linux and the BSDs; not Windows or macOS)."""
    return sys.platform not in ("win32", "darwin")


class ComboChoiceAnnouncer(QObject):
    """Makes Orca say the new item when a closed combo box's choice changes by keyboard.

    For Up, Down, Home, End, Page keys or a typed letter in a closed, non-editable combo box,
    Qt 6 sends AT-SPI only object:property-change:accessible-name and object:selection-changed
    on the combo box, and selected-state and selection-changed events on its hidden list. Orca
    drops them all: the name change of a combo box as redundant, the combo box's selection change
    because Qt's combo box has no Selection interface (GTK's has one, and Orca then moves its
    focus to the selected menu item), the list's since it manages its descendants. So, after such
    a key, the selected item of the list is given the accessibility focus, as GTK's combo box
    does through its selection: Orca speaks it (the first time after the box got the focus, with
    the list's name and size). Only on AT-SPI: on Windows and macOS Qt turns the same change into
    a UIA/MSAA or NSAccessibility value change, which NVDA, Narrator and VoiceOver speak, and a
    focus event there would say it twice.
    """

    def __init__(self, combo: QComboBox) -> None:
        super().__init__(combo)
        self._combo = combo
        combo.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if watched is self._combo and event.type() == QEvent.Type.KeyPress \
                and not self._combo.isEditable():
            # The combo box handles the key after this filter: look once it has.
            QTimer.singleShot(0, self, functools.partial(self._announce_if_changed,
                                                         self._combo.currentIndex()))
        return False

    def _announce_if_changed(self, before: int) -> None:
        combo = self._combo
        row = combo.currentIndex()
        if row == before or row < 0 or not combo.hasFocus() or combo.view().isVisible() \
                or not QAccessible.isActive():
            return  # no change, or the open list reports its own focus
        item = self._list_item(row)
        if item is not None:
            QAccessible.updateAccessibility(QAccessibleEvent(item, QAccessible.Event.Focus))

    def _list_item(self, row: int) -> QAccessibleInterface | None:
        """The accessible of the combo box's list item at `row` (None when the list has none)."""
        view = QAccessible.queryAccessibleInterface(self._combo.view())
        if view is None:
            return None
        text = self._combo.itemText(row)
        item = view.child(row) if row < view.childCount() else None
        if item is not None and item.text(QAccessible.Text.Name) == text:
            return item
        for index in range(view.childCount()):
            child = view.child(index)
            if child is not None and child.text(QAccessible.Text.Name) == text:
                return child
        return None


class ReadableText(QTextEdit):
    """Text shown like a wrapped label, but read-only *text* to assistive technology: AT-SPI,
    UI Automation and NSAccessibility expose its words (a QLabel only has a name), a screen
    reader reads it when it gets focus and hears its changes. It grows with its text, so
    nothing is cut off at large text sizes."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setAcceptRichText(False)
        self.setTabChangesFocus(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setLineWrapMode(QTextEdit.LineWrapMode.WidgetWidth)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByKeyboard
                                     | Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Base, palette.color(QPalette.ColorRole.Window))
        self.setPalette(palette)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
        self.document().contentsChanged.connect(self._fit)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - the QLabel name, so callers need not care
        if text != self.toPlainText():
            self.setPlainText(text)

    def text(self) -> str:
        return self.toPlainText()

    def _content_height(self, width: int) -> int:
        document = QTextDocument()
        document.setDefaultFont(self.font())
        document.setDocumentMargin(self.document().documentMargin())
        document.setPlainText(self.toPlainText())
        document.setTextWidth(max(1, width - 2 * self.frameWidth()))
        margins = self.contentsMargins()
        return int(document.size().height()) + margins.top() + margins.bottom() + 2 * self.frameWidth()

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt API
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt API
        return self._content_height(width)

    def _hint_width(self) -> int:
        """The width laid out, or about 50 characters before the first layout."""
        return self.width() if self.isVisible() and self.width() > 50 else \
            50 * self.fontMetrics().averageCharWidth()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        width = self._hint_width()
        return QSize(width, self._content_height(width))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(10 * self.fontMetrics().averageCharWidth(), self.minimumHeight())

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._fit()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        self._fit()

    def _fit(self) -> None:
        """Keep every line visible at the width the layout gave (set once laid out and shown)."""
        if not self.isVisible():
            self.setMinimumHeight(0)
            self.updateGeometry()
            return
        height = self._content_height(self.width())
        if self.minimumHeight() != height:
            self.setMinimumHeight(height)
            self.updateGeometry()
            window = self.window()
            if window is not None and window is not self and window.isVisible():
                layout = window.layout()
                if layout is not None:
                    layout.activate()
                if window.height() < window.minimumSizeHint().height():
                    window.adjustSize()
                    width, height = fitting_size(window.width(), window.height())
                    if (width, height) != (window.width(), window.height()):
                        window.resize(width, height)  # never past the screen


def readable_label(parent: QWidget, text: str, name: str, description: str) -> ReadableText:
    """Wrapped text that keyboard and screen-reader users can focus, read, select and copy."""
    label = ReadableText(text, parent)
    describe(label, name, description)
    return label


def fitting_size(width: int, height: int) -> tuple[int, int]:
    """The size asked for, made smaller where the screen (or large text scaling) leaves less room."""
    screen = QGuiApplication.primaryScreen()
    if screen is None:
        return width, height
    room = screen.availableGeometry()
    return min(width, room.width() - 40), min(height, room.height() - 60)
