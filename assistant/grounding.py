"""The truth check: text an answer presents as read from the screen must be on the screen.

Small vision models invent text. An answer may describe freely, but when it *quotes* screen text,
the quote must be found in what the system knows for sure: the recognized text (OCR) and the
accessibility facts (and the user's own question, which an answer may echo). A quote that is in
neither is replaced, in what is spoken, by UNCONFIRMED ("(unconfirmed text)"): the user hears that
some text is there, never invented words as if they had been read. The rest of the sentence
stays. (Dropping the whole sentence would also drop true description; keeping the quote with a
warning would still put the invented words in the user's ear, which is what we must avoid.)

What counts as a quote (the rule the tests pin down):

1. Quoted: text between "...", “...”, „...“, «...», ‘...’, 「...」, or ASCII '...' where the
   opening ' follows no letter or digit and the closing ' is followed by none (so "don't" and
   "users' files" are not quotes). 1 to 200 characters, on one line.
2. Label after a cue: after one of CUE_WORDS ("labelled", "titled", "named", "called", "reads",
   "says", "with the text"...), optionally followed by ":", a run of 1 to 8 words that each start
   with a capital letter or a digit; lower-case joining words (of, and, the, to...) may sit
   between two such words. "a button labelled Save As" quotes "Save As".
3. Label before a control word: a run of capitalised words (as in 2, leading articles such as
   "The" or "A" left out) directly before one of CONTROL_WORDS ("button", "tab", "link",
   "menu", "field", "checkbox"...). "the Save As button" quotes "Save As". When such a run of
   two or more words starts a sentence, its first word is left out ("Click Save button" quotes
   "Save"): a sentence's first word is capitalised anyway.

How a quote is matched: case, accents, curly/straight quotes and dashes are folded; trailing
punctuation inside the quote is ignored. A quote of up to 5 characters must appear as whole
words; a longer one may differ from some stretch of the known text by one edit (insertion,
deletion, substitution) per 6 characters, for OCR noise.

Streaming: the check runs per utterance, as the segmenter yields them. An utterance whose quote
opens and does not close is held and checked with the next one (never more than one), so speech
waits at most one sentence.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assistant.edit_distance import substring_distance
from assistant.text_recognition.types import fold

if TYPE_CHECKING:
    from assistant.facts.types import ScreenFacts
    from assistant.text_recognition.types import RecognizedText

UNCONFIRMED = "(unconfirmed text)"
ERRORS_PER_CHARS = 6  # one edit allowed per this many characters of a quote
EXACT_MAX_CHARS = 5   # quotes this short must match whole words exactly
MAX_QUOTE_CHARS = 200
MAX_LABEL_WORDS = 8

CUE_WORDS = ("labelled", "labeled", "titled", "entitled", "named", "called", "reads", "reading",
             "says", "saying", "with the text", "the text", "the words", "captioned")
CONTROL_WORDS = ("button", "tab", "link", "menu", "field", "checkbox", "check box", "option",
                 "heading", "label", "icon", "column", "toggle", "switch", "item", "dialog")
JOINING_WORDS = frozenset({"of", "and", "or", "the", "to", "a", "an", "in", "for", "on", "at", "by",
                           "with", "&", "-", "as"})
LEADING_ARTICLES = frozenset({"the", "a", "an", "this", "that", "these", "those", "its", "their",
                              "your", "our", "my", "his", "her", "each", "every", "one", "another"})

_PAIRED = re.compile(
    r'"(?P<a>[^"\n]{1,200})"'
    r"|“(?P<b>[^”\n]{1,200})”"
    r"|„(?P<c>[^“”\n]{1,200})[“”]"
    r"|«\s?(?P<d>[^»\n]{1,200}?)\s?»"
    r"|‘(?P<e>[^’\n]{1,200})’(?!\w)"
    r"|「(?P<f>[^」\n]{1,200})」"
    r"|(?<!\w)'(?=\S)(?P<g>[^'\n]{1,200}?)(?<=\S)'(?!\w)"
)
_CUE = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in CUE_WORDS) + r")\b:?\s+", re.IGNORECASE)
_CONTROL = re.compile(r"\s+(?:" + "|".join(re.escape(w) for w in CONTROL_WORDS) + r")s?\b", re.IGNORECASE)
_WORD = re.compile(r"\S+")
_TRIM = ".,;:!?…)]}\"'’”»"
_OPENERS = {'"': '"', "“": "”", "„": "“”", "«": "»", "「": "」"}
_FOLD_PUNCT = str.maketrans({"’": "'", "‘": "'", "‚": "'", "`": "'", "´": "'", "“": '"', "”": '"',
                             "„": '"', "«": '"', "»": '"', "–": "-", "—": "-", "‐": "-", "\u00a0": " "})


def normalise(text: str) -> str:
    """Text folded for matching: case, accents, quote marks, dashes and spacing."""
    return fold(unicodedata.normalize("NFKC", text).translate(_FOLD_PUNCT))


@dataclass(frozen=True)
class KnownText:
    """What is known to be on the screen, folded for matching.

    checkable is False when no text recognition ran (text=None): then nothing can be told
    invented, and check_quotes leaves answers as they are unless strict is set.
    """

    entries: tuple[str, ...]
    checkable: bool = True

    @classmethod
    def of(cls, text: RecognizedText | None = None, facts: ScreenFacts | None = None,
           extra: Iterable[str] = ()) -> KnownText:
        """From the recognized text (lines, and each block's lines joined), the facts and any
        extra strings (the user's question)."""
        entries: list[str] = []
        if text is not None:
            for block in text.blocks:
                entries.append(" ".join(line.text for line in block.lines))
        if facts is not None:
            entries.extend(facts.texts())
        entries.extend(extra)
        folded = tuple(dict.fromkeys(e for e in (normalise(e) for e in entries) if e))
        return cls(folded, checkable=text is not None)

    def contains(self, phrase: str) -> bool:
        """True when the phrase is in the known text, allowing OCR noise (see the module doc)."""
        needle = normalise(phrase).strip(_TRIM + " ")
        if not needle:
            return True
        if len(needle) <= EXACT_MAX_CHARS:
            pattern = re.compile(r"(?<!\w)" + re.escape(needle) + r"(?!\w)")
            return any(pattern.search(entry) for entry in self.entries)
        allowed = len(needle) // ERRORS_PER_CHARS
        for entry in self.entries:
            if needle in entry:
                return True
            if allowed and len(entry) >= len(needle) - allowed and best_distance(needle, entry) <= allowed:
                return True
        return False


def best_distance(pattern: str, text: str) -> int:
    """The least edit distance between `pattern` and any substring of `text`."""
    return substring_distance(pattern, text)[0]


@dataclass(frozen=True)
class Quote:
    """Text an answer presented as on-screen text, where it is, and whether it was found."""

    text: str
    start: int  # span in the checked text, quote marks included
    end: int
    kind: str   # "quoted" or "label"
    confirmed: bool | None  # None: nothing to check against (no text recognition ran)


@dataclass(frozen=True)
class CheckedText:
    """One utterance after the check: `text` is what to speak and show."""

    original: str
    text: str
    quotes: tuple[Quote, ...] = ()

    @property
    def changed(self) -> bool:
        return self.text != self.original

    @property
    def unconfirmed(self) -> tuple[Quote, ...]:
        return tuple(q for q in self.quotes if q.confirmed is False)


def _capitalised(word: str) -> bool:
    core = word.strip(_TRIM + "(['\"“‘«")
    return bool(core) and (core[0].isupper() or core[0].isdigit())


def _label_after(text: str, pos: int) -> tuple[int, int] | None:
    """The capitalised run starting at pos (rule 2), as a span, or None."""
    words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text, pos)]
    end = None
    count = 0
    i = 0
    while i < len(words) and count < MAX_LABEL_WORDS:
        start, stop, word = words[i]
        if i == 0 and start != pos:
            break
        if _capitalised(word):
            end = stop
            count += 1
            if word.rstrip()[-1:] in ".,;:!?":
                break
            i += 1
            continue
        j = i
        while j < len(words) and words[j][2].lower() in JOINING_WORDS:
            j += 1
        if end is None or j == i or j >= len(words) or not _capitalised(words[j][2]):
            break
        i = j
    if end is None:
        return None
    while end > pos and text[end - 1] in _TRIM:
        end -= 1
    return (pos, end) if end > pos else None


