"""The request engine with the tiny real model, a spy speech engine and picture-backed captures."""

from __future__ import annotations

import threading
import time

import pytest
from PIL import Image, ImageDraw

from assistant.capture import ImageBackend
from assistant.engine import Engine, EngineListener, Request
from assistant.model_loading import Ready, VisionModelLoader
from assistant.speech_out.speaker import Speaker
from assistant.speech_out.tts import SpyEngine
from assistant.trace import STAGES
from assistant.windows import FixedWindowLocator, WindowInfo
from benchmark.fixed_length import FixedLengthAnswers
from tests.helpers import pixel_cache_off


def _desktop(colour="white"):
    image = Image.new("RGB", (1280, 800), colour)
    draw = ImageDraw.Draw(image)
    draw.rectangle((100, 100, 700, 500), fill="lightgray", outline="black")
    draw.text((120, 120), "Save changes to report.txt?", fill="black")
    return image


class Recorder(EngineListener):
    """Collects what the engine reports, on its worker thread."""

    def __init__(self):
        self.results = []
        self.texts = {}
        self.utterances = {}  # request id -> the sentences handed to the speaker
        self.finished = threading.Event()
        self._changed = threading.Condition()

    def on_text(self, request_id, piece):
        with self._changed:
            self.texts.setdefault(request_id, []).append(piece)
            self._changed.notify_all()

    def on_utterance(self, request_id, text):
        with self._changed:
            self.utterances.setdefault(request_id, []).append(text)
            self._changed.notify_all()

    def wait_utterances(self, request_id, count, timeout):
        """True once request `request_id` handed `count` sentences to the speaker."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.utterances.get(request_id, ())) >= count, timeout)

    def on_finished(self, result):
        self.results.append(result)
        self.finished.set()

    def wait_text(self, request_id, timeout):
        """True once request `request_id` has streamed text (False after `timeout` seconds)."""
        with self._changed:
            return self._changed.wait_for(lambda: request_id in self.texts, timeout)


class FailingModel:
    """Stands in for a model whose forward pass breaks (a real failure mode: OOM, bad weights)."""

    def encode(self, image, detail, cancel=None):
        raise RuntimeError("simulated failure inside the model")


@pytest.fixture
def spy():
    return SpyEngine()


@pytest.fixture
def make_engine(tiny_vlm, spy):
    made = []

    def make(image=None, model=None, window=None, **kwargs):
        listener = Recorder()
        speaker = Speaker(spy)
        locator = FixedWindowLocator(window)
        backend = ImageBackend(image or _desktop(), locator)
        engine = Engine(model or Ready(FixedLengthAnswers(tiny_vlm)), capture=lambda: backend, speaker=speaker,
                        listener=listener, **kwargs)
        made.append((engine, speaker))
        return engine, listener, speaker

    yield make
    for engine, speaker in made:
        engine.close()
        speaker.close()


def test_describe_streams_speaks_and_traces_every_stage(make_engine, spy):
    engine, listener, speaker = make_engine()
    request_id = engine.submit(Request(mode="describe", target="screen", max_new_tokens=12))
    assert engine.wait_idle(60)
    assert speaker.wait_idle(30)
    (result,) = listener.results
    assert result.request_id == request_id and not result.cancelled and result.error is None
    assert result.text and result.text == "".join(listener.texts[request_id]).strip()
    spoken = " ".join(spy.texts())
    assert spoken.split() == result.text.split()
    marks = result.trace.marks
    for stage in ("trigger", "captured", "encoded", "first_token", "first_utterance", "first_audio",
                  "done"):
        assert stage in marks, stage
    ordered = [marks[s] for s in STAGES if s in marks and s not in ("first_audio", "done")]
    assert ordered == sorted(ordered)
    assert result.capture.source == "screen"


def test_follow_up_questions_do_not_encode_again(make_engine, uncached_vlm):
    engine, listener, _ = make_engine()
    engine.submit(Request(mode="describe", target="window", max_new_tokens=6, speak=False))
    assert engine.wait_idle(60)
    calls = uncached_vlm.vision_encoder_calls
    for question in ("What is the file called?", "Is there a Cancel button?"):
        engine.submit(Request(mode="ask", target=None, question=question, max_new_tokens=6,
                              speak=False))
        assert engine.wait_idle(60)
    assert uncached_vlm.vision_encoder_calls == calls
    assert [t.question for t in engine.conversation.turns][-2:] == [
        "What is the file called?", "Is there a Cancel button?"]
    assert all(not r.cancelled and r.error is None for r in listener.results)


def test_unchanged_screen_is_not_encoded_twice(make_engine, uncached_vlm):
    engine, listener, _ = make_engine()
    engine.submit(Request(mode="describe", target="screen", max_new_tokens=4, speak=False))
    assert engine.wait_idle(60)
    calls = uncached_vlm.vision_encoder_calls
    engine.submit(Request(mode="read", read_with="model", target="screen", max_new_tokens=4, speak=False))
    assert engine.wait_idle(60)
    assert uncached_vlm.vision_encoder_calls == calls
    engine.submit(Request(mode="describe", target="screen", detail="normal", max_new_tokens=4,
                          speak=False))
    assert engine.wait_idle(60)
    assert uncached_vlm.vision_encoder_calls == calls + 1


@pytest.fixture
def uncached_vlm(tiny_vlm):
    """The shared tiny model with its own cache of encoded screenshots off for one test: each
    encoder run the engine asks for is counted, none is hidden by the model's pixel cache."""
    with pixel_cache_off(tiny_vlm):
        yield tiny_vlm


