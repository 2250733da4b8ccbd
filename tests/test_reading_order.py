"""Reading order on synthetic line boxes: columns, tables, window regions, terminal rows."""

from __future__ import annotations

from assistant.reading_order import reading_order

H = 20  # text height of the synthetic lines


def line(x: int, y: int, width: int) -> tuple[int, int, int, int]:
    """A line box of the synthetic text height."""
    return (x, y, x + width, y + H)


def order(boxes) -> list[list[list[int]]]:
    """The reading order as nested lists of box indices."""
    return [[list(row) for row in block.rows] for block in reading_order(boxes)]


def flat(boxes) -> list[int]:
    """Box indices in reading order."""
    return [i for block in reading_order(boxes) for row in block.rows for i in row]


def test_two_columns_are_read_one_after_the_other():
    left = [line(20, 20 + 24 * i, 300) for i in range(6)]
    right = [line(400, 20 + 24 * i, 300) for i in range(6)]
    boxes = left + right
    assert flat(boxes) == list(range(12))
    assert [b.kind for b in reading_order(boxes)] == ["text", "text"]


def test_table_is_read_row_by_row_with_cells_in_order():
    boxes = [line(20 + 200 * c, 20 + 26 * r, 80) for r in range(5) for c in range(3)]
    blocks = reading_order(boxes)
    assert len(blocks) == 1 and blocks[0].kind == "table"
    assert order(boxes) == [[[3 * r, 3 * r + 1, 3 * r + 2] for r in range(5)]]


def test_side_panel_and_main_pane_stay_apart():
    side = [line(10, 60 + 30 * i, 60) for i in range(8)]
    main = [line(200, 50 + 22 * i, 520) for i in range(20)]
    boxes = side + main
    assert flat(boxes) == list(range(28))


def test_toolbar_and_status_bar_are_blocks_of_their_own():
    toolbar = [line(10 + 90 * i, 5, 50) for i in range(5)]
    body = [line(10, 60 + 22 * i, 600) for i in range(10)]
    status = [line(10, 300, 60), line(700, 300, 120)]
    boxes = toolbar + body + status
    result = order(boxes)
    assert result[0] == [[0, 1, 2, 3, 4]]
    assert result[-1] == [[15, 16]]
    assert [i for block in result[1:-1] for row in block for i in row] == list(range(5, 15))


def test_terminal_columns_stay_rows():
    # ls -l: permissions, links, owner, size, date, name; each row's fields split by wide gaps
    widths = [(10, 110), (140, 10), (170, 50), (250, 40), (320, 90), (430, 120)]
    boxes = [line(x, 10 + 21 * r, w) for r in range(8) for x, w in widths]
    result = order(boxes)
    assert [i for block in result for row in block for i in row] == list(range(48))
    assert all(len(row) == 6 for block in result for row in block)


def test_one_row_and_nothing():
    assert order([line(0, 0, 30)]) == [[[0]]]
    assert reading_order([]) == []
    assert reading_order([(5, 5, 5, 30)]) == []  # no width: ignored


def test_columns_between_a_heading_and_a_table_that_crosses_their_gutter():
    # less than half a line of space above and below the columns; the table's third column spans the gutter
    heading = [line(20, 20, 680)]
    left = [line(20, 44 + 24 * i, 280) for i in range(6)]
    right = [line(400, 44 + 24 * i, 280) for i in range(6)]
    cells = ((20, 120), (160, 100), (290, 150), (470, 100))
    table = [line(x, 188 + 24 * r, w) for r in range(3) for x, w in cells]
    boxes = heading + left + right + table
    assert flat(boxes) == list(range(len(boxes)))
    assert order(boxes)[-1] == [[13 + 4 * r + c for c in range(4)] for r in range(3)]


def test_side_list_beside_a_pane_of_paragraphs_with_short_lines():
    side = [line(50, 40 + 26 * i, 50) for i in range(7)]
    main = [line(260, 36 + 26 * i, w) for i, w in enumerate((60, 290, 120, 290, 290, 46, 56, 60))]
    boxes = side + main
    assert flat(boxes) == list(range(len(boxes)))


def test_form_labels_stay_before_their_values():
    # short labels beside long values, a button row under both: no column band (labels are no sentences)
    boxes = [box for r in range(5) for box in (line(20, 20 + 24 * r, 80), line(160, 20 + 24 * r, 300))]
    boxes.append(line(20, 140, 440))
    assert flat(boxes) == list(range(len(boxes)))
