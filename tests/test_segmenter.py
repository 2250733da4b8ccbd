"""The segmenter: streamed text to utterances, early first utterance, no splits inside tokens."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.speech_out.segmenter import Segmenter, normalize, word_count


def segment(text: str, chunk: int | None = None, **kwargs: int) -> list[str]:
    seg = Segmenter(**kwargs)
    out: list[str] = []
    if chunk is None:
        out += seg.feed(text)
    else:
        for start in range(0, len(text), chunk):
            out += seg.feed(text[start:start + chunk])
    return out + seg.flush()


def squash(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize("text, expected", [
    ("Hello. World.", ["Hello.", "World."]),
    ("A browser window, showing the settings page. It has three tabs.",
     ["A browser window,", "showing the settings page.", "It has three tabs."]),
    # The first utterance waits for first_min_words before a clause break may end it.
    ("Yes, the dialog says: error 42. Click OK.", ["Yes, the dialog says:", "error 42.", "Click OK."]),
    # Clause breaks only end the first utterance.
    ("One. Two words, three words, four words here.", ["One.", "Two words, three words, four words here."]),
    ("Dr. Smith met Mr. Jones at St. Mary's.", ["Dr. Smith met Mr. Jones at St. Mary's."]),
    ("Use a tool, e.g. a hammer. Then stop.", ["Use a tool,", "e.g. a hammer.", "Then stop."]),
    ("It costs 3.5 dollars. Version v1.2.3 is out.", ["It costs 3.5 dollars.", "Version v1.2.3 is out."]),
    ("See https://example.com/a.b for more. Next line.",
     ["See https://example.com/a.b for more.", "Next line."]),
    ("Wait... what is this? It is J. R. R. Tolkien.", ["Wait... what is this?", "It is J. R. R. Tolkien."]),
    ("Loading... Done!", ["Loading...", "Done!"]),
    ("Yahoo! is a site. Ok?! yes.", ["Yahoo! is a site.", "Ok?! yes."]),
    ("About 1,000 people; 2,000 cars.", ["About 1,000 people;", "2,000 cars."]),
    ('He said "stop." Then he left.', ['He said "stop."', "Then he left."]),
    ("Is it (really?) true? Yes.", ["Is it (really?) true?", "Yes."]),
    ("これはペンです。あれは本です。", ["これはペンです。", "あれは本です。"]),
    ("「はい。」と言った。", ["「はい。」", "と言った。"]),
    ("  lots   of \n\n  space\there  ", ["lots of space here"]),
    ("", []),
    ("   \n\t ", []),
])
def test_examples(text: str, expected: list[str]) -> None:
    assert segment(text) == expected
    assert segment(text, chunk=1) == expected


def test_first_utterance_comes_before_the_stream_ends() -> None:
    seg = Segmenter()
    assert seg.feed("The screen shows a login form") == []
    assert seg.feed(", with two fields") == ["The screen shows a login form,"]
    assert seg.feed(", a button, and a logo. Below") == ["with two fields, a button, and a logo."]
    assert seg.flush() == ["Below"]


def test_a_boundary_waits_for_the_next_word() -> None:
    seg = Segmenter()
    assert seg.feed("Call Dr.") == []  # "Dr." could still be followed by a name
    assert seg.feed(" Who") == []
    assert seg.feed(" now. ") == []  # the next word decides whether "now." ends a sentence
    assert seg.feed("Okay") == ["Call Dr. Who now."]
    assert seg.flush() == ["Okay"]


def test_long_sentences_are_cut_at_max_words_preferring_a_clause_break() -> None:
    words = " ".join(f"W{i}" for i in range(25))
    text = f"Start here. {words}, and then {words} end."
    out = segment(text, max_words=30)
    assert out[0] == "Start here."
    assert all(len(u.split()) <= 30 for u in out)
    assert out[1].endswith("W24,")  # cut at the comma, not in the middle of the clause
    assert squash("".join(out)) == squash(text)


def test_text_without_spaces_is_cut_at_max_words() -> None:
    text = "字" * 100
    out = segment(text, max_words=30)
    assert [len(u) for u in out] == [30, 30, 30, 10]


def test_the_segmenter_can_be_reused_after_flush() -> None:
    seg = Segmenter()
    seg.feed("First stream, with a clause.")
    seg.flush()
    assert seg.feed("The second stream, early again") == ["The second stream,"]
    assert seg.flush() == ["early again"]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        Segmenter(first_min_words=0)


# Text that exercises the segmenter: words, every kind of break, numbers, URLs, CJK, closers.
PIECES = st.sampled_from([
    "word", "Word", "e.g.", "Dr.", "3.5", "v1.2.3", "https://example.com/a.b", "...", "\u2026",
    ".", ",", ";", ":", "!", "?", "?!", "\u3002", "\uff01", "\uff0c", "\u300d", '"', ")", "(",
    "\u5b57", "\u3042", " ", "  ", "\n", "\t", "J.", "1,000", "U.S.", "x",
])
STRUCTURED = st.lists(PIECES, max_size=80).map("".join)
ANY_TEXT = st.one_of(STRUCTURED, st.text(max_size=300))


@settings(max_examples=300, deadline=None)
@given(text=ANY_TEXT, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_any_chunking_gives_the_same_utterances(text: str, cuts: list[int]) -> None:
    whole = segment(text)
    points = sorted({c for c in cuts if c <= len(text)})
    seg = Segmenter()
    chunked: list[str] = []
    previous = 0
    for point in [*points, len(text)]:
        chunked += seg.feed(text[previous:point])
        previous = point
    chunked += seg.flush()
    assert chunked == whole


@settings(max_examples=300, deadline=None)
@given(text=ANY_TEXT, first_min=st.integers(1, 6), max_words=st.integers(1, 40))
def test_utterances_cover_the_text_and_are_clean(text: str, first_min: int, max_words: int) -> None:
    out = segment(text, first_min_words=first_min, max_words=max_words)
    assert squash("".join(out)) == squash(text)
    for utterance in out:
        assert utterance
        assert utterance == normalize(utterance)
        assert word_count(utterance) <= max_words


def test_very_long_text_streams_in_small_pieces() -> None:
    sentence = "The quick brown fox, e.g. a red one, jumps over 3.5 lazy dogs. "
    text = sentence * 2000
    out = segment(text, chunk=7)
    assert len(out) == 2001  # only the very first sentence is cut early at its comma
    assert out[0] == "The quick brown fox,"
    assert out[1] == "e.g. a red one, jumps over 3.5 lazy dogs."
    assert squash("".join(out)) == squash(text)


def test_empty_stream() -> None:
    seg = Segmenter()
    assert seg.feed("") == []
    assert seg.flush() == []
    assert seg.flush() == []
