"""Audio constants that the recorder, the speech models and the speech output agree on."""

from __future__ import annotations

SAMPLE_RATE = 16000  # Hz, mono: what the speech recognizers take and the recorder delivers

MIN_SPEECH_RATE = 50   # words per minute the own voice can be set to
MAX_SPEECH_RATE = 500
