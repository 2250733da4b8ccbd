"""Writing systems: which languages each script is written in, and what a detector's script names mean.

Used when the language is "auto": the text's script, found by a script detector (Tesseract's
orientation and script detection) when the first engine could not read most of it, picks the
language, and with it the engine, for a second reading.
"""

from __future__ import annotations

import enum
import unicodedata
from collections import Counter
from collections.abc import Callable
from types import MappingProxyType

from PIL import Image

from assistant.text_recognition.types import ReadStats

UNREADABLE_SHARE = 0.5  # a first reading that could not read this share of the text boxes it found is poor
UNREADABLE_MIN = 2      # ... and at least this many (one odd glyph is no other script)


class Script(enum.Enum):
    """A writing system."""

    LATIN = "Latin"
    CYRILLIC = "Cyrillic"
    GREEK = "Greek"
    ARABIC = "Arabic"
    HEBREW = "Hebrew"
    HAN = "Han"
    JAPANESE = "Japanese"
    HANGUL = "Hangul"
    DEVANAGARI = "Devanagari"
    THAI = "Thai"


SCRIPT_LANGUAGES = MappingProxyType({  # BCP-47 primary tags, most used first
    Script.LATIN: ("en", "de", "fr", "es", "it", "pt", "nl", "pl", "cs", "sv", "tr"),
    Script.CYRILLIC: ("ru", "uk", "bg", "sr"),
    Script.GREEK: ("el",),
    Script.ARABIC: ("ar", "fa", "ur"),
    Script.HEBREW: ("he",),
    Script.HAN: ("zh", "ja"),
    Script.JAPANESE: ("ja",),
    Script.HANGUL: ("ko",),
    Script.DEVANAGARI: ("hi", "mr", "ne"),
    Script.THAI: ("th",),
})

# Tesseract OSD's script names (its osd.traineddata) for the scripts above.
TESSERACT_SCRIPTS = MappingProxyType({
    "Latin": Script.LATIN, "Cyrillic": Script.CYRILLIC, "Greek": Script.GREEK, "Arabic": Script.ARABIC,
    "Hebrew": Script.HEBREW, "Han": Script.HAN, "HanS": Script.HAN, "HanT": Script.HAN,
    "Japanese": Script.JAPANESE, "Katakana": Script.JAPANESE, "Hiragana": Script.JAPANESE,
    "Hangul": Script.HANGUL, "Korean": Script.HANGUL, "Devanagari": Script.DEVANAGARI, "Thai": Script.THAI,
})

# The first word of a letter's Unicode name, for the scripts above.
_NAME_SCRIPTS = MappingProxyType({
    "LATIN": Script.LATIN, "CYRILLIC": Script.CYRILLIC, "GREEK": Script.GREEK, "ARABIC": Script.ARABIC,
    "HEBREW": Script.HEBREW, "CJK": Script.HAN, "HIRAGANA": Script.JAPANESE, "KATAKANA": Script.JAPANESE,
    "HANGUL": Script.HANGUL, "DEVANAGARI": Script.DEVANAGARI, "THAI": Script.THAI,
})

ScriptDetector = Callable[[Image.Image], "Script | None"]


def script_of(text: str) -> Script | None:
    """The script most of the text's letters are written in (kana among Han makes it Japanese); None
    without letters."""
    counts: Counter[Script] = Counter()
    for char in text:
        if char.isalpha():
            script = _NAME_SCRIPTS.get(unicodedata.name(char, "").split(" ")[0])
            if script is not None:
                counts[script] += 1
    if not counts:
        return None
    if counts[Script.JAPANESE] and counts[Script.HAN] + counts[Script.JAPANESE] >= max(counts.values()):
        return Script.JAPANESE
    return counts.most_common(1)[0][0]


def poorly_read(stats: ReadStats | None) -> bool:
    """True when an engine found text it could not read for the most part (another script, most likely)."""
    return stats is not None and stats.unreadable >= max(UNREADABLE_MIN, UNREADABLE_SHARE * stats.detected)


def languages_of(script: Script) -> tuple[str, ...]:
    """The languages written in the script, most used first."""
    return SCRIPT_LANGUAGES[script]


def tesseract_script_detector() -> ScriptDetector | None:
    """Tesseract's orientation and script detection, where tesseract and its osd data are installed."""
    from models.ocr_tesseract import detect_script, executable, installed_languages

    program = executable()
    if program is None or "osd" not in installed_languages(program):
        return None

    def detect(image: Image.Image) -> Script | None:
        name = detect_script(image, program)
        return TESSERACT_SCRIPTS.get(name) if name else None

    return detect
