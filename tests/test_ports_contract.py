"""The ports (assistant.ports) hold for the real parts and for the scripted fakes alike.

Each check below is one contract; it runs against the tiny random-weight models loaded through the
app's own loaders, the real speaker and detectors, and the fakes of tests/fakes.py. A fake that
drifts from the real part fails here, not in a test that trusted it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from assistant.model_loading import (
    Ready,
    SpeechModelLoader,
    SpeechSlot,
    TextRecognizerLoader,
    VisionModelLoader,
    VisionSlot,
)
from assistant.ports import (
    EncodedImage,
    ModelProvider,
    PasswordFieldDetector,
    SpeechOutput,
    SpeechToText,
    TextReader,
    VisionModel,
)
from assistant.secure_input import AtspiDetector, FixedDetector, NullDetector
from assistant.speech_out.speaker import Speaker
from assistant.speech_out.tts import SpyEngine
from base.transcript import Transcript
from base.turns import Turn
from tests.fakes import FixedPasswordField, RecordingSpeaker, ScriptedSpeechToText, ScriptedVisionModel
from tests.scripted_ocr import ScriptedRecognizer

WAIT = 30.0


def _screenshot() -> Image.Image:
    image = Image.new("RGB", (640, 400), "white")
    ImageDraw.Draw(image).text((40, 40), "Save changes?", fill="black")
    return image


def check_vision_model(model: Any) -> None:
    """encode once, answer as a stream of text pieces, stop within a token of cancel, pre-fill with 0."""
    assert isinstance(model, VisionModel)
    ctx = model.encode(_screenshot(), "quick")
    assert isinstance(ctx, EncodedImage)
    assert ctx.detail == "quick" and ctx.tiles >= 1 and ctx.vision_tiles >= 1
    pieces = list(model.answer(ctx, "Describe the screen.", max_new_tokens=4, ignore_eos=True))
    assert pieces and all(isinstance(p, str) and p for p in pieces)
    assert list(model.answer(ctx, "Describe the screen.", max_new_tokens=0)) == []
    cancel = threading.Event()
    stream = model.answer(ctx, "Describe the screen.", cancel=cancel, max_new_tokens=50, ignore_eos=True)
    assert isinstance(next(stream), str)
    cancel.set()
    assert list(stream) == []  # nothing more once cancel is set
    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(InterruptedError):
        model.encode(_screenshot().rotate(180), "quick", cancelled)
    follow_up = "".join(model.answer(ctx, "Anything else?", max_new_tokens=3, ignore_eos=True,
                                     history=[Turn("Describe the screen.", "".join(pieces))]))
    assert isinstance(follow_up, str)


def check_speech_to_text(recognizer: Any) -> None:
    """A Transcript of the audio; empty text for too-short audio or a set cancel."""
    assert isinstance(recognizer, SpeechToText)
    pcm = (0.2 * np.sin(np.linspace(0, 3000, 16000))).astype(np.float32)
    transcript = recognizer.transcribe(pcm, "en")
    assert isinstance(transcript, Transcript) and isinstance(transcript.text, str)
    assert transcript.language == "en" and transcript.stats.windows >= 1
    cancel = threading.Event()
    cancel.set()
    assert recognizer.transcribe(pcm, None, cancel).text == ""


def check_speech_output(speaker: Any) -> None:
    """say() returns at once and the audio-start listeners hear the tag; removed ones do not."""
    assert isinstance(speaker, SpeechOutput)
    heard: list[object] = []
    started = threading.Event()

    def listener(tag: object) -> None:
        heard.append(tag)
        started.set()

    speaker.add_audio_start_listener(listener)
    speaker.say("Hello.", tag=7)
    assert started.wait(WAIT) and heard == [7]
    speaker.remove_audio_start_listener(listener)
    speaker.stop()


@pytest.fixture(scope="module")
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_the_real_vision_model_through_the_apps_loader(tiny_vlm_dir: Path, one_thread) -> None:
    loader = VisionModelLoader(str(tiny_vlm_dir), quantize=False)
    assert isinstance(loader, ModelProvider) and not loader.loaded
    check_vision_model(loader())
    assert loader.loaded


def test_gemma4_through_the_apps_loader(tiny_gemma4_dir: Path, one_thread) -> None:
    loader = VisionModelLoader(str(tiny_gemma4_dir), quantize=False)
    assert isinstance(loader, ModelProvider) and not loader.loaded
    check_vision_model(loader())
    assert loader.loaded


def test_the_scripted_vision_model() -> None:
    check_vision_model(ScriptedVisionModel([["A dialog. ", "It asks ", "to save ", "a file."]]))


def test_the_real_speech_recognizers_through_the_apps_loader(tiny_moonshine_dir: Path, tiny_whisper_dir: Path,
                                                              one_thread) -> None:
    for folder in (tiny_moonshine_dir, tiny_whisper_dir):
        loader = SpeechModelLoader(str(folder), threads=1)
        assert isinstance(loader, ModelProvider)
        check_speech_to_text(loader())


def test_the_scripted_speech_recognizer() -> None:
    check_speech_to_text(ScriptedSpeechToText(["What does it say?"]))


def test_the_real_speaker_and_the_recording_one() -> None:
    speaker = Speaker(SpyEngine())
    try:
        check_speech_output(speaker)
    finally:
        speaker.close()
    check_speech_output(RecordingSpeaker())


def test_password_field_detectors() -> None:
    for detector in (FixedPasswordField(True), FixedDetector(False), NullDetector(), AtspiDetector()):
        assert isinstance(detector, PasswordFieldDetector)
        detector.close()
    assert FixedPasswordField(True).focused_password_field() is True


def test_text_readers_the_real_default_and_the_scripted_one() -> None:
    lines = [("Save changes?", (40, 40, 120, 12))]
    for reader in (ScriptedRecognizer(lines), TextRecognizerLoader("automatic", "en")()):
        assert isinstance(reader, TextReader)
        blocks = list(reader.recognize(_screenshot()))
        assert isinstance(reader.name, str) and reader.name
        assert all(block.text() for block in blocks)
        assert isinstance(tuple(reader.notes), tuple)


def test_model_providers() -> None:
    for provider in (Ready(ScriptedVisionModel()), VisionSlot("smolvlm-256m"), SpeechSlot("moonshine-tiny"),
                     TextRecognizerLoader()):
        assert isinstance(provider, ModelProvider)
    assert not VisionSlot("smolvlm-256m").loaded  # nothing loads until the first call
