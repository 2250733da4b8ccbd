"""Find text by voice: the words said while the Find text prompt is open are searched (real espeak-ng
speech through the app's speech recognizer), and a spoken "find Save" or "where is Save" asked as an
ordinary question moves the pointer instead of asking the model."""

from __future__ import annotations

import subprocess
import threading
from concurrent.futures import Future

import numpy as np
import pytest
from PIL import Image

from assistant.capture import ImageBackend
from assistant.engine import Engine, EngineListener, Request
from assistant.model_loading import Ready, SpeechModelLoader, TextRecognizerLoader, VisionModelLoader
from assistant.pointer import RecordingPointer
from assistant.speech_in.audio_in import Recording
from assistant.speech_in.spoken_find import FindPhrase, SpokenFind, spoken_find, text_to_find
from assistant.speech_in.voice_question import FIND_NOT_HEARD
from assistant.text_recognition import Registry
from assistant.windows import FixedWindowLocator, WindowInfo
from base.transcript import Transcript
from tests.scripted_ocr import ScriptedRecognizer, register

WINDOW = WindowInfo("Editor", (200, 100, 640, 400))


class Recorder(EngineListener):
    def __init__(self):
        self.results = []
        self.questions = []
        self.done = threading.Event()

    def on_question(self, request_id, question):
        self.questions.append(question)

    def on_finished(self, result):
        self.results.append(result)
        self.done.set()


class ScriptedTranscriber:
    """The speech recognizer's interface answering with a scripted sentence (for the routing of what was
    heard; the real recognizer's path is tested with real speech below)."""

    def __init__(self):
        self.says = ""
        self.heard: list[int] = []

    def transcribe(self, pcm, language=None, cancel=None):
        self.heard.append(len(pcm))
        return Transcript(self.says, language or "en")


def _speech(text: str) -> np.ndarray:
    wav = subprocess.run(["espeak-ng", "--stdout", text], capture_output=True, check=True).stdout
    samples = np.frombuffer(wav[44:], dtype=np.int16).astype(np.float32) / 32768
    positions = np.arange(0, len(samples), 22050 / 16000)  # espeak-ng speaks at 22050 Hz
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)


def _recording(pcm: np.ndarray) -> Future:
    audio: Future = Future()
    audio.set_result(Recording(pcm=pcm, sample_rate=16000, started_at=0.0, ended_at=len(pcm) / 16000,
                               device="test", peak=float(np.abs(pcm).max()),
                               rms=float(np.sqrt(np.mean(pcm**2))), truncated=False))
    return audio


def _busy_desktop() -> Image.Image:
    rng = np.random.default_rng(1)
    return Image.fromarray(rng.integers(0, 255, (800, 1280, 3), dtype=np.uint8))


def _engine(lines, transcriber, model=None, grounding=False):
    scripted = ScriptedRecognizer(lines)
    registry = Registry()
    register(registry, scripted)
    listener, pointer = Recorder(), RecordingPointer()
    backend = ImageBackend(_busy_desktop(), FixedWindowLocator(WINDOW))
    engine = Engine(model or Ready(None), capture=lambda: backend, listener=listener, pointer=pointer,
                    transcriber=transcriber,
                    text_recognizer=TextRecognizerLoader("scripted", "en", registry=lambda: registry),
                    grounding=grounding)
    return engine, listener, pointer, scripted


def _run(engine, listener, request):
    listener.done.clear()
    engine.submit(request)
    assert listener.done.wait(120)
    return listener.results[-1]


