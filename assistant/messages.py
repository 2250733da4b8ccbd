"""How errors read in the window and to the screen reader."""

from __future__ import annotations

from base.errors import ScreenSightError


def error_text(exc: BaseException) -> str:
    """The message and what to do in the app, in one line."""
    if isinstance(exc, ScreenSightError):
        return f"{exc.message} {exc.app_hint or exc.hint}".strip()
    return f"{exc.__class__.__name__}: {exc}"
