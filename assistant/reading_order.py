"""Reading order of text boxes: recursive XY-cut into blocks, columns one after another, tables row by row.

Thresholds are relative to the median text height h of the region being cut:
1. a horizontal gap of at least PARAGRAPH_GAP * h separates regions (toolbar, paragraphs, status bar), unless
   a vertical gap runs through the whole region, is wider than every horizontal one, and the parts are
   tall columns (two lines or more, a quarter of the height or more) and no table: then the region is columns
   first (headed columns, a side list beside a pane of paragraphs);
2. otherwise a vertical gap of at least COLUMN_GAP * h splits columns (side list, main pane), or makes
   a table when the parts' rows line up and none of them holds long running-text lines (a quarter of its
   boxes LONG_LINE * h wide or wider);
3. otherwise the longest run of consecutive rows that a gutter of COLUMN_GAP * h runs through, where every
   column has two lines or more of short sentences (median box TEXT_COLUMNS * h wide or wider), is columns
   between the rows above and below it (two columns closer than half a line to a heading above or to a
   table below that crosses their gutter);
4. what is left is one block, grouped into rows by vertical overlap, each row left to right.
Known limits: a table whose every column holds cells TEXT_COLUMNS text heights wide or wider is read column
by column; columns of short sentences beside each other inside a table's rows are read as columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Box = tuple[int, int, int, int]

COLUMN_GAP = 1.5
PARAGRAPH_GAP = 0.5
ROW_OVERLAP = 0.5  # share of the smaller height two boxes must overlap to sit on one row
TABLE_ALIGNED = 0.6  # share of rows with cells in two or more columns for a table
COLUMN_SPAN = 0.25  # share of a region's height each column must span to be read column by column first
LONG_LINE = 10.0  # a column whose upper-quartile box is this many text heights wide or wider holds running text
# Columns that all have median boxes this wide are columns of short sentences, not a table: table cells
# measured 3.6-4.4 text heights (Chromium, Qt), two-column pages 9.5-12 (tests/data/ocr).
TEXT_COLUMNS = 7.0


@dataclass(frozen=True)
class OrderedBlock:
    """Indices of the input boxes of one block: rows top to bottom, each row left to right."""

    rows: tuple[tuple[int, ...], ...]
    kind: str = "text"  # "text" or "table"


def reading_order(boxes: Sequence[Box]) -> list[OrderedBlock]:
    """The boxes (by index) grouped into blocks in reading order."""
    valid = [i for i, b in enumerate(boxes) if b[2] > b[0] and b[3] > b[1]]
    return _cut(list(boxes), valid) if valid else []


def _cut(boxes: list[Box], idx: list[int]) -> list[OrderedBlock]:
    """One level of the XY-cut, recursing into the parts."""
    if len(idx) == 1:
        return [OrderedBlock(((idx[0],),))]
    h = _median([boxes[i][3] - boxes[i][1] for i in idx])
    rows = _rows(boxes, idx)
    paragraphs = _split(boxes, idx, axis=1, min_gap=PARAGRAPH_GAP * h)
    columns = _split(boxes, idx, axis=0, min_gap=COLUMN_GAP * h) if len(rows) > 1 else [idx]
    if len(paragraphs) > 1 and len(columns) > 1 and _tall(boxes, columns, idx) and _widest_gap(
            boxes, columns, 0) > _widest_gap(boxes, paragraphs, 1) and not _is_table(boxes, columns, rows, h):
        return [block for part in columns for block in _cut(boxes, part)]  # a gutter through all: columns
    if len(paragraphs) > 1:
        return [block for part in paragraphs for block in _cut(boxes, part)]
    if len(rows) > 1:
        if len(columns) > 1:
            if _is_table(boxes, columns, rows, h):
                return [OrderedBlock(tuple(tuple(r) for r in rows), "table")]
            return [block for part in columns for block in _cut(boxes, part)]
        else:
            band = _column_band(boxes, rows, h)
            if band is not None:
                start, end = band
                parts = [[i for row in rows[:start] for i in row], [i for row in rows[start:end] for i in row],
                         [i for row in rows[end:] for i in row]]
                return [block for part in parts if part for block in _cut(boxes, part)]
    return [OrderedBlock(tuple(tuple(r) for r in rows))]


def _column_band(boxes: list[Box], rows: list[list[int]], h: float) -> tuple[int, int] | None:
    """The longest run rows[start:end] (two rows or more, not all rows) that splits into columns of sentences."""
    best: tuple[int, int] | None = None
    for start in range(len(rows) - 1):
        end = start + 1
        while end < len(rows) and _gutters(boxes, rows[start:end + 1], h):
            end += 1
        if end - start < 2 or end - start == len(rows) or (best and end - start <= best[1] - best[0]):
            continue
        part = [i for row in rows[start:end] for i in row]
        columns = _split(boxes, part, axis=0, min_gap=COLUMN_GAP * h)
        widths = [_median([boxes[i][2] - boxes[i][0] for i in col]) for col in columns]
        if len(columns) > 1 and all(len(col) > 1 for col in columns) and all(w >= TEXT_COLUMNS * h for w in widths):
            best = (start, end)
    return best


def _gutters(boxes: list[Box], rows: list[list[int]], h: float) -> bool:
    """True when a vertical gap of at least COLUMN_GAP * h runs between the boxes of all these rows."""
    part = [i for row in rows for i in row]
    return len(_split(boxes, part, axis=0, min_gap=COLUMN_GAP * h)) > 1


def _split(boxes: list[Box], idx: list[int], axis: int, min_gap: float) -> list[list[int]]:
    """The boxes split at every gap of at least min_gap in their projection on one axis (0: x, 1: y)."""
    order = sorted(idx, key=lambda i: boxes[i][axis])
    parts: list[list[int]] = [[order[0]]]
    reach = boxes[order[0]][axis + 2]
    for i in order[1:]:
        if boxes[i][axis] - reach >= min_gap:
            parts.append([])
        parts[-1].append(i)
        reach = max(reach, boxes[i][axis + 2])
    return parts


def _tall(boxes: list[Box], columns: list[list[int]], idx: list[int]) -> bool:
    """True when every column has two lines or more and spans at least COLUMN_SPAN of the region's height."""
    top, bottom = min(boxes[i][1] for i in idx), max(boxes[i][3] for i in idx)
    return all(len(part) > 1 and max(boxes[i][3] for i in part) - min(boxes[i][1] for i in part)
               >= COLUMN_SPAN * (bottom - top) for part in columns)


