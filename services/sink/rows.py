"""Events to ClickHouse rows: pure functions, one per event type, no I/O.

Each row is a `Row`: the table, a key that names the row's identity *and* the event it came from
(so the batch deduplication token changes when a different event rewrites the same row), and the
values by column name. The column lists in `COLUMNS` mirror `schemas/clickhouse/migrations/000*_*`;
`written_at` is left to its DEFAULT so a replayed row carries a newer version and replaces the old one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from services.common.contracts import (
    BodySample,
    CandidateDemographics,
    CandidateOutcome,
    DeadLetter,
    EventBase,
    FaceLandmarks,
    MediaIngested,
    ProfileReady,
    ReviewDecision,
    SpeechResults,
    StageStatus,
    VisionFeatures,
    encode,
)
from services.common.contracts.common import InterviewContext, ObjectRef, TimeRange
from services.dlq import PRIVATE_PAYLOAD_TOPICS


class RowError(ValueError):
    """An event that cannot become rows (a value outside what its column holds)."""


CONTEXT_COLUMNS = ("tenant_id", "interview_id", "interview_started_at", "candidate_ref", "job_id")
#: vision_chunks' face mesh and hand and pose columns (migration 0008; see `landmark_values`, `body_values`).
LANDMARK_COLUMNS = (
    "landmarks_supported",
    "landmark_frames_measured",
    "landmark_measured_s",
    "blink_count",
    "eyes_closed_s",
    "eye_openness_mean",
    "mouth_opening_mean",
    "brow_height_mean",
    "mouth_width_mean",
    "mouth_corner_lift_mean",
)
BODY_COLUMNS = (
    "body_samples",
    "hand_samples",
    "hand_face_touch_samples",
    "upper_body_samples",
    "shoulder_tilt_mean_deg",
    "head_height_mean",
)

COLUMNS: dict[str, tuple[str, ...]] = {
    "interviews": (
        "tenant_id",
        "interview_id",
        "candidate_ref",
        "job_id",
        "job_title",
        "competency_model_id",
        "competency_model_version",
        "locale",
        "jurisdiction",
        "policy_version",
        "consent_scopes",
        "permitted_analyses",
        "interview_started_at",
        "duration_s",
        "has_video",
        "has_audio",
        "media_kinds",
        "media_flags",
        "question_count",
        "pressure_question_count",
        "source_event_id",
        "event_id",
        "ingested_at",
        "event_json",
    ),
    "answers": (
        *CONTEXT_COLUMNS,
        "segment_index",
        "total_segments",
        "question_id",
        "question_text",
        "pressure",
        "start_s",
        "end_s",
        "language",
        "transcribed",
        "transcript",
        "word_count",
        "duration_s",
        "wpm",
        "cpm",
        "pause_count",
        "pause_mean_s",
        "pause_longest_s",
        "pause_ratio",
        "filler_count",
        "filler_rate",
        "time_to_first_word_s",
        "pitch_variation",
        "energy_variation",
        "competency.id",
        "competency.score",
        "competency.keyword_coverage",
        "competency.semantic_similarity",
        "competency.structure",
        "competency.specificity",
        "competency.hedging",
        "competency.evidence_json",
        "model_versions",
        "event_id",
        "produced_at",
        "event_json",
    ),
    "vision_chunks": (
        *CONTEXT_COLUMNS,
        "chunk_index",
        "total_chunks",
        "start_s",
        "end_s",
        "frames_analysed",
        "face_present_ratio",
        "head_yaw_deg",
        "head_pitch_deg",
        "head_roll_deg",
        "eye_contact_ratio",
        "nod_count",
        "shake_count",
        "look_away_s",
        "look_away_episodes",
        "smile_s",
        "face_absent_s",
        "second_face_s",
        "expression_distribution",
        "emotion_inference_performed",
        "emotion_inference_reason",
        "motion_energy",
        "posture_stability",
        "look_away_count",
        "nod_times_s",
        "shake_times_s",
        "smile_intensity_mean",
        "frown_s",
        "expression_volatility",
        "brightness_mean",
        "sharpness_mean",
        "blurry_ratio",
        "dark_ratio",
        "timeline_uri",
        "model_versions",
        "event_id",
        "produced_at",
        "event_json",
        *LANDMARK_COLUMNS,
        *BODY_COLUMNS,
    ),
    "behaviour_timeline": (
        "tenant_id",
        "interview_id",
        "interview_started_at",
        "second",
        "chunk_index",
        "frames",
        "face_present_ratio",
        "faces_max",
        "head_yaw_deg",
        "head_pitch_deg",
        "head_roll_deg",
        "eye_contact_ratio",
        "smile_intensity",
        "dominant_expression",
        "motion_energy",
        "event_id",
    ),
    "profiles": (
        *CONTEXT_COLUMNS,
        "job_title",
        "competency_model_id",
        "competency_model_version",
        "locale",
        "jurisdiction",
        "profile_id",
        "profile_version",
        "overall",
        "label",
        "needs_human_review",
        "data_quality",
        "vision_chunks_received",
        "vision_chunks_expected",
        "speech_segments_received",
        "speech_segments_expected",
        "report_uri",
        "scoring_model_version",
        "feature_versions",
        "event_id",
        "produced_at",
        "event_json",
    ),
    "profile_dimensions": (
        "tenant_id",
        "interview_id",
        "interview_started_at",
        "job_id",
        "competency_model_id",
        "competency_model_version",
        "profile_id",
        "profile_version",
        "dimension",
        "kind",
        "score",
        "confidence",
        "evidence_count",
        "evidence_json",
        "produced_at",
    ),
    "stage_status": (
        "event_id",
        "tenant_id",
        "interview_id",
        "stage",
        "state",
        "attempt",
        "unit",
        "reason_code",
        "reason_message",
        "occurred_at",
        "producer",
        "emitted",
        "detail_json",
    ),
    "candidate_demographics": (
        "tenant_id",
        "candidate_ref",
        "interview_id",
        "sex",
        "race_ethnicity",
        "collected_at",
        "form_version",
        "event_id",
        "produced_at",
    ),
    "review_decisions": (
        "tenant_id",
        "interview_id",
        "profile_version",
        "decision_id",
        "reviewer_id",
        "reviewer_role",
        "action",
        "final_label",
        "suggested_label",
        "reason_codes",
        "note",
        "decided_at",
        "producer",
        "event_id",
        "published_at",
        "event_json",
    ),
    "candidate_outcomes": (
        "tenant_id",
        "interview_id",
        "candidate_ref",
        "job_id",
        "stage",
        "hired_at",
        "tenure_days",
        "rating.measure",
        "rating.value",
        "rating.scale_min",
        "rating.scale_max",
        "rating.at_months",
        "rating.rated_at",
        "recorded_at",
        "event_id",
        "published_at",
        "event_json",
    ),
    "dead_letters": (
        "event_id",
        "stage",
        "tenant_id",
        "interview_id",
        "source_topic",
        "source_partition",
        "source_offset",
        "error_type",
        "error_code",
        "error_message",
        "retryable",
        "attempts",
        "payload_b64",
        "payload_withheld",
        "letter_json",
        "occurred_at",
    ),
    "sink_rejected_rows": ("target_table", "row_key", "reason", "row_json"),
}

# Unsigned integer columns narrower than the contract's bound: checked before a row is buffered.
_UINT_LIMITS = {16: 2**16 - 1, 32: 2**32 - 1}

# Times a row may carry. Partitions and TTLs go through `toDateTime` (1970 to 2106): outside that range
# ClickHouse accepts the insert and the TTL, computed on a wrapped value, drops the row unseen.
_EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
_LATEST = datetime(2105, 12, 31, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    table: str
    key: str
    values: dict[str, Any]

    def ordered(self) -> list[Any]:
        """The values in the table's column order; a missing or extra column is a mapping bug."""
        columns = COLUMNS[self.table]
        if set(self.values) != set(columns):
            raise RowError(f"{self.table}: columns {sorted(set(self.values) ^ set(columns))} do not match")
        return [self.values[c] for c in columns]

    def check_times(self) -> None:
        """Every time of the row within what the table keeps (the year only is named: no value is echoed)."""
        for column, value in self.values.items():
            for moment in value if isinstance(value, list) else (value,):
                if isinstance(moment, date) and not _EARLIEST <= _aware(moment) <= _LATEST:
                    raise RowError(f"{column} in year {moment.year} is outside what ClickHouse keeps (1970 to 2105)")


