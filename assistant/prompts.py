"""What the model is asked, per mode: brief first, only what is visible, in the user's language."""

from __future__ import annotations

import re
from types import MappingProxyType

MODES = ("describe", "more", "read", "ask")

LANGUAGE_NAMES = MappingProxyType({
    "en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian",
    "pt": "Portuguese", "nl": "Dutch", "pl": "Polish", "sv": "Swedish", "da": "Danish",
    "nb": "Norwegian", "fi": "Finnish", "cs": "Czech", "ru": "Russian", "uk": "Ukrainian",
    "tr": "Turkish", "ar": "Arabic", "he": "Hebrew", "hi": "Hindi", "zh": "Chinese",
    "ja": "Japanese", "ko": "Korean", "vi": "Vietnamese", "id": "Indonesian", "el": "Greek",
    "hu": "Hungarian", "ro": "Romanian",
})

MAX_QUESTION_CHARS = 2000  # about 500 tokens: a pasted essay must not fill the context
MAX_TITLE_CHARS = 200

# Chat-template control tokens look like <image>, <end_of_utterance> or <|im_start|>. Text from a
# window title or a question must never become one (a web page could forge a turn otherwise).
_CONTROL_TOKEN = re.compile(r"<(\|?)([A-Za-z_][\w:.-]*)(\|?)>")

HONESTY = "Mention only what is visible. If something cannot be read or is unclear, say so."

_TEMPLATES = MappingProxyType({
    "describe": "Describe this screen for a blind user in one or two short sentences: "
                "what it is and the most important thing on it. " + HONESTY,
    "more": "Describe this screen in detail for a blind user, from top to bottom: the layout, "
            "the controls, the text and any images. " + HONESTY,
    "read": "Read out all the text in this image in reading order, top to bottom and left to "
            "right. Output only the text, without comments. If there is no text, say so.",
    "ask": "{question}\nAnswer briefly, using only what is visible in this image. If the answer "
           "is not visible, say so.",
})

PASSWORD_MESSAGE = "A password field has focus, so I will not describe the screen."

# What is said without asking the model, when the pixels alone settle it.
SCREEN_STATE_MESSAGES = MappingProxyType({
    "black": "The screen is black. The display may be off, asleep, or behind a screen curtain.",
    "blank": "The screen shows a single flat colour with nothing else on it.",
})


def language_name(code: str) -> str | None:
    """English name of a language code ("de", "pt-BR", "de_DE"), or None for "auto"/unknown."""
    if not code or code == "auto":
        return None
    return LANGUAGE_NAMES.get(code.replace("_", "-").split("-")[0].lower(), None)


def user_text(text: str, limit: int) -> str:
    """Text from the user or the screen, made safe to place in a prompt: one line, bounded,
    and unable to spell a chat-template control token."""
    text = " ".join(text.split())
    text = text[:limit].rstrip()
    return _CONTROL_TOKEN.sub(lambda m: f"‹{m.group(1)}{m.group(2)}{m.group(3)}›", text)


def build_prompt(mode: str, question: str = "", language: str = "auto", title: str = "") -> str:
    """The text placed after the image for one request."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    question = user_text(question, MAX_QUESTION_CHARS)
    if mode == "ask" and not question:
        mode = "describe"
    text = _TEMPLATES[mode].format(question=question)
    if title and mode in ("describe", "more"):
        text = f"The window is titled \"{user_text(title, MAX_TITLE_CHARS)}\". {text}"
    name = language_name(language)
    if name:
        text += f" Answer in {name}."
    elif mode == "ask":
        text += " Answer in the language of the question."
    return text