def _label_before(text: str, stop: int) -> tuple[int, int] | None:
    """The capitalised run ending at stop, before a control word (rule 3), as a span, or None."""
    words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text, 0, stop)]
    words = [w for w in words if w[1] <= stop]
    start = None
    count = 0
    i = len(words) - 1
    while i >= 0 and count < MAX_LABEL_WORDS:
        word = words[i][2]
        if word[-1:] in ".,;:!?" and start is not None:
            break
        if _capitalised(word) and word.lower() not in LEADING_ARTICLES:
            start = words[i][0]
            count += 1
            i -= 1
            continue
        j = i
        while j >= 0 and words[j][2].lower() in JOINING_WORDS - LEADING_ARTICLES:
            j -= 1
        if start is None or j == i or j < 0 or not _capitalised(words[j][2]) \
                or words[j][2].lower() in LEADING_ARTICLES:
            break
        i = j
    if start is None:
        return None
    before = text[:start].rstrip(" \"'“‘«(")
    if count > 1 and (not before or before[-1] in ".!?"):
        # A sentence's first word is capitalised anyway: it is not taken as part of the label.
        start = next(w[0] for w in words if w[0] > start)
    return start, words[-1][1]


def find_quotes(text: str) -> list[tuple[int, int, int, int, str]]:
    """Every quote in text as (span start, span end, content start, content end, kind), in order,
    without overlaps (a quoted span wins over a label rule)."""
    found: list[tuple[int, int, int, int, str]] = []
    for match in _PAIRED.finditer(text):
        group = next(g for g in "abcdefg" if match.group(g) is not None)
        found.append((match.start(), match.end(), match.start(group), match.end(group), "quoted"))
    for match in _CUE.finditer(text):
        span = _label_after(text, match.end())
        if span:
            found.append((span[0], span[1], span[0], span[1], "label"))
    for match in _CONTROL.finditer(text):
        span = _label_before(text, match.start())
        if span:
            found.append((span[0], span[1], span[0], span[1], "label"))
    found.sort(key=lambda q: (q[0], q[4] != "quoted", -q[1]))
    kept: list[tuple[int, int, int, int, str]] = []
    for quote in found:
        if kept and quote[0] < kept[-1][1]:
            continue
        kept.append(quote)
    return kept