def _aware(moment: date) -> datetime:
    if not isinstance(moment, datetime):
        return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _uint(value: int, bits: int, name: str) -> int:
    if not 0 <= value <= _UINT_LIMITS[bits]:
        raise RowError(f"{name}={value} does not fit UInt{bits}")
    return value


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _event_json(event: EventBase) -> str:
    return encode(event).decode("utf-8")


def _seconds(ranges: Sequence[TimeRange]) -> float:
    return round(sum(r.duration_s for r in ranges), 3)


def _context(event: EventBase, context: InterviewContext) -> dict[str, Any]:
    return {
        "tenant_id": event.tenant_id,
        "interview_id": event.interview_id,
        "interview_started_at": context.interview_started_at,
        "candidate_ref": context.candidate_ref,
        "job_id": context.job.job_id,
    }


def _row(table: str, event: EventBase, unit: str, values: dict[str, Any]) -> Row:
    return Row(table, f"{event.tenant_id}/{event.interview_id}/{unit}@{event.event_id}", values)


def interview_rows(event: MediaIngested) -> list[Row]:
    ctx = event.context
    return [
        _row(
            "interviews",
            event,
            "interview",
            {
                "tenant_id": event.tenant_id,
                "interview_id": event.interview_id,
                "candidate_ref": ctx.candidate_ref,
                "job_id": ctx.job.job_id,
                "job_title": ctx.job.title,
                "competency_model_id": ctx.job.competency_model.id,
                "competency_model_version": ctx.job.competency_model.version,
                "locale": ctx.locale,
                "jurisdiction": ctx.jurisdiction,
                "policy_version": ctx.policy_version,
                "consent_scopes": [str(s) for s in ctx.consent_scopes],
                "permitted_analyses": [str(s) for s in ctx.permitted_analyses],
                "interview_started_at": ctx.interview_started_at,
                "duration_s": max(m.probe.duration_s for m in event.media),
                "has_video": any(m.probe.video is not None for m in event.media),
                "has_audio": any(m.probe.audio is not None for m in event.media),
                "media_kinds": [str(m.kind) for m in event.media],
                "media_flags": [str(f) for f in event.flags],
                "question_count": len(ctx.questions),
                "pressure_question_count": sum(q.pressure for q in ctx.questions),
                "source_event_id": ctx.source_event_id,
                "event_id": event.event_id,
                "ingested_at": event.occurred_at,
                "event_json": _event_json(event),
            },
        )
    ]


