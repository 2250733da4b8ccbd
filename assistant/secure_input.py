"""Is a password field focused? Asked before a screenshot is taken, so secrets are never described.

One interface, several implementations: AT-SPI over D-Bus on Linux (pure-Python jeepney, so it
runs inside the app's own Python), UI Automation on Windows (comtypes), and a NullDetector that
cannot tell. `focused_password_field()` answers True, False, or None when it cannot tell.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from typing import Any

from assistant.uia_client import UIAutomationClient

log = logging.getLogger(__name__)

# AT-SPI constants (at-spi2-core atspi-constants.h): AtspiRole and AtspiStateType values.
ROLE_PASSWORD_TEXT = 40
STATE_ACTIVE = 1
STATE_DEFUNCT = 6
STATE_FOCUSED = 12
STATE_SHOWING = 25

REGISTRY_NAME = "org.a11y.atspi.Registry"
ROOT_PATH = "/org/a11y/atspi/accessible/root"
ACCESSIBLE = "org.a11y.atspi.Accessible"

CALL_TIMEOUT_S = 0.25   # one D-Bus call; an application that hangs is skipped
QUERY_BUDGET_S = 1.0    # the whole question, however many applications there are
MAX_NODES = 3000        # accessible objects visited per question


class SecureInputDetector(ABC):
    """Tells whether the focused control takes a secret (a password field)."""

    name: str = ""

    @abstractmethod
    def focused_password_field(self) -> bool | None:
        """True if a password field has keyboard focus, False if another control has it, None if unknown."""

    def close(self) -> None:  # noqa: B027 - most detectors hold nothing to release
        """Release connections; calling it twice is harmless."""


class NullDetector(SecureInputDetector):
    """Cannot tell (platforms without an accessibility API we use, tests, the benchmark)."""

    name = "null"

    def focused_password_field(self) -> bool | None:
        return None


class FixedDetector(SecureInputDetector):
    """For tests: answers what it is told, and counts how often it was asked."""

    name = "fixed"

    def __init__(self, answer: bool | None) -> None:
        self.answer = answer
        self.calls = 0

    def focused_password_field(self) -> bool | None:
        self.calls += 1
        return self.answer


def has_state(states: list[int] | tuple[int, ...], state: int) -> bool:
    """Whether an AT-SPI state set (an array of 32-bit words) contains `state`."""
    word, bit = divmod(state, 32)
    return word < len(states) and bool(states[word] & (1 << bit))


class AtspiDetector(SecureInputDetector):
    """Linux: asks the AT-SPI accessibility bus which object is focused and what its role is.

    Applications expose their accessibility tree when a screen reader (Orca) runs, or when
    accessibility is switched on (GNOME/KDE settings, QT_LINUX_ACCESSIBILITY_ALWAYS_ON=1).
    The walk starts at each application's active window and only enters showing objects.
    """

    name = "atspi"

    def __init__(self, session_bus: str | None = None, call_timeout: float = CALL_TIMEOUT_S,
                 budget: float = QUERY_BUDGET_S) -> None:
        self._session_bus = session_bus
        self._call_timeout = call_timeout
        self._budget = budget
        self._lock = threading.Lock()
        self._conn: Any = None

    # -- connection -------------------------------------------------------------------------

    def _bus_address(self) -> str | None:
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection

        address = os.environ.get("AT_SPI_BUS_ADDRESS")
        if address:
            return address
        session = self._session_bus or os.environ.get("DBUS_SESSION_BUS_ADDRESS")
        if not session:
            return None
        bus = DBusAddress("/org/a11y/bus", bus_name="org.a11y.Bus", interface="org.a11y.Bus")
        with open_dbus_connection(bus=session) as conn:
            reply = conn.send_and_get_reply(new_method_call(bus, "GetAddress"),
                                            timeout=self._call_timeout)
        if reply.header.message_type.name != "method_return" or not reply.body:
            return None
        return str(reply.body[0]) or None

    def _connection(self) -> Any:
        if self._conn is None:
            from jeepney.io.blocking import open_dbus_connection

            address = self._bus_address()
            if address is None:
                return None
            self._conn = open_dbus_connection(bus=address)
        return self._conn

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    # -- queries ----------------------------------------------------------------------------

    def _call(self, name: str, path: str, method: str, signature: str | None = None,
              body: tuple = ()) -> Any:
        """The reply body of one Accessible method, or None if the object is gone or mute."""
        from jeepney import DBusAddress, MessageType, new_method_call

        address = DBusAddress(path, bus_name=name, interface=ACCESSIBLE)
        message = new_method_call(address, method, signature, body)
        try:
            reply = self._conn.send_and_get_reply(message, timeout=self._call_timeout)
        except TimeoutError:
            log.debug("AT-SPI: %s %s did not answer %s", name, path, method)
            return None
        if reply.header.message_type != MessageType.method_return:
            return None
        return reply.body

    def _states(self, ref: tuple[str, str]) -> list[int] | None:
        body = self._call(ref[0], ref[1], "GetState")
        return list(body[0]) if body else None

    def _children(self, ref: tuple[str, str]) -> list[tuple[str, str]]:
        body = self._call(ref[0], ref[1], "GetChildren")
        if not body:
            return []
        return [(str(n), str(p)) for n, p in body[0] if n and p != "/org/a11y/atspi/null"]

    def _role(self, ref: tuple[str, str]) -> int | None:
        body = self._call(ref[0], ref[1], "GetRole")
        return int(body[0]) if body else None

    def _focused(self, deadline: float) -> tuple[str, str] | None:
        """The focused accessible of the active window, breadth first through showing objects."""
        apps = self._children((REGISTRY_NAME, ROOT_PATH))
        windows: list[tuple[str, str]] = []
        for app in apps:
            if time.monotonic() > deadline:
                break
            for window in self._children(app):
                states = self._states(window)
                if states and has_state(states, STATE_ACTIVE):
                    windows.append(window)
        queue = deque(windows)
        visited = 0
        while queue and visited < MAX_NODES and time.monotonic() < deadline:
            ref = queue.popleft()
            visited += 1
            states = self._states(ref)
            if not states or has_state(states, STATE_DEFUNCT):
                continue
            if has_state(states, STATE_FOCUSED):
                return ref
            if ref in windows or has_state(states, STATE_SHOWING):
                queue.extend(self._children(ref))
        return None

    def focused_password_field(self) -> bool | None:
        try:
            with self._lock:
                if self._connection() is None:
                    return None
                focused = self._focused(time.monotonic() + self._budget)
                if focused is None:
                    return None
                return self._role(focused) == ROLE_PASSWORD_TEXT
        except (OSError, ValueError, KeyError, TimeoutError, ImportError) as exc:
            log.info("AT-SPI cannot tell what is focused: %s", exc)
            self.close()
            return None


def _com_errors() -> tuple[type[BaseException], ...]:
    """COMError exists only where ctypes has COM (Windows)."""
    try:
        from _ctypes import COMError  # type: ignore[attr-defined]
    except ImportError:
        return ()
    return (COMError,)


class UiaDetector(SecureInputDetector):
    """Windows: UI Automation's focused element and its IsPassword property (through comtypes)."""

    name = "uia"

    def __init__(self) -> None:
        self._client = UIAutomationClient()

    def _automation(self) -> Any:
        return self._client.get()

    def focused_password_field(self) -> bool | None:
        try:
            element = self._automation().GetFocusedElement()
            if element is None:
                return None
            return bool(element.CurrentIsPassword)
        except (ImportError, OSError, AttributeError, ValueError, *_com_errors()) as exc:
            log.info("UI Automation cannot tell what is focused: %s", exc)
            return None


def default_detector() -> SecureInputDetector:
    """The detector for this platform; a NullDetector where no accessibility API is reachable."""
    if sys.platform.startswith("linux"):
        try:
            import jeepney  # noqa: F401
        except ImportError:
            return NullDetector()
        return AtspiDetector()
    if sys.platform == "win32":
        return UiaDetector()
    return NullDetector()
