"""Text recognition (OCR): engines behind one interface, results in reading order.

Nothing here imports an inference runtime at import time; engines load their models when made.
"""

from assistant.text_recognition.base import TextRecognizer
from assistant.text_recognition.registry import Choice, EngineEntry, FallbackRecognizer, Registry, default_registry
from assistant.text_recognition.types import Line, RecognizedText, TextBlock, Word, where

__all__ = ["Choice", "EngineEntry", "FallbackRecognizer", "Line", "RecognizedText", "Registry", "TextBlock",
           "TextRecognizer", "Word", "default_registry", "where"]
