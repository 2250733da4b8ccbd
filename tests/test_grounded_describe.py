"""Grounded descriptions (issue 11): describe, more and ask carry the accessibility facts and the
recognized text, the answer is checked against them before it is spoken and shown, follow-ups reuse
them, and a failing or hung facts source or recognizer leaves describe working.

The engine runs with the tiny random-weight vision model (or a scripted stand-in with the same
encode/answer interface where the answer's words matter), the scripted recognizer registered like
a real engine, ScriptedFactsSource, a real Speaker on the spy speech engine and picture-backed captures."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest
from PIL import Image, ImageDraw

from assistant import engine as engine_module
from assistant.capture import ImageBackend
from assistant.engine import Engine, EngineListener, Request
from assistant.facts import FactsSource, FocusedControl, ScreenFacts, ScriptedFactsSource
from assistant.grounding import UNCONFIRMED
from assistant.model_loading import Ready, TextRecognizerLoader
from assistant.speech_out.speaker import Speaker
from assistant.speech_out.tts import SpyEngine
from assistant.text_recognition import Registry
from assistant.windows import FixedWindowLocator, WindowInfo
from tests.scripted_ocr import ScriptedRecognizer, register

TITLE = "report.txt - Text Editor"
FACTS = ScreenFacts(application="Text Editor", window=TITLE,
                    focused=FocusedControl("push button", "Don't Save"), source="scripted")
LINES = [("File Edit View", (10, 5, 200, 25)), ("Save changes to report.txt?", (120, 120, 420, 140)),
         ("Don't Save", (300, 360, 400, 385)), ("Cancel", (420, 360, 500, 385))]
WAIT = 60


def _desktop() -> Image.Image:
    image = Image.new("RGB", (1280, 800), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((100, 100, 700, 500), fill="lightgray", outline="black")
    draw.text((120, 120), "Save changes to report.txt?", fill="black")
    return image


class Recorder(EngineListener):
    """What the engine reports: text pieces (what the window shows), utterances and results."""

    def __init__(self) -> None:
        self.results: list[Any] = []
        self.texts: dict[int, list[str]] = {}
        self.done = threading.Event()

    def on_text(self, request_id: int, piece: str) -> None:
        self.texts.setdefault(request_id, []).append(piece)

    def on_finished(self, result: Any) -> None:
        self.results.append(result)
        self.done.set()


class PromptRecorder:
    """The tiny real model with every prompt it is asked recorded, and when encoding starts and ends."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.prompts: list[str] = []
        self.events: list[str] = []
        self.encoding = threading.Event()

    def encode(self, image: Any, detail: str = "quick", cancel: threading.Event | None = None) -> Any:
        self.events.append("encode start")
        self.encoding.set()
        try:
            return self.model.encode(image, detail, cancel)
        finally:
            self.events.append("encode end")

    def answer(self, ctx: Any, prompt: str, **kwargs: Any) -> Any:
        self.prompts.append(prompt)
        return self.model.answer(ctx, prompt, **kwargs)


@dataclass
class ScriptedContext:
    detail: str = "quick"
    tiles: int = 1
    preprocess_s: float = 0.0
    encode_s: float = 0.0
    vision_tiles: int = 1
    vision_s: float = 0.0


@dataclass
class ScriptedModel:
    """A stand-in vision model whose answer stream is scripted (the real one's encode/answer interface)."""

    pieces: list[str]
    prompts: list[str] = field(default_factory=list)

    def encode(self, image: Any, detail: str = "quick", cancel: threading.Event | None = None) -> Any:
        return ScriptedContext(detail)

    def answer(self, ctx: Any, prompt: str, cancel: threading.Event | None = None, max_new_tokens: int = 256,
               history: Any = (), ignore_eos: bool = False) -> Any:
        self.prompts.append(prompt)
        yield from self.pieces


class BrokenFacts(FactsSource):
    name = "broken"

    def current(self) -> ScreenFacts | None:
        raise RuntimeError("the accessibility bus went away")


class OverlapRecognizer(ScriptedRecognizer):
    """Scripted lines; records whether recognition ran while the encoder ran (it waits for the
    encoder to start, and the encoder's wrapper waits for it to start)."""

    def __init__(self, lines: Any, encoding: threading.Event) -> None:
        super().__init__(lines)
        self.encoding = encoding
        self.started = threading.Event()
        self.saw_encoder_running = False

    def recognize(self, image: Any, cancel: threading.Event | None = None) -> Any:
        self.started.set()
        self.saw_encoder_running = self.encoding.wait(WAIT)
        yield from super().recognize(image, cancel)


