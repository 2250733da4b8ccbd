"""Apple Vision (VNRecognizeTextRequest) through pyobjc (imported only on macOS, when used)."""

from __future__ import annotations

import io
import sys

from PIL import Image

from base.errors import TextRecognitionError
from models.ocr_windows import OSWord


def pixel_box(normalized: tuple[float, float, float, float], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """A Vision bounding box (x, y, width, height in 0..1, origin bottom left) in top-left pixel coordinates."""
    x, y, w, h = normalized
    width, height = size
    return (round(x * width), round((1 - y - h) * height), round((x + w) * width), round((1 - y) * height))


def words_from_observations(observations, size: tuple[int, int]) -> list[OSWord]:
    """One OSWord per observation line (Vision gives lines; words come from splitting the top candidate)."""
    words = []
    for n, obs in enumerate(observations):
        candidates = obs.topCandidates_(1)
        if not candidates:
            continue
        best = candidates[0]
        rect = obs.boundingBox()
        box = pixel_box((rect.origin.x, rect.origin.y, rect.size.width, rect.size.height), size)
        words.append(OSWord(str(best.string()), box, float(best.confidence()), n))
    return words


class AppleVisionOCR:
    """Vision's accurate text recognizer for some languages (raises TextRecognitionError off macOS)."""

    def __init__(self, languages: tuple[str, ...] = ("en-US",)) -> None:
        if sys.platform != "darwin":
            raise TextRecognitionError("Apple Vision text recognition exists only on macOS.")
        try:
            import Vision  # noqa: F401 - pyobjc-framework-Vision
        except ImportError as exc:
            raise TextRecognitionError(f"Apple Vision is not available ({exc}).") from exc
        self._languages = list(languages)

    def read(self, image: Image.Image) -> list[OSWord]:
        """Recognizes the image and returns one OSWord per recognized line."""
        import Quartz
        import Vision
        from Foundation import NSData

        png = io.BytesIO()
        image.convert("RGB").save(png, format="PNG")
        data = NSData.dataWithBytes_length_(png.getvalue(), len(png.getvalue()))
        source = Quartz.CGImageSourceCreateWithData(data, None)
        cg_image = Quartz.CGImageSourceCreateImageAtIndex(source, 0, None)
        request = Vision.VNRecognizeTextRequest.alloc().init()
        request.setRecognitionLevel_(Vision.VNRequestTextRecognitionLevelAccurate)
        if self._languages:
            request.setRecognitionLanguages_(self._languages)
        elif hasattr(request, "setAutomaticallyDetectsLanguage_"):  # macOS 13 and later
            request.setAutomaticallyDetectsLanguage_(True)
        request.setUsesLanguageCorrection_(True)
        handler = Vision.VNImageRequestHandler.alloc().initWithCGImage_options_(cg_image, None)
        ok, error = handler.performRequests_error_([request], None)
        if not ok:
            raise TextRecognitionError(f"Apple Vision failed ({error}).")
        return words_from_observations(request.results() or [], image.size)
