"""Linux: accessibility facts from AT-SPI over D-Bus (jeepney), reusing secure_input's connection.

One query: the applications on the accessibility bus, their active window, the focused object in
it (the last one found is tried first), then that object's role, name, states and value. Every
D-Bus call waits at most what is left of the query's budget, so a hung application costs time
once and the query still ends in time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from assistant.facts.base import QUERY_BUDGET_S, FactsSource
from assistant.facts.types import (
    MAX_NAME_CHARS,
    MAX_VALUE_CHARS,
    FocusedControl,
    ScreenFacts,
    caret_line,
    clip,
    ordered_states,
)
from assistant.secure_input import (
    ACCESSIBLE,
    REGISTRY_NAME,
    ROLE_PASSWORD_TEXT,
    ROOT_PATH,
    STATE_ACTIVE,
    STATE_DEFUNCT,
    STATE_FOCUSED,
    STATE_SHOWING,
    AtspiDetector,
    has_state,
)

log = logging.getLogger(__name__)

Ref = tuple[str, str]  # (bus name, object path)

PROPERTIES = "org.freedesktop.DBus.Properties"
TEXT = "org.a11y.atspi.Text"
VALUE = "org.a11y.atspi.Value"
NULL_PATH = "/org/a11y/atspi/null"
CALL_TIMEOUT_S = 0.05  # one D-Bus call, at most (less when the query's budget runs out first)
MAX_NODES = 2000
TEXT_WINDOW = 2000  # characters read around the caret of a multi-line text

# AtspiStateType values (at-spi2-core atspi-constants.h) beyond those secure_input names.
STATE_BUSY = 3
STATE_CHECKED = 4
STATE_EDITABLE = 7
STATE_ENABLED = 8
STATE_EXPANDABLE = 9
STATE_EXPANDED = 10
STATE_MULTI_LINE = 17
STATE_PRESSED = 20
STATE_SELECTED = 23
STATE_INDETERMINATE = 32
STATE_REQUIRED = 33
STATE_INVALID_ENTRY = 36
STATE_CHECKABLE = 41
STATE_READ_ONLY = 43

# AtspiRole values mapped to the plain role words facts use; others use the API's own role name.
ROLES = {
    2: "alert", 7: "check box", 8: "check menu item", 11: "combo box", 16: "dialog", 23: "window",
    26: "icon", 27: "image", 29: "label", 31: "list", 32: "list item", 33: "menu", 34: "menu bar",
    35: "menu item", 37: "tab", 38: "tab list", 40: "password field", 42: "progress bar",
    43: "button", 44: "radio button", 45: "radio menu item", 48: "scroll bar", 51: "slider",
    52: "spin box", 54: "status bar", 55: "table", 56: "table cell", 60: "terminal", 61: "text field",
    62: "toggle button", 63: "toolbar", 65: "tree", 69: "window", 73: "paragraph", 79: "text field",
    82: "document", 83: "heading", 88: "link", 91: "tree item", 94: "document", 95: "web page",
}
CHECKABLE_ROLES = frozenset({"check box", "check menu item", "radio button", "radio menu item"})
TEXT_ROLES = frozenset({"text field", "terminal", "document", "paragraph"})
VALUE_ROLES = frozenset({"slider", "spin box", "progress bar", "scroll bar"})


def role_word(role: int | None, role_name: str = "") -> str:
    """The plain role word for an AtspiRole number (the API's own name when unmapped)."""
    if role is not None and role in ROLES:
        return ROLES[role]
    return role_name or "unknown"


def state_words(role: str, states: list[int] | tuple[int, ...]) -> tuple[str, ...]:
    """The FocusedControl state words for an AT-SPI state set (array of 32-bit words)."""
    words: set[str] = set()
    if role == "toggle button":
        if has_state(states, STATE_CHECKED) or has_state(states, STATE_PRESSED):
            words.add("pressed")
    elif role in CHECKABLE_ROLES or has_state(states, STATE_CHECKABLE):
        if has_state(states, STATE_INDETERMINATE):
            words.add("partially checked")
        else:
            words.add("checked" if has_state(states, STATE_CHECKED) else "not checked")
    if has_state(states, STATE_SELECTED):
        words.add("selected")
    if has_state(states, STATE_EXPANDABLE):
        words.add("expanded" if has_state(states, STATE_EXPANDED) else "collapsed")
    if not has_state(states, STATE_ENABLED):
        words.add("disabled")
    if has_state(states, STATE_READ_ONLY) or (role == "text field" and not has_state(states, STATE_EDITABLE)):
        words.add("read only")
    for state, word in ((STATE_REQUIRED, "required"), (STATE_INVALID_ENTRY, "invalid"), (STATE_BUSY, "busy")):
        if has_state(states, state):
            words.add(word)
    return ordered_states(words)


def text_value(text: str, caret: int, multi_line: bool) -> str:
    """A text field's value for the facts: the whole (bounded) text, or the caret's line."""
    if multi_line:
        text = caret_line(text, caret)
    return clip(text, MAX_VALUE_CHARS)


def number_text(value: float) -> str:
    """A Value interface number as a person reads it: 42, not 42.0."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


class _Query:
    """One facts query on an open connection, with its deadline."""

    def __init__(self, conn: Any, deadline: float, call_timeout: float) -> None:
        self.conn = conn
        self.deadline = deadline
        self.call_timeout = call_timeout

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def call(self, ref: Ref, interface: str, method: str, signature: str | None = None,
             body: tuple = ()) -> Any:
        """The reply body, or None if the object is gone, mute or the time is up."""
        from jeepney import DBusAddress, MessageType, new_method_call

        timeout = min(self.call_timeout, self.left())
        if timeout <= 0:
            return None
        message = new_method_call(DBusAddress(ref[1], bus_name=ref[0], interface=interface),
                                  method, signature, body)
        try:
            reply = self.conn.send_and_get_reply(message, timeout=timeout)
        except TimeoutError:
            log.debug("AT-SPI: %s %s did not answer %s", ref[0], ref[1], method)
            return None
        if reply.header.message_type != MessageType.method_return:
            return None
        return reply.body

    def prop(self, ref: Ref, interface: str, name: str) -> Any:
        body = self.call(ref, PROPERTIES, "Get", "ss", (interface, name))
        if not body:
            return None
        variant = body[0]
        return variant[1] if isinstance(variant, tuple) and len(variant) == 2 else variant

    def states(self, ref: Ref) -> list[int] | None:
        body = self.call(ref, ACCESSIBLE, "GetState")
        return list(body[0]) if body else None

    def children(self, ref: Ref) -> list[Ref]:
        body = self.call(ref, ACCESSIBLE, "GetChildren")
        if not body:
            return []
        return [(str(n), str(p)) for n, p in body[0] if n and p != NULL_PATH]

    def name(self, ref: Ref) -> str:
        value = self.prop(ref, ACCESSIBLE, "Name")
        return clip(value if isinstance(value, str) else "", MAX_NAME_CHARS)

    def focused_in(self, window: Ref) -> Ref | None:
        """The focused object inside a window, breadth first through showing objects."""
        queue = deque([window])
        visited = 0
        while queue and visited < MAX_NODES and self.left() > 0:
            ref = queue.popleft()
            visited += 1
            states = self.states(ref)
            if not states or has_state(states, STATE_DEFUNCT):
                continue
            if has_state(states, STATE_FOCUSED):
                return ref
            if ref == window or has_state(states, STATE_SHOWING):
                queue.extend(self.children(ref))
        return None

    def control(self, ref: Ref, states: list[int]) -> FocusedControl:
        body = self.call(ref, ACCESSIBLE, "GetRole")
        role_number = int(body[0]) if body else None
        role_name = ""
        if role_number not in ROLES:
            named = self.call(ref, ACCESSIBLE, "GetRoleName")
            role_name = str(named[0]) if named else ""
        role = role_word(role_number, role_name)
        secret = role_number == ROLE_PASSWORD_TEXT
        name = self.name(ref)
        value = None if secret else self.value(ref, role, states)
        return FocusedControl(role, name, value, state_words(role, states), secret)

    def value(self, ref: Ref, role: str, states: list[int]) -> str | None:
        interfaces = self.call(ref, ACCESSIBLE, "GetInterfaces")
        interfaces = set(interfaces[0]) if interfaces else set()
        if TEXT in interfaces and (role in TEXT_ROLES or has_state(states, STATE_EDITABLE)):
            count = self.prop(ref, TEXT, "CharacterCount")
            caret = self.prop(ref, TEXT, "CaretOffset")
            if not isinstance(count, int):
                return None
            caret = caret if isinstance(caret, int) and caret >= 0 else 0
            multi = has_state(states, STATE_MULTI_LINE)
            start = max(0, caret - TEXT_WINDOW) if multi else 0
            end = min(count, caret + TEXT_WINDOW) if multi else min(count, MAX_VALUE_CHARS + 1)
            body = self.call(ref, TEXT, "GetText", "ii", (start, end))
            return text_value(str(body[0]), caret - start, multi) if body else None
        if VALUE in interfaces and role in VALUE_ROLES:
            current = self.prop(ref, VALUE, "CurrentValue")
            return number_text(current) if isinstance(current, int | float) else None
        return None


class AtspiFactsSource(FactsSource):
    """Linux: the application, active window and focused control from the AT-SPI bus.

    Applications expose their tree when a screen reader runs or accessibility is switched on
    (GNOME/KDE settings, QT_LINUX_ACCESSIBILITY_ALWAYS_ON=1). A query that runs out of time
    after finding the window answers the application and window without a focused control.
    """

    name = "atspi"

    def __init__(self, session_bus: str | None = None, budget: float = QUERY_BUDGET_S,
                 call_timeout: float = CALL_TIMEOUT_S) -> None:
        self._bus = AtspiDetector(session_bus=session_bus, call_timeout=call_timeout, budget=budget)
        self._budget = budget
        self._call_timeout = call_timeout
        self._lock = threading.Lock()
        self._last: tuple[Ref, Ref, Ref] | None = None  # (application, window, focused) of the last answer

    def prepare(self) -> None:
        try:
            with self._lock:
                self._bus._connection()  # noqa: SLF001 - the detector's connection code, reused
        except (OSError, ValueError, KeyError, TimeoutError, ImportError) as exc:
            log.info("AT-SPI is not reachable: %s", exc)
            self._bus.close()

    def close(self) -> None:
        self._bus.close()

    def current(self) -> ScreenFacts | None:
        start = time.monotonic()
        if not self._lock.acquire(timeout=self._budget):
            return None
        try:
            conn = self._bus._connection()  # noqa: SLF001
            if conn is None:
                return None
            return self._query(_Query(conn, start + self._budget, self._call_timeout))
        except (OSError, ValueError, KeyError, TimeoutError, ImportError) as exc:
            log.info("AT-SPI cannot tell what is focused: %s", exc)
            self._bus.close()
            return None
        finally:
            self._lock.release()

    def _query(self, query: _Query) -> ScreenFacts | None:
        found = self._known_focus(query) or self._find_focus(query)
        if found is None:
            return None
        app, window, focused = found
        facts = ScreenFacts(query.name(app), query.name(window), None, self.name)
        if focused is None:
            return facts
        states = query.states(focused)
        if not states:
            return facts
        self._last = (app, window, focused)
        return ScreenFacts(facts.application, facts.window, query.control(focused, states), self.name)

    def _known_focus(self, query: _Query) -> tuple[Ref, Ref, Ref] | None:
        """The last answer's objects, if its window is still active and its object still focused."""
        if self._last is None:
            return None
        app, window, focused = self._last
        window_states = query.states(window)
        focused_states = query.states(focused)
        if (window_states and has_state(window_states, STATE_ACTIVE) and focused_states
                and has_state(focused_states, STATE_FOCUSED) and not has_state(focused_states, STATE_DEFUNCT)):
            return self._last
        self._last = None
        return None

    def _find_focus(self, query: _Query) -> tuple[Ref, Ref, Ref | None] | None:
        """(application, active window, focused object or None) from a fresh walk."""
        active: list[tuple[Ref, Ref]] = []
        for app in query.children((REGISTRY_NAME, ROOT_PATH)):
            if query.left() <= 0:
                break
            for window in query.children(app):
                states = query.states(window)
                if states and has_state(states, STATE_ACTIVE):
                    active.append((app, window))
        for app, window in active:
            focused = query.focused_in(window)
            if focused is not None:
                return app, window, focused
        if active:
            return active[0][0], active[0][1], None
        return None
