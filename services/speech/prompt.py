"""The interviewer's question at the start of an answer window, set apart from the candidate's answer.

In a recorded two-way interview each question's window opens with the interviewer asking it. Those words
are not the candidate's: left in, they would credit the candidate with the question's keywords, be quoted
as the candidate's evidence, count toward the candidate's speaking rate, and hide the candidate's time to
first word. The question's text is known (the event's questions), so the leading words that read it are
found by similarity: the recogniser rarely writes the question exactly ("Describe a production incident"
came back as "I decided to describe a production incident").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from difflib import SequenceMatcher

from services.speech.text import TimedWord

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)

#: Similarity (difflib ratio of the normalised strings) from which the opening words are the question.
MIN_SIMILARITY = 0.75
#: The opening words may run this much longer than the question before the search stops.
MAX_OVERRUN = 0.5


def normalise(text: str) -> str:
    """Lower case, letters and digits only: spacing and punctuation differ between recogniser and script."""
    return _NOT_WORD.sub("", text.casefold())


def prompt_length(words: Sequence[TimedWord], question: str, *, min_similarity: float = MIN_SIMILARITY) -> int:
    """How many leading ``words`` are the question being asked (0 when the window does not open with it)."""
    target = normalise(question)
    if not target:
        return 0
    best_count, best_ratio = 0, 0.0
    heard = ""
    for count, word in enumerate(words, start=1):
        heard += normalise(word.text)
        if len(heard) > len(target) * (1 + MAX_OVERRUN):
            break
        ratio = SequenceMatcher(None, heard, target, autojunk=False).ratio()
        if ratio > best_ratio:
            best_count, best_ratio = count, ratio
    return best_count if best_ratio >= min_similarity else 0
