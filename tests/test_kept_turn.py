"""A follow-up's prompt holds the last answer as the model's own tokens (models.kept_turn)."""

from base.turns import Turn
from models.kept_turn import KeptTurn, prompt_ids


def _chat(turns):
    """A chat template's shape: the answer after a space, as SmolVLM's writes it."""
    text = ""
    for turn in turns:
        text += f"<u>{turn.question}<e>\n<m>"
        if turn.answer:
            text += f" {turn.answer.strip()}<e>\n"
    return text


def _render(history, prompt="Which?"):
    return _chat([*history, Turn(prompt, "")])


def _tokenize(text):
    return [ord(ch) for ch in text]


def test_the_last_answer_is_its_written_tokens_when_the_words_match():
    written = "A dialog\nwith a Save button."
    kept = KeptTurn(_chat([Turn("Describe.", "")]), (1, 2, 3), (10, 11, 12), written)
    history = [Turn("Describe.", "A dialog with a Save button.")]
    text, ids = prompt_ids(_render, _tokenize, history, kept)
    assert text == _render(history)
    assert ids == [1, 2, 3, 10, 11, 12, *_tokenize("<e>\n<u>Which?<e>\n<m>")]


def test_other_words_or_another_prompt_before_them_are_read_as_text():
    kept = KeptTurn(_chat([Turn("Describe.", "")]), (1, 2, 3), (10, 11), "A dialog.")
    other_words = [Turn("Describe.", "A window.")]
    assert prompt_ids(_render, _tokenize, other_words, kept)[1] == _tokenize(_render(other_words))
    other_prompt = [Turn("Read it.", "A dialog.")]
    assert prompt_ids(_render, _tokenize, other_prompt, kept)[1] == _tokenize(_render(other_prompt))
    nothing_written = KeptTurn(kept.prompt_text, kept.prompt_ids, (), "")
    empty = [Turn("Describe.", "")]
    assert prompt_ids(_render, _tokenize, empty, nothing_written)[1] == _tokenize(_render(empty))
    assert prompt_ids(_render, _tokenize, [], kept)[1] == _tokenize(_render([]))