def _widest_gap(boxes: list[Box], parts: list[list[int]], axis: int) -> int:
    """The widest gap between consecutive parts of a split along one axis (0: x, 1: y)."""
    ends = [max(boxes[i][axis + 2] for i in part) for part in parts]
    starts = [min(boxes[i][axis] for i in part) for part in parts]
    return max(start - end for start, end in zip(starts[1:], ends[:-1], strict=True))


def _rows(boxes: list[Box], idx: list[int]) -> list[list[int]]:
    """Boxes grouped into rows by vertical overlap, rows top to bottom, each row left to right."""
    rows: list[list[int]] = []
    bands: list[tuple[int, int]] = []
    for i in sorted(idx, key=lambda j: (boxes[j][1] + boxes[j][3], boxes[j][0])):
        top, bottom = boxes[i][1], boxes[i][3]
        if bands:
            band_top, band_bottom = bands[-1]
            overlap = min(bottom, band_bottom) - max(top, band_top)
            if overlap >= ROW_OVERLAP * min(bottom - top, band_bottom - band_top):
                rows[-1].append(i)
                bands[-1] = (min(top, band_top), max(bottom, band_bottom))
                continue
        rows.append([i])
        bands.append((top, bottom))
    return [sorted(row, key=lambda j: boxes[j][0]) for row in rows]


def _is_table(boxes: list[Box], columns: list[list[int]], rows: list[list[int]], h: float) -> bool:
    """True when the columns' cells line up in rows, no column holds running text and not all are sentences."""
    column_of = {i: c for c, part in enumerate(columns) for i in part}
    aligned = sum(1 for row in rows if len({column_of[i] for i in row}) > 1)
    if aligned < TABLE_ALIGNED * len(rows):
        return False
    widths = [sorted(boxes[i][2] - boxes[i][0] for i in part) for part in columns]
    upper = [w[(3 * (len(w) - 1)) // 4] for w in widths]  # a pane of paragraphs with a few short lines too
    medians = [_median(w) for w in widths]
    return all(w < LONG_LINE * h for w in upper) and not all(w >= TEXT_COLUMNS * h for w in medians)


def _median(values: list[int]) -> float:
    """The median of a non-empty list."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return float(ordered[mid]) if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
