"""Per-answer behaviour measures: vision seconds and speech metrics cut to each question's window.

Vision arrives per chunk (a few seconds) and speech per segment (normally one answer); scoring wants
both per question. Everything here is a pure function of the stored events.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from services.common.contracts import Question, SecondBehaviour, SpeechResults, VisionFeatures
from services.vision.aggregate import Period, QuestionBehaviour, Window, aggregate

NEGATIVE_EXPRESSIONS = frozenset({"anger", "disgust", "contempt", "sadness", "fear"})


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
    look_aways: Sequence[Period] = field(default_factory=tuple)
    smiles: Sequence[Period] = field(default_factory=tuple)
    face_absent: Sequence[Period] = field(default_factory=tuple)
    second_face: Sequence[Period] = field(default_factory=tuple)
    emotion_inferred: bool = False
    # face mesh (services/vision/face_measures.py): None where it did not measure the face
    blinks: int | None = None
    blink_rate: float | None = None  # per measured minute
    mouth_opening: float | None = None  # inner-lip gap over face height
    brow_lowering: float | None = None  # face heights below the candidate's own level; needs emotion inference
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


def _episodes(periods: Iterable[Period]) -> tuple[Period, ...]:
    return tuple(periods)


def _volatility(seconds: Sequence[SecondBehaviour]) -> float | None:
    labels = [s.dominant_expression for s in seconds if s.dominant_expression is not None]
    if len(labels) < 2:
        return None
    return sum(1 for a, b in itertools.pairwise(labels) if a != b) / (len(labels) - 1)


def answer_behaviour(
    question: Question,
    vision: Sequence[VisionFeatures],
    speech: Sequence[SpeechResults],
    seen: QuestionBehaviour | None = None,
) -> AnswerBehaviour:
    """Measures of one question's window from every chunk and segment that overlaps it. Episodes, nods,
    shakes, presence and eye contact come from the vision stage's own per-question aggregate."""
    start, end = question.start_s, question.end_s
    if seen is None:
        window = Window(question_id=question.question_id, start_s=start, end_s=end)
        seen = aggregate(vision, [window]).questions[0]
    chunks = [v for v in vision if _overlap(v.start_s, v.end_s, start, end) > 0]
    seconds = sorted((s for v in chunks for s in v.seconds if start <= s.second + 0.5 < end), key=lambda s: s.second)
    face_seconds = [s for s in seconds if s.face_present_ratio > 0]
    labelled = [s.dominant_expression for s in face_seconds if s.dominant_expression is not None]
    answer = next((s for s in speech if s.question_id == question.question_id), None)
    if answer is None:
        answer = max(
            (s for s in speech if _overlap(s.start_s, s.end_s, start, end) > 0),
            key=lambda s: _overlap(s.start_s, s.end_s, start, end),
            default=None,
        )
    inferred = any(v.summary.emotion_inference.performed for v in chunks)
    marks = seen.landmarks if seen.landmarks is not None and seen.landmarks.measured_s > 0 else None
    return AnswerBehaviour(
        question=question,
        seconds_observed=len(seconds),
        face_present=seen.face_present_ratio,
        eye_contact=seen.eye_contact_ratio,
        smile=_mean(s.smile_intensity for s in face_seconds) if inferred else None,
        motion=seen.motion_energy,
        posture_stability=_mean(v.summary.posture_stability for v in chunks),
        expression_volatility=_volatility(face_seconds),
        negative_share=(sum(1 for x in labelled if x in NEGATIVE_EXPRESSIONS) / len(labelled)) if labelled else None,
        positive_share=(sum(1 for x in labelled if x == "happiness") / len(labelled)) if labelled else None,
        nods=seen.nod_count,
        shakes=seen.shake_count,
        look_aways=_episodes(seen.look_aways),
        smiles=_episodes(seen.smiles),
        face_absent=_episodes(seen.face_absent),
        second_face=_episodes(seen.second_face),
        emotion_inferred=inferred,
        speech=answer,
        blinks=None if marks is None else len(marks.blink_times_s),
        blink_rate=None if marks is None else marks.blink_rate_per_min,
        mouth_opening=None if marks is None else marks.mouth_opening_mean,
        brow_lowering=None if marks is None else marks.brow_lowering,
    )


def answers(
    questions: Sequence[Question], vision: Sequence[VisionFeatures], speech: Sequence[SpeechResults]
) -> list[AnswerBehaviour]:
    windows = [Window(question_id=q.question_id, start_s=q.start_s, end_s=q.end_s) for q in questions]
    seen = aggregate(vision, windows).questions
    return [answer_behaviour(q, vision, speech, s) for q, s in zip(questions, seen, strict=True)]
