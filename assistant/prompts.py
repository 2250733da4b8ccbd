"""What the model is asked, per mode: brief first, only what is visible, in the user's language."""

from __future__ import annotations

import re
from collections.abc import Sequence
from statistics import median
from types import MappingProxyType
from typing import TYPE_CHECKING

from base.vocabulary import Mode

if TYPE_CHECKING:
    from assistant.facts.types import ScreenFacts
    from assistant.text_recognition.types import Line, RecognizedText

MODES = (Mode.DESCRIBE, Mode.MORE, Mode.READ, Mode.ASK)  # the modes that prompt the vision model

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
MAX_APP_CHARS = 80
MAX_CONTROL_CHARS = 300  # the focused control's phrase: role, name, value, states
TEXT_BUDGET = 600       # characters of recognized text in a prompt (about 150 tokens)
MIN_LINE_CONFIDENCE = 0.5  # recognized lines below this are noise, not facts

FACTS_HEADER = "Known facts about this screen (trust them over your own reading of the image):"
TEXT_HEADER = "Text recognized on the screen, most prominent first:"
QUOTE_RULE = "Quote screen text only as it is written in the known facts."

# Chat-template control tokens look like <image>, <end_of_utterance> or <|im_start|>. Text from a
# window title or a question must never become one (a web page could forge a turn otherwise).
_CONTROL_TOKEN = re.compile(r"<(\|?)([A-Za-z_][\w:.-]*)(\|?)>")

HONESTY = "Mention only what is visible. If something cannot be read or is unclear, say so."

_TEMPLATES = MappingProxyType({
    Mode.DESCRIBE: "Describe this screen for a blind user in one or two short sentences: "
                "what it is and the most important thing on it. " + HONESTY,
    Mode.MORE: "Describe this screen in detail for a blind user. Begin with one short sentence that says "
            "what it is, then go from top to bottom: the layout, the controls, the text and any images. "
            + HONESTY,
    Mode.READ: "Read out all the text in this image in reading order, top to bottom and left to "
            "right. Output only the text, without comments. If there is no text, say so.",
    Mode.ASK: "{question}\nAnswer briefly, using only what is visible in this image. If the answer "
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


def prominence(line: Line, image_size: tuple[int, int], typical_height: float) -> float:
    """How prominent a recognized line is: its text height relative to the typical line (the
    main term, capped at 3), plus up to 0.5 for being near the top (title bars, toolbars,
    headings), plus 0.5 for a short label-like line (a button, a tab: at most 3 words)."""
    height = max(line.box[3] - line.box[1], 1)
    size = min(height / max(typical_height, 1.0), 3.0)
    image_height = max(image_size[1], 1)
    top = 0.5 * max(0.0, 1.0 - ((line.box[1] + line.box[3]) / 2) / image_height)
    label = 0.5 if len(line.text.split()) <= 3 else 0.0
    return size + top + label


def prominent_lines(text: RecognizedText, budget: int = TEXT_BUDGET) -> list[str]:
    """Recognized lines, most prominent first, whole lines only, together at most `budget`
    characters (one newline each counted). Low-confidence lines and repeats are left out; a line
    longer than what is left is skipped, and shorter ones after it may still fit."""
    lines: Sequence[Line] = [line for line in text.lines if line.confidence >= MIN_LINE_CONFIDENCE]
    if not lines:
        return []
    typical = median(max(line.box[3] - line.box[1], 1) for line in lines)
    ranked = sorted(enumerate(lines), key=lambda item: (-prominence(item[1], text.image_size, typical), item[0]))
    chosen: list[str] = []
    seen: set[str] = set()
    left = budget
    for _, line in ranked:
        safe = user_text(line.text, len(line.text) + 1)
        key = safe.casefold()
        if not safe or key in seen or len(safe) + 1 > left:
            continue
        seen.add(key)
        chosen.append(safe)
        left -= len(safe) + 1
    return chosen


def facts_block(facts: ScreenFacts | None, text: RecognizedText | None, title: str = "",
                text_budget: int = TEXT_BUDGET) -> str:
    """The known-facts part of a prompt ("" when nothing is known); one fact or text line per line."""
    lines: list[str] = []
    application = user_text(facts.application, MAX_APP_CHARS) if facts else ""
    window = user_text((facts.window if facts and facts.window else title), MAX_TITLE_CHARS)
    if application:
        lines.append(f"Application: {application}.")
    if window:
        lines.append(f'Window title: "{window}".')
    if facts is not None and facts.focused is not None:
        lines.append(f"Focused control: {user_text(facts.focused.describe(), MAX_CONTROL_CHARS)}.")
    recognized = prominent_lines(text, text_budget) if text is not None else []
    if text is not None and not recognized:
        lines.append("Text recognized on the screen: none.")
    if not lines and not recognized:
        return ""
    parts = [FACTS_HEADER, *lines]
    if recognized:
        parts += [TEXT_HEADER, *recognized]
    parts.append(QUOTE_RULE)
    return "\n".join(parts)


def build_prompt(mode: Mode | str, question: str = "", language: str = "auto", title: str = "",
                 facts: ScreenFacts | None = None, text: RecognizedText | None = None) -> str:
    """The text placed after the image for one request.

    Without facts and text it is the one- or two-line prompt it always was (the title, if any,
    in describe and more). With them, a block of known facts comes first, in every mode: the
    application and window title (facts.window, else `title`), the focused control, and the
    recognized text (TEXT_BUDGET characters, most prominent whole lines first); then the
    instruction, which asks for a brief answer first.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    mode = Mode(mode)
    question = user_text(question, MAX_QUESTION_CHARS)
    if mode == Mode.ASK and not question:
        mode = Mode.DESCRIBE
    text_prompt = _TEMPLATES[mode].format(question=question)
    known = facts_block(facts, text, title) if (facts is not None or text is not None) else ""
    if known:
        text_prompt = f"{known}\n{text_prompt}"
    elif title and mode in (Mode.DESCRIBE, Mode.MORE):
        text_prompt = f"The window is titled \"{user_text(title, MAX_TITLE_CHARS)}\". {text_prompt}"
    name = language_name(language)
    if name:
        text_prompt += f" Answer in {name}."
    elif mode == Mode.ASK:
        text_prompt += " Answer in the language of the question."
    return text_prompt
