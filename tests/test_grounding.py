"""The truth check: quotes of screen text are kept when recognized or known, replaced when invented."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.facts import FocusedControl, ScreenFacts
from assistant.grounding import (
    UNCONFIRMED,
    KnownText,
    QuoteChecker,
    best_distance,
    check_quotes,
    check_stream,
    find_quotes,
)
from assistant.speech_out.segmenter import Segmenter
from assistant.text_recognition.base import blocks_from_lines, split_words
from assistant.text_recognition.types import Line, RecognizedText


def recognized(*lines: str) -> RecognizedText:
    """Lines stacked down a 1000x800 image, 30 px apart, as OCR would give them."""
    made = [Line(text, (20, 20 + 30 * i, 20 + 12 * len(text), 40 + 30 * i), 0.9,
                 split_words(text, (20, 20 + 30 * i, 20 + 12 * len(text), 40 + 30 * i), 0.9))
            for i, text in enumerate(lines)]
    return RecognizedText(tuple(blocks_from_lines(made)), (1000, 800), "test")


SCREEN = recognized("Invoice 42", "Customer: Zoë Müller", "Total due: $1,250.00", "Save As", "Cancel",
                    "Remember me on this computer")
FACTS = ScreenFacts("Ledger", "Invoice 42 - Ledger", FocusedControl("button", "Send reminder"))
KNOWN = KnownText.of(SCREEN, FACTS)


def _levenshtein_substring(pattern: str, text: str) -> int:
    """Plain dynamic programming (Sellers): the least distance of pattern to a substring of text."""
    previous = [0] * (len(text) + 1)
    for i, p in enumerate(pattern, 1):
        current = [i] + [0] * len(text)
        for j, t in enumerate(text, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (p != t))
        previous = current
    return min(previous)


# ------------------------------------------------------------------------- kept and replaced


def test_invented_quote_is_replaced_and_reported():
    checked = check_quotes('A dialog asks "Delete all files?" with two buttons.', KNOWN)
    assert checked.text == f"A dialog asks {UNCONFIRMED} with two buttons."
    assert [(q.text, q.kind, q.confirmed) for q in checked.quotes] == [("Delete all files?", "quoted", False)]
    assert checked.changed and checked.unconfirmed == checked.quotes


def test_real_quote_is_kept():
    sentence = 'The total reads "Total due: $1,250.00" at the bottom.'
    checked = check_quotes(sentence, KNOWN)
    assert checked.text == sentence and not checked.changed
    assert [(q.text, q.confirmed) for q in checked.quotes] == [("Total due: $1,250.00", True)]


def test_near_miss_from_ocr_noise_is_kept():
    # Case, accents and one wrong character in 6+ are OCR noise, not invention.
    for sentence in ('The customer is "zoe muller".', 'It says "Remember me on this computr".',
                     "The heading is “INVOICE 42”.", 'It says "Total due: $1,250.00."'):
        assert check_quotes(sentence, KNOWN).text == sentence, sentence


def test_too_many_differences_is_not_a_near_miss():
    checked = check_quotes('It says "Remind me on that computer".', KNOWN)
    assert checked.text == f"It says {UNCONFIRMED}."


def test_short_quotes_must_be_whole_words():
    assert check_quotes('Press "Save".', KNOWN).text == 'Press "Save".'
    assert check_quotes('Press "As".', KNOWN).text == 'Press "As".'
    assert check_quotes('Press "Sav".', KNOWN).text == f"Press {UNCONFIRMED}."  # inside a word only
    assert check_quotes('Press "OK".', KNOWN).text == f"Press {UNCONFIRMED}."


def test_no_quotes_means_no_change():
    for sentence in ("This is an invoice with a total at the bottom.", "The user's files don't show.",
                     "A large blue button sits on the left.", ""):
        checked = check_quotes(sentence, KNOWN)
        assert checked.text == sentence and checked.quotes == ()


def test_facts_confirm_quotes():
    for sentence in ('The window is "Invoice 42 - Ledger".', 'The "Send reminder" button has focus.',
                     "This is Ledger."):
        assert check_quotes(sentence, KNOWN).text == sentence


def test_the_question_may_be_echoed():
    known = KnownText.of(SCREEN, extra=["Where is the Export button?"])
    assert check_quotes('There is no "Export" button.', known).text == 'There is no "Export" button.'
    assert check_quotes('There is no "Export" button.', KNOWN).text == f"There is no {UNCONFIRMED} button."


def test_every_kind_of_quote_mark():
    for quoted in ('"Print all"', "“Print all”", "„Print all“", "« Print all »", "‘Print all’", "'Print all'",
                   "「Print all」"):
        assert check_quotes(f"It says {quoted} here.", KNOWN).text == f"It says {UNCONFIRMED} here.", quoted
        assert check_quotes(f"It says {quoted.replace('Print all', 'Save As')} here.", KNOWN).changed is False


def test_labels_after_cue_words():
    assert check_quotes("A button labelled Print Everything is at the top.", KNOWN).text == \
        f"A button labelled {UNCONFIRMED} is at the top."
    assert check_quotes("A button labelled Save As is at the top.", KNOWN).changed is False
    assert check_quotes("The window titled Invoice 42 - Ledger is open.", KNOWN).changed is False
    assert check_quotes("A field called Email Address of Sender is empty.", KNOWN).text == \
        f"A field called {UNCONFIRMED} is empty."
    assert check_quotes("The banner reads: Welcome Back.", KNOWN).text == f"The banner reads: {UNCONFIRMED}."
    # After a cue, lower-case words are description, not a label.
    assert check_quotes("The message says something about payment.", KNOWN).quotes == ()


def test_labels_before_control_words():
    assert check_quotes("Click the Export PDF button.", KNOWN).text == f"Click the {UNCONFIRMED} button."
    assert check_quotes("Click the Save As button.", KNOWN).changed is False
    assert check_quotes("The Cancel button is next to it.", KNOWN).changed is False
    assert check_quotes("Press Cancel button.", KNOWN).changed is False  # sentence-initial "Press" left out
    assert [q.text for q in check_quotes("A Files and Folders tab.", KNOWN).quotes] == ["Files and Folders"]
    assert check_quotes("There is a blue button and a red link.", KNOWN).quotes == ()


def test_find_quotes_spans_do_not_overlap():
    text = 'A button labelled "Save As" and the "Cancel" button.'
    spans = find_quotes(text)
    assert [(text[s:e], kind) for s, e, _, _, kind in spans] == [('"Save As"', "quoted"), ('"Cancel"', "quoted")]


def test_without_recognized_text_nothing_is_replaced_unless_strict():
    facts_only = KnownText.of(None, FACTS)
    assert not facts_only.checkable
    sentence = 'A dialog says "Delete all files?".'
    checked = check_quotes(sentence, facts_only)
    assert checked.text == sentence and checked.quotes[0].confirmed is None
    assert check_quotes(sentence, facts_only, strict=True).text == f"A dialog says {UNCONFIRMED}."
    assert check_quotes('The "Send reminder" button.', facts_only, strict=True).changed is False


def test_empty_recognized_text_confirms_nothing():
    nothing = KnownText.of(recognized())
    assert nothing.checkable
    assert check_quotes('It says "Hello".', nothing).text == f"It says {UNCONFIRMED}."


def test_password_values_are_not_known_text():
    secret = ScreenFacts("Bank", "Sign in", FocusedControl("password field", "PIN", "9876", secret=True))
    assert check_quotes('The PIN is "9876".', KnownText.of(recognized(), secret)).text == \
        f"The PIN is {UNCONFIRMED}."


# ------------------------------------------------------------------------- the stream


def test_stream_checks_each_utterance_as_it_comes():
    utterances = ["This is an invoice.", 'The total is "Total due: $1,250.00".', 'A button says "Pay Now".']
    checked = list(check_stream(utterances, KNOWN))
    assert [c.text for c in checked] == [utterances[0], utterances[1], f"A button says {UNCONFIRMED}."]


def test_stream_holds_an_open_quote_for_one_utterance_only():
    checker = QuoteChecker(KNOWN)
    assert checker.feed('The notice says "Remember me.') == []  # the quote is still open
    out = checker.feed('On this computer" near the bottom.')
    assert [c.text for c in out] == ['The notice says "Remember me. On this computer" near the bottom.']
    assert checker.feed("Next.")[0].text == "Next."
    assert checker.flush() == []


def test_stream_quote_that_never_closes_is_checked_to_the_end():
    checker = QuoteChecker(KNOWN)
    assert checker.feed('It says "Pay all the money.') == []
    out = checker.feed("Right now.")
    assert [c.text for c in out] == [f"It says {UNCONFIRMED}"]
    assert checker.feed('Then "Cancel.') == []
    assert [c.text for c in checker.flush()] == ['Then "Cancel.']


def test_stream_through_the_segmenter():
    answer = ('This is an invoice from Ledger. The "Save As" button is at the top, and a button '
              'labelled "Delete Everything" is at the bottom. Nothing else stands out.')
    segmenter = Segmenter()
    utterances: list[str] = []
    for i in range(0, len(answer), 7):
        utterances += segmenter.feed(answer[i:i + 7])
    utterances += segmenter.flush()
    spoken = " ".join(c.text for c in check_stream(utterances, KNOWN))
    assert '"Save As"' in spoken and "Delete Everything" not in spoken and UNCONFIRMED in spoken
    assert spoken.endswith("Nothing else stands out.")


# ------------------------------------------------------------------------- matching


@settings(max_examples=300, deadline=None)
@given(pattern=st.text(alphabet="abcde ", min_size=1, max_size=12), text=st.text(alphabet="abcde ", max_size=40))
def test_bit_vector_distance_equals_dynamic_programming(pattern, text):
    assert best_distance(pattern, text) == _levenshtein_substring(pattern, text)


@settings(max_examples=100, deadline=None)
@given(line=st.text(alphabet=st.characters(codec="utf-8", categories=("L", "N", "Zs")), min_size=1, max_size=60))
def test_every_recognized_line_confirms_its_own_quote(line):
    if not line.split():
        return
    known = KnownText.of(recognized(line))
    assert check_quotes(f'It says "{line}".', known).changed is False