def answer_rows(event: SpeechResults) -> list[Row]:
    question = next((q for q in event.context.questions if q.question_id == event.question_id), None)
    m = event.metrics
    scores = event.competency_scores
    values = {
        **_context(event, event.context),
        "segment_index": _uint(event.segment_index, 32, "segment_index"),
        "total_segments": _uint(event.total_segments, 32, "total_segments"),
        "question_id": event.question_id or "",
        "question_text": question.text if question else "",
        "pressure": bool(question and question.pressure),
        "start_s": event.start_s,
        "end_s": event.end_s,
        "language": event.language or "",
        "transcribed": event.transcript is not None,
        "transcript": event.transcript or "",
        "word_count": _uint(len(event.words), 32, "word_count"),
        "duration_s": m.duration_s,
        "wpm": m.wpm,
        "cpm": m.cpm,
        "pause_count": _uint(m.pause_count, 32, "pause_count"),
        "pause_mean_s": m.pause_mean_s,
        "pause_longest_s": m.pause_longest_s,
        "pause_ratio": m.pause_ratio,
        "filler_count": _uint(m.filler_count, 32, "filler_count"),
        "filler_rate": m.filler_rate,
        "time_to_first_word_s": m.time_to_first_word_s,
        "pitch_variation": m.pitch_variation,
        "energy_variation": m.energy_variation,
        "competency.id": [s.competency_id for s in scores],
        "competency.score": [s.score for s in scores],
        "competency.keyword_coverage": [s.keyword_coverage for s in scores],
        "competency.semantic_similarity": [s.semantic_similarity for s in scores],
        "competency.structure": [s.structure for s in scores],
        "competency.specificity": [s.specificity for s in scores],
        "competency.hedging": [s.hedging for s in scores],
        "competency.evidence_json": [_json([q.model_dump(mode="json") for q in s.evidence]) for s in scores],
        "model_versions": dict(event.model_versions),
        "event_id": event.event_id,
        "produced_at": event.occurred_at,
        "event_json": _event_json(event),
    }
    return [_row("answers", event, f"segment/{event.segment_index}", values)]


