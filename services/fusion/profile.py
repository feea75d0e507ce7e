"""The profile-ready event of one interview, from its inputs and scores (pure)."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.common.contracts import (
    Coverage,
    InterviewContext,
    ObjectRef,
    ProfileReady,
    Progress,
    ReportLink,
    SpeechResults,
    VisionFeatures,
    deterministic_event_id,
)
from services.fusion.found import question_windows
from services.fusion.inputs import InterviewInputs
from services.fusion.scoring import SCORING_MODEL_VERSION, ProfileScores

PRODUCER = "sightline-fusion"


def profile_id(tenant_id: str, interview_id: str, version: int) -> uuid.UUID:
    return deterministic_event_id("profile", tenant_id, interview_id, str(version))


def coverage(inputs: InterviewInputs) -> Coverage:
    chunks = max(inputs.manifest.chunks, inputs.vision_received)
    segments = max(inputs.manifest.segments, inputs.speech_received)
    return Coverage(
        vision_chunks=Progress(received=len({v.chunk_index for v in inputs.vision}), expected=chunks),
        speech_segments=Progress(received=len({s.segment_index for s in inputs.speech}), expected=segments),
    )


def context(inputs: InterviewInputs) -> InterviewContext:
    """The interview context, with the windows found in place of the untimed questions when there were none
    (so the report and the analytics tables see the questions as they would given ones)."""
    given = inputs.ingested.context
    if not inputs.windows_found:
        return given
    return InterviewContext.model_validate(
        {**given.model_dump(), "questions": [q.model_dump() for q in inputs.questions], "untimed_questions": []}
    )


def feature_versions(inputs: InterviewInputs) -> dict[str, str]:
    """Versions of every upstream model that contributed, by component. A component whose parts came from
    several versions (an interview re-run half-way through an upgrade) lists them all, ``a+b``, so the
    profile never claims one version for work another did."""
    seen: dict[str, set[str]] = {}
    parts: list[VisionFeatures | SpeechResults] = [*inputs.vision, *inputs.speech]
    for part in parts:
        for component, version in part.model_versions.items():
            seen.setdefault(component, set()).add(version)
    return {component: _joined(sorted(versions)) for component, versions in seen.items()} or {
        "fusion": SCORING_MODEL_VERSION
    }


def _joined(versions: list[str], limit: int = 64) -> str:
    joined = "+".join(versions)
    if len(joined) <= limit:
        return joined
    more = f"+{len(versions) - 1}more"
    return versions[0][: limit - len(more)] + more


def build_profile(
    inputs: InterviewInputs,
    scores: ProfileScores,
    *,
    version: int,
    report: ObjectRef | ReportLink,
    occurred_at: datetime,
) -> ProfileReady:
    ingested = inputs.ingested
    tenant, interview = ingested.tenant_id, ingested.interview_id
    return ProfileReady(
        event_id=deterministic_event_id("profile-ready", tenant, interview, str(version)),
        occurred_at=occurred_at,
        tenant_id=tenant,
        interview_id=interview,
        producer=PRODUCER,
        caused_by=ingested.event_id,
        context=context(inputs),
        profile_id=profile_id(tenant, interview, version),
        profile_version=version,
        dimensions=scores.dimensions,
        overall=scores.overall,
        label=scores.label,
        needs_human_review=True,
        data_quality=scores.data_quality,
        coverage=coverage(inputs),
        report=report,
        scoring_model_version=SCORING_MODEL_VERSION,
        feature_versions=feature_versions(inputs),
        explanation=scores.explanation,
        question_windows=question_windows(inputs.speech) if inputs.windows_found else None,
    )