@pytest.fixture
def make_engine(tiny_vlm):
    made: list[tuple[Engine, Speaker]] = []

    def make(model: Any = None, recognizer: ScriptedRecognizer | None = None,
             facts: FactsSource | None = None, **kwargs: Any) -> tuple[Engine, Recorder, SpyEngine]:
        spy = SpyEngine()
        speaker = Speaker(spy)
        registry = Registry()
        register(registry, recognizer if recognizer is not None else ScriptedRecognizer(LINES))
        backend = ImageBackend(_desktop(), FixedWindowLocator(WindowInfo(TITLE, (100, 100, 600, 400))))
        listener = Recorder()
        model = model if model is not None else PromptRecorder(tiny_vlm)
        engine = Engine(Ready(model), capture=lambda: backend, speaker=speaker, listener=listener,
                        language="en", grounding=True,
                        facts=facts if facts is not None else ScriptedFactsSource(FACTS),
                        text_recognizer=TextRecognizerLoader("scripted", "en", registry=lambda: registry),
                        **kwargs)
        made.append((engine, speaker))
        return engine, listener, spy

    yield make
    for engine, speaker in made:
        engine.close()
        speaker.close()


def run(engine: Engine, listener: Recorder, request: Request) -> Any:
    listener.done.clear()
    engine.submit(request)
    assert listener.done.wait(WAIT)
    engine.wait_idle(WAIT)
    assert engine.speaker.wait_idle(WAIT)
    result = listener.results[-1]
    assert result.error is None and not result.cancelled
    return result


def recognized(engine: Engine) -> None:
    """Waits until the current screenshot's text is recognized (it runs beside the encoder)."""
    grounding = engine.conversation.grounding
    assert grounding is not None
    assert grounding.wait(WAIT) is not None


def test_prompts_carry_title_focus_and_recognized_lines_and_follow_ups_reuse_them(make_engine):
    recognizer = ScriptedRecognizer(LINES)
    facts = ScriptedFactsSource(FACTS)
    engine, listener, _ = make_engine(recognizer=recognizer, facts=facts)
    model_prompts = engine._model().prompts
    run(engine, listener, Request(mode="describe", target="window", max_new_tokens=4))
    describe = model_prompts[-1]
    assert f'Window title: "{TITLE}"' in describe
    assert 'Focused control: push button "Don\'t Save"' in describe
    assert "Application: Text Editor." in describe
    recognized(engine)
    run(engine, listener, Request(mode="more", target=None, max_new_tokens=4))
    run(engine, listener, Request(mode="ask", target=None, question="Which buttons are there?", max_new_tokens=4))
    for prompt in model_prompts[-2:]:
        assert f'Window title: "{TITLE}"' in prompt and 'push button "Don\'t Save"' in prompt
        for line in ("File Edit View", "Save changes to report.txt?", "Cancel"):
            assert line in prompt
    assert "Which buttons are there?" in model_prompts[-1]
    # One recognition and one facts query for the screenshot, however many follow-ups.
    assert len(recognizer.images) == 1
    assert facts.calls == 1


def test_an_invented_quote_is_spoken_and_shown_as_unconfirmed(make_engine, monkeypatch):
    monkeypatch.setattr(engine_module, "CHECK_WAIT_S", WAIT)  # the check may wait for the scripted text
    model = ScriptedModel(['A dialog asks "Save changes', ' to report.txt?". ', "It has a button labelled ",
                           '"Delete everything" and a Cancel button.'])
    engine, listener, spy = make_engine(model=model)
    result = run(engine, listener, Request(mode="describe", target="window"))
    expected = (f'A dialog asks "Save changes to report.txt?". It has a button labelled {UNCONFIRMED} '
                "and a Cancel button.")
    assert result.text == expected
    shown = "".join(listener.texts[result.request_id])
    assert shown == expected
    spoken = " ".join(spy.texts())
    assert spoken == expected
    assert "Delete everything" not in shown + spoken
    # What is kept for follow-ups is the checked answer too.
    assert engine.conversation.turns[-1].answer == expected


