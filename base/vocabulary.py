"""The words the settings, the command line, the UI and the engine share, one enum per concept.

They are StrEnums: each member is equal to its string value, so settings files written before
keep loading, TOML and JSON hold plain strings, and argparse choices print as the user types them.
"""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    """What a request asks for."""

    DESCRIBE = "describe"  # briefly
    MORE = "more"          # in detail
    READ = "read"          # the text, in reading order
    ASK = "ask"            # a question about the picture
    FIND = "find"          # where a given text is


class Role(StrEnum):
    """What a model is for."""

    VISION = "vision"  # describes and reads pictures
    SPEECH = "speech"  # turns a spoken question into text


class Tier(StrEnum):
    """The vision-model choices a user picks from in setup."""

    FAST = "fast"          # SmolVLM-256M, any laptop
    BALANCED = "balanced"  # SmolVLM-500M
    QUALITY = "quality"    # Gemma 4: many languages, hears spoken questions


class Device(StrEnum):
    """Where the vision model runs."""

    AUTO = "auto"  # a CUDA GPU, then Apple's GPU (MPS), then the CPU
    CPU = "cpu"
    CUDA = "cuda"  # an NVIDIA GPU
    MPS = "mps"    # Apple's GPU


class Detail(StrEnum):
    """How many pixels of the picture go into the vision model."""

    QUICK = "quick"    # one tile of the whole picture
    NORMAL = "normal"  # up to 1024 pixels on the long side
    HIGH = "high"      # the processor's own default, up to 2048


class Target(StrEnum):
    """Where a request's picture comes from: a part of the desktop, a file or the clipboard."""

    SCREEN = "screen"
    WINDOW = "window"
    POINTER = "pointer"
    REGION = "region"
    FILE = "file"
    CLIPBOARD = "clipboard"


DESKTOP_TARGETS = (Target.SCREEN, Target.WINDOW, Target.POINTER, Target.REGION)


class Output(StrEnum):
    """Who speaks the answers."""

    VOICE = "voice"                  # ScreenSight's own voice
    SCREEN_READER = "screen_reader"  # the running screen reader
    BOTH = "both"                    # the own voice, and the reader's braille display
    TEXT = "text"                    # nobody: text in the window only


OWN_VOICE_OUTPUTS = (Output.VOICE, Output.BOTH)  # the outputs where ScreenSight's own voice speaks


class ReadWith(StrEnum):
    """How Read text reads."""

    OCR = "ocr"      # text recognition: exact
    MODEL = "model"  # the vision model


class TalkMode(StrEnum):
    """How the push-to-talk key works."""

    HOLD = "hold"      # talk while the key is held
    TOGGLE = "toggle"  # press once; a pause ends the question


def choices(vocabulary: type[StrEnum]) -> str:
    """The values of a vocabulary for a message: "quick, normal, high"."""
    return ", ".join(member.value for member in vocabulary)
