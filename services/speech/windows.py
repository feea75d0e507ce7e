"""Question windows of a recording that came without them (pure functions over turns, words and embeddings).

Two voices (a recorded two-way interview): each turn of the interviewer that the candidate answers opens a
window, from the first word of the question to the end of the candidate's last turn before the interviewer
speaks again. The interviewer is the voice whose turns read most like the listed questions. What the
interviewer said is matched to the listed questions (the interview's own list, else the job's question bank)
by the similarity of their e5 embeddings, one question per turn at most (an optimal assignment); a turn that
matches none well is kept as an unlisted question, scored against every competency. When what was heard cannot
tell (a question the recogniser did not catch) and the interview listed as many questions as there are
windows, in the order asked, that order decides (flag ``question_matched_by_order``).

One voice (a one-way interview whose questions were on screen): the candidate's answers are the stretches of
speech separated by silences of at least `ANSWER_GAP_S`; with a known number of questions the closest
answers are joined until the counts agree; fewer answers than listed questions are flagged
``question_windows_incomplete``. Each answer is matched by content to the questions; an answer is
no rewording of its question and e5 tells them apart poorly, so when the interview listed its questions in the
order asked and the answers are as many, an uncertain content match gives way to that order (flagged).

The match confidence of a window is how clearly its question won: 0.5 plus the margin of its similarity over
the best alternative (in its row and its column), scaled by `MARGIN_SCALE`, clipped to 0-1; below
`UNCERTAIN_BELOW` the profile gets the flag ``question_match_uncertain``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from services.speech.text import TimedWord
from services.speech.turns import Stretch, Turn, cut, pieces, smooth, speech_stretches, turns, two_voices

Vectors = NDArray[np.float32]
Embed = Callable[[Sequence[str]], Vectors]

#: Silence between two answers of a one-voice recording (the next question is read on screen meanwhile).
ANSWER_GAP_S = 2.0
#: e5 cosine under which what the interviewer said is not the listed question: e5 (small, 4-bit) puts two
#: unrelated interview questions of one language at 0.80-0.87, a question and its rewording at 0.90 and above.
MIN_SIMILARITY = 0.885
#: Similarity margin that makes a match certain.
MARGIN_SCALE = 0.06
UNCERTAIN_BELOW = 0.6
#: Words are given to the turn their middle falls in, with this much slack at the edges.
WORD_SLACK_S = 0.25
UNLISTED_PREFIX = "unlisted-"

FLAG_UNCERTAIN = "question_match_uncertain"
FLAG_UNLISTED = "question_not_listed"
FLAG_NOT_FOUND = "question_windows_not_found"
FLAG_INCOMPLETE = "question_windows_incomplete"
FLAG_ONE_VOICE = "one_voice"
FLAG_BY_ORDER = "question_matched_by_order"
#: Confidence given to a window matched by the listed order rather than by content.
ORDER_CONFIDENCE = 0.5

Method = Literal["two_voices", "one_voice"]


@dataclass(frozen=True)
class Listed:
    """A question the recording may hold."""

    question_id: str
    text: str


@dataclass(frozen=True)
class FoundWindow:
    """A question window found in the recording (seconds of the analysed audio)."""

    question_id: str
    question_text: str
    start_s: float  # the question begins (two voices) or the silence before the answer (one voice)
    answer_start_s: float
    end_s: float
    match_confidence: float
    listed: bool


@dataclass(frozen=True)
class Found:
    method: Method
    windows: list[FoundWindow]
    flags: list[str]


def text_between(words: Sequence[TimedWord], start_s: float, end_s: float) -> str:
    """The words whose middle lies in ``[start_s - slack, end_s + slack)``, joined."""
    inside = [w for w in words if start_s - WORD_SLACK_S <= (w.start_s + w.end_s) / 2 < end_s + WORD_SLACK_S]
    return "".join(w.text for w in inside).strip()


def assign(similarity: NDArray[np.float64], floor: float = MIN_SIMILARITY) -> list[tuple[int | None, float]]:
    """For each row, the column it is matched to (None: none is similar enough, at least ``floor``) and the
    confidence."""
    rows, cols = similarity.shape
    out: list[tuple[int | None, float]] = [(None, 0.0)] * rows
    if rows == 0 or cols == 0:
        return out
    for r, c in zip(*linear_sum_assignment(-similarity), strict=True):
        score = float(similarity[r, c])
        if score < floor:
            continue
        rivals = [*np.delete(similarity[r], c), *np.delete(similarity[:, c], r)]
        margin = score - max(rivals) if rivals else MARGIN_SCALE
        out[r] = (int(c), float(np.clip(0.5 + margin / MARGIN_SCALE, 0.0, 1.0)))
    return out


def _similarity(embed: Embed, texts: Sequence[str], listed: Sequence[Listed]) -> NDArray[np.float64]:
    if not texts or not listed:
        return np.zeros((len(texts), len(listed)))
    vectors = embed([*texts, *(q.text for q in listed)]).astype(np.float64)
    return np.asarray(vectors[: len(texts)] @ vectors[len(texts) :].T, dtype=np.float64)


Span = tuple[float, float, float, str]  # start, answer start, end, what the interviewer said


def _windows(
    spans: Sequence[Span], listed: Sequence[Listed], matches: Sequence[tuple[int | None, float]]
) -> tuple[list[FoundWindow], list[str]]:
    """Windows of the spans, with the listed question each matched (None: an unlisted question)."""
    windows: list[FoundWindow] = []
    flags: list[str] = []
    for i, ((start, answer_start, end, heard), (column, confidence)) in enumerate(zip(spans, matches, strict=True)):
        if column is None:
            flags.append(FLAG_UNLISTED)
            windows.append(
                FoundWindow(f"{UNLISTED_PREFIX}{i + 1}", heard or "(not heard)", start, answer_start, end, 0.0, False)
            )
            continue
        question = listed[column]
        if confidence < UNCERTAIN_BELOW:
            flags.append(FLAG_UNCERTAIN)
        windows.append(FoundWindow(question.question_id, question.text, start, answer_start, end, confidence, True))
    return windows, list(dict.fromkeys(flags))


def interviewer_voice(turns: Sequence[Turn], texts: Sequence[str], similarity: NDArray[np.float64]) -> int:
    """The voice whose turns are most like the listed questions (mean of each turn's best similarity); without a
    list, the voice that speaks less (candidates talk most of an interview)."""
    best = similarity.max(axis=1) if similarity.size else np.zeros(len(turns))
    scores: dict[int, list[float]] = {0: [], 1: []}
    talk = {0: 0.0, 1: 0.0}
    for turn, text, score in zip(turns, texts, best, strict=True):
        talk[turn.voice] += turn.end_s - turn.start_s
        if text:
            scores[turn.voice].append(float(score))
    if similarity.size and scores[0] and scores[1]:
        return 0 if np.mean(scores[0]) >= np.mean(scores[1]) else 1
    return 0 if talk[0] <= talk[1] else 1


def _matched(
    spans: Sequence[Span], listed: Sequence[Listed], matches: Sequence[tuple[int | None, float]], ordered: bool
) -> tuple[list[FoundWindow], list[str]]:
    """Windows matched by content; when content cannot tell (a match unsure or missing) and ``listed`` is the
    interview's own list in the order asked with one question per window, by that order instead."""
    if ordered and len(spans) == len(listed) and any(c is None or v < UNCERTAIN_BELOW for c, v in matches):
        windows, _ = _windows(spans, listed, [(i, ORDER_CONFIDENCE) for i in range(len(spans))])
        return windows, [FLAG_BY_ORDER]
    return _windows(spans, listed, matches)


def two_voice_windows(
    turns: Sequence[Turn], words: Sequence[TimedWord], listed: Sequence[Listed], embed: Embed, ordered: bool = False
) -> Found:
    """Windows opened by the interviewer's turns (see the module doc)."""
    texts = [text_between(words, t.start_s, t.end_s) for t in turns]
    asker = interviewer_voice(turns, texts, _similarity(embed, texts, listed))
    spans: list[Span] = []
    for i, turn in enumerate(turns):
        if turn.voice != asker:
            continue
        answers = []
        for later in turns[i + 1 :]:
            if later.voice == asker:
                break
            answers.append(later)
        if answers:  # closing remarks nobody answers open no window
            spans.append((turn.start_s, answers[0].start_s, answers[-1].end_s, texts[i]))
    if not spans:
        return Found("two_voices", [], [FLAG_NOT_FOUND])
    matches = assign(_similarity(embed, [s[3] for s in spans], listed))
    windows, flags = _matched(spans, listed, matches, ordered)
    return Found("two_voices", windows, flags)


def answer_blocks(stretches: Sequence[Stretch], expected: int | None, gap_s: float = ANSWER_GAP_S) -> list[Stretch]:
    """Speech joined into answers across silences shorter than ``gap_s``; with ``expected`` answers, the
    closest answers are joined until there are no more than that."""
    blocks: list[Stretch] = []
    for s in stretches:
        if blocks and s.start_s - blocks[-1].end_s < gap_s:
            blocks[-1] = Stretch(blocks[-1].start_s, s.end_s)
        else:
            blocks.append(s)
    while expected is not None and len(blocks) > max(expected, 1):
        gaps = [b.start_s - a.end_s for a, b in itertools.pairwise(blocks)]
        i = int(np.argmin(gaps))
        blocks[i : i + 2] = [Stretch(blocks[i].start_s, blocks[i + 1].end_s)]
    return blocks


def one_voice_windows(
    stretches: Sequence[Stretch],
    words: Sequence[TimedWord],
    listed: Sequence[Listed],
    embed: Embed,
    ordered: bool = False,
) -> Found:
    """One window per silence-separated answer, matched by content (see the module doc). ``ordered``: ``listed``
    is the interview's own list in the order asked; when content cannot tell and the answers are as many as the
    questions, the order decides (flag ``question_matched_by_order``)."""
    blocks = answer_blocks(stretches, len(listed) if ordered else None)
    if not blocks:
        return Found("one_voice", [], [FLAG_ONE_VOICE, FLAG_NOT_FOUND])
    spans: list[Span] = []
    previous_end = 0.0
    for block in blocks:
        # the question was on screen in the silence before the answer: the window opens early in it
        start = previous_end + min(1.0, (block.start_s - previous_end) / 2) if spans else 0.0
        spans.append((start, block.start_s, block.end_s, ""))
        previous_end = block.end_s
    texts = [text_between(words, s[1], s[2]) for s in spans]
    # fewer answers than listed questions: some answers ran into each other (or were never given)
    short = [FLAG_INCOMPLETE] if ordered and len(spans) < len(listed) else []
    # an answer is not a rewording of its question: no similarity floor, the margins decide
    windows, flags = _matched(spans, listed, assign(_similarity(embed, texts, listed), floor=-1.0), ordered)
    return Found("one_voice", windows, [FLAG_ONE_VOICE, *short, *flags])


class VoiceEmbedder(Protocol):
    version: str

    def embed(self, stretches: list[NDArray[np.float32]]) -> Vectors: ...


def find_windows(
    audio: NDArray[np.float32],
    words: Sequence[TimedWord],
    listed: Sequence[Listed],
    voices: VoiceEmbedder | None,
    embed: Embed,
    ordered: bool = False,
) -> Found:
    """The question windows of a recording (16 kHz) with its words (same timeline): by the interviewer's
    turns when two voices speak, else by the silences between the answers of the one voice. Without a voice
    embedder (voice analysis not permitted) the silences decide."""
    stretches = speech_stretches(audio)
    if voices is None:
        return one_voice_windows(stretches, words, listed, embed, ordered)
    parts = pieces(stretches)
    embeddings = voices.embed([cut(audio, p) for p in parts])
    split = two_voices(embeddings, [p.duration_s for p in parts])
    labels = smooth(split.labels)
    if split.two and len(set(labels)) == 2:
        return two_voice_windows(turns(parts, labels), words, listed, embed, ordered)
    return one_voice_windows(stretches, words, listed, embed, ordered)


__all__ = [
    "ANSWER_GAP_S",
    "FLAG_BY_ORDER",
    "FLAG_INCOMPLETE",
    "FLAG_NOT_FOUND",
    "FLAG_ONE_VOICE",
    "FLAG_UNCERTAIN",
    "FLAG_UNLISTED",
    "Found",
    "FoundWindow",
    "Listed",
    "answer_blocks",
    "assign",
    "find_windows",
    "interviewer_voice",
    "one_voice_windows",
    "text_between",
    "two_voice_windows",
]