@pytest.mark.parametrize(("said", "expected"), [
    ("Find Save.", SpokenFind("Save", FindPhrase.COMMAND)),
    ("please find the word Refund", SpokenFind("Refund", FindPhrase.COMMAND)),
    ("Where is the Save button?", SpokenFind("Save", FindPhrase.QUESTION)),
    ("where's 'Pay again'", SpokenFind("Pay again", FindPhrase.QUESTION)),
    ("Look for Downloads in the window", SpokenFind("Downloads", FindPhrase.COMMAND)),
    ("Wo ist der Speichern-Knopf?", SpokenFind("Speichern-Knopf", FindPhrase.QUESTION)),
    ("Où est le bouton Enregistrer ?", SpokenFind("bouton Enregistrer", FindPhrase.QUESTION)),
    ("Finde Abbrechen", SpokenFind("Abbrechen", FindPhrase.COMMAND)),
    ("find the button", SpokenFind("button", FindPhrase.COMMAND)),  # a role alone is the text itself
])
def test_spoken_find_takes_the_text_out_of_the_question(said, expected):
    assert spoken_find(said) == expected


@pytest.mark.parametrize("said", ["What does the red error say?", "Describe the window", "find", "where is",
                                  "Is there a find button?"])
def test_other_questions_are_not_find_text(said):
    assert spoken_find(said) is None


def test_text_to_find_drops_what_is_not_the_text():
    assert text_to_find(" Save. ") == "Save"
    assert text_to_find("the Cancel button") == "Cancel"


def test_words_said_at_the_find_prompt_move_the_pointer_to_them(tiny_moonshine_dir):
    """Real speech into the real (random-weight) recognizer: whatever it hears is what Find text looks for."""
    speech = SpeechModelLoader(str(tiny_moonshine_dir), threads=1)
    pcm = _speech("Save")
    heard = text_to_find(speech().transcribe(pcm, None).text)
    assert heard, "the seeded recognizer turns speech into some words"
    engine, listener, pointer, scripted = _engine(
        [("File Edit View", (10, 5, 200, 25)), (f"{heard} changes", (300, 200, 420, 220))], speech)
    try:
        result = _run(engine, listener, Request(mode="find", target="window", audio=_recording(pcm)))
        assert result.error is None, result.error
        assert result.question == heard and listener.questions
        assert result.found is not None and result.found.text == f"{heard} changes"
        assert result.text == f"{heard} changes, centre of the window."
        assert pointer.moves == [result.point]
        assert scripted.images == [WINDOW.rect[2:]]  # the window was captured and read once
    finally:
        engine.close()


def test_silence_at_the_find_prompt_says_no_text_was_heard():
    transcriber = ScriptedTranscriber()
    engine, listener, pointer, _ = _engine([("Save", (500, 360, 560, 385))], Ready(transcriber))
    try:
        result = _run(engine, listener, Request(mode="find", target="window", audio=_recording(_speech("mm"))))
        assert result.error is not None and result.error.message == FIND_NOT_HEARD
        assert pointer.moves == []
    finally:
        engine.close()


@pytest.mark.parametrize("grounding", [False, True])
def test_a_spoken_find_command_moves_the_pointer_without_asking_the_model(tiny_vlm, grounding):
    transcriber = ScriptedTranscriber()
    engine, listener, pointer, scripted = _engine(
        [("Save changes?", (300, 200, 420, 220)), ("Save", (500, 360, 560, 385))], Ready(transcriber),
        model=Ready(tiny_vlm), grounding=grounding)
    try:
        transcriber.says = "Find Save."
        result = _run(engine, listener, Request(mode="ask", target="window", audio=_recording(_speech("find save")),
                                                max_new_tokens=4, speak=False))
        assert result.error is None, result.error
        assert result.text == "Save changes?, centre of the window. 1 more found."
        assert pointer.moves == [result.point] and result.question == "Save"
        assert len(scripted.images) == 1  # recognized once (beside the encoder when grounded)

        transcriber.says = "find Refund"  # a command: said plainly when it is not there
        result = _run(engine, listener, Request(mode="ask", target=None, audio=_recording(_speech("find refund")),
                                                max_new_tokens=4, speak=False))
        assert result.text == "'Refund' was not found in the window."
        assert len(pointer.moves) == 1 and len(scripted.images) == 1  # the same screenshot's text
    finally:
        engine.close()


