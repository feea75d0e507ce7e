"""Per-answer behaviour measures: vision seconds and speech metrics cut to each question's window.

Vision arrives per chunk (a few seconds) and speech per segment (normally one answer); scoring wants
both per question. Everything here is a pure function of the stored events.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from services.common.contracts import Question, SecondBehaviour, SpeechResults, TimeRange, VisionFeatures

NEGATIVE_EXPRESSIONS = frozenset({"anger", "disgust", "contempt", "sadness", "fear"})


@dataclass(frozen=True)
class Episode:
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class AnswerBehaviour:
    """What one answer window shows; None where there was no data of that kind."""

    question: Question
    # vision
    seconds_observed: int = 0
    face_present: float | None = None
    eye_contact: float | None = None
    smile: float | None = None
    motion: float | None = None
    posture_stability: float | None = None
    expression_volatility: float | None = None  # changes of the dominant expression per observed second
    negative_share: float | None = None  # share of face seconds whose dominant expression is negative
    positive_share: float | None = None
    nods: int = 0
    shakes: int = 0
    look_aways: Sequence[Episode] = field(default_factory=tuple)
    smiles: Sequence[Episode] = field(default_factory=tuple)
    face_absent: Sequence[Episode] = field(default_factory=tuple)
    second_face: Sequence[Episode] = field(default_factory=tuple)
    emotion_inferred: bool = False
    # speech
    speech: SpeechResults | None = None

    @property
    def words(self) -> int:
        return len(self.speech.words) if self.speech is not None else 0

    @property
    def hedging(self) -> float | None:
        scores = self.speech.competency_scores if self.speech is not None else []
        return statistics.fmean(c.hedging for c in scores) if scores else None

    @property
    def structure(self) -> float | None:
        scores = self.speech.competency_scores if self.speech is not None else []
        return max(c.structure for c in scores) if scores else None

    @property
    def specificity(self) -> float | None:
        scores = self.speech.competency_scores if self.speech is not None else []
        return max(c.specificity for c in scores) if scores else None


def _overlap(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    return max(0.0, min(a_end, b_end) - max(a_start, b_start))


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def join_episodes(ranges: Iterable[TimeRange], gap_s: float = 0.25) -> list[Episode]:
    """Episodes clipped at chunk edges come back as one when they touch (within `gap_s`)."""
    joined: list[Episode] = []
    for r in sorted(ranges, key=lambda r: r.start_s):
        if joined and r.start_s - joined[-1].end_s <= gap_s:
            joined[-1] = Episode(joined[-1].start_s, max(joined[-1].end_s, r.end_s))
        else:
            joined.append(Episode(r.start_s, r.end_s))
    return joined


def _clip(episodes: Iterable[Episode], start: float, end: float) -> tuple[Episode, ...]:
    return tuple(
        Episode(max(e.start_s, start), min(e.end_s, end))
        for e in episodes
        if _overlap(e.start_s, e.end_s, start, end) > 0
    )


def _volatility(seconds: Sequence[SecondBehaviour]) -> float | None:
    labels = [s.dominant_expression for s in seconds if s.dominant_expression is not None]
    if len(labels) < 2:
        return None
    return sum(1 for a, b in itertools.pairwise(labels) if a != b) / (len(labels) - 1)


def answer_behaviour(
    question: Question, vision: Sequence[VisionFeatures], speech: Sequence[SpeechResults]
) -> AnswerBehaviour:
    """Measures of one question's window from every chunk and segment that overlaps it."""
    start, end = question.start_s, question.end_s
    chunks = [v for v in vision if _overlap(v.start_s, v.end_s, start, end) > 0]
    seconds = sorted((s for v in chunks for s in v.seconds if start <= s.second + 0.5 < end), key=lambda s: s.second)
    face_seconds = [s for s in seconds if s.face_present_ratio > 0]
    eye = [(s.eye_contact_ratio, s.face_present_ratio) for s in face_seconds if s.eye_contact_ratio is not None]
    labelled = [s.dominant_expression for s in face_seconds if s.dominant_expression is not None]

    def episodes(pick: str) -> tuple[Episode, ...]:
        ranges = [r for v in chunks for r in getattr(v.summary.episodes, pick)]
        return _clip(join_episodes(ranges), start, end)

    # Nods and shakes are counted per chunk; a chunk counts for the share of it inside the window.
    nods = shakes = 0.0
    for v in chunks:
        share = _overlap(v.start_s, v.end_s, start, end) / max(v.end_s - v.start_s, 1e-9)
        nods += v.summary.nod_count * share
        shakes += v.summary.shake_count * share
    answer = next((s for s in speech if s.question_id == question.question_id), None)
    if answer is None:
        answer = max(
            (s for s in speech if _overlap(s.start_s, s.end_s, start, end) > 0),
            key=lambda s: _overlap(s.start_s, s.end_s, start, end),
            default=None,
        )
    return AnswerBehaviour(
        question=question,
        seconds_observed=len(seconds),
        face_present=_mean(s.face_present_ratio for s in seconds),
        eye_contact=(sum(e * w for e, w in eye) / sum(w for _, w in eye)) if eye else None,
        smile=_mean(s.smile_intensity for s in face_seconds),
        motion=_mean(s.motion_energy for s in seconds),
        posture_stability=_mean(v.summary.posture_stability for v in chunks),
        expression_volatility=_volatility(face_seconds),
        negative_share=(sum(1 for x in labelled if x in NEGATIVE_EXPRESSIONS) / len(labelled)) if labelled else None,
        positive_share=(sum(1 for x in labelled if x == "happiness") / len(labelled)) if labelled else None,
        nods=round(nods),
        shakes=round(shakes),
        look_aways=episodes("look_away"),
        smiles=episodes("smile"),
        face_absent=episodes("face_absent"),
        second_face=episodes("second_face"),
        emotion_inferred=any(v.summary.emotion_inference.performed for v in chunks),
        speech=answer,
    )


def answers(
    questions: Sequence[Question], vision: Sequence[VisionFeatures], speech: Sequence[SpeechResults]
) -> list[AnswerBehaviour]:
    return [answer_behaviour(q, vision, speech) for q in questions]
