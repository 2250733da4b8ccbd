"""The Alt+letter keys (mnemonics) a person can use in a window at one time, found the way Qt does:
menu bar titles, and the buttons, check boxes, tabs and labels with a buddy that are visible."""

from __future__ import annotations

from collections import Counter

from PySide6.QtWidgets import QAbstractButton, QLabel, QMenuBar, QTabBar, QWidget


def mnemonic(text: str) -> str | None:
    """The letter after a single '&' ("&&" is a literal ampersand), lower case; None without one."""
    index = 0
    while index < len(text) - 1:
        if text[index] == "&":
            if text[index + 1] != "&":
                return text[index + 1].lower()
            index += 1
        index += 1
    return None


def visible_mnemonics(window: QWidget) -> list[tuple[str, str]]:
    """(letter, where) for each mnemonic that Alt+letter can reach now."""
    found: list[tuple[str, str]] = []

    def add(text: str, where: str) -> None:
        letter = mnemonic(text)
        if letter is not None:
            found.append((letter, where))

    for bar in window.findChildren(QMenuBar):
        for action in bar.actions():
            add(action.text(), f"menu {action.text()!r}")
    for tabs in window.findChildren(QTabBar):
        if tabs.isVisible():
            for index in range(tabs.count()):
                add(tabs.tabText(index), f"tab {tabs.tabText(index)!r}")
    for button in window.findChildren(QAbstractButton):
        if button.isVisible():
            add(button.text(), f"button {button.text()!r}")
    for label in window.findChildren(QLabel):
        if label.isVisible() and label.buddy() is not None:
            add(label.text(), f"label {label.text()!r}")
    return found


def clashes(window: QWidget) -> dict[str, list[str]]:
    """Letters used more than once among the visible mnemonics, with where each is used."""
    found = visible_mnemonics(window)
    counts = Counter(letter for letter, _where in found)
    return {letter: [where for other, where in found if other == letter]
            for letter, count in counts.items() if count > 1}