def test_the_engine_encodes_each_screenshot_once_for_all_its_requests(make_engine, uncached_vlm):
    engine, listener, _ = make_engine()
    encoder_runs = []

    def run(**fields):
        before = uncached_vlm.vision_encoder_calls
        engine.submit(Request(max_new_tokens=3, speak=False, **fields))
        assert engine.wait_idle(60)
        result = listener.results[-1]
        assert result.error is None and not result.cancelled, result.error
        encoder_runs.append(uncached_vlm.vision_encoder_calls - before)
        return result

    first = run(mode="describe", target="screen")
    run(mode="ask", target=None, question="What is the file called?")
    run(mode="more", target=None)
    again = run(mode="describe", target="screen")  # a new screenshot with the same pixels
    run(mode="read", read_with="model", target="screen")
    run(mode="describe", target="screen", detail="normal")  # another encoding of the same pixels
    assert again.capture.image is not first.capture.image
    assert encoder_runs == [1, 0, 0, 0, 0, 1]


def test_newer_request_cancels_the_running_one(make_engine):
    engine, listener, _ = make_engine()
    started = threading.Event()
    original = listener.on_text

    def on_text(request_id, piece):
        original(request_id, piece)
        started.set()

    listener.on_text = on_text
    first = engine.submit(Request(mode="describe", target="screen", max_new_tokens=5000,
                                  speak=False))
    assert started.wait(60)
    second = engine.submit(Request(mode="describe", target="screen", max_new_tokens=4,
                                   speak=False))
    assert engine.wait_idle(60)
    by_id = {r.request_id: r for r in listener.results}
    assert by_id[first].cancelled
    assert not by_id[second].cancelled and by_id[second].text


def test_hotkey_storm_leaves_one_answer(make_engine, spy):
    """100 presses; now and then one comes while the previous answer streams and is spoken:
    each press cancels what runs, and only the last press is answered and heard."""
    engine, listener, speaker = make_engine()
    spy.seconds_per_char = 0.02  # speech takes time: a press comes while sentences wait their turn
    ids = []
    for press in range(100):
        last = press == 99
        ids.append(engine.submit(Request(mode="describe", target="screen", max_new_tokens=6 if last else 1000)))
        if press % 20 == 10:
            assert listener.wait_utterances(ids[-1], 3, 60), \
                f"press {press} was never answered: the one before still runs"
        if press == 98:
            last_press = time.monotonic()
    assert engine.wait_idle(120), "a cancelled request kept running"
    assert len(listener.results) == 100
    answered = [r for r in listener.results if not r.cancelled and r.error is None]
    assert [r.request_id for r in answered] == [ids[-1]], "a request the next press cancelled was answered"
    streamed = [request_id for request_id in ids[:-1] if request_id in listener.texts]
    assert len(streamed) == 5  # the presses waited for were cancelled while answering
    assert speaker.wait_idle(30), "speech went on for 30 s: the cancelled answers' sentences still played"
    # What is heard after the last presses is the last answer, word for word: none of the
    # sentences the cancelled answers had queued (every answer reads alike, so count them all).
    heard_after = " ".join(record.text for record in spy.spoken if record.started > last_press)
    assert heard_after.split() == answered[0].text.split(), "a cancelled answer went on speaking"


def test_black_screen_is_said_plainly_without_the_model(make_engine, tiny_vlm, spy):
    engine, listener, speaker = make_engine(image=Image.new("RGB", (1280, 800), "black"))
    calls = tiny_vlm.vision_encoder_calls
    engine.submit(Request(mode="describe", target="screen"))
    assert engine.wait_idle(60) and speaker.wait_idle(30)
    (result,) = listener.results
    assert "screen is black" in result.text
    assert "screen is black" in " ".join(spy.texts())
    assert tiny_vlm.vision_encoder_calls == calls