def check_quotes(text: str, known: KnownText, strict: bool = False, marker: str = UNCONFIRMED) -> CheckedText:
    """One utterance checked: every quote (see the module doc) not found in `known` is replaced
    by `marker`. When known is not checkable (no text recognition ran) the text is left as it
    is, unless strict, when every quote the facts do not confirm is replaced."""
    quotes: list[Quote] = []
    pieces: list[str] = []
    last = 0
    checking = known.checkable or strict
    for start, end, content_start, content_end, kind in find_quotes(text):
        content = text[content_start:content_end]
        confirmed = known.contains(content) if checking else None
        quotes.append(Quote(content, start, end, kind, confirmed))
        if confirmed is False:
            pieces.append(text[last:start])
            pieces.append(marker)
            last = end
    pieces.append(text[last:])
    return CheckedText(text, "".join(pieces), tuple(quotes))


def open_quote(text: str) -> bool:
    """True when a quote opens in text and does not close (the next utterance may close it)."""
    if text.count('"') % 2:
        return True
    for opener, closers in _OPENERS.items():
        if opener == '"':
            continue
        if text.count(opener) > sum(text.count(c) for c in closers if c != opener):
            return True
    return False


class QuoteChecker:
    """The check on a stream of utterances: feed() each as the segmenter yields it, flush() at the end.

    An utterance with an open quote is held until the next one arrives, then both are checked
    and returned as one utterance; nothing is held longer than that.
    """

    def __init__(self, known: KnownText, strict: bool = False, marker: str = UNCONFIRMED) -> None:
        self.known = known
        self.strict = strict
        self.marker = marker
        self._held: str | None = None

    def feed(self, utterance: str) -> list[CheckedText]:
        if self._held is not None:
            joined, self._held = f"{self._held} {utterance}", None
            return [self._check(joined, close=True)]
        if open_quote(utterance):
            self._held = utterance
            return []
        return [self._check(utterance)]

    def flush(self) -> list[CheckedText]:
        if self._held is None:
            return []
        held, self._held = self._held, None
        return [self._check(held, close=True)]

    def _check(self, text: str, close: bool = False) -> CheckedText:
        if close and open_quote(text):
            # Still open after the next sentence: the quote runs to the end of what we have.
            opener = max((text.rfind(o) for o in _OPENERS), default=-1)
            content = text[opener + 1:]
            checked = check_quotes(text[:opener], self.known, self.strict, self.marker)
            confirmed = self.known.contains(content) if (self.known.checkable or self.strict) else None
            quote = Quote(content, opener, len(text), "quoted", confirmed)
            spoken = checked.text + (self.marker if confirmed is False else text[opener:])
            return CheckedText(text, spoken, (*checked.quotes, quote))
        return check_quotes(text, self.known, self.strict, self.marker)


def check_stream(utterances: Iterable[str], known: KnownText, strict: bool = False,
                 marker: str = UNCONFIRMED) -> Iterator[CheckedText]:
    """check_quotes over a stream of utterances (see QuoteChecker), yielding each as soon as it is checked."""
    checker = QuoteChecker(known, strict, marker)
    for utterance in utterances:
        yield from checker.feed(utterance)
    yield from checker.flush()