def test_where_is_without_such_text_is_answered_by_the_model(tiny_vlm):
    transcriber = ScriptedTranscriber()
    engine, listener, pointer, _ = _engine([("Save", (500, 360, 560, 385))], Ready(transcriber),
                                           model=Ready(tiny_vlm))
    try:
        transcriber.says = "Where is the blue icon?"
        result = _run(engine, listener, Request(mode="ask", target="window", audio=_recording(_speech("where")),
                                                max_new_tokens=4, speak=False))
        assert result.error is None, result.error
        assert result.found is None and pointer.moves == []
        assert result.text and "not found" not in result.text  # the model's (random) words
        assert result.question == "Where is the blue icon?"

        transcriber.says = "where is save"
        result = _run(engine, listener, Request(mode="ask", target=None, audio=_recording(_speech("where")),
                                                max_new_tokens=4, speak=False))
        assert result.text == "Save, bottom right of the window."
        assert pointer.moves == [result.point]
    finally:
        engine.close()


@pytest.mark.parametrize("recognizer", ["none", "not downloaded"])
def test_words_said_at_the_find_prompt_are_written_down_by_a_model_that_hears(tiny_gemma4_dir, tmp_path,
                                                                             recognizer):
    """The quality tier without a speech recognizer: the tiny Gemma 4 writes down what was said (its
    audio encoder, no image), and Find text looks for that."""
    model = VisionModelLoader(str(tiny_gemma4_dir), quantize=False, threads=1, device="cpu")
    pcm = _speech("Save")
    heard = model().transcribe(pcm).text
    word = (spoken_find(heard) or SpokenFind(text_to_find(heard), FindPhrase.COMMAND)).text
    assert word, "the seeded model writes some words"
    speech = None if recognizer == "none" else SpeechModelLoader(str(tmp_path / "no-speech-model"))
    engine, listener, pointer, scripted = _engine(
        [("File Edit View", (10, 5, 200, 25)), (f"{word} changes", (300, 200, 420, 220))], speech, model=model)
    audio_calls = model().audio_encoder_calls
    try:
        result = _run(engine, listener, Request(mode="find", target="window", audio=_recording(pcm)))
        assert result.error is None, result.error
        assert listener.questions == [heard] and result.question == word
        assert result.found is not None and result.found.text == f"{word} changes"
        assert pointer.moves == [result.point]
        assert model().audio_encoder_calls == audio_calls + 1 and model().vision_encoder_calls == 0
    finally:
        engine.close()


def test_without_a_recognizer_a_model_that_does_not_hear_says_to_type(tiny_vlm):
    engine, listener, pointer, _ = _engine([("Save", (500, 360, 560, 385))], None, model=Ready(tiny_vlm))
    try:
        result = _run(engine, listener, Request(mode="find", target="window", audio=_recording(_speech("Save"))))
        assert result.error is not None and result.error.message == "Speech recognition is not set up."
        assert pointer.moves == []
    finally:
        engine.close()


def test_the_talk_key_needs_no_speech_model_when_the_model_hears(tiny_gemma4_dir, tiny_vlm_dir, tmp_path,
                                                                  monkeypatch):
    from assistant.config import Settings
    from assistant.model_loading import hears_audio
    from ui.push_to_talk import speech_model_missing

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no speech model downloaded
    assert hears_audio("gemma4-e2b") and hears_audio(tiny_gemma4_dir)
    assert not hears_audio("smolvlm-256m") and not hears_audio(tiny_vlm_dir)
    assert not hears_audio(tmp_path / "nowhere")
    assert speech_model_missing(Settings(vision_model="gemma4-e2b")) == ""
    assert speech_model_missing(Settings(vision_model=str(tiny_gemma4_dir))) == ""
    assert "not downloaded" in speech_model_missing(Settings(vision_model="smolvlm-256m"))