def landmark_values(marks: FaceLandmarks | None) -> dict[str, Any]:
    """The face mesh's chunk measures (migration 0008): NULL where the mesh did not run or did not support the
    chunk, never zero."""
    if marks is None:
        return {**dict.fromkeys(LANDMARK_COLUMNS), "landmark_frames_measured": 0, "landmark_measured_s": 0.0}
    return {
        "landmarks_supported": marks.supported,
        "landmark_frames_measured": _uint(marks.frames_measured, 32, "frames_measured"),
        "landmark_measured_s": marks.measured_s,
        "blink_count": _uint(marks.blink_count, 32, "blink_count") if marks.supported else None,
        "eyes_closed_s": _seconds(marks.eyes_closed) if marks.supported else None,
        "eye_openness_mean": marks.eye_openness_mean,
        "mouth_opening_mean": marks.mouth_opening_mean,
        "brow_height_mean": marks.brow_height_mean,
        "mouth_width_mean": marks.mouth_width_mean,
        "mouth_corner_lift_mean": marks.mouth_corner_lift_mean,
    }


def body_values(samples: Sequence[BodySample]) -> dict[str, Any]:
    """Counts and means over the chunk's hand and upper-body samples (migration 0008)."""
    tilts = [b.shoulder_tilt_deg for b in samples if b.shoulder_tilt_deg is not None]
    heights = [b.head_height for b in samples if b.head_height is not None]
    return {
        "body_samples": len(samples),
        "hand_samples": sum(1 for b in samples if b.hands > 0),
        "hand_face_touch_samples": sum(1 for b in samples if b.hand_face_touch),
        "upper_body_samples": sum(1 for b in samples if b.body),
        "shoulder_tilt_mean_deg": round(sum(tilts) / len(tilts), 3) if tilts else None,
        "head_height_mean": round(sum(heights) / len(heights), 4) if heights else None,
    }


def vision_rows(event: VisionFeatures) -> list[Row]:
    s = event.summary
    pose, quality = s.mean_head_pose, s.image_quality
    chunk = {
        **_context(event, event.context),
        "chunk_index": _uint(event.chunk_index, 32, "chunk_index"),
        "total_chunks": _uint(event.total_chunks, 32, "total_chunks"),
        "start_s": event.start_s,
        "end_s": event.end_s,
        "frames_analysed": _uint(s.frames_analysed, 32, "frames_analysed"),
        "face_present_ratio": s.face_present_ratio,
        "head_yaw_deg": pose.yaw_deg if pose else None,
        "head_pitch_deg": pose.pitch_deg if pose else None,
        "head_roll_deg": pose.roll_deg if pose else None,
        "eye_contact_ratio": s.eye_contact_ratio,
        "nod_count": _uint(s.nod_count, 32, "nod_count"),
        "shake_count": _uint(s.shake_count, 32, "shake_count"),
        "look_away_s": _seconds(s.episodes.look_away),
        "look_away_episodes": len(s.episodes.look_away),
        "smile_s": _seconds(s.episodes.smile),
        "face_absent_s": _seconds(s.episodes.face_absent),
        "second_face_s": _seconds(s.episodes.second_face),
        "expression_distribution": dict(s.expression_distribution or {}),
        "emotion_inference_performed": s.emotion_inference.performed,
        "emotion_inference_reason": str(s.emotion_inference.reason),
        "motion_energy": s.motion_energy,
        "posture_stability": s.posture_stability,
        "look_away_count": _uint(s.look_away_count, 32, "look_away_count"),
        "nod_times_s": list(s.nod_times_s),
        "shake_times_s": list(s.shake_times_s),
        "smile_intensity_mean": s.smile_intensity_mean,
        "frown_s": s.frown_s,
        "expression_volatility": s.expression_volatility,
        "brightness_mean": quality.brightness_mean if quality else None,
        "sharpness_mean": quality.sharpness_mean if quality else None,
        "blurry_ratio": quality.blurry_ratio if quality else None,
        "dark_ratio": quality.dark_ratio if quality else None,
        "timeline_uri": event.timeline.uri,
        "model_versions": dict(event.model_versions),
        "event_id": event.event_id,
        "produced_at": event.occurred_at,
        "event_json": _event_json(event),
        **landmark_values(s.face_landmarks),
        **body_values(event.body),
    }
    rows = [_row("vision_chunks", event, f"chunk/{event.chunk_index}", chunk)]
    for sec in event.seconds:
        head = sec.head_pose
        values = {
            "tenant_id": event.tenant_id,
            "interview_id": event.interview_id,
            "interview_started_at": event.context.interview_started_at,
            "second": sec.second,
            "chunk_index": event.chunk_index,
            "frames": _uint(sec.frames, 32, "frames"),
            "face_present_ratio": sec.face_present_ratio,
            "faces_max": _uint(sec.faces_max, 16, "faces_max"),
            "head_yaw_deg": head.yaw_deg if head else None,
            "head_pitch_deg": head.pitch_deg if head else None,
            "head_roll_deg": head.roll_deg if head else None,
            "eye_contact_ratio": sec.eye_contact_ratio,
            "smile_intensity": sec.smile_intensity,
            "dominant_expression": sec.dominant_expression or "",
            "motion_energy": sec.motion_energy,
            "event_id": event.event_id,
        }
        rows.append(_row("behaviour_timeline", event, f"second/{sec.second}/{event.chunk_index}", values))
    return rows


