"""macOS global hotkeys that are consumed: pynput's event tap with a `darwin_intercept` that
returns None (swallows the event) for the key-down, repeats and key-up of a matched combination.

Chosen over Carbon's RegisterEventHotKey: pynput is already a dependency, its key names and
ComboMatcher are shared with the other backends, and key-up comes with the tap (push-to-talk
needs the release). Carbon needs no Accessibility permission, but its Python bindings are gone
from current PyObjC and its events need a Carbon event target on the main run loop, which Qt
owns. The tap needs Accessibility and Input Monitoring permission, which the app already asks
for. Modifier events (flagsChanged) always pass, so no application sees a stuck modifier.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assistant.hotkeys.base import MODIFIERS, ComboMatcher, PynputHotkeys, key_name

# Quartz CGEventType values (CGEventTypes.h); importing Quartz is only possible on macOS.
KEY_DOWN, KEY_UP, FLAGS_CHANGED = 10, 11, 12


class SwallowGate:
    """Feeds pynput's key callbacks to the matcher and tells the intercept, which pynput calls
    right after the callback for the same event on the same thread, whether to swallow it."""

    def __init__(self, matcher: ComboMatcher, name_of: Callable[[Any], str]) -> None:
        self._matcher = matcher
        self._name_of = name_of
        self._swallow = False
        self.suspended = False

    def on_press(self, key: Any) -> None:
        name = self._name_of(key)
        if self.suspended and name not in MODIFIERS:  # modifiers stay tracked; nothing fires
            self._swallow = False
            return
        self._swallow = self._matcher.key_down(name)

    def on_release(self, key: Any) -> None:
        ours = self._matcher.key_up(self._name_of(key))
        self._swallow = ours and not self.suspended

    def intercept(self, event_type: int, event: Any) -> Any:
        """None swallows the event; anything else passes it on."""
        swallow, self._swallow = self._swallow, False
        return None if swallow and event_type in (KEY_DOWN, KEY_UP) else event


class MacHotkeys(PynputHotkeys):
    """pynput's listener, swallowing the matched keys through darwin_intercept."""

    name = "macos-event-tap"

    def __init__(self) -> None:
        super().__init__()
        self._gate: SwallowGate | None = None

    def _listener_options(self, keyboard: Any, matcher: ComboMatcher) -> dict[str, Any]:
        gate = SwallowGate(matcher, lambda key: key_name(keyboard, key))
        self._gate = gate
        return {"on_press": gate.on_press, "on_release": gate.on_release,
                "darwin_intercept": gate.intercept}

    def suspend(self) -> None:
        if self._gate is not None:
            self._gate.suspended = True

    def resume(self) -> list[str]:
        if self._gate is not None:
            self._gate.suspended = False
        return []
