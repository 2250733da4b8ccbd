"""Value types of accessibility facts: the application, the window, and the focused control."""

from __future__ import annotations

from dataclasses import dataclass

# The state words a FocusedControl may carry, in the order they are listed and spoken.
STATE_WORDS = ("checked", "not checked", "partially checked", "pressed", "selected", "expanded",
               "collapsed", "disabled", "read only", "required", "invalid", "busy")

MAX_NAME_CHARS = 200
MAX_VALUE_CHARS = 300


@dataclass(frozen=True)
class FocusedControl:
    """The control with keyboard focus, as the platform's accessibility API describes it.

    role: a plain English role ("button", "check box", "text field", "password field"...).
    value: the text of a text field (the caret's line in a multi-line one), a slider's number, a
    combo box's choice; None when the control has none and always None for a password field.
    states: words from STATE_WORDS, in that order.
    """

    role: str
    name: str = ""
    value: str | None = None
    states: tuple[str, ...] = ()
    secret: bool = False  # a password field: its value is never read

    def describe(self) -> str:
        """One phrase for a person: 'check box "Gift wrap", checked'."""
        parts = [self.role]
        if self.name:
            parts.append(f'"{self.name}"')
        text = " ".join(parts)
        if self.value is not None and not self.secret:
            text += f', value "{self.value}"'
        if self.states:
            text += ", " + ", ".join(self.states)
        return text


@dataclass(frozen=True)
class ScreenFacts:
    """What the accessibility API says about the screen at one moment (values, never live objects)."""

    application: str = ""
    window: str = ""
    focused: FocusedControl | None = None
    source: str = ""  # "atspi", "uia", "ax", "scripted"

    def texts(self) -> tuple[str, ...]:
        """Every string here that is text on the screen (for checking quotes); no secret values."""
        out = [self.application, self.window]
        if self.focused is not None:
            out.append(self.focused.name)
            if self.focused.value is not None and not self.focused.secret:
                out.append(self.focused.value)
        return tuple(t for t in out if t)


def clip(text: str | None, limit: int) -> str:
    """Single-spaced text cut to `limit` characters ("" for None)."""
    if not text:
        return ""
    return " ".join(str(text).split())[:limit].rstrip()


def ordered_states(states: set[str] | frozenset[str]) -> tuple[str, ...]:
    """State words in STATE_WORDS order (unknown words dropped)."""
    return tuple(word for word in STATE_WORDS if word in states)


def caret_line(text: str, caret: int) -> str:
    """The line of `text` the caret (a character offset) is on; the last line if caret is past the end."""
    caret = max(0, min(caret, len(text)))
    start = text.rfind("\n", 0, caret) + 1
    end = text.find("\n", caret)
    return text[start:] if end < 0 else text[start:end]