def test_a_follow_up_answer_is_checked_against_the_kept_text(make_engine):
    model = ScriptedModel(['The title reads "Quarterly Budget".'])
    engine, listener, spy = make_engine(model=model)
    run(engine, listener, Request(mode="describe", target="window"))
    recognized(engine)
    result = run(engine, listener, Request(mode="ask", target=None, question="What is the title?"))
    assert result.text == f"The title reads {UNCONFIRMED}."
    assert spy.texts()[-1] == result.text


def test_a_failing_recognizer_leaves_describe_working_and_unchecked(make_engine, caplog):
    model = ScriptedModel(['A dialog titled "Save changes?".'])
    broken = ScriptedRecognizer(LINES, fail=RuntimeError("the OCR model is corrupt"))
    engine, listener, spy = make_engine(model=model, recognizer=broken)
    with caplog.at_level("WARNING", logger="assistant.engine"):
        result = run(engine, listener, Request(mode="describe", target="window"))
        grounding = engine.conversation.grounding
        assert grounding.wait(WAIT) is None and not grounding.pending
        # Nothing is known, so nothing is called invented; the facts still went into the prompt.
        result = run(engine, listener, Request(mode="more", target=None))
    assert result.text == 'A dialog titled "Save changes?".'
    assert spy.texts()[-1] == result.text
    assert f'Window title: "{TITLE}"' in model.prompts[-1]
    assert any("the OCR model is corrupt" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("facts", ["broken", "hung"])
def test_a_failing_or_hung_facts_source_leaves_describe_working(make_engine, tiny_vlm, facts):
    release = threading.Event()
    source = BrokenFacts() if facts == "broken" else ScriptedFactsSource(FACTS, release=release)
    model = PromptRecorder(tiny_vlm)
    engine, listener, spy = make_engine(model=model, facts=source)
    try:
        result = run(engine, listener, Request(mode="describe", target="window", max_new_tokens=4))
        assert result.text and spy.texts()
        assert "Focused control" not in model.prompts[-1]
        # A second screenshot while the hung query still runs does not queue behind it.
        result = run(engine, listener, Request(mode="describe", target="screen", max_new_tokens=4))
        assert result.text
    finally:
        release.set()


def test_recognition_runs_beside_the_encoder(make_engine, tiny_vlm):
    model = PromptRecorder(tiny_vlm)
    recognizer = OverlapRecognizer(LINES, model.encoding)
    engine, listener, _ = make_engine(model=model, recognizer=recognizer)
    real_encode = model.encode

    def encode(image: Any, detail: str = "quick", cancel: threading.Event | None = None) -> Any:
        context = real_encode(image, detail, cancel)
        # Encoding may only end once recognition is running: were they one after the other, one would wait in vain.
        model.events.append("recognition seen" if recognizer.started.wait(WAIT) else "recognition not started")
        return context

    model.encode = encode
    run(engine, listener, Request(mode="describe", target="window", max_new_tokens=4))
    recognized(engine)
    assert recognizer.saw_encoder_running
    assert model.events == ["encode start", "encode end", "recognition seen"]
    assert threading.current_thread().name != "screensight-ground"


def test_grounding_off_describes_as_before(make_engine, tiny_vlm):
    recognizer = ScriptedRecognizer(LINES)
    facts = ScriptedFactsSource(FACTS)
    model = PromptRecorder(tiny_vlm)
    engine, listener, _ = make_engine(model=model, recognizer=recognizer, facts=facts)
    engine.configure(dataclasses.replace(engine.options, grounding=False))
    run(engine, listener, Request(mode="describe", target="window", max_new_tokens=4))
    assert model.prompts[-1].startswith(f'The window is titled "{TITLE}".')
    assert recognizer.images == [] and facts.calls == 0


def test_background_preparation_recognizes_first_and_describe_reuses_it(make_engine, tiny_vlm):
    recognizer = ScriptedRecognizer(LINES)
    model = PromptRecorder(tiny_vlm)
    engine, listener, _ = make_engine(model=model, recognizer=recognizer)
    assert engine.prepare_ahead(Request(target="window")) is not None
    assert engine.wait_idle(WAIT)
    prefilled = model.prompts[-1]
    assert "Save changes to report.txt?" in prefilled
    run(engine, listener, Request(mode="describe", target="window", max_new_tokens=4))
    assert model.prompts[-1] == prefilled
    assert len(recognizer.images) == 1
