"""Accessibility facts: the application, window title and focused control, behind one interface.

`default_source()` gives this platform's source wrapped in TimedFactsSource, so `current()`
answers within QUERY_BUDGET_S (None when late) from any thread.
"""

from __future__ import annotations

import sys

from assistant.facts.base import (
    QUERY_BUDGET_S,
    FactsSource,
    NullFactsSource,
    ScriptedFactsSource,
    TimedFactsSource,
)
from assistant.facts.types import STATE_WORDS, FocusedControl, ScreenFacts

__all__ = ["QUERY_BUDGET_S", "STATE_WORDS", "FactsSource", "FocusedControl", "NullFactsSource",
           "ScreenFacts", "ScriptedFactsSource", "TimedFactsSource", "default_source", "platform_source"]


def platform_source() -> FactsSource:
    """This platform's source, not time-bounded (NullFactsSource where no API is usable)."""
    if sys.platform.startswith("linux"):
        try:
            import jeepney  # noqa: F401
        except ImportError:
            return NullFactsSource()
        from assistant.facts.atspi import AtspiFactsSource

        return AtspiFactsSource()
    if sys.platform == "win32":
        from assistant.facts.uia import UiaFactsSource

        return UiaFactsSource()
    if sys.platform == "darwin":
        from assistant.facts.ax import AxFactsSource

        return AxFactsSource()
    return NullFactsSource()


def default_source(budget: float = QUERY_BUDGET_S) -> FactsSource:
    """This platform's source, answering within `budget` seconds from any thread."""
    source = platform_source()
    if isinstance(source, NullFactsSource):
        return source
    return TimedFactsSource(source, budget)
