"""What a speech recognizer returns: the text and what it learned (like faster-whisper's info)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TranscriptionStats:
    """What one transcription did: how much audio, how many windows and tokens."""

    audio_seconds: float = 0.0
    windows: int = 0
    tokens: int = 0
    token_budget: int = 0


@dataclass(frozen=True)
class Transcript:
    """The text of some audio, the language it was transcribed in (None: nothing was), and the stats."""

    text: str
    language: str | None = None
    stats: TranscriptionStats = TranscriptionStats()
