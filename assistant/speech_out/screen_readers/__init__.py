"""Speech through the user's screen reader: one interface, a backend per reader, detection.

No Qt here: the announcement backend (Qt's accessibility events) lives in ui/screen_reader.py
and is registered into the same registry from there.
"""

from assistant.speech_out.screen_readers.base import ScreenReader, Spoken
from assistant.speech_out.screen_readers.engine import NO_READER_MESSAGE, BothEngine, ScreenReaderEngine
from assistant.speech_out.screen_readers.registry import ReaderWatch, ScreenReaders, default_readers

__all__ = ["NO_READER_MESSAGE", "BothEngine", "ReaderWatch", "ScreenReader", "ScreenReaderEngine",
           "ScreenReaders", "Spoken", "default_readers"]
