"""Timed text: a transcript as one string whose every character knows the word (and so the time) it came
from. Lexicon hits, sentences and quotes are found on the string and mapped back to media time."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_SENTENCE_END = re.compile("[.?!;\u3002\uff1f\uff01\uff1b]+")  # ASCII and full-width sentence ends
_WORD_CHAR = re.compile(r"\w", re.UNICODE)


@dataclass(frozen=True)
class TimedWord:
    """A recognised word: text as written (with its leading space for English), times in seconds."""

    text: str
    start_s: float
    end_s: float
    probability: float = 1.0


@dataclass(frozen=True)
class Span:
    """A stretch of the text with its time range."""

    text: str
    start: int
    end: int
    start_s: float
    end_s: float


def is_han(char: str) -> bool:
    return bool(_HAN.match(char))


def han_count(text: str) -> int:
    return len(_HAN.findall(text))


def is_chinese(language: str | None) -> bool:
    return (language or "").lower().startswith("zh")


@lru_cache(maxsize=1)
def _jieba() -> object:
    import jieba

    jieba.setLogLevel(60)  # silence the dictionary-loading chatter
    jieba.initialize()
    return jieba


def jieba_tokens(text: str) -> list[str]:
    """Chinese word segmentation (jieba's precise mode)."""
    module = _jieba()
    return list(module.cut(text))  # type: ignore[attr-defined]


def jieba_tokenize(text: str) -> list[tuple[str, int, int]]:
    """jieba words with their character offsets in ``text``."""
    module = _jieba()
    return [(str(w), int(a), int(b)) for w, a, b in module.tokenize(text)]  # type: ignore[attr-defined]


_added_words: set[str] = set()


def add_jieba_words(words: list[str]) -> None:
    """Teach jieba domain words (a competency's keywords) so it does not split them: it has never seen
    回滚 and would cut 先回|滚."""
    module = _jieba()
    for word in words:
        if word not in _added_words and han_count(word):
            module.add_word(word)  # type: ignore[attr-defined]
            _added_words.add(word)


def jieba_search_tokens(text: str) -> set[str]:
    """Every word jieba finds, including the shorter words inside long ones (search mode)."""
    module = _jieba()
    return set(module.cut_for_search(text))  # type: ignore[attr-defined]


class TimedText:
    """The words joined into one string; any character range maps back to media time."""

    def __init__(self, words: Sequence[TimedWord]) -> None:
        self.words = list(words)
        parts: list[str] = []
        owner: list[int] = []
        for index, word in enumerate(self.words):
            parts.append(word.text)
            owner.extend([index] * len(word.text))
        self.text = "".join(parts)
        self._owner = owner

    @classmethod
    def from_plain(cls, text: str, seconds_per_unit: float = 0.3) -> TimedText:
        """Untimed text (an exemplar answer) with evenly spread synthetic times, one unit per Han character
        or per space-separated word."""
        units = re.findall(r"[\u3400-\u9fff\uf900-\ufaff][^\u3400-\u9fff\uf900-\ufaff\s]*|\s*[^\s\u3400-\u9fff]+", text)
        words = [
            TimedWord(unit, i * seconds_per_unit, (i + 1) * seconds_per_unit - 0.05) for i, unit in enumerate(units)
        ]
        return cls(words)

    def span(self, start: int, end: int) -> Span:
        """The characters [start, end) with the time from the first to the last word they touch."""
        first = self.words[self._owner[start]]
        last = self.words[self._owner[max(start, end - 1)]]
        return Span(self.text[start:end].strip(), start, end, first.start_s, max(last.end_s, first.start_s + 0.01))

    def word_indexes(self, start: int, end: int) -> range:
        """Indexes of the words the characters [start, end) belong to."""
        if start >= end:
            return range(0)
        return range(self._owner[start], self._owner[end - 1] + 1)

    def sentences(self) -> Iterator[Span]:
        """Sentences, split after end punctuation; each with at least one word character."""
        start = 0
        for match in _SENTENCE_END.finditer(self.text):
            yield from self._nonblank(start, match.end())
            start = match.end()
        yield from self._nonblank(start, len(self.text))

    def _nonblank(self, start: int, end: int) -> Iterator[Span]:
        chunk = self.text[start:end]
        if _WORD_CHAR.search(chunk):
            lead = len(chunk) - len(chunk.lstrip())
            yield self.span(start + lead, end)

    def sentence_at(self, position: int) -> Span:
        for sentence in self.sentences():
            if sentence.start <= position < sentence.end:
                return sentence
        return self.span(position, position + 1)


__all__ = [
    "Span",
    "TimedText",
    "TimedWord",
    "add_jieba_words",
    "han_count",
    "is_chinese",
    "is_han",
    "jieba_search_tokens",
    "jieba_tokenize",
    "jieba_tokens",
]
