"""Errors a user can act on: each carries what went wrong and what to do about it."""

from __future__ import annotations


class ScreenSightError(Exception):
    """Base of every error that is shown and spoken to the user instead of a traceback."""

    def __init__(self, message: str, hint: str = "", app_hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # What to do in the desktop app (menus, not command lines); the CLI shows `hint`.
        self.app_hint = app_hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class ImageError(ScreenSightError):
    """An image file or screenshot that cannot be used."""


class CaptureError(ScreenSightError):
    """The screen, a window or a region could not be captured."""


class ModelError(ScreenSightError):
    """A model is missing, damaged, unsupported or too large for this machine."""


class DownloadError(ScreenSightError):
    """A model download failed."""


class AudioError(ScreenSightError):
    """A microphone or speaker problem."""


class SpeechError(ScreenSightError):
    """Text-to-speech failed."""


class ConfigError(ScreenSightError):
    """The settings file or a command-line option is invalid."""


class TextRecognitionError(ScreenSightError):
    """A text recognition (OCR) engine could not be loaded or failed on an image."""
