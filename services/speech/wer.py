"""Word error rate of an English transcript against the text that was spoken (tests and benchmark).

Both sides are normalised first, so that only recognition errors count, not ways of writing the same words:
lower case without punctuation; numbers spelled out (Whisper writes "15%", a script says "fifteen percent");
contractions expanded ("I've" = "I have"); titles spelled out ("Mr." = "mister"); British spellings in
American form (Whisper's own table, shipped with openai-whisper); compounds written apart or together
("post-mortem", "post mortem", "postmortem") made the same when the other side writes them as one word.
Fillers ("um", "uh") stay: they were spoken.
"""

from __future__ import annotations

import importlib.util
import json
import re
from functools import lru_cache
from pathlib import Path

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
)
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety"
_CONTRACTIONS = (
    (r"\bwon't\b", "will not"),
    (r"\bcan't\b", "can not"),
    (r"\bcannot\b", "can not"),
    (r"n't\b", " not"),
    (r"'re\b", " are"),
    (r"'ve\b", " have"),
    (r"'m\b", " am"),
    (r"'ll\b", " will"),
)
#: Titles Whisper abbreviates where a transcript spells them out (Whisper's own normaliser does the same).
_TITLES = ((r"\bmr\b", "mister"), (r"\bmrs\b", "missus"), (r"\bdr\b", "doctor"))


def number_words(n: int) -> str:
    """An integer below a million in words, British style ("one hundred and sixty")."""
    ones, tens = _ONES.split(), _TENS.split()
    if n < 20:
        return ones[n]
    if n < 100:
        return tens[n // 10] + ("" if n % 10 == 0 else " " + ones[n % 10])
    if n < 1000:
        rest = n % 100
        return ones[n // 100] + " hundred" + ("" if rest == 0 else " and " + number_words(rest))
    rest = n % 1000
    return number_words(n // 1000) + " thousand" + ("" if rest == 0 else " " + number_words(rest))


@lru_cache(maxsize=1)
def _american_spellings() -> dict[str, str]:
    spec = importlib.util.find_spec("whisper")  # located, not imported (importing it loads torch)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        table = Path(location) / "normalizers" / "english.json"
        if table.is_file():
            return {str(k): str(v) for k, v in json.loads(table.read_text()).items()}
    return {}


def normalise_en(text: str) -> list[str]:
    """The words of an English text, normalised for comparison."""
    text = text.lower().replace("\u2019", "'")
    for pattern, replacement in _CONTRACTIONS + _TITLES:
        text = re.sub(pattern, replacement, text)
    text = text.replace("%", " percent").replace("-", " ").replace("/", " ")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 3,000
    text = re.sub(r"\d+", lambda m: f" {number_words(int(m.group()))} " if len(m.group()) < 7 else m.group(), text)
    spellings = _american_spellings()
    return [spellings.get(word, word) for word in re.sub(r"[^a-z0-9' ]", " ", text).replace("'", "").split()]


def _join_compounds(words: list[str], vocabulary: set[str]) -> list[str]:
    """Adjacent words joined where the other side writes them as one word ("front end" → "frontend")."""
    out: list[str] = []
    i = 0
    while i < len(words):
        if i + 1 < len(words) and words[i] + words[i + 1] in vocabulary:
            out.append(words[i] + words[i + 1])
            i += 2
        else:
            out.append(words[i])
            i += 1
    return out


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Word substitutions, deletions and insertions that turn the reference into the hypothesis."""
    row = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        previous, row[0] = row[:], i
        for j, hyp in enumerate(hypothesis, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ref != hyp))
    return row[-1]


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(errors, reference words) after normalising both texts."""
    ref, hyp = normalise_en(reference), normalise_en(hypothesis)
    words = len(ref)
    ref, hyp = _join_compounds(ref, set(hyp)), _join_compounds(hyp, set(ref))
    return edit_distance(ref, hyp), words


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word errors per reference word (0 for two empty texts)."""
    errors, words = word_errors(reference, hypothesis)
    return errors / words if words else float(errors > 0)


__all__ = ["edit_distance", "normalise_en", "number_words", "word_error_rate", "word_errors"]
