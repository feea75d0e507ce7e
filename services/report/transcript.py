"""Transcript excerpts with the evidence quotes highlighted where they were said."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.common.contracts import Quote

from .fmt import clock_range
from .markup import Html, el, join

#: Transcripts up to this many characters are shown whole; longer ones as context around the quotes.
FULL_TRANSCRIPT_CHARS = 900
#: Characters of context kept on each side of a quote in a long transcript.
CONTEXT_CHARS = 160
ELLIPSIS = "…"


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    quote: Quote


def _locate(transcript: str, quotes: Sequence[Quote]) -> tuple[list[_Span], list[Quote]]:
    """Where each quote sits in the transcript (verbatim, else ignoring case); quotes that overlap an
    earlier one or cannot be found are returned apart."""
    spans: list[_Span] = []
    missing: list[Quote] = []
    folded = transcript.casefold()
    for quote in sorted(quotes, key=lambda q: q.start_s):
        text = quote.quote.strip()
        at = transcript.find(text)
        if at < 0 and len(folded) == len(transcript):
            at = folded.find(text.casefold())
        if at < 0 or any(at < s.end and s.start < at + len(text) for s in spans):
            missing.append(quote)
            continue
        spans.append(_Span(at, at + len(text), quote))
    return sorted(spans, key=lambda s: s.start), missing


def _windows(length: int, spans: Sequence[_Span]) -> list[tuple[int, int]]:
    """The parts of a long transcript to show: context around each quote, overlapping parts merged."""
    if length <= FULL_TRANSCRIPT_CHARS:
        return [(0, length)]
    if not spans:
        return [(0, FULL_TRANSCRIPT_CHARS)]
    windows: list[tuple[int, int]] = []
    for span in spans:
        start, end = max(0, span.start - CONTEXT_CHARS), min(length, span.end + CONTEXT_CHARS)
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], end))
        else:
            windows.append((start, end))
    return windows


def quote_mark(words: str, start_s: float, end_s: float) -> Html:
    """Highlighted words and when they were said."""
    when = clock_range(start_s, end_s)
    return join([el("mark", words, title=when), " ", el("span", f"[{when}]", class_="ts")])


def excerpt(transcript: str, quotes: Sequence[Quote]) -> tuple[Html, list[Quote]]:
    """The transcript (or its parts around the quotes when long) with every quote found in it
    highlighted and time-stamped; also the quotes that could not be placed."""
    spans, missing = _locate(transcript, quotes)
    parts: list[Html | str] = []
    windows = _windows(len(transcript), spans)
    for start, end in windows:
        if start > 0:
            parts.append(ELLIPSIS)
        cursor = start
        for span in spans:
            if span.start < start or span.end > end:
                continue
            parts += [
                transcript[cursor : span.start],
                quote_mark(transcript[span.start : span.end], span.quote.start_s, span.quote.end_s),
            ]
            cursor = span.end
        parts.append(transcript[cursor:end])
    if windows and windows[-1][1] < len(transcript):
        parts.append(ELLIPSIS)
    return join(parts), missing
