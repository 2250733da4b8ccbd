"""A follow-up's prompt tokens with the last answer as the tokens the model wrote, not re-read.

The conversation keeps answers as text, with its whitespace evened out for speech. Tokenizing
that text again seldom gives the model's own tokens (a newline became a space, two tokens
became one), and every token after the first difference had to be computed again: a follow-up
then ran the whole last answer through the model before its first new token. Here the prompt is
the last prompt's tokens, the answer's tokens, then the new turn, whenever the history's last
answer says the same words the model wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from base.turns import Turn

# A private-use character no answer holds: it stands for the last answer while rendering.
ANSWER_MARK = "\ue000"


@dataclass(frozen=True)
class KeptTurn:
    """The last answer: the prompt text and tokens it ran on, and the tokens and text it wrote."""

    prompt_text: str
    prompt_ids: tuple[int, ...]
    answer_ids: tuple[int, ...]
    answer_text: str

    def answered(self, turn: Turn) -> bool:
        """True when `turn` holds this answer (the same words, whitespace aside)."""
        return bool(self.answer_ids) and turn.answer.split() == self.answer_text.split()


def prompt_ids(render: Callable[[Sequence[Turn]], str], tokenize: Callable[[str], list[int]],
               history: Sequence[Turn], kept: KeptTurn | None) -> tuple[str, list[int]]:
    """The prompt text after the image for `history`, and its token ids.

    `render(turns)` gives that text for the turns; `kept` is the last answer, used when the
    history ends with it and the text before it is the prompt it ran on (whitespace at the
    seam aside: the answer's own first token may carry the space the template writes).
    """
    text = render(history)
    if kept is not None and history and kept.answered(history[-1]):
        marked = render([*history[:-1], Turn(history[-1].question, ANSWER_MARK)])
        if marked.count(ANSWER_MARK) == 1:
            before, after = marked.split(ANSWER_MARK)
            if before.rstrip() == kept.prompt_text.rstrip():
                return text, [*kept.prompt_ids, *kept.answer_ids, *tokenize(after)]
    return text, tokenize(text)
