"""Facts the report shows, derived from the feature events: one per-second timeline, episodes joined
across chunk boundaries, whether expressions were inferred, and the model versions in use."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from services.common.contracts import (
    EmotionInferenceReason,
    Question,
    SecondBehaviour,
    SpeechResults,
    TimeRange,
    VisionFeatures,
    Word,
)

from .model import ReportInput

EpisodeKind = Literal["look_away", "smile", "face_absent", "second_face"]

#: Stands for a chunk without inference whose stated reason ("permitted") does not explain why.
REASON_NOT_RECORDED = "reason_not_recorded"

#: Episodes of neighbouring chunks closer than this are one episode cut by the chunk boundary.
_JOIN_GAP_S = 0.25


def latest_vision(events: Iterable[VisionFeatures]) -> list[VisionFeatures]:
    """One event per chunk (a redelivered chunk replaces the earlier copy), in chunk order."""
    by_chunk = {event.chunk_index: event for event in events}
    return [by_chunk[index] for index in sorted(by_chunk)]


def latest_speech(events: Iterable[SpeechResults]) -> list[SpeechResults]:
    """One event per segment, in segment order."""
    by_segment = {event.segment_index: event for event in events}
    return [by_segment[index] for index in sorted(by_segment)]


def per_second(vision: Sequence[VisionFeatures]) -> list[SecondBehaviour]:
    """The per-second rows of all chunks, ascending, one per second."""
    rows = {row.second: row for event in vision for row in event.seconds}
    return [rows[second] for second in sorted(rows)]


def episodes(vision: Sequence[VisionFeatures], kind: EpisodeKind) -> list[TimeRange]:
    """Episodes of ``kind`` over the interview; chunk-clipped pieces that touch are joined."""
    pieces = sorted(
        (piece for event in vision for piece in getattr(event.summary.episodes, kind)), key=lambda r: r.start_s
    )
    joined: list[TimeRange] = []
    for piece in pieces:
        if joined and piece.start_s - joined[-1].end_s <= _JOIN_GAP_S:
            last = joined[-1]
            joined[-1] = TimeRange(start_s=last.start_s, end_s=max(last.end_s, piece.end_s))
        else:
            joined.append(piece)
    return joined


def total_seconds(ranges: Iterable[TimeRange]) -> float:
    return sum(r.duration_s for r in ranges)


@dataclass(frozen=True)
class EmotionStatus:
    """Whether expressions were inferred, over how many chunks, and why not where they were not."""

    performed_chunks: int
    total_chunks: int
    reasons_not_performed: tuple[str, ...]

    @property
    def performed(self) -> bool:
        return self.performed_chunks > 0

    @property
    def complete(self) -> bool:
        return self.performed_chunks == self.total_chunks


def emotion_status(vision: Sequence[VisionFeatures]) -> EmotionStatus:
    performed = [event for event in vision if event.summary.emotion_inference.performed]
    reasons = {
        str(event.summary.emotion_inference.reason) for event in vision if not event.summary.emotion_inference.performed
    }
    # "permitted" on a chunk without inference explains nothing: say that the reason is not known.
    reasons = {REASON_NOT_RECORDED if r == EmotionInferenceReason.PERMITTED else r for r in reasons}
    return EmotionStatus(len(performed), len(vision), tuple(sorted(reasons)))


def expression_shares(vision: Sequence[VisionFeatures]) -> dict[str, float]:
    """Share of face time per expression over the chunks where expressions were inferred, weighted by
    how many face frames each chunk had; largest first."""
    weighted: dict[str, float] = defaultdict(float)
    total = 0.0
    for event in vision:
        distribution = event.summary.expression_distribution
        if not event.summary.emotion_inference.performed or not distribution:
            continue
        weight = event.summary.frames_analysed * event.summary.face_present_ratio
        total += weight
        for expression, share in distribution.items():
            weighted[expression] += share * weight
    if total <= 0:
        return {}
    return dict(sorted(((k, v / total) for k, v in weighted.items()), key=lambda kv: (-kv[1], kv[0])))


def expression_runs(
    rows: Sequence[SecondBehaviour], windows: Sequence[tuple[float, float]]
) -> list[tuple[int, int, str]]:
    """(first second, end second, expression) of each run of seconds with the same dominant expression,
    counting only seconds inside ``windows`` (the chunks where expressions were inferred)."""
    runs: list[tuple[int, int, str]] = []
    for row in rows:
        expression = row.dominant_expression
        if expression is None or not any(start <= row.second + 0.5 < end for start, end in windows):
            continue
        if runs and runs[-1][1] == row.second and runs[-1][2] == expression:
            runs[-1] = (runs[-1][0], row.second + 1, expression)
        else:
            runs.append((row.second, row.second + 1, expression))
    return runs


#: A silence between words longer than this is a pause (the speech stage counts pauses the same way).
PAUSE_MIN_S = 0.5


def speech_and_pauses(words: Sequence[Word]) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Stretches of continuous speech and the pauses (> 0.5 s between words) that separate them."""
    speech: list[tuple[float, float]] = []
    pauses: list[tuple[float, float]] = []
    for word in words:
        if speech and word.start_s - speech[-1][1] <= PAUSE_MIN_S:
            speech[-1] = (speech[-1][0], max(speech[-1][1], word.end_s))
            continue
        if speech:
            pauses.append((speech[-1][1], word.start_s))
        speech.append((word.start_s, word.end_s))
    return speech, pauses


def interview_duration(report: ReportInput) -> float:
    """Where the timeline ends: the last question window, chunk or segment."""
    ends = [q.end_s for q in report.profile.context.questions]
    ends += [event.end_s for event in report.vision]
    ends += [event.end_s for event in report.speech]
    return max(ends)


def mean_eye_contact(rows: Sequence[SecondBehaviour], question: Question) -> float | None:
    """Mean eye contact over the seconds of a question's window that had a face."""
    values = [
        row.eye_contact_ratio
        for row in rows
        if row.eye_contact_ratio is not None and question.start_s <= row.second + 0.5 < question.end_s
    ]
    return sum(values) / len(values) if values else None


def model_versions(report: ReportInput) -> list[tuple[str, str]]:
    """(component, version) pairs used for the profile: the scoring model, the job's competency model (a
    calibrated version re-scores an interview as a new profile version), the upstream feature extractors, and
    every model a vision or speech event names; sorted, without repeats."""
    profile = report.profile
    model = profile.context.job.competency_model
    pairs = {
        ("scoring_model", profile.scoring_model_version),
        ("competency_model", f"{model.id}@{model.version}"),
        ("policy", profile.context.policy_version),
    }
    pairs |= set(profile.feature_versions.items())
    for versions in [*(v.model_versions for v in report.vision), *(s.model_versions for s in report.speech)]:
        pairs |= set(versions.items())
    return sorted(pairs)


def is_partial(report: ReportInput) -> bool:
    coverage = report.profile.coverage
    return any(p.received < p.expected for p in (coverage.vision_chunks, coverage.speech_segments))
