"""A spoken question's audio: waiting for the recording the image was encoded beside, and turning
it into text."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from assistant.ports import SpeechToText
from assistant.request_types import Cancelled, Request, check_cancel
from assistant.trace import Trace
from base.errors import AudioError, ScreenSightError
from base.vocabulary import Mode

if TYPE_CHECKING:
    import numpy as np

FIND_NOT_HEARD = "I did not hear the text to find."
QUESTION_NOT_HEARD = "I did not hear a question."
RECORDING_POLL_S = 0.01  # how often the wait for the recording looks at the cancel flag


def recorded_pcm(request: Request, trace: Trace, cancel: threading.Event) -> np.ndarray:
    """Wait for the request's recording (the image was encoded meanwhile); its PCM. Raises
    Cancelled when the request is stopped or the recording cancelled."""
    assert request.audio is not None
    while not request.audio.done():
        check_cancel(cancel)
        time.sleep(RECORDING_POLL_S)
    check_cancel(cancel)
    if request.audio.cancelled():
        raise Cancelled
    recorded = request.audio.result()
    trace.mark("speech_end")
    if recorded.digital_silence:
        raise AudioError("The microphone gave only silence.",
                         "Check that ScreenSight may use the microphone (system privacy settings) "
                         "and that the right microphone is chosen in Settings.")
    return recorded.pcm


def transcribe_question(request: Request, transcriber: Callable[[], SpeechToText] | None, language: str,
                        trace: Trace, cancel: threading.Event) -> str:
    """Wait for the recording, then turn it into text (`language` "auto": detect it)."""
    pcm = recorded_pcm(request, trace, cancel)
    if transcriber is None:
        raise ScreenSightError("Speech recognition is not set up.", "Type the question instead.")
    recognizer = transcriber()
    text = recognizer.transcribe(pcm, None if language == "auto" else language, cancel).text.strip()
    trace.mark("transcribed")
    check_cancel(cancel)
    if not text:
        raise ScreenSightError(FIND_NOT_HEARD if request.mode == Mode.FIND else QUESTION_NOT_HEARD,
                               "Hold the talk key, speak, then release it.")
    return text
