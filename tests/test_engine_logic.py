"""The request engine's logic with scripted ports (tests/fakes.py): no torch, no model weights.

The same engine runs with the real tiny models in test_engine.py; here every collaborator is a
scripted fake, so each behaviour (streaming, reuse, cancellation, refusals, errors, the voice
path) is checked exactly and fast.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from assistant import prompts
from assistant.capture import ImageBackend
from assistant.engine import Engine, EngineListener, EngineOptions, Request, Result
from assistant.load_progress import PREPARING_MESSAGE, PREPARING_STATUS
from assistant.model_loading import Ready
from assistant.speech_in.audio_in import Recording
from assistant.windows import FixedWindowLocator, WindowInfo
from base.errors import AudioError, ModelError
from tests.fakes import FixedPasswordField, RecordingSpeaker, ScriptedSpeechToText, ScriptedVisionModel

WAIT = 30.0
TITLE = "Invoice 42 - Editor"
ROOT = Path(__file__).resolve().parents[1]


def _desktop() -> Image.Image:
    image = Image.new("RGB", (1024, 768), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((100, 100, 700, 500), fill="lightgray", outline="black")
    draw.text((120, 120), "Save changes to report.txt?", fill="black")
    return image


class Recorder(EngineListener):
    """What the engine reported, with an event per finished request."""

    def __init__(self) -> None:
        self.results: dict[int, Result] = {}
        self.texts: dict[int, list[str]] = {}
        self.utterances: dict[int, list[str]] = {}
        self.questions: dict[int, str] = {}
        self.statuses: list[str] = []
        self.progress: list[tuple[int, str, int]] = []
        self._cond = threading.Condition()

    def on_status(self, request_id: int, message: str) -> None:
        self.statuses.append(message)

    def on_progress(self, request_id: int, message: str, percent: int) -> None:
        self.progress.append((request_id, message, percent))

    def on_question(self, request_id: int, question: str) -> None:
        self.questions[request_id] = question

    def on_text(self, request_id: int, piece: str) -> None:
        self.texts.setdefault(request_id, []).append(piece)

    def on_utterance(self, request_id: int, text: str) -> None:
        self.utterances.setdefault(request_id, []).append(text)

    def on_finished(self, result: Result) -> None:
        with self._cond:
            self.results[result.request_id] = result
            self._cond.notify_all()

    def result(self, request_id: int) -> Result:
        with self._cond:
            assert self._cond.wait_for(lambda: request_id in self.results, WAIT), f"request {request_id} never ended"
            return self.results[request_id]


class CountingBackend(ImageBackend):
    """The picture desktop, counting captures (a refused request must not take any)."""

    def __init__(self, image: Image.Image) -> None:
        super().__init__(image, FixedWindowLocator(WindowInfo(TITLE, (100, 100, 600, 400))))
        self.captures = 0

    def active_window(self):  # noqa: ANN201 - the base's signature
        self.captures += 1
        return super().active_window()

    def screen(self):  # noqa: ANN201
        self.captures += 1
        return super().screen()


@pytest.fixture
def make_engine():
    made: list[Engine] = []

    def make(model: ScriptedVisionModel | None = None, **kwargs) -> tuple[Engine, Recorder, ScriptedVisionModel,
                                                                          RecordingSpeaker, CountingBackend]:
        model = model or ScriptedVisionModel()
        speaker = kwargs.pop("speaker", None) or RecordingSpeaker(model.log)
        backend = CountingBackend(_desktop())
        listener = Recorder()
        engine = Engine(Ready(model), capture=lambda: backend, speaker=speaker, listener=listener, **kwargs)
        made.append(engine)
        return engine, listener, model, speaker, backend

    yield make
    for engine in made:
        engine.close()


def test_describe_streams_utterances_while_the_model_writes(make_engine):
    model = ScriptedVisionModel([["The window ", "asks to save ", "report.txt. ", "Two buttons ", "are below."]])
    engine, listener, model, speaker, _ = make_engine(model)
    request_id = engine.submit(Request(mode="describe", target="window"))
    result = listener.result(request_id)
    assert result.error is None and not result.cancelled
    assert result.text == "The window asks to save report.txt. Two buttons are below."
    assert speaker.texts(request_id) == ["The window asks to save report.txt.", "Two buttons are below."]
    assert listener.utterances[request_id] == speaker.texts(request_id)
    # The first sentence is spoken before the model writes the second one.
    assert model.log.index(("say", "The window asks to save report.txt.")) < model.log.index(("token", "are below."))
    assert model.calls[0].prompt.startswith(f'The window is titled "{TITLE}".')
    for stage in ("captured", "encoded", "first_token", "first_utterance", "first_audio", "done"):
        assert result.trace.has(stage), stage
    assert result.encoded is model.encodes[0] and result.capture.title == TITLE


def test_follow_up_reuses_the_encoded_screenshot(make_engine):
    model = ScriptedVisionModel([["A dialog asks to save."], ["It names report.txt."]])
    engine, listener, model, _, backend = make_engine(model)
    first = listener.result(engine.submit(Request(mode="describe", target="window")))
    follow_up = listener.result(engine.submit(Request(mode="ask", target=None, question="Which file?")))
    assert follow_up.text == "It names report.txt."
    assert len(model.encodes) == 1 and backend.captures == 1
    assert model.calls[1].ctx is model.calls[0].ctx is first.encoded
    assert follow_up.encoded is None  # nothing was encoded for the follow-up
    assert "Which file?" in model.calls[1].prompt
    assert [(t.question, t.answer) for t in model.calls[1].history][-1][1] == "A dialog asks to save."


def test_another_detail_level_encodes_again(make_engine):
    engine, listener, model, _, _ = make_engine()
    listener.result(engine.submit(Request(mode="describe", target="window")))
    listener.result(engine.submit(Request(mode="describe", target="window", detail="high")))
    assert [e.detail for e in model.encodes] == ["quick", "high"]


def test_a_newer_request_cancels_the_running_one(make_engine):
    model = ScriptedVisionModel([["First answer ", "goes on ", "and on."], ["Second answer."]], pause_after=1)
    engine, listener, model, speaker, _ = make_engine(model)
    first_id = engine.submit(Request(mode="describe", target="window"))
    assert model.paused.wait(WAIT)
    stops_before = speaker.stops
    second_id = engine.submit(Request(mode="describe", target="window"))
    assert speaker.stops == stops_before + 1  # speech stops at once, not when the worker gets there
    model.resume.set()
    first, second = listener.result(first_id), listener.result(second_id)
    assert first.cancelled and first.error is None
    assert model.calls[0].pieces == ["First answer "] and model.calls[0].stopped_by_cancel
    assert second.text == "Second answer." and not second.cancelled
    assert speaker.texts(second_id) == ["Second answer."]
    assert "goes on" not in " ".join(speaker.texts())


def test_cancel_stops_generation_within_a_token(make_engine):
    model = ScriptedVisionModel([["One. ", "Two. ", "Three. ", "Four."]], pause_after=2)
    engine, listener, model, speaker, _ = make_engine(model)
    request_id = engine.submit(Request(mode="describe", target="window"))
    assert model.paused.wait(WAIT)
    engine.cancel()  # while the model computes the third token
    model.resume.set()
    result = listener.result(request_id)
    assert result.cancelled
    assert model.calls[0].pieces == ["One. ", "Two. "]  # not one token more
    assert "Three." not in " ".join(speaker.texts())
    assert engine.wait_idle(WAIT) and not engine.busy


def test_a_focused_password_field_refuses_the_capture(make_engine):
    detector = FixedPasswordField(True)
    engine, listener, model, speaker, backend = make_engine(secure_input=detector)
    result = listener.result(engine.submit(Request(mode="describe", target="window")))
    assert result.text == prompts.PASSWORD_MESSAGE
    assert " ".join(speaker.texts()) == prompts.PASSWORD_MESSAGE
    assert backend.captures == 0 and model.encodes == [] and detector.calls == 1
    # A picture the user gives is not the screen: it is described.
    image = listener.result(engine.submit(Request(mode="describe", target=None, image=_desktop())))
    assert image.text != prompts.PASSWORD_MESSAGE and len(model.encodes) == 1


def test_background_preparation_also_refuses_a_password_field(make_engine):
    detector = FixedPasswordField(True)
    engine, _, model, _, backend = make_engine(secure_input=detector)
    assert engine.prepare_ahead(Request(mode="describe", target="window")) is not None
    assert engine.wait_idle(WAIT)
    assert detector.calls == 1 and backend.captures == 0 and model.encodes == []


@pytest.mark.parametrize(("failure", "message"), [
    (RuntimeError("tensor shapes differ"), "Something went wrong: RuntimeError: tensor shapes differ."),
    (ModelError("The model in /m could not be loaded.", "Download it again."), "The model in /m could not be loaded."),
])
def test_model_failures_become_messages_and_the_next_request_works(make_engine, failure, message):
    model = ScriptedVisionModel([["It works again."]], fail_encode=failure)
    engine, listener, model, speaker, _ = make_engine(model)
    failed = listener.result(engine.submit(Request(mode="describe", target="window")))
    assert failed.error is not None and failed.error.message == message and failed.error.hint
    assert speaker.texts() == []
    model.fail_encode = None
    again = listener.result(engine.submit(Request(mode="describe", target="window")))
    assert again.error is None and again.text == "It works again."


class PreparingModel:
    """A provider whose first load prepares the model for this computer, in uneven steps."""

    def __init__(self, model: ScriptedVisionModel) -> None:
        self.model = model
        self.loaded = False

    def __call__(self, progress=None):  # noqa: ANN001, ANN204 - the ModelProvider signature
        if not self.loaded and progress is not None:
            for fraction in (0.001, 0.004, 0.25, 0.251, 0.5, 1.0):
                progress(fraction)
        self.loaded = True
        return self.model


def test_a_first_load_that_prepares_the_model_says_so_once_and_shows_its_progress():
    listener = Recorder()
    backend = CountingBackend(_desktop())
    engine = Engine(PreparingModel(ScriptedVisionModel([["A dialog."], ["Still a dialog."]])),
                    capture=lambda: backend, listener=listener)
    try:
        first = engine.submit(Request(mode="describe", target="window"))
        assert listener.result(first).text == "A dialog."
        assert listener.statuses == ["Loading the model, one moment.", PREPARING_MESSAGE]
        assert listener.progress == [(first, PREPARING_STATUS, p) for p in (0, 25, 50, 100)]
        listener.progress.clear()
        again = engine.submit(Request(mode="describe", target="screen"))
        assert listener.result(again).text == "Still a dialog."
        assert listener.progress == [] and PREPARING_MESSAGE not in listener.statuses[2:]
    finally:
        engine.close()


def test_no_capture_backend_is_a_clear_message():
    listener = Recorder()
    engine = Engine(Ready(ScriptedVisionModel()), listener=listener)
    try:
        result = listener.result(engine.submit(Request(mode="describe", target="screen")))
    finally:
        engine.close()
    assert result.error is not None
    assert result.error.message == "Screen capture is not available here."
    assert "image file" in result.error.hint


def _recording(pcm: np.ndarray) -> Recording:
    return Recording(pcm=pcm, sample_rate=16000, started_at=0.0, ended_at=len(pcm) / 16000, device="test",
                     peak=float(np.abs(pcm).max()))


def _speech() -> np.ndarray:
    return (0.2 * np.sin(np.linspace(0, 2000, 16000))).astype(np.float32)


def test_voice_question_is_encoded_while_the_user_talks_then_answered(make_engine):
    recognizer = ScriptedSpeechToText(["What does the error say?"])
    model = ScriptedVisionModel([["It says the file was not found."]])
    engine, listener, model, speaker, _ = make_engine(model, transcriber=Ready(recognizer), language="auto")
    audio: Future[Recording] = Future()
    request_id = engine.submit(Request(mode="ask", target="window", audio=audio))
    assert model.encoded.wait(WAIT)  # the screenshot is encoded before the recording ends
    assert recognizer.calls == [] and model.calls == []
    audio.set_result(_recording(_speech()))
    result = listener.result(request_id)
    assert recognizer.calls == [(16000, None)]  # "auto": the recognizer detects the language
    assert listener.questions[request_id] == result.question == "What does the error say?"
    assert "What does the error say?" in model.calls[0].prompt
    assert result.text == "It says the file was not found."
    assert result.trace.marks["encoded"] <= result.trace.marks["speech_end"] <= result.trace.marks["transcribed"]


def test_voice_question_in_the_set_language(make_engine):
    recognizer = ScriptedSpeechToText(["Was steht da?"])
    engine, listener, _, _, _ = make_engine(transcriber=Ready(recognizer), language="de")
    audio: Future[Recording] = Future()
    audio.set_result(_recording(_speech()))
    listener.result(engine.submit(Request(mode="ask", target="window", audio=audio)))
    assert recognizer.calls == [(16000, "de")]


@pytest.mark.parametrize(("pcm", "texts", "message"), [
    (np.zeros(16000, np.float32), ["anything"], "The microphone gave only silence."),
    (_speech(), [""], "I did not hear a question."),
])
def test_voice_problems_are_told(make_engine, pcm, texts, message):
    engine, listener, model, _, _ = make_engine(transcriber=Ready(ScriptedSpeechToText(texts)))
    audio: Future[Recording] = Future()
    audio.set_result(_recording(pcm))
    result = listener.result(engine.submit(Request(mode="ask", target="window", audio=audio)))
    assert result.error is not None and result.error.message == message
    assert model.calls == []
    if message.startswith("The microphone"):
        assert isinstance(result.error, AudioError)


def test_voice_without_a_recognizer_says_so(make_engine):
    engine, listener, _, _, _ = make_engine()
    audio: Future[Recording] = Future()
    audio.set_result(_recording(_speech()))
    result = listener.result(engine.submit(Request(mode="ask", target="window", audio=audio)))
    assert result.error is not None and result.error.message == "Speech recognition is not set up."


def test_prepare_ahead_leaves_the_callers_request_alone(make_engine):
    engine, _, model, speaker, _ = make_engine()
    request = Request(mode="describe", target="window")
    before = dataclasses.replace(request)
    assert engine.prepare_ahead(request) is not None
    assert engine.wait_idle(WAIT)
    assert request == before and request.speak and not request.prepare_only
    assert len(model.encodes) == 1 and model.calls[0].max_new_tokens == 0  # the prompt is pre-filled
    assert speaker.said == []


def test_configure_applies_from_the_next_request(make_engine):
    engine, listener, model, _, _ = make_engine()
    engine.configure(dataclasses.replace(engine.options, detail="normal", language="de"))
    listener.result(engine.submit(Request(mode="describe", target="window")))
    assert model.encodes[0].detail == "normal"
    assert engine.options == EngineOptions(detail="normal", language="de")
    assert model.calls[0].prompt.endswith("Answer in German.")


def test_a_replaced_speaker_gets_the_speech_and_marks_first_audio(make_engine):
    engine, listener, model, old, _ = make_engine()
    new = RecordingSpeaker()
    engine.set_speaker(new)
    result = listener.result(engine.submit(Request(mode="describe", target="window")))
    assert old.said == [] and new.texts() == ["A dialog.", "It asks to save."]
    assert result.trace.has("first_audio")
    assert old.listener_count() == 0 and new.listener_count() == 1


def test_the_engine_logic_runs_without_torch():
    code = ("import sys, threading\n"
            "from tests.fakes import ScriptedVisionModel, RecordingSpeaker\n"
            "from tests.test_engine_logic import CountingBackend, Recorder, _desktop\n"
            "from assistant.engine import Engine, Request\n"
            "from assistant.model_loading import Ready\n"
            "backend = CountingBackend(_desktop()); listener = Recorder()\n"
            "engine = Engine(Ready(ScriptedVisionModel()), capture=lambda: backend, speaker=RecordingSpeaker(),"
            " listener=listener)\n"
            "result = listener.result(engine.submit(Request(mode='describe', target='window')))\n"
            "engine.close()\n"
            "assert result.text == 'A dialog. It asks to save.', result\n"
            "print('torch' in sys.modules, 'transformers' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


class PreparingWhileIdle(ScriptedVisionModel):
    """A model with work left after loading (`prepare_step`, as Gemma 4's int8 activations): the
    first slice waits until the test lets it go, so a request can arrive in the middle."""

    def __init__(self, slices: int) -> None:
        super().__init__([["A dialog."]])
        self.left = slices
        self.in_first = threading.Event()
        self.go_on = threading.Event()
        self.finished = threading.Event()

    def prepare_step(self) -> bool:
        if self.left == 0:
            return False  # as the real model: nothing left, at once
        if not self.in_first.is_set():
            self.in_first.set()
            assert self.go_on.wait(WAIT)
        self.log.append(("slice", str(self.left)))
        self.left -= 1
        if self.left == 0:
            self.finished.set()
        return self.left > 0


def test_the_model_prepares_between_requests_and_a_request_waits_one_slice_at_most(make_engine):
    model = PreparingWhileIdle(slices=4)
    engine, listener, model, _, _ = make_engine(model)
    assert model.in_first.wait(WAIT), "the idle engine never asked the model to prepare"
    request = engine.submit(Request(mode="describe", target="window"))
    model.go_on.set()
    assert listener.result(request).text == "A dialog."
    assert model.finished.wait(WAIT), "the preparation did not go on after the request"
    kinds = [kind for kind, _ in model.log if kind in ("slice", "encode")]
    assert kinds == ["slice", "encode", "slice", "slice", "slice"]
    again = engine.submit(Request(mode="describe", target="screen"))
    assert listener.result(again).error is None
    assert model.left == 0 and [k for k, _ in model.log].count("slice") == 4  # never called once done
