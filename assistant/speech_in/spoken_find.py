"""Spoken questions that are Find text: "find Save", "where is the Save button?" -> the text to find.

"find X" (locate, search for, look for, point to, go to) is always Find text. "where is X" is Find
text when X is in the recognized text and an ordinary question to the model otherwise (an icon
without a label, "where is the cursor"). English, German and French phrasings.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class FindPhrase(enum.Enum):
    """How the question asked for the text."""

    COMMAND = "command"    # "find Save": Find text, found or not
    QUESTION = "question"  # "where is Save": Find text when found, else the model answers


@dataclass(frozen=True)
class SpokenFind:
    """The text to find in a spoken question, and how it was asked."""

    text: str
    phrase: FindPhrase


_POLITE = r"(?:(?:please|bitte|s'il te plaît|s'il vous plaît|can you|could you|kannst du|peux-tu)\s+)*"
_COMMANDS = re.compile(
    r"^" + _POLITE + r"(?:find|locate|search for|look for|point to|go to|show me|"
    r"finde|finden|suche|zeig mir|trouve|trouver|cherche|chercher|montre-moi)\s+(?P<text>.+)$",
    re.IGNORECASE)
_QUESTIONS = re.compile(
    r"^" + _POLITE + r"(?:where(?:'s| is| are)|wo (?:ist|sind)|où (?:est|sont)|ou est)\s+(?P<text>.+)$",
    re.IGNORECASE)
_LEADING = re.compile(
    r"^(?:(?:the|a|an|my|der|die|das|den|dem|ein|eine|einen|le|la|les|l'|un|une)\s+|l')*"
    r"(?:(?:word|text|words|wort|text|mot|texte)\s+)?", re.IGNORECASE)
_TRAILING = re.compile(
    r"\s+(?:(?:on|in) (?:the )?(?:screen|window|page|dialog)|auf dem bildschirm|im fenster|à l'écran|"
    r"dans la fenêtre)$", re.IGNORECASE)
_ROLES = re.compile(
    r"\s+(?:button|link|tab|menu item|menu|field|text field|box|check ?box|icon|option|item|label|heading|"
    r"knopf|schaltfläche|taste|feld|bouton|lien|onglet|champ)$", re.IGNORECASE)
_QUOTES = "\"'“”„‘’«»"


def spoken_find(question: str) -> SpokenFind | None:
    """The text a spoken question asks to find, or None when it is not a Find text question."""
    said = " ".join(question.split()).strip().rstrip(".?!").strip()
    for pattern, phrase in ((_COMMANDS, FindPhrase.COMMAND), (_QUESTIONS, FindPhrase.QUESTION)):
        match = pattern.match(said)
        if match is not None:
            text = text_to_find(match.group("text"))
            return SpokenFind(text, phrase) if text else None
    return None


def text_to_find(said: str) -> str:
    """What was said after "find": articles, "the word", a trailing role ("button") and quotes left out."""
    text = said.strip().rstrip(".?!,;:").strip()
    text = _TRAILING.sub("", text)
    text = _LEADING.sub("", text, count=1)
    bare = _ROLES.sub("", text)
    text = bare if bare.strip(_QUOTES + " ") else text
    return text.strip(_QUOTES + " ,.;:")