def _report_uri(report: Any) -> str:
    return report.uri if isinstance(report, ObjectRef) else str(report.url)


def profile_rows(event: ProfileReady) -> list[Row]:
    ctx = event.context
    model = ctx.job.competency_model
    version = _uint(event.profile_version, 32, "profile_version")
    profile = {
        **_context(event, ctx),
        "job_title": ctx.job.title,
        "competency_model_id": model.id,
        "competency_model_version": model.version,
        "locale": ctx.locale,
        "jurisdiction": ctx.jurisdiction,
        "profile_id": event.profile_id,
        "profile_version": version,
        "overall": event.overall,
        "label": str(event.label),
        "needs_human_review": event.needs_human_review,
        "data_quality": [str(f) for f in event.data_quality],
        "vision_chunks_received": event.coverage.vision_chunks.received,
        "vision_chunks_expected": event.coverage.vision_chunks.expected,
        "speech_segments_received": event.coverage.speech_segments.received,
        "speech_segments_expected": event.coverage.speech_segments.expected,
        "report_uri": _report_uri(event.report),
        "scoring_model_version": event.scoring_model_version,
        "feature_versions": dict(event.feature_versions),
        "event_id": event.event_id,
        "produced_at": event.occurred_at,
        "event_json": _event_json(event),
    }
    rows = [_row("profiles", event, f"profile/{version}", profile)]
    for dim in event.dimensions:
        values = {
            "tenant_id": event.tenant_id,
            "interview_id": event.interview_id,
            "interview_started_at": ctx.interview_started_at,
            "job_id": ctx.job.job_id,
            "competency_model_id": model.id,
            "competency_model_version": model.version,
            "profile_id": event.profile_id,
            "profile_version": version,
            "dimension": dim.dimension,
            "kind": str(dim.kind),
            "score": dim.score,
            "confidence": dim.confidence,
            "evidence_count": len(dim.evidence),
            "evidence_json": _json([e.model_dump(mode="json") for e in dim.evidence]),
            "produced_at": event.occurred_at,
        }
        rows.append(_row("profile_dimensions", event, f"profile/{version}/{dim.dimension}", values))
    return rows


def status_rows(event: StageStatus) -> list[Row]:
    reason = event.reason
    values = {
        "event_id": event.event_id,
        "tenant_id": event.tenant_id,
        "interview_id": event.interview_id,
        "stage": str(event.stage),
        "state": str(event.state),
        "attempt": event.attempt,
        "unit": event.unit or "",
        "reason_code": str(reason.code) if reason else "",
        "reason_message": reason.message if reason else "",
        "occurred_at": event.occurred_at,
        "producer": event.producer or "",
        "emitted": {str(topic): _uint(n, 32, "emitted") for topic, n in event.emitted.items()},
        "detail_json": _json(event.detail) if event.detail else "",
    }
    return [_row("stage_status", event, f"status/{event.event_id}", values)]


def demographics_rows(event: CandidateDemographics) -> list[Row]:
    """One row per candidate (the table's identity); only the audit reads it (see 0004_demographics.sql)."""
    values = {
        "tenant_id": event.tenant_id,
        "candidate_ref": event.candidate_ref,
        "interview_id": event.interview_id,
        "sex": str(event.sex),
        "race_ethnicity": str(event.race_ethnicity),
        "collected_at": event.collected_at,
        "form_version": event.form_version,
        "event_id": event.event_id,
        "produced_at": event.occurred_at,
    }
    return [Row("candidate_demographics", f"{event.tenant_id}/{event.candidate_ref}@{event.event_id}", values)]


