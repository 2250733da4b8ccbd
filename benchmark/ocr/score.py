"""Scoring recognized text against ground truth: CER, word recall/precision and reading-order agreement.

All functions are pure. Text is compared after normalize(): Unicode NFC and every run of whitespace as one
space, so line breaks and the two spaces between table cells do not count, only characters and order.
- cer: Levenshtein distance over the whole text (reading order included) / ground-truth length.
- word recall / precision: the multiset of whitespace-separated words, exact (case and punctuation count).
- order agreement: each ground-truth line is found in the recognized lines (approximate substring match in
  up to SPAN_LINES neighbours, at most ORDER_MATCH of its characters wrong); of all pairs of found lines, the
  share in the same order (normalised Kendall tau, 1.0 = the order a person expects); lcs_ratio is the
  longest run of found lines in order / found lines.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.edit_distance import levenshtein, substring_distance

SPAN_LINES = 6  # a truth line may be split over this many recognized lines (the fields of an ls -l row)
ORDER_MATCH = 0.34  # a ground-truth line counts as found where at most this share of its characters differ


@dataclass(frozen=True)
class Score:
    """One image's (or a sum of images') counts; the rates are properties so sums stay exact."""

    edits: int
    truth_chars: int
    words_matched: int
    truth_words: int
    recognized_words: int
    pairs_in_order: int
    pairs: int
    lines_found: int
    truth_lines: int
    lines_in_lcs: int

    @property
    def cer(self) -> float:
        return self.edits / self.truth_chars if self.truth_chars else float(self.edits > 0)

    @property
    def recall(self) -> float:
        return self.words_matched / self.truth_words if self.truth_words else 1.0

    @property
    def precision(self) -> float:
        return self.words_matched / self.recognized_words if self.recognized_words else float(not self.truth_words)

    @property
    def order(self) -> float:
        return self.pairs_in_order / self.pairs if self.pairs else 1.0

    @property
    def lcs_ratio(self) -> float:
        return self.lines_in_lcs / self.lines_found if self.lines_found else 1.0

    def __add__(self, other: Score) -> Score:
        return Score(*(a + b for a, b in zip(_fields(self), _fields(other), strict=True)))

    def as_dict(self) -> dict[str, float | int]:
        rates = {"cer": self.cer, "recall": self.recall, "precision": self.precision, "order": self.order,
                 "lcs_ratio": self.lcs_ratio}
        return {**{k: round(v, 4) for k, v in rates.items()}, "lines_found": self.lines_found,
                "truth_lines": self.truth_lines, "truth_chars": self.truth_chars, "truth_words": self.truth_words}


def _fields(score: Score) -> tuple[int, ...]:
    return (score.edits, score.truth_chars, score.words_matched, score.truth_words, score.recognized_words,
            score.pairs_in_order, score.pairs, score.lines_found, score.truth_lines, score.lines_in_lcs)


def zero() -> Score:
    """The empty sum."""
    return Score(0, 0, 0, 0, 0, 0, 0, 0, 0, 0)


def normalize(text: str) -> str:
    """NFC, whitespace runs as one space, no leading or trailing space."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def word_counts(truth: str, recognized: str) -> tuple[int, int, int]:
    """(words in both as multisets, ground-truth words, recognized words)."""
    want, got = Counter(normalize(truth).split()), Counter(normalize(recognized).split())
    return sum((want & got).values()), sum(want.values()), sum(got.values())


def line_positions(truth_lines: Sequence[str], recognized_lines: Sequence[str]) -> list[float | None]:
    """Where each ground-truth line sits among the recognized lines (a sortable number), None where not found.

    A truth line is looked for inside each recognized line and inside up to SPAN_LINES neighbours joined (a
    line the engine split); the best match wins: fewest edits, then a line not taken yet, then the tightest fit. Its
    position is the line's index plus how far into the line the match ends, so cells merged into one
    recognized line keep their order.
    """
    texts = [normalize(line) for line in recognized_lines]
    spans = [(k, k + n - 1, " ".join(texts[k:k + n])) for n in range(1, SPAN_LINES + 1)
             for k in range(len(texts) - n + 1)]
    taken: Counter[int] = Counter()
    found: list[float | None] = []
    for line in truth_lines:
        text = normalize(line)
        best: tuple[int, int, int, int] | None = None
        position = 0.0
        for first, last, span in spans if text else ():
            edits, end = substring_distance(text, span)
            key = (edits, taken[first] + taken[last], len(span) - len(text), first)
            if best is None or key < best:
                best, position = key, first + end / (len(span) + 1)
        if best is None or best[0] > ORDER_MATCH * len(text):
            found.append(None)
            continue
        taken[int(position)] += 1
        found.append(position)
    return found


def order_counts(positions: Sequence[float | None]) -> tuple[int, int, int]:
    """(pairs of found lines in order, pairs of found lines, length of the longest increasing run)."""
    found = [p for p in positions if p is not None]
    pairs = len(found) * (len(found) - 1) // 2
    in_order = sum(1 for i in range(len(found)) for j in range(i + 1, len(found)) if found[i] < found[j])
    return in_order, pairs, _longest_increasing(found)


def _longest_increasing(values: Sequence[float]) -> int:
    tails: list[float] = []
    for value in values:
        k = bisect_left(tails, value)
        if k == len(tails):
            tails.append(value)
        else:
            tails[k] = value
    return len(tails)


def score(truth_lines: Sequence[str], recognized_lines: Sequence[str]) -> Score:
    """One image: ground-truth lines in the order a person reads them against the recognized lines in order."""
    truth, got = normalize(" ".join(truth_lines)), normalize(" ".join(recognized_lines))
    matched, n_truth, n_got = word_counts(truth, got)
    positions = line_positions(truth_lines, recognized_lines)
    in_order, pairs, lcs = order_counts(positions)
    return Score(edits=levenshtein(truth, got), truth_chars=len(truth), words_matched=matched,
                 truth_words=n_truth, recognized_words=n_got, pairs_in_order=in_order, pairs=pairs,
                 lines_found=sum(p is not None for p in positions),
                 truth_lines=sum(1 for line in truth_lines if normalize(line)), lines_in_lcs=lcs)
