"""Windows.Media.Ocr through the winrt packages (imported only on Windows, when used)."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass

from PIL import Image

from base.errors import TextRecognitionError


@dataclass(frozen=True)
class OSWord:
    """One word from an operating system's OCR: text, pixel box, confidence, and the index of its line."""

    text: str
    box: tuple[int, int, int, int]
    confidence: float
    line: int


def words_from_result(result) -> list[OSWord]:
    """Words of a Windows OcrResult (lines of words with BoundingRect x, y, width, height)."""
    words = []
    for n, line in enumerate(result.lines):
        for word in line.words:
            r = word.bounding_rect
            box = (int(r.x), int(r.y), int(round(r.x + r.width)), int(round(r.y + r.height)))
            words.append(OSWord(word.text, box, 1.0, n))  # Windows OCR gives no confidence
    return words


def language_tag(language: str) -> str:
    """The BCP-47 tag Windows wants ("en" -> "en-US" is left to Windows: the tag passes through)."""
    return language or "en"


class WindowsOCR:
    """An OcrEngine for one language (raises TextRecognitionError off Windows or without the language pack)."""

    def __init__(self, language: str = "en") -> None:
        if sys.platform != "win32":
            raise TextRecognitionError("Windows OCR exists only on Windows.")
        try:
            from winrt.windows.globalization import Language
            from winrt.windows.media.ocr import OcrEngine
        except ImportError as exc:
            raise TextRecognitionError(f"Windows OCR is not available ({exc}).") from exc
        if language == "auto":  # the languages of the user's Windows profile
            engine = OcrEngine.try_create_from_user_profile_languages()
        else:
            engine = OcrEngine.try_create_from_language(Language(language_tag(language)))
        if engine is None:
            raise TextRecognitionError(f"Windows has no OCR language pack for {language}.")
        self._engine = engine

    def read(self, image: Image.Image) -> list[OSWord]:
        """Recognizes the image and returns its words."""
        from winrt.windows.graphics.imaging import BitmapPixelFormat, SoftwareBitmap
        from winrt.windows.storage.streams import DataWriter

        rgba = image.convert("RGBA")
        b, g, r, a = rgba.split()[2], rgba.split()[1], rgba.split()[0], rgba.split()[3]
        bgra = Image.merge("RGBA", (b, g, r, a)).tobytes()
        writer = DataWriter()
        writer.write_bytes(bgra)
        bitmap = SoftwareBitmap.create_copy_from_buffer(writer.detach_buffer(), BitmapPixelFormat.BGRA8,
                                                        image.width, image.height)
        return words_from_result(asyncio.run(_recognize(self._engine, bitmap)))


async def _recognize(engine, bitmap):
    """Awaits the engine's RecognizeAsync."""
    return await engine.recognize_async(bitmap)