def review_rows(event: ReviewDecision) -> list[Row]:
    """One row per decision, keyed by its decision id: the HR system re-sending a decision replaces it."""
    values = {
        "tenant_id": event.tenant_id,
        "interview_id": event.interview_id,
        "profile_version": _uint(event.profile_version, 32, "profile_version"),
        "decision_id": event.decision_id,
        "reviewer_id": event.reviewer_id,
        "reviewer_role": event.reviewer_role,
        "action": str(event.action),
        "final_label": str(event.final_label),
        "suggested_label": str(event.suggested_label),
        "reason_codes": [str(r) for r in event.reason_codes or ()],
        "note": event.note or "",
        "decided_at": event.decided_at,
        "producer": event.producer or "",
        "event_id": event.event_id,
        "published_at": event.occurred_at,
        "event_json": _event_json(event),
    }
    return [_row("review_decisions", event, f"decision/{event.decision_id}", values)]


def outcome_rows(event: CandidateOutcome) -> list[Row]:
    """One row per outcome event (each states what is known so far; the latest recorded_at is current)."""
    ratings = event.ratings
    values = {
        "tenant_id": event.tenant_id,
        "interview_id": event.interview_id,
        "candidate_ref": event.candidate_ref,
        "job_id": event.job_id,
        "stage": str(event.stage),
        "hired_at": event.hired_at,
        "tenure_days": None if event.tenure_days is None else _uint(event.tenure_days, 32, "tenure_days"),
        "rating.measure": [r.measure for r in ratings],
        "rating.value": [r.value for r in ratings],
        "rating.scale_min": [r.scale_min for r in ratings],
        "rating.scale_max": [r.scale_max for r in ratings],
        "rating.at_months": [r.at_months for r in ratings],
        "rating.rated_at": [r.rated_at for r in ratings],
        "recorded_at": event.recorded_at,
        "event_id": event.event_id,
        "published_at": event.occurred_at,
        "event_json": _event_json(event),
    }
    return [_row("candidate_outcomes", event, f"outcome/{event.event_id}", values)]


def dead_letter_rows(letter: DeadLetter) -> list[Row]:
    """One row per dead letter, keyed like the table (stage and source record). The payload of a topic whose
    values are private (candidate demographics) is not stored; the letter without payload always is."""
    withheld = letter.source.topic in PRIVATE_PAYLOAD_TOPICS
    values = {
        "event_id": letter.event_id,
        "stage": str(letter.stage),
        "tenant_id": letter.tenant_id or "",
        "interview_id": letter.interview_id or "",
        "source_topic": letter.source.topic,
        "source_partition": _uint(letter.source.partition, 32, "source.partition"),
        "source_offset": letter.source.offset,
        "error_type": letter.error.type,
        "error_code": str(letter.error.code) if letter.error.code else "",
        "error_message": letter.error.message,
        "retryable": letter.error.retryable,
        "attempts": _uint(letter.attempts, 16, "attempts"),
        "payload_b64": "" if withheld else letter.payload_b64,
        "payload_withheld": withheld,
        "letter_json": letter.model_dump_json(exclude={"payload_b64"}),
        "occurred_at": letter.occurred_at,
    }
    source = letter.source
    key = f"{letter.stage}/{source.topic}/{source.partition}/{source.offset}@{letter.event_id}"
    return _checked([Row("dead_letters", key, values)])


_MAPPERS: dict[type[EventBase], Callable[[Any], list[Row]]] = {
    MediaIngested: interview_rows,
    SpeechResults: answer_rows,
    VisionFeatures: vision_rows,
    ProfileReady: profile_rows,
    StageStatus: status_rows,
    CandidateDemographics: demographics_rows,
    ReviewDecision: review_rows,
    CandidateOutcome: outcome_rows,
}

#: The event types the sink stores.
SUPPORTED = tuple(_MAPPERS)


def rows_for(event: EventBase) -> list[Row]:
    """The rows one event becomes; RowError when it cannot be stored."""
    mapper = _MAPPERS.get(type(event))
    if mapper is None:
        raise RowError(f"the sink does not store {event.event_type} events")
    return _checked(mapper(event))


def _checked(rows: list[Row]) -> list[Row]:
    """Fail here, on this event, rather than later in a shared batch (or, for times, silently in a merge)."""
    for row in rows:
        row.ordered()
        row.check_times()
    return rows


__all__ = ["COLUMNS", "SUPPORTED", "Row", "RowError", "dead_letter_rows", "rows_for"]
