"""The language of text recognition: the answer language, or with "auto" the script of the text found
(real PP-OCR and Tesseract's script detection on text rendered here), and the automatic engine order."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from PIL import Image, ImageDraw, ImageFont

from assistant.engine import TextRecognizerLoader
from assistant.text_recognition import EngineEntry, default_registry
from assistant.text_recognition.base import AUTO
from assistant.text_recognition.script_follow import ScriptFollowingRecognizer
from assistant.text_recognition.scripts import Script, poorly_read, script_of, tesseract_script_detector
from assistant.text_recognition.types import ReadStats
from base.errors import TextRecognitionError
from tests.ocr_scenes import SANS
from tests.scripted_ocr import ScriptedRecognizer

RUSSIAN = ("Сохранить изменения в документе?", "Файл  Правка  Вид  Справка", "Отмена",
           "Настройки печати и параметры страницы")
ENGLISH = ("Save changes to the document?", "File  Edit  View  Help", "Cancel")


def _dialog(lines) -> Image.Image:
    """A light dialog with 15 px UI text."""
    image = Image.new("RGB", (640, 300), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(SANS, 15)
    for n, text in enumerate(lines):
        draw.text((20, 20 + 40 * n), text, fill="black", font=font)
    return image


def _has_osd() -> bool:
    program = shutil.which("tesseract")
    if program is None:
        return False
    listed = subprocess.run([program, "--list-langs"], capture_output=True, text=True, check=False).stdout
    return "osd" in listed.split()


def _installed(code: str) -> bool:
    listed = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, check=False).stdout
    return code in listed.split()


needs_osd = pytest.mark.skipif(not _has_osd(), reason="needs tesseract with its osd data")


@pytest.mark.parametrize(("text", "script"), [
    ("Save changes?", Script.LATIN), ("Größe ändern", Script.LATIN), ("Сохранить изменения", Script.CYRILLIC),
    ("Αποθήκευση", Script.GREEK), ("保存", Script.HAN), ("保存しますか", Script.JAPANESE),
    ("저장", Script.HANGUL), ("OK Отмена Отменить", Script.CYRILLIC), ("12:30 -> 42", None),
])
def test_script_of_the_recognized_letters(text, script):
    assert script_of(text) is script


def test_a_reading_that_left_most_boxes_unread_is_poor():
    assert poorly_read(ReadStats(4, 2)) and poorly_read(ReadStats(10, 7))
    assert not poorly_read(ReadStats(10, 1)) and not poorly_read(ReadStats(1, 1)) and not poorly_read(None)


@needs_osd
def test_tesseract_finds_the_script_of_small_ui_text():
    detect = tesseract_script_detector()
    assert detect is not None
    assert detect(_dialog(RUSSIAN)) is Script.CYRILLIC
    assert detect(_dialog(ENGLISH)) is Script.LATIN
    assert detect(Image.new("RGB", (640, 300), "white")) is None  # no text: no guess


def test_auto_reads_latin_text_with_pp_ocr_and_nothing_more():
    reader = default_registry().automatic(AUTO)
    assert isinstance(reader, ScriptFollowingRecognizer)
    result = reader.read(_dialog(ENGLISH))
    assert result.engine == "PP-OCR" and reader.notes == []
    assert [line.text for line in result.lines] == ["Save changes to the document?", "File Edit View Help", "Cancel"]


@needs_osd
def test_auto_reads_cyrillic_again_with_an_engine_for_russian():
    """PP-OCR cannot read Cyrillic; the script detector finds it and an engine reading Russian reads again."""
    russian = ScriptedRecognizer([("Сохранить изменения в документе?", (20, 20, 300, 38))])
    russian.name, russian.languages = "Russian reader", ("ru",)
    registry = default_registry()
    registry.register(EngineEntry(russian.name, lambda _lang: russian, languages=("ru",)))
    reader = TextRecognizerLoader("automatic", AUTO, registry=lambda: registry)()
    result = reader.read(_dialog(RUSSIAN))
    assert reader.notes == ["PP-OCR does not read Cyrillic script."]
    assert result.engine == "Russian reader"
    assert result.lines[-1].text == "Сохранить изменения в документе?"
    assert russian.images == [(640, 300)]  # only the Cyrillic dialog was read again (not the loader's blank one)


@needs_osd
@pytest.mark.skipif(_installed("rus"), reason="Tesseract reads Russian here")
def test_auto_says_which_script_is_not_read_and_what_to_install():
    reader = default_registry().automatic(AUTO)
    with pytest.raises(TextRecognitionError) as raised:
        reader.read(_dialog(RUSSIAN))
    assert raised.value.message == "The text is in Cyrillic script, which no installed text recognition engine reads."
    assert "tesseract-ocr-rus" in raised.value.hint


def test_greek_letters_pp_ocr_half_reads_are_not_taken_as_read():
    reader = default_registry().automatic(AUTO)
    if _has_osd() and _installed("ell"):
        pytest.skip("Tesseract reads Greek here")
    with pytest.raises(TextRecognitionError, match="Greek script"):
        reader.read(_dialog(("Αποθήκευση αλλαγών στο έγγραφο;", "Αρχείο  Επεξεργασία  Προβολή", "Ακύρωση")))


def test_a_set_answer_language_chooses_the_engine():
    registry = default_registry()
    assert [e.name for e in registry.candidates("de", platform="linux")] == ["PP-OCR", "Tesseract"]
    assert [e.name for e in registry.candidates("ru", platform="linux")] == ["Tesseract"]
    if not _installed("rus"):
        with pytest.raises(TextRecognitionError, match="Tesseract has no language pack for ru"):
            registry.choose("ru")


@pytest.mark.parametrize(("language", "platform", "order"), [
    # PP-OCR first where it reads the language (measured best), the system's engine next
    ("en", "win32", ["PP-OCR", "Windows OCR", "Tesseract"]),
    ("ja", "darwin", ["PP-OCR", "Apple Vision", "Tesseract"]),
    ("vi", "linux", ["PP-OCR", "Tesseract"]),
    # the system's engine first for the languages PP-OCR lacks, Tesseract after it
    ("ru", "win32", ["Windows OCR", "Tesseract"]),
    ("ko", "darwin", ["Apple Vision", "Tesseract"]),
    ("el", "linux", ["Tesseract"]),
    # "auto": every engine of the platform, the script found decides afterwards
    (AUTO, "win32", ["PP-OCR", "Windows OCR", "Tesseract"]),
    (AUTO, "linux", ["PP-OCR", "Tesseract"]),
])
def test_the_automatic_engine_order(language, platform, order):
    registry = default_registry()
    assert [e.name for e in registry.candidates(language, platform=platform)] == order
    assert [p.split(" (")[0] for p in registry.plan(language, platform=platform)] == order
    assert all("(" in p for p in registry.plan(language, platform=platform))  # each says why it stands there
