"""Short tones when the microphone starts and stops listening."""

from __future__ import annotations

import logging
import threading

import numpy as np

from assistant.errors import AudioError

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


def play(samples: np.ndarray, device: int | str | None = None) -> bool:
    """Play a tone and wait for it (call off the Qt thread); False when no sound could be played."""
    from assistant import audio_out

    try:
        return audio_out.play(samples, RATE, threading.Event(), device=device)
    except AudioError as exc:
        log.warning("earcon not played: %s", exc)
        return False
