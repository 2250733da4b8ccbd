"""Builds the speaker for the output setting: own voice, the screen reader, both, or text only."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from assistant.config import Settings
from assistant.errors import ScreenSightError
from assistant.speaker import Speaker
from assistant.tts import TTSEngine, make_engine
from ui.screen_reader import Announcer, BothEngine, ScreenReaderEngine, announcements_supported

log = logging.getLogger(__name__)

VOICE_ENGINE_ENV = "SCREENSIGHT_TTS"          # pyttsx3 (default) | wav | silent | spy
VOICE_WAV_ENV = "SCREENSIGHT_TTS_WAV"         # the file for SCREENSIGHT_TTS=wav


def voice_engine() -> TTSEngine:
    """The app's own voice: pyttsx3 unless SCREENSIGHT_TTS chooses another engine."""
    kind = os.environ.get(VOICE_ENGINE_ENV, "pyttsx3") or "pyttsx3"
    wav = os.environ.get(VOICE_WAV_ENV, "")
    return make_engine(kind, wav_path=Path(wav) if wav else None)


def make_tts(settings: Settings, announcer: Announcer,
             on_error: Callable[[Exception], None]) -> TTSEngine | None:
    """The engine for settings.output; None for text only. A broken voice falls back to the screen reader."""
    output = settings.output
    if output == "text":
        return None
    if output == "screen_reader" and announcements_supported():
        return ScreenReaderEngine(announcer)
    try:
        voice = voice_engine()
        voice.configure(voice=settings.voice or None, rate=settings.rate, volume=settings.volume)
    except ScreenSightError as exc:
        on_error(exc)
        return ScreenReaderEngine(announcer)
    if output == "both" and announcements_supported():
        return BothEngine(voice, announcer)
    return voice


def make_speaker(settings: Settings, announcer: Announcer, on_audio_start: Callable[[object], None],
                 on_error: Callable[[Exception], None]) -> Speaker | None:
    tts = make_tts(settings, announcer, on_error)
    if tts is None:
        return None
    return Speaker(tts, on_audio_start=on_audio_start, on_error=on_error)