def test_window_title_goes_into_the_prompt(make_engine):
    window = WindowInfo(title="Invoice 42 - Editor", rect=(100, 100, 600, 400))
    engine, listener, _ = make_engine(window=window)
    engine.submit(Request(mode="describe", target="window", max_new_tokens=2, speak=False))
    assert engine.wait_idle(60)
    (result,) = listener.results
    assert result.capture.title == "Invoice 42 - Editor"
    assert result.capture.image.size == (600, 400)


def test_model_failure_is_reported_and_the_next_request_works(make_engine, tiny_vlm):
    provider = Ready(FailingModel())
    engine, listener, _ = make_engine(model=provider)
    engine.submit(Request(mode="describe", target="screen", speak=False))
    assert engine.wait_idle(60)
    assert listener.results[-1].error is not None
    assert "RuntimeError" in listener.results[-1].error.message
    provider.model = FixedLengthAnswers(tiny_vlm)
    engine.submit(Request(mode="describe", target="screen", detail="normal", max_new_tokens=3,
                          speak=False))
    assert engine.wait_idle(60)
    assert listener.results[-1].error is None and listener.results[-1].text


def test_bad_image_file_is_a_clear_error(make_engine, tmp_path):
    engine, listener, _ = make_engine()
    bad = tmp_path / "notes.png"
    bad.write_text("this is not a picture")
    engine.submit(Request(mode="describe", target="file", image_path=bad, speak=False))
    assert engine.wait_idle(60)
    error = listener.results[-1].error
    assert error is not None and "notes.png" in str(error)


def test_cancel_stops_speech_and_generation(make_engine, spy):
    engine, listener, speaker = make_engine()
    spy.seconds_per_char = 0.05
    engine.submit(Request(mode="describe", target="screen", max_new_tokens=3000))
    deadline = time.monotonic() + 60
    while not spy.texts():
        assert time.monotonic() < deadline, "nothing was spoken within 60 s"
        time.sleep(0.05)  # polling interval of a wait with a deadline
    engine.cancel()
    cancelled_at = time.monotonic()
    assert engine.wait_idle(30)
    assert speaker.wait_idle(5)
    assert listener.results[-1].cancelled
    assert not speaker.busy()
    assert all(record.started < cancelled_at for record in spy.spoken), "speech went on after the cancel"


def test_model_loader_loads_once_from_a_folder(tiny_vlm_dir):
    loader = VisionModelLoader(str(tiny_vlm_dir), quantize=False)
    assert not loader.loaded
    first = loader()
    assert loader.loaded and loader() is first


class GatedLoader:
    """A model loader that holds the load until the test opens the gate (a slow disk, a big model)."""

    def __init__(self, model):
        self.model = model
        self.gate = threading.Event()
        self.started = threading.Event()
        self.loads = 0

    @property
    def loaded(self):
        return self.loads > 0 and self.gate.is_set()

    def __call__(self, progress=None):
        if self.loads == 0:
            self.started.set()
            assert self.gate.wait(60), "the test never opened the gate"
            self.loads += 1
        return self.model


def test_warm_up_loads_once_and_a_press_during_loading_is_answered_after(make_engine, tiny_vlm):
    loader = GatedLoader(tiny_vlm)
    engine, listener, _ = make_engine(model=loader)
    outcome = []
    loaded = threading.Event()
    assert engine.warm_up(lambda error: (outcome.append(error), loaded.set()))
    assert loader.started.wait(10)
    assert engine.warm_up(lambda error: None) is False  # one load at a time
    assert not engine.busy  # a warm-up is not a request
    request_id = engine.submit(Request(mode="describe", target="window", max_new_tokens=4, speak=False))
    assert engine.busy
    assert not listener.finished.is_set()  # kept while the model loads, not dropped
    loader.gate.set()
    assert loaded.wait(30) and outcome == [None]
    assert listener.finished.wait(60)
    (result,) = listener.results
    assert result.request_id == request_id and not result.cancelled and result.error is None
    assert loader.loads == 1


def test_warm_up_reports_a_model_that_cannot_load(make_engine):
    from base.errors import ModelError

    class Broken:
        loaded = False

        def __call__(self, progress=None):
            raise ModelError("The model 'x' is not downloaded.", "Download it.")

    engine, _listener, _ = make_engine(model=Broken())
    errors = []
    done = threading.Event()
    assert engine.warm_up(lambda error: (errors.append(error), done.set()))
    assert done.wait(10)
    assert isinstance(errors[0], ModelError) and "not downloaded" in errors[0].message
