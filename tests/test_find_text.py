"""Find text: the engine with a scripted recognizer and a recording pointer, and the app on the test
Xvfb with real PP-OCR, the real pointer and a real Qt button."""

from __future__ import annotations

import threading

import pytest

from assistant.capture import ImageBackend
from assistant.engine import Engine, EngineListener, Request
from assistant.model_loading import TextRecognizerLoader
from assistant.pointer import RecordingPointer
from assistant.text_recognition import Registry
from assistant.windows import FixedWindowLocator, WindowInfo
from tests import test_read_text
from tests.scripted_ocr import ScriptedRecognizer, register
from tests.text_scene import pointer_position, show_text_window

# The app fixtures of the read tests (the app's own recognizer loader, the spy voice).
recognizer = test_read_text.recognizer
make_app = test_read_text.make_app
finish = test_read_text.finish


class Recorder(EngineListener):
    def __init__(self):
        self.results = []
        self.done = threading.Event()

    def on_finished(self, result):
        self.results.append(result)
        self.done.set()


@pytest.fixture
def engine_with_script():
    from PIL import Image

    scripted = ScriptedRecognizer([("File Edit View", (10, 5, 200, 25)), ("Save changes?", (300, 200, 420, 220)),
                                   ("Save", (500, 360, 560, 385))])
    registry = Registry()
    register(registry, scripted)
    listener = Recorder()
    pointer = RecordingPointer()
    desktop = Image.new("RGB", (1280, 800), "white")
    backend = ImageBackend(desktop, FixedWindowLocator(WindowInfo("Editor", (200, 100, 640, 400))))
    engine = Engine(lambda progress=None: None, capture=lambda: backend, listener=listener, pointer=pointer,
                    text_recognizer=TextRecognizerLoader("scripted", "en", registry=lambda: registry))
    yield engine, listener, pointer, scripted
    engine.close()


def run(engine, listener, request):
    listener.done.clear()
    engine.submit(request)
    assert listener.done.wait(30)
    return listener.results[-1]


def test_find_moves_the_pointer_to_the_word_and_says_where(engine_with_script):
    engine, listener, pointer, scripted = engine_with_script
    result = run(engine, listener, Request(mode="find", target="window", question="save"))
    assert result.text == "Save changes?, centre of the window. 1 more found."
    # The word "Save" of the line: its share of the line box, offset by the window's place on the desktop.
    x0, y0, x1, y1 = result.found.words[0].box
    assert result.point == (200 + round((x0 + x1) / 2), 100 + round((y0 + y1) / 2))
    assert pointer.moves == [result.point] and pointer.clicks == []
    # A second find in the same screenshot does not recognize again.
    result = run(engine, listener, Request(mode="find", target=None, question="edit"))
    assert result.text == "File Edit View, top left of the window."
    assert len(scripted.images) == 1


def test_not_found_is_said_and_the_pointer_stays(engine_with_script):
    engine, listener, pointer, _ = engine_with_script
    result = run(engine, listener, Request(mode="find", target="window", question="Refund"))
    assert result.text == "'Refund' was not found in the window."
    assert result.point is None and pointer.moves == []


def test_find_key_moves_the_real_pointer_and_click_presses_the_button(qtbot, make_app):
    app = make_app()
    scene = show_text_window(qtbot)
    app.window.find_edit.setText("pay")
    entry = finish(qtbot, app, "find-text")
    assert entry.answer == "Pay again, bottom right of the window."
    assert app.speaker.tts.texts() == ["Pay again, bottom right of the window."]
    button = scene.button.geometry().translated(scene.geometry().topLeft())
    assert button.contains(*pointer_position())
    assert scene.clicks == 0
    app.hotkeys.press("click-found")
    qtbot.waitUntil(lambda: scene.clicks == 1, timeout=5000)
    assert app.window.status_label.text() == "Clicked Pay again."


def test_find_key_says_when_the_text_is_not_in_the_window(qtbot, make_app):
    app = make_app()
    scene = show_text_window(qtbot)  # noqa: F841 - kept alive while it is read
    app.window.find_edit.setText("Refund")
    entry = finish(qtbot, app, "find-text")
    assert entry.answer == "'Refund' was not found in the window."
    app.hotkeys.press("click-found")
    qtbot.waitUntil(lambda: "Nothing has been found" in app.window.status_label.text(), timeout=5000)
