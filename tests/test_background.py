"""Background preparation: the watcher encodes a settled window before the describe key."""

from __future__ import annotations

import threading
import time

import pytest

from assistant.background import BackgroundPreparer, capture_fingerprint
from assistant.capture import ImageBackend, capture_target
from assistant.engine import Engine, EngineListener, Request
from assistant.model_loading import Ready
from assistant.windows import FixedWindowLocator, WindowInfo
from benchmark.fixed_length import FixedLengthAnswers
from benchmark.run import BenchDesktop
from benchmark.screens import render_desktop


class Finished(EngineListener):
    def __init__(self):
        self.results = []
        self.done = threading.Event()

    def on_finished(self, result):
        self.results.append(result)
        self.done.set()


@pytest.fixture
def engine(tiny_vlm):
    listener = Finished()
    desk = BenchDesktop(real_display=False)  # the synthetic desktop behind the capture interface
    desk.show(render_desktop(100))
    engine = Engine(Ready(FixedLengthAnswers(tiny_vlm)), capture=lambda: desk, listener=listener)
    engine.desk, engine.finished = desk, listener
    yield engine
    engine.close()


def _wait(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_fingerprint_sees_small_changes_and_ignores_nothing():
    a = render_desktop(1)
    window = WindowInfo(a.window_title, a.window_rect)
    first = capture_target(ImageBackend(a.image, FixedWindowLocator(window)), "window")
    again = capture_target(ImageBackend(a.image.copy(), FixedWindowLocator(window)), "window")
    other = capture_target(ImageBackend(render_desktop(2).image, FixedWindowLocator(window)), "window")
    assert capture_fingerprint(first) == capture_fingerprint(again)
    assert capture_fingerprint(first) != capture_fingerprint(other)


def test_settled_window_is_encoded_once_and_describe_reuses_it(engine, tiny_vlm):
    watcher = BackgroundPreparer(engine, lambda: engine.desk, interval=0.05,
                                 settle_polls=2)
    before = tiny_vlm.vision_encoder_calls
    watcher.start()
    try:
        _wait(lambda: watcher.preparations == 1 and engine.wait_idle(0.01))
        _wait(lambda: watcher.polls >= 6)
        assert watcher.preparations == 1, "an unchanged window is not prepared again"
        assert tiny_vlm.vision_encoder_calls == before + 1
        engine.submit(Request(target="window", speak=False, max_new_tokens=4))
        assert engine.finished.done.wait(30)
        result = engine.finished.results[-1]
        assert result.error is None and result.text
        assert tiny_vlm.vision_encoder_calls == before + 1, "describe used the prepared image"
        engine.desk.show(render_desktop(101))
        _wait(lambda: watcher.preparations == 2 and engine.wait_idle(0.01))
        assert tiny_vlm.vision_encoder_calls == before + 2
    finally:
        watcher.stop()
    assert not watcher.running


def test_preparation_never_interrupts_a_real_request(engine):
    engine.submit(Request(target="window", speak=False, max_new_tokens=30))
    _wait(lambda: engine._current_id != 0 or engine.finished.done.is_set())
    if not engine.finished.done.is_set():
        assert engine.prepare_ahead(Request(target="window")) is None
    assert engine.finished.done.wait(30)
    assert not engine.finished.results[-1].cancelled


def test_bad_settings_are_refused(engine):
    with pytest.raises(ValueError):
        BackgroundPreparer(engine, lambda: engine.desk, interval=0)
