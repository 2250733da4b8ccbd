"""Read text in the app: real PP-OCR weights, a real Qt window on the test Xvfb, speech through the spy
engine (SCREENSIGHT_TTS=spy), the real pointer moved and clicked through XTest."""

from __future__ import annotations

import json

import pytest
from PIL import Image, ImageDraw, ImageFont
from PySide6.QtCore import Qt

from assistant.config import Settings
from assistant.history import HistoryStore
from assistant.hotkeys import ManualHotkeys
from assistant.model_loading import TextRecognizerLoader
from assistant.text_recognition.registry import default_registry
from tests.helpers import run_cli
from tests.scripted_ocr import ScriptedRecognizer, register
from tests.text_scene import LINES, pointer_position, show_text_window
from ui.controller import AppController
from ui.main_window import MainWindow


@pytest.fixture(scope="module")
def recognizer():
    """The app's own loader of the default engines, loaded once for the module."""
    return TextRecognizerLoader("automatic", "en")


@pytest.fixture
def make_app(qtbot, tmp_path, monkeypatch, recognizer):
    monkeypatch.setenv("SCREENSIGHT_TTS", "spy")
    made = []

    def make(text_recognizer=None, **changes) -> AppController:
        window = MainWindow()
        qtbot.addWidget(window)
        settings = Settings(**changes)
        history = HistoryStore(False, path=tmp_path / "history.jsonl", log_path=tmp_path / "log.jsonl")
        app = AppController(settings, window, ManualHotkeys(), settings_file=tmp_path / "settings.toml",
                            history=history, text_recognizer=text_recognizer or recognizer)
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()


def finish(qtbot, app, action: str, timeout: int = 60_000):
    with qtbot.waitSignal(app.entry_finished, timeout=timeout) as signal:
        app.hotkeys.press(action)
    entry = signal.args[0]
    assert app.speaker.wait_idle(10)
    return entry


def test_read_window_speaks_each_block_in_reading_order_while_recognizing(qtbot, make_app):
    app = make_app()
    scene = show_text_window(qtbot)  # noqa: F841 - kept alive while it is read
    entry = finish(qtbot, app, "read-window")
    assert entry.status == "done" and entry.kind == "Text of the active window"
    spoken = app.speaker.tts.texts()
    assert spoken[:3] == list(LINES)
    assert entry.answer == "\n\n".join(LINES)
    # The first block was heard before the last one was recognized.
    assert entry.trace["first_audio"] < entry.trace["recognized"]
    shown = [app.window.text_lines.item(i).text() for i in range(app.window.text_lines.count())]
    assert shown == ["Quarterly report, top left", "Total sales rose by twelve percent, centre",
                     "Pay again, bottom right"]
    assert app.window.text_lines.accessibleName() == "Text found"


def test_blank_window_says_no_text_found(qtbot, make_app):
    app = make_app()
    scene = show_text_window(qtbot, blank=True)  # noqa: F841 - kept alive while it is read
    entry = finish(qtbot, app, "read-window")
    assert app.speaker.tts.texts() == ["No text found."]
    assert entry.answer == "No text found."
    assert app.window.text_lines.count() == 0


def test_failing_engine_is_named_and_the_next_one_reads(qtbot, make_app):
    broken = ScriptedRecognizer(fail=RuntimeError("out of memory"))
    broken.name = "Broken OCR"
    registry = default_registry()
    register(registry, broken)
    app = make_app(text_recognizer=TextRecognizerLoader("automatic", "en", registry=lambda: registry))
    scene = show_text_window(qtbot)  # noqa: F841 - kept alive while it is read
    entry = finish(qtbot, app, "read-window")
    spoken = app.speaker.tts.texts()
    assert spoken[0] == ("Broken OCR failed on this image (out of memory); trying the next engine. "
                         "Reading with PP-OCR instead.")
    assert spoken[1:4] == list(LINES)
    assert entry.answer == "\n\n".join(LINES)
    # Said once: the next read goes straight to the engine that works.
    finish(qtbot, app, "read-window")
    assert app.speaker.tts.texts()[4:] == list(LINES)


def test_lines_list_by_keyboard_clicks_the_real_button(qtbot, make_app):
    app = make_app()
    scene = show_text_window(qtbot)
    finish(qtbot, app, "read-window")
    lines = app.window.text_lines
    lines.setFocus()
    qtbot.keyClick(lines, Qt.Key.Key_Down)
    qtbot.keyClick(lines, Qt.Key.Key_Down)
    assert lines.currentItem().text() == "Pay again, bottom right"
    qtbot.keyClick(lines, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: scene.clicks == 1, timeout=5000)
    button = scene.button.geometry().translated(scene.geometry().topLeft())
    x, y = pointer_position()
    assert button.contains(x, y)
    assert abs(x - button.center().x()) <= 12 and abs(y - button.center().y()) <= 8
    assert app.window.status_label.text() == "Clicked Pay again."


def test_the_model_reading_is_announced_as_described_by_the_model(qtbot, make_app, tiny_vlm_dir):
    app = make_app(read_with="model", vision_model=str(tiny_vlm_dir), quantize=False)
    scene = show_text_window(qtbot)  # noqa: F841 - kept alive while it is read
    app.max_tokens = 6
    entry = finish(qtbot, app, "read-window", timeout=120_000)
    assert app.speaker.tts.texts()[0] == "Described by the model:"
    assert entry.answer.startswith("Described by the model: ")


def _known_picture(path):
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 24)
    image = Image.new("RGB", (800, 400), "white")
    draw = ImageDraw.Draw(image)
    draw.text((40, 40), "Quarterly report", font=font, fill="black")
    draw.text((40, 120), "Total sales rose by 12 percent.", font=font, fill="black")
    draw.text((560, 330), "Save", font=font, fill="black")
    image.save(path)
    return path


def test_cli_read_prints_the_exact_text_and_json_lines(tmp_path):
    picture = _known_picture(tmp_path / "known.png")
    out = run_cli("describe", "--mode", "read", "--image", str(picture), "--no-speak")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "Quarterly report\n\nTotal sales rose by 12 percent.\n\nSave\n"
    out = run_cli("describe", "--mode", "read", "--image", str(picture), "--no-speak", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert [line["text"] for line in result["lines"]] == ["Quarterly report", "Total sales rose by 12 percent.",
                                                         "Save"]
    save = result["lines"][2]
    assert save["where"] == "bottom right"
    assert 540 <= save["box"][0] < save["box"][2] <= 640 and 320 <= save["box"][1] < save["box"][3] <= 370
    out = run_cli("find", "save", "--image", str(picture), "--no-speak")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "Save, bottom right of the image.\n"
