"""Turns streamed text into utterances to speak: the first one early, the rest at sentence ends.

Each boundary is decided only from the text up to a small look-ahead (the next non-space
character), so feeding a text in any chunking gives the same utterances as feeding it whole.
"""

from __future__ import annotations

import re
import unicodedata

SENTENCE_ENDS = ".!?\u2026"  # . ! ? and the one-character ellipsis
CJK_SENTENCE_ENDS = "\u3002\uff01\uff1f\uff61\uff0e"  # 。！？｡．
CLAUSE_BREAKS = ",;:"
CJK_CLAUSE_BREAKS = "\uff0c\u3001\uff1b\uff1a"  # ，、；：
CLOSERS = "\"')]}\u201d\u2019\u00bb\u300d\u300f\uff09\u3011\u3015\u3009\u300b"  # quotes, brackets

# A period after one of these never ends a sentence (case-sensitive where a plain word exists).
ABBREVIATIONS = frozenset({
    "Mr", "Mrs", "Ms", "Dr", "Prof", "Sr", "Jr", "St", "Mt", "Rev", "Gen", "Col", "Capt", "Lt",
    "Sgt", "Hon", "No", "Nos", "Fig", "Figs", "Vol", "Vols", "Eq", "Ref", "Sec", "Ch", "pp",
    "vs", "cf", "approx", "ca", "viz", "al",
})
_DOTTED = re.compile(r"^(?:[^\W\d_]\.)+[^\W\d_]$")  # e.g / i.e / U.S (the final period excluded)


def is_cjk(char: str) -> bool:
    """True for characters of scripts written without spaces (Han, kana): each counts as a word."""
    code = ord(char)
    return (
        0x3040 <= code <= 0x30FF  # hiragana, katakana
        or 0x3400 <= code <= 0x4DBF  # CJK extension A
        or 0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0xF900 <= code <= 0xFAFF  # compatibility ideographs
        or 0x20000 <= code <= 0x3FFFF  # extensions B and later
    )


def normalize(text: str) -> str:
    """Collapse every run of whitespace to one space and trim the ends."""
    return " ".join(text.split())


def word_count(text: str) -> int:
    """Words as the segmenter counts them: runs between spaces; each CJK character is one."""
    count = 0
    in_word = False
    for char in text:
        if char.isspace():
            in_word = False
        elif is_cjk(char):
            count += 1
            in_word = False
        elif not in_word:
            count += 1
            in_word = True
    return count


class _Undecided(Exception):
    """The text so far does not tell yet whether a boundary is here; wait for more."""


class Segmenter:
    """Streamed text in, utterances out: feed() chunks as they arrive, flush() at the end."""

    def __init__(self, first_min_words: int = 3, max_words: int = 30) -> None:
        if first_min_words < 1 or max_words < 1:
            raise ValueError("first_min_words and max_words must be at least 1")
        self.first_min_words = first_min_words
        self.max_words = max_words
        self._pending = ""
        self._emitted_any = False
        self._reset_scan()

    def _reset_scan(self) -> None:
        self._pos = 0  # everything before it in _pending is scanned and decided
        self._words = 0
        self._in_word = False
        self._word_start = 0
        self._last_clause = 0  # end of the last clause break in this utterance (0: none)

    def feed(self, text: str) -> list[str]:
        """Add a streamed chunk; return the utterances that are complete so far."""
        self._pending += text
        return self._scan(final=False)

    def flush(self) -> list[str]:
        """End of the stream: return whatever is left (never an empty string)."""
        out = self._scan(final=True)
        rest = normalize(self._pending)
        if rest:
            out.append(rest)
        self._pending = ""
        self._emitted_any = False  # the next stream starts with a new first utterance
        self._reset_scan()
        return out

    def _cut(self, end: int, out: list[str]) -> None:
        utterance = normalize(self._pending[:end])
        if utterance:
            out.append(utterance)
            self._emitted_any = True
        self._pending = self._pending[end:].lstrip()
        self._reset_scan()

    def _scan(self, final: bool) -> list[str]:
        out: list[str] = []
        while self._pos < len(self._pending):
            pending = self._pending
            i = self._pos
            char = pending[i]
            if char.isspace():
                self._in_word = False
                self._pos = i + 1
                continue
            starts_word = is_cjk(char) or not self._in_word
            if starts_word and self._words >= self.max_words:
                self._cut(self._last_clause or i, out)
                continue
            try:
                end = self._boundary_at(i, final)
            except _Undecided:
                break
            if starts_word:
                self._words += 1
                self._word_start = i
            self._in_word = not is_cjk(char)
            if end is not None:
                self._cut(end, out)
                continue
            self._pos = i + 1
        return out

    def _boundary_at(self, i: int, final: bool) -> int | None:
        """Where the utterance ends if a boundary starts at pending[i]; None if none does."""
        pending = self._pending
        char = pending[i]
        n = len(pending)
        if char in CJK_SENTENCE_ENDS:
            j = self._skip(i + 1, CJK_SENTENCE_ENDS + CLOSERS)
            if j == n and not final:
                raise _Undecided
            return j
        if char in CJK_CLAUSE_BREAKS:
            if i + 1 == n and not final:
                raise _Undecided
            self._last_clause = i + 1
            return i + 1 if self._early_clause_ok() else None
        if char in SENTENCE_ENDS:
            j = self._skip(i, SENTENCE_ENDS)
            run = pending[i:j]
            j = self._skip(j, CLOSERS)
            if j == n:
                if final:
                    return j
                raise _Undecided
            if not pending[j].isspace():
                return None  # 3.5, v1.2.3, example.com/a.b, "...more"
            k = j
            while k < n and pending[k].isspace():
                k += 1
            if k == n:
                if final:
                    return j
                raise _Undecided
            return j if self._ends_sentence(i, run, pending[k]) else None
        if char in CLAUSE_BREAKS:
            if i + 1 == n:
                if final:
                    return None
                raise _Undecided
            if not pending[i + 1].isspace():
                return None  # 1,000 or https:
            self._last_clause = i + 1
            return i + 1 if self._early_clause_ok() else None
        return None

    def _skip(self, j: int, chars: str) -> int:
        while j < len(self._pending) and self._pending[j] in chars:
            j += 1
        return j

    def _early_clause_ok(self) -> bool:
        """A clause break may end the first utterance once it has enough words."""
        return not self._emitted_any and self._words >= self.first_min_words

    def _ends_sentence(self, i: int, run: str, next_char: str) -> bool:
        next_is_lower = unicodedata.category(next_char) == "Ll"
        if run != ".":  # ! ? ?! or an ellipsis: ends unless the sentence clearly goes on
            return not next_is_lower
        word = self._pending[self._word_start:i] if self._in_word else ""
        word = word.lstrip("".join(CLOSERS) + "(\u201c\u2018\u00ab\u300c\u300e")
        if word in ABBREVIATIONS:
            return False
        if len(word) == 1 and word.isalpha() and word.isupper():
            return False  # an initial: J. R. R. Tolkien
        if _DOTTED.match(word):
            return False  # e.g. i.e. U.S.
        return not next_is_lower
