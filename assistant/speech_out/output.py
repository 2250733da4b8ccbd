"""Builds the speaker for the output setting: own voice, the screen reader, both, or text only.

"screen_reader": the detected reader speaks (assistant.speech_out.screen_readers); with none running or
reachable, the own voice says so once and speaks until one is found. "both": the own voice
speaks and the reader gets the text on its braille display where it can show it without
speaking it a second time (NVDA, JAWS).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from assistant.config import Settings
from assistant.speech_out.screen_readers import (
    BothEngine,
    ReaderWatch,
    ScreenReader,
    ScreenReaderEngine,
    default_readers,
)
from assistant.speech_out.speaker import Speaker
from assistant.speech_out.tts import SilentEngine, TTSEngine, make_tts_engine
from base.errors import ScreenSightError
from base.vocabulary import Output

log = logging.getLogger(__name__)

VOICE_ENGINE_ENV = "SCREENSIGHT_TTS"          # pyttsx3 (default) | wav | silent | spy
VOICE_WAV_ENV = "SCREENSIGHT_TTS_WAV"         # the file for SCREENSIGHT_TTS=wav


def voice_engine() -> TTSEngine:
    """The app's own voice: pyttsx3 unless SCREENSIGHT_TTS chooses another engine."""
    kind = os.environ.get(VOICE_ENGINE_ENV, "pyttsx3") or "pyttsx3"
    wav = os.environ.get(VOICE_WAV_ENV, "")
    return make_tts_engine(kind, wav_path=Path(wav) if wav else None)


def configured_voice(settings: Settings) -> TTSEngine:
    voice = voice_engine()
    voice.configure(voice=settings.voice or None, rate=settings.rate, volume=settings.volume)
    return voice


def make_tts(settings: Settings, window_reader: ScreenReader, on_error: Callable[[Exception], None],
             on_notice: Callable[[str], None] | None = None,
             watch: ReaderWatch | None = None) -> TTSEngine | None:
    """The engine for settings.output; None for text only.

    window_reader: the reader reached through the app window's accessibility announcements (the
    UI makes it), last in the platform's list.
    on_notice gets the one-time "no screen reader" message (from the speaker's thread) to show.
    watch: what detects the reader (tests pass their own backends); the platform's by default.
    """
    output = settings.output
    if output == Output.TEXT:
        return None
    if output in (Output.SCREEN_READER, Output.BOTH) and watch is None:
        watch = ReaderWatch(default_readers(window_reader))
    if output == Output.SCREEN_READER and watch is not None:
        return ScreenReaderEngine(watch, lambda: configured_voice(settings), on_notice)
    try:
        voice = configured_voice(settings)
    except ScreenSightError as exc:
        on_error(exc)  # a broken own voice: the screen reader alone, silence without one
        return ScreenReaderEngine(watch or ReaderWatch(default_readers(window_reader)),
                                  SilentEngine)
    if output == Output.BOTH and watch is not None:
        return BothEngine(voice, watch)
    return voice


def make_speaker(settings: Settings, window_reader: ScreenReader,
                 on_error: Callable[[Exception], None], on_notice: Callable[[str], None] | None = None,
                 watch: ReaderWatch | None = None) -> Speaker | None:
    """The speaker of the settings (None: no speech output); the request engine it is given to
    listens to it for audio starts (Engine.set_speaker)."""
    tts = make_tts(settings, window_reader, on_error, on_notice, watch)
    if tts is None:
        return None
    return Speaker(tts, on_error=on_error)
