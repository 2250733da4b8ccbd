"""The text recognition scorer (assistant/bench_ocr): exact values on hand-made cases, then the project's set
read by the default engine (numbers printed per category; the accuracy targets are the benchmark's job)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmark.ocr import accuracy
from benchmark.ocr.score import levenshtein, line_positions, normalize, score, substring_distance, zero
from benchmark.run import OCR_SET, parse_options


def reference_distance(a: str, b: str) -> int:
    """Plain dynamic-programming edit distance."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def test_levenshtein_known_values():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert levenshtein("Größe", "Grosse") == 3
    assert levenshtein("same", "same") == 0


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abé ", max_size=80), st.text(alphabet="abé ", max_size=80))
def test_levenshtein_matches_dynamic_programming(a, b):
    assert levenshtein(a, b) == reference_distance(a, b)


def test_substring_distance_finds_the_best_place():
    assert substring_distance("Save", "Save changes") == (0, 4)
    assert substring_distance("Cancel", "OK  Cancle") == (1, 9)  # "Cancl", one deletion
    assert substring_distance("abc", "") == (3, 0)


def test_whitespace_is_normalised_and_case_counts():
    assert normalize(" Name\n\nSize  \t12 KB ") == "Name Size 12 KB"
    s = score(["Name  Size", "12 KB"], ["Name Size 12", "KB"])
    assert (s.edits, s.cer, s.recall, s.precision) == (0, 0.0, 1.0, 1.0)
    assert score(["Save"], ["save"]).edits == 1


def test_character_error_rate_and_words():
    s = score(["abcd efgh"], ["abxd efgh"])
    assert s.edits == 1 and s.truth_chars == 9
    assert s.cer == pytest.approx(1 / 9)
    assert (s.recall, s.precision) == (0.5, 0.5)


def test_words_are_a_multiset():
    s = score(["a a b"], ["a b b c"])
    assert (s.words_matched, s.truth_words, s.recognized_words) == (2, 3, 4)
    assert s.recall == pytest.approx(2 / 3) and s.precision == 0.5


def test_nothing_recognized():
    s = score(["Open file"], [])
    assert (s.cer, s.recall, s.precision, s.lines_found) == (1.0, 0.0, 0.0, 0)


def test_reading_order_agreement():
    truth = ["Alpha one", "Beta two", "Gamma three", "Delta four"]
    swapped = score(truth, ["Beta two", "Alpha one", "Gamma three", "Delta four"])
    assert (swapped.pairs_in_order, swapped.pairs) == (5, 6)
    assert swapped.order == pytest.approx(5 / 6) and swapped.lcs_ratio == 0.75
    backwards = score(truth, list(reversed(truth)))
    assert backwards.order == 0.0 and backwards.lcs_ratio == 0.25
    assert score(truth, truth).order == 1.0


def test_order_of_merged_split_and_short_lines():
    # Table cells merged into one recognized line keep their order; a line split in two is still found.
    assert line_positions(["Name", "Size"], ["Name Size"]) == [pytest.approx(4 / 10), pytest.approx(9 / 10)]
    assert score(["Name", "Size"], ["Size Name"]).order == 0.0
    split = score(["The quick brown fox", "jumps"], ["The quick", "brown fox", "jumps"])
    assert (split.lines_found, split.order) == (2, 1.0)
    # A short line is matched to its own recognized line, not inside a longer one that contains it.
    dialog = ["Save changes before closing?", "Cancel", "Save"]
    assert score(dialog, dialog).order == 1.0
    assert score(dialog, ["Save", "Save changes before closing?", "Cancel"]).order == pytest.approx(1 / 3)


def test_lines_too_wrong_are_not_found():
    s = score(["Alpha", "Settings"], ["Alpha", "Sxxxxngs"])
    assert (s.lines_found, s.truth_lines, s.pairs) == (1, 2, 0)


def test_scores_add_up_exactly():
    a, b = score(["abcd"], ["abxd"]), score(["efgh ijkl"], ["efgh ijkl"])
    total = zero() + a + b
    assert total.edits == 1 and total.truth_chars == 13
    assert total.cer == pytest.approx(1 / 13)
    assert total.recall == pytest.approx(2 / 3)


def test_categories_from_tags():
    assert accuracy.categories({"app": "qt", "theme": "dark", "px": 11, "lang": "de", "layout": "table"}) == [
        "all", "app=qt", "theme=dark", "small text (<=12 px)", "layout=table", "lang=de"]


def test_bench_takes_the_text_recognition_scenarios(tmp_path):
    opts = parse_options(["--scenario", "read-accuracy", "--data", str(tmp_path), "--engine", "Tesseract"])
    assert opts.scenarios == ("read-accuracy",) and opts.data == tmp_path and opts.engines == ("Tesseract",)
    assert parse_options([]).scenarios == ("screen", "window", "region", "followup", "voice", "background")
    with pytest.raises(Exception, match="holds no NAME.png"):
        accuracy.load_set(tmp_path)


def test_the_set_is_complete():
    samples = accuracy.load_set(OCR_SET)
    assert len(samples) >= 20
    apps = {s.tags["app"] for s in samples}
    assert apps == {"chromium", "qt", "xterm"}
    assert {s.tags["theme"] for s in samples} == {"light", "dark"}
    assert {s.language for s in samples} == {"en", "de", "fr"}
    assert all(11 <= s.tags["px"] <= 16 and s.lines for s in samples)
    assert sum(p.stat().st_size for p in Path(OCR_SET).glob("*.png")) < 8_000_000


def test_default_engine_on_the_set(capsys):
    report = accuracy.run(OCR_SET, [None])
    [(name, entry)] = report["engines"].items()
    assert len(entry["images"]) == report["images"] >= 20
    overall = entry["categories"]["all"]
    assert overall["truth_lines"] == sum(len(s.lines) for s in accuracy.load_set(OCR_SET))
    assert all(img["recognized"] for img in entry["images"])  # every screenshot gave some text
    with capsys.disabled():
        print("\n" + accuracy.format_table(report))
