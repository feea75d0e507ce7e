"""Character error rate of a Mandarin transcript against the text that was spoken (tests and benchmark).

Both sides are normalised first, so that only recognition errors count, not ways of writing the same words:
Traditional characters in their Simplified form (OpenCC's ``t2s`` tables; whisper-base writes Traditional
now and then); full-width letters and digits folded (NFKC); numbers written the same way whether spelled in
Chinese numerals (as AISHELL transcripts and scripts do) or in digits (as Whisper often does): a run of
numerals with units becomes the number it reads ("三十五" → "35", "两千零一十七" → "2017"), a run without
units is read digit by digit ("一二线" → "12线", "二零二四年" → "2024年"), "百分之四十" → "40%"; punctuation
and spaces dropped. Then every Han character, digit and "%" is one unit, and so is a Latin word.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import opencc

from services.speech.wer import edit_distance

#: Numeral digits; U+3007 is the circle zero of dates ("二〇二四").
_DIGITS = {char: value for value, char in enumerate("零一二三四五六七八九")} | {"\u3007": 0, "两": 2}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_SECTIONS = {"万": 10_000, "亿": 100_000_000}
_NUMERAL_RUN = re.compile(f"[{''.join(_DIGITS)}{''.join(_UNITS)}{''.join(_SECTIONS)}]+")
_PERCENT = re.compile(r"百分之([\d.]+)")
_UNIT_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)*|[^\W_]|%")


@lru_cache(maxsize=1)
def _to_simplified() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def simplified(text: str) -> str:
    """Traditional characters replaced by their Simplified forms (others unchanged)."""
    return str(_to_simplified().convert(text))


def numeral_value(run: str) -> int:
    """The number a run of Chinese numerals with units reads ("一百零五" = 105, "三万五千" = 35000)."""
    total = section = digit = 0
    for char in run:
        if char in _DIGITS:
            digit = _DIGITS[char]
        elif char in _UNITS:
            section += (digit or 1) * _UNITS[char]  # "十二": a leading unit counts once
            digit = 0
        else:
            total += (section + digit) * _SECTIONS[char]
            section = digit = 0
    return total + section + digit


def _numerals_as_digits(match: re.Match[str]) -> str:
    run = match.group()
    if not any(c in _DIGITS for c in run) and not run.startswith("十"):
        return run  # 百姓, 千万 (a word, not a number)
    if any(c in _UNITS or c in _SECTIONS for c in run):
        return str(numeral_value(run))
    return "".join(str(_DIGITS[c]) for c in run)


def normalise_zh(text: str) -> list[str]:
    """The units of a Mandarin text (characters, digits, Latin words), normalised for comparison."""
    text = unicodedata.normalize("NFKC", simplified(text)).lower()
    text = _NUMERAL_RUN.sub(_numerals_as_digits, text)
    text = _PERCENT.sub(r"\1%", text)
    return _UNIT_TOKEN.findall(text)


def character_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(errors, reference units) after normalising both texts."""
    ref, hyp = normalise_zh(reference), normalise_zh(hypothesis)
    return edit_distance(ref, hyp), len(ref)


def character_error_rate(reference: str, hypothesis: str) -> float:
    """Character errors per reference character (0 for two empty texts)."""
    errors, units = character_errors(reference, hypothesis)
    return errors / units if units else float(errors > 0)


__all__ = ["character_error_rate", "character_errors", "normalise_zh", "numeral_value", "simplified"]
