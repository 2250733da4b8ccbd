"""Short tones when the microphone starts and stops listening.

The start tone plays while the microphone already records (the question starts at the key
press), on a thread of its own (`start`); push-to-talk then finds the tone in the recording by
its known waveform and zeroes it, for laptops whose microphone hears their speaker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from base.errors import AudioError

log = logging.getLogger(__name__)

RATE = 22050


def tone(frequencies: tuple[float, ...], seconds: float = 0.07, volume: float = 0.3) -> np.ndarray:
    """Consecutive sine tones with soft edges (no clicks), float32 mono at RATE."""
    parts = []
    for frequency in frequencies:
        t = np.arange(int(RATE * seconds)) / RATE
        wave = np.sin(2 * np.pi * frequency * t)
        edge = min(len(t) // 4, int(RATE * 0.01))
        envelope = np.ones_like(wave)
        envelope[:edge] = np.linspace(0, 1, edge)
        envelope[-edge:] = np.linspace(1, 0, edge)
        parts.append(wave * envelope)
    return (np.concatenate(parts) * volume).astype(np.float32)


START = tone((660.0, 880.0))   # rising: listening
STOP = tone((880.0, 660.0))    # falling: done


def play(samples: np.ndarray, device: int | str | None = None,
         cancel: threading.Event | None = None,
         on_start: Callable[[], None] | None = None) -> bool:
    """Play a tone and wait for it (call off the Qt thread); False when no sound could be played."""
    from assistant.speech_out import audio_out

    try:
        return audio_out.play(samples, RATE, cancel or threading.Event(), device=device,
                              on_start=on_start)
    except AudioError as exc:
        log.warning("earcon not played: %s", exc)
        return False


@dataclass
class Playback:
    """A tone playing on a thread of its own."""

    seconds: float
    cancel: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    started_at: float | None = None  # time.monotonic() when PortAudio took the first block
    finished_at: float | None = None
    played: bool = False

    def stop(self) -> None:
        """Stop it now (a tone that has not started yet never starts)."""
        self.cancel.set()


def start(samples: np.ndarray, device: int | str | None = None,
          on_played: Callable[[], None] | None = None, played_after: float = 0.0) -> Playback:
    """Start playing a tone and return at once. `on_played` runs once (on another thread)
    `played_after` seconds after the tone ended, or when it could not be played."""
    playback = Playback(seconds=len(samples) / RATE)
    once = threading.Lock()

    def played() -> None:
        if on_played is not None and once.acquire(blocking=False):
            on_played()

    def mark_start() -> None:
        playback.started_at = time.monotonic()
        timer = threading.Timer(playback.seconds + played_after, played)
        timer.daemon = True
        timer.start()

    def run() -> None:
        try:
            if not playback.cancel.is_set():
                playback.played = play(samples, device, playback.cancel, mark_start)
        finally:
            playback.finished_at = time.monotonic()
            playback.finished.set()
            if not playback.played or playback.started_at is None:
                played()  # not played (or stopped): at once; else the timer, after the tone

    threading.Thread(target=run, name="earcon", daemon=True).start()
    return playback


def warm_up(device: int | str | None = None) -> Playback:
    """Open the sound output once, in the background, with a few milliseconds of silence: the
    first output stream of a process can stall PulseAudio for about two seconds (measured; the
    microphone then delivers nothing), which must not happen during the first question."""
    return start(np.zeros(int(RATE * 0.02), dtype=np.float32), device)
