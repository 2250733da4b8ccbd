"""Text recognition with the real PP-OCR weights on text rendered here (Qt and PIL), and the pure parts."""

from __future__ import annotations

import threading

import pytest
from PIL import Image

from assistant.text_recognition import EngineEntry, Line, RecognizedText, Registry, TextBlock, where
from assistant.text_recognition.ppocr import _unrotate
from base.errors import TextRecognitionError
from models.ocr_apple import pixel_box
from models.ocr_ppocr import _batches, content_box
from models.ocr_tesseract import parse_tsv
from models.ocr_windows import words_from_result
from tests import ocr_scenes
from tests.scripted_ocr import ScriptedRecognizer, register


@pytest.fixture(scope="module")
def ppocr():
    """The default engine with the bundled weights, loaded once."""
    from assistant.text_recognition.ppocr import PPOCRRecognizer

    return PPOCRRecognizer(threads=2)


def read(engine, image) -> RecognizedText:
    """All of an image's text."""
    return engine.read(image)


@pytest.mark.parametrize("dark", [False, True])
def test_window_word_recall_with_qt_and_pil_fonts(ppocr, qapp, dark):
    scene = ocr_scenes.window_scene(dark)
    for image in (ocr_scenes.render_qt(scene), ocr_scenes.render_pil(scene)):
        result = read(ppocr, image)
        assert ocr_scenes.word_recall(scene.words(), result.text()) >= 0.98
        assert {"Größe", "Änderungen", "vérifier", "électronique", "Straße", "garçon"} <= set(result.text().split())


def test_two_columns_in_exact_reading_order(ppocr):
    scene = ocr_scenes.two_column_scene()
    result = read(ppocr, ocr_scenes.render_pil(scene))
    assert [line.text for line in result.lines] == [item.text for item in scene.items]


def test_table_row_by_row(ppocr, qapp):
    scene = ocr_scenes.table_scene()
    result = read(ppocr, ocr_scenes.render_qt(scene))
    assert result.blocks[0].kind == "table"
    cells = [[cell.replace(" ", "") for cell in row.split("  ")] for row in result.text().splitlines()]
    assert cells == [[item.text.replace(" ", "") for item in scene.items[3 * r:3 * r + 3]] for r in range(5)]


def test_find_and_where(ppocr):
    scene = ocr_scenes.window_scene()
    result = read(ppocr, ocr_scenes.render_pil(scene))
    [ready] = result.find("ready")
    assert result.where(ready) == "bottom left"
    assert result.where(result.find("zeile 12")[0]) == "bottom right"
    assert result.where(result.find("file")[0]) == "top left"
    assert result.find("ELEMENTS")[0].text == "Éléments"


@pytest.mark.parametrize("colour", [(0, 0, 0), (255, 255, 255)])
def test_blank_and_black_screens_have_no_text(ppocr, colour):
    result = read(ppocr, Image.new("RGB", (1280, 800), colour))
    assert result.empty and result.text() == ""


def test_noise_without_text_invents_nothing(ppocr):
    import numpy as np

    rng = np.random.default_rng(0)
    noise = Image.fromarray((rng.random((400, 600, 3)) * 40 + 100).astype("uint8"))
    assert all(line.confidence >= 0.5 for line in read(ppocr, noise).lines)


@pytest.mark.parametrize("size", [(1, 20000), (20000, 1), (20000, 20000)])
def test_extreme_sizes_answer_without_crash(ppocr, size):
    result = read(ppocr, Image.new("L", size, 0))
    assert result.empty


@pytest.mark.parametrize("angle", [90, 180, 270])
def test_rotated_text_is_read(ppocr, angle):
    scene = ocr_scenes.two_column_scene()
    image = ocr_scenes.render_pil(scene).rotate(angle, expand=True)
    result = read(ppocr, image)
    assert ocr_scenes.word_recall(scene.words(), result.text()) >= 0.9
    for line in result.lines:
        assert 0 <= line.box[0] < line.box[2] <= image.width and 0 <= line.box[1] < line.box[3] <= image.height


def test_terminal_prompt_keeps_its_spaces_and_the_hollow_cursor_is_no_text(ppocr):
    from pathlib import Path

    data = Path(__file__).parent / "data" / "ocr"
    with Image.open(data / "xterm-prose-light.png") as image:
        result = read(ppocr, image.convert("RGB"))
    assert [line.text for line in result.lines] == (data / "xterm-prose-light.txt").read_text().splitlines()


def test_content_box_leaves_out_margins_and_window_borders():
    from PIL import ImageDraw

    image = Image.new("RGB", (1280, 800), "white")
    draw = ImageDraw.Draw(image)
    draw.line((1279, 0, 1279, 799), fill="black")
    draw.line((0, 799, 1279, 799), fill="black")
    draw.text((100, 50), "Shared documents", fill="black")
    draw.rectangle((100, 80, 400, 200), outline="grey")
    x0, y0, x1, y1 = content_box(image)
    assert 80 <= x0 <= 100 and 30 <= y0 <= 50 and 400 < x1 <= 420 and 200 < y1 <= 220
    assert content_box(Image.new("RGB", (300, 200), (30, 30, 30))) is None
    busy = Image.effect_noise((200, 100), 60).convert("RGB")
    assert content_box(busy) == (0, 0, 200, 100)


