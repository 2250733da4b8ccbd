"""Edit distances by Myers' bit-vector algorithm (1999, Hyyrö's formulation) over Python ints:
one pass over the text whatever the pattern's length. Used by the truth check and the OCR scorer."""

from __future__ import annotations


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insert, delete, substitute: 1 each)."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    return _myers(b, a, search=False)[0]


def substring_distance(pattern: str, text: str) -> tuple[int, int]:
    """The fewest edits turning pattern into some substring of text, and where that substring ends
    (the first best end)."""
    if not pattern:
        return 0, 0
    if not text:
        return len(pattern), 0
    _last, best, end = _myers(pattern, text, search=True)
    return best, end


def _myers(pattern: str, text: str, search: bool) -> tuple[int, int, int]:
    """(distance at the end of text, best distance over all end positions, first best end).

    search: a match may start anywhere in text (no carry into row 0), as for substring_distance."""
    m = len(pattern)
    full, top = (1 << m) - 1, 1 << (m - 1)
    peq: dict[str, int] = {}
    for i, char in enumerate(pattern):
        peq[char] = peq.get(char, 0) | (1 << i)
    pv, mv, score = full, 0, m
    best, end = m, 0
    for j, char in enumerate(text, 1):
        eq = peq.get(char, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = (mv | ~(xh | pv)) & full
        mh = pv & xh
        if ph & top:
            score += 1
        elif mh & top:
            score -= 1
        ph = ((ph << 1) | (0 if search else 1)) & full
        mh = (mh << 1) & full
        pv = (mh | ~(xv | ph)) & full
        mv = ph & xv
        if score < best:
            best, end = score, j
    return score, best, end
