# ruff: noqa: RUF001  (Chinese text uses full-width punctuation on purpose)
"""Filler words: the lexicons, the prompt that makes Whisper write them, and finding them in a transcript.

Whisper was trained on transcripts that mostly omit disfluencies, so by default it drops "um", "uh" and 嗯.
Decoding conditioned on a prompt that itself contains fillers makes it keep them (the prompt sets the
transcription style); the gain is measured in the tests and the speech benchmark.

Ambiguous English fillers ("like", "you know", "I mean") count only where punctuation sets them off, as
Whisper writes them ("like, backend stuff"); "I like Python" is not a filler. "You know" and "I mean" before a
comma are fillers wherever they stand ("and you know, I was looking"), unless a question asks ("do you know,
..."). Chinese discourse markers (那个, 就是说, 然后) count when jieba segments them as words of their own.
"""

from __future__ import annotations

import re

from services.speech.text import Span, TimedText, is_chinese, jieba_tokenize

#: Fillers the lexicons know, by language (also the vocabulary of the filler prompt).
EN_FILLERS = ("um", "uh", "er", "erm", "hmm", "like", "you know", "I mean")
ZH_FILLERS = ("嗯", "呃", "额", "那个", "就是说", "然后")

#: Prompts that set a verbatim style. The Chinese one also makes Whisper write Simplified characters.
ZH_BASE_PROMPT = "以下是普通话的句子。"
ZH_FILLER_PROMPT = "以下是普通话的句子。嗯，我那个，呃，就是说，然后我们，嗯，做了这个。"
# Wording matters. Over 19 generated English answers this one costs fewer word errors than "So, um, I was, uh,
# working on it, you know, and, like, it went well." (greedy 9.5 % vs 10.8 %, beam 5 7.5 % vs 7.9 %; with it
# whisper-base more often opened an answer with "I was so ...") at the same filler recall; "..., it was good."
# once made window-by-window decoding skip a third of a 60 s answer.
EN_FILLER_PROMPT = "Um, well, uh, I think, you know, it was, like, fine. Hmm."

_EN_ALWAYS = re.compile(r"\b(?:u+m+|u+h+m*|e+r+m*|h+m+|a+h+)\b", re.IGNORECASE)
_EN_SET_OFF = re.compile(r"(?:^|(?<=[,.?!;:]\s)|(?<=[,.?!;:]))\s*(like|you know|i mean)\b(?=\s*[,.?!;:]|\s*$)|"
                         r"(?:^|(?<=[,.?!;:]))\s*(like|you know|i mean)\s*,|"
                         r"\b(?<!do )(?<!did )(you know|i mean)(?=,)", re.IGNORECASE)  # fmt: skip
_ZH_ALWAYS = re.compile(r"嗯+|呃+|额+|就是说")
_ZH_MARKERS = frozenset({"那个", "然后"})


def initial_prompt(language: str | None, with_fillers: bool) -> str | None:
    """The decoding prompt for a language: filler-rich when asked, else only what the language needs."""
    if is_chinese(language):
        return ZH_FILLER_PROMPT if with_fillers else ZH_BASE_PROMPT
    return EN_FILLER_PROMPT if with_fillers else None


def find_fillers(text: TimedText, language: str | None) -> list[Span]:
    """Filler occurrences in the transcript, in order, with their times."""
    found: list[tuple[int, int]] = []
    if is_chinese(language) or _ZH_ALWAYS.search(text.text):
        found += [m.span() for m in _ZH_ALWAYS.finditer(text.text)]
        for token, start, end in jieba_tokenize(text.text):
            if token in _ZH_MARKERS:
                found.append((start, end))
    found += [m.span() for m in _EN_ALWAYS.finditer(text.text)]
    for match in _EN_SET_OFF.finditer(text.text):
        group = next(g for g in (1, 2, 3) if match.group(g))
        found.append(match.span(group))
    spans = [text.span(start, end) for start, end in sorted(set(found))]
    return [span for span in spans if span.text]


def filler_word_indexes(text: TimedText, fillers: list[Span]) -> set[int]:
    """Indexes of the words that make up the fillers."""
    indexes: set[int] = set()
    for span in fillers:
        indexes.update(text.word_indexes(span.start, span.end))
    return indexes


__all__ = [
    "EN_FILLERS",
    "ZH_FILLERS",
    "filler_word_indexes",
    "find_fillers",
    "initial_prompt",
]