def test_recognition_batches_hold_similar_widths():
    widths = [120, 900, 130, 880, 40, 125]
    assert _batches(widths, 8) == [[4], [0, 5, 2], [3, 1]]  # 40 px padded to 130 would lose its gaps
    assert _batches([100] * 5, 2) == [[0, 1], [2, 3], [4]]
    # long lines go in small batches: memory grows with batch x width
    assert _batches([1400, 1390, 1380, 1395], 8, budget=2800) == [[2, 1], [3, 0]]
    assert _batches([1400] * 3, 8, budget=1000) == [[0], [1], [2]]  # one line wider than the budget goes alone


def test_first_block_arrives_before_the_last_is_recognized(ppocr):
    calls: list[int] = []
    inner = ppocr._ocr.recognize

    def counting(image, boxes, batch=8):
        calls.append(len(boxes))
        return inner(image, boxes, batch)

    ppocr._ocr.recognize = counting
    try:
        blocks = ppocr.recognize(ocr_scenes.render_pil(ocr_scenes.window_scene()))
        first = next(blocks)
        calls_at_first = len(calls)
        rest = list(blocks)
    finally:
        del ppocr._ocr.recognize
    assert first.text() == "File  Edit  View  Insert  Help"
    assert rest and len(calls) > calls_at_first


def test_cancel_stops_between_blocks(ppocr):
    cancel = threading.Event()
    blocks = ppocr.recognize(ocr_scenes.render_pil(ocr_scenes.window_scene()), cancel)
    next(blocks)
    cancel.set()
    assert list(blocks) == []


def test_tesseract_reads_german_and_french():
    from assistant.text_recognition.engines import TesseractRecognizer

    scene = ocr_scenes.window_scene()
    result = TesseractRecognizer("de").read(ocr_scenes.render_pil(scene))
    assert ocr_scenes.word_recall(scene.words(), result.text()) >= 0.9
    assert result.find("Größe")


def test_registry_moves_to_the_next_engine_and_says_why():
    def broken(_lang):
        raise TextRecognitionError("The model file is damaged.")

    scripted = ScriptedRecognizer([("Hello", (10, 10, 60, 30))])
    registry = Registry((EngineEntry("Broken", broken),))
    register(registry, scripted, first=False)
    choice = registry.choose("en")
    assert choice.recognizer is scripted
    assert choice.notes == ("Broken could not be loaded: The model file is damaged.",)


def test_fallback_replaces_an_engine_that_crashes_on_an_image():
    crashing = ScriptedRecognizer(fail=RuntimeError("onnx blew up"))
    crashing.name = "Crashing"
    working = ScriptedRecognizer([("Second line", (10, 32, 90, 52)), ("First line", (10, 10, 90, 30))])
    registry = Registry()
    register(registry, crashing, first=False)
    register(registry, working, first=False)
    reader = registry.fallback("en")
    result = reader.read(Image.new("RGB", (100, 100)))
    assert result.text() == "First line\nSecond line"
    assert reader.notes == ["Crashing failed on this image (onnx blew up); trying the next engine."]


def test_registry_order_and_platforms():
    from assistant.text_recognition import default_registry

    registry = default_registry()
    assert registry.names()[0] == "PP-OCR"
    assert [e.name for e in registry.candidates("de", platform="win32")] == ["PP-OCR", "Windows OCR", "Tesseract"]
    assert [e.name for e in registry.candidates("ru", platform="darwin")] == ["Apple Vision", "Tesseract"]
    with pytest.raises(TextRecognitionError):
        registry.choose("en", name="Nothing")


def test_value_types_and_where():
    line = Line("Save", (0, 0, 40, 20), 0.9)
    result = RecognizedText((TextBlock(((line,),)),), (1000, 600))
    assert result.text() == "Save" and result.lines == (line,) and result.find("save") == [line]
    assert where((900, 550, 990, 590), (1000, 600)) == "bottom right"
    assert where((450, 280, 550, 320), (1000, 600)) == "centre"
    assert where((450, 10, 550, 30), (1000, 600)) == "top"


def test_rotation_boxes_map_back():
    box = (10, 20, 60, 40)  # in the original
    for angle in (90, 180, 270):
        mask = Image.new("L", (300, 100))
        mask.paste(255, box)
        rotated = mask.rotate(angle, expand=True)
        assert _unrotate(rotated.getbbox(), angle, rotated.size) == box


def test_pure_parts_of_the_os_and_tesseract_engines():
    tsv = ("level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
           "5\t1\t1\t1\t1\t1\t20\t40\t60\t22\t96.5\tGröße\n4\t1\t1\t1\t1\t0\t20\t40\t60\t22\t-1\t\n")
    [word] = parse_tsv(tsv, scale=2)
    assert (word.text, word.box, word.line) == ("Größe", (10, 20, 40, 31), (1, 1, 1))
    assert pixel_box((0.5, 0.0, 0.5, 0.1), (1000, 500)) == (500, 450, 1000, 500)

    class Rect:
        x, y, width, height = 5.0, 6.0, 30.0, 12.0

    class WinWord:
        text, bounding_rect = "OK", Rect()

    class WinLine:
        words = [WinWord()]

    class WinResult:
        lines = [WinLine()]

    [os_word] = words_from_result(WinResult())
    assert (os_word.text, os_word.box, os_word.line) == ("OK", (5, 6, 35, 18), 0)
