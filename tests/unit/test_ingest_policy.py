"""Consent, jurisdiction policy table and limits of the ingest stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.common.contracts import FailureCode, InterviewCompleted
from services.ingest.policy import (
    DEFAULT_POLICY_VERSION,
    IngestLimits,
    JurisdictionPolicy,
    PolicyViolation,
    decide,
    permitted_analyses,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples" / "v1"
ALL = ["video_analysis", "audio_analysis", "transcription", "face_analysis", "emotion_inference", "automated_scoring"]


def event(
    jurisdiction: str = "IE", scopes: list[str] | None = None, granted: bool = True, **media: Any
) -> InterviewCompleted:
    data = json.loads((EXAMPLES / "interview-completed.en-IE.json").read_text())
    data["jurisdiction"] = jurisdiction
    data["consent"]["granted"] = granted
    data["consent"]["scopes"] = ALL if scopes is None else scopes
    data["media"][0].update(media)
    return InterviewCompleted.model_validate(data)


@pytest.mark.parametrize("jurisdiction", ["IE", "DE", "DE-BY", "EU", "FR"])
def test_eu_jurisdictions_never_permit_emotion_inference(jurisdiction: str) -> None:
    ctx = decide(event(jurisdiction), JurisdictionPolicy(), IngestLimits())
    assert "emotion_inference" in ctx.consent_scopes
    assert "emotion_inference" not in ctx.permitted_analyses
    assert ctx.policy_version == DEFAULT_POLICY_VERSION


@pytest.mark.parametrize("jurisdiction", ["US", "US-NYC", "US-CA", "GB"])
def test_elsewhere_the_consent_decides(jurisdiction: str) -> None:
    ctx = decide(event(jurisdiction), JurisdictionPolicy(), IngestLimits())
    assert ctx.permitted_analyses == ALL


@pytest.mark.parametrize("jurisdiction", ["CN", "CN-BJ", "US-IL"])
def test_face_analysis_needs_the_separate_biometric_consent_where_the_law_asks_for_it(jurisdiction: str) -> None:
    without = decide(event(jurisdiction), JurisdictionPolicy(), IngestLimits())
    # face_analysis is dropped, and emotion_inference with it; video (for nothing facial) and audio stay
    assert without.permitted_analyses == ["video_analysis", "audio_analysis", "transcription", "automated_scoring"]
    with_it = decide(event(jurisdiction, scopes=[*ALL, "biometric_processing"]), JurisdictionPolicy(), IngestLimits())
    assert with_it.permitted_analyses == [*ALL, "biometric_processing"]


def test_the_biometric_consent_alone_permits_no_face_analysis() -> None:
    scopes = ["audio_analysis", "biometric_processing", "face_analysis"]
    assert permitted_analyses(scopes, "CN", JurisdictionPolicy()) == ["audio_analysis", "biometric_processing"]


def test_context_copies_the_interview() -> None:
    ev = event("CN")
    ctx = decide(ev, JurisdictionPolicy(version="p-7"), IngestLimits())
    assert ctx.source_event_id == ev.event_id
    assert (ctx.candidate_ref, ctx.job, ctx.locale, ctx.jurisdiction) == (ev.candidate_ref, ev.job, ev.locale, "CN")
    assert ctx.questions == ev.questions and ctx.interview_started_at == ev.interview_started_at
    assert ctx.interview_completed_at == ev.occurred_at  # where the end-to-end latency is measured from
    assert ctx.policy_version == "p-7"
    assert ctx.callback == ev.callback and ctx.callback is not None  # carried to the sink, which sends it
    assert ctx.accommodations == []


def test_accommodations_travel_in_the_context_and_unknown_ones_are_refused() -> None:
    data = event("US-NY").model_dump(mode="json")
    ctx = decide(
        InterviewCompleted.model_validate({**data, "accommodations": ["stutter", "no_camera"]}),
        JurisdictionPolicy(),
        IngestLimits(),
    )
    assert ctx.accommodations == ["stutter", "no_camera"]
    with pytest.raises(ValueError, match="accommodations"):
        InterviewCompleted.model_validate({**data, "accommodations": ["extra_time"]})


def test_no_consent_is_refused() -> None:
    with pytest.raises(PolicyViolation) as info:
        decide(event(granted=False), JurisdictionPolicy(), IngestLimits())
    assert info.value.code == FailureCode.NO_CONSENT


def test_consent_without_any_media_analysis_is_refused() -> None:
    with pytest.raises(PolicyViolation) as info:
        decide(event(scopes=["automated_scoring", "some_future_scope"]), JurisdictionPolicy(), IngestLimits())
    assert info.value.code == FailureCode.NO_CONSENT


def test_a_policy_forbidding_everything_consented_is_a_policy_refusal() -> None:
    policy = JurisdictionPolicy("p-1", {"CN": frozenset({"video_analysis", "audio_analysis", "transcription"})})
    with pytest.raises(PolicyViolation) as info:
        decide(event("CN"), policy, IngestLimits())
    assert info.value.code == FailureCode.POLICY_FORBIDS


def test_unknown_scopes_are_kept_but_grant_nothing() -> None:
    ctx = decide(event("US", scopes=["audio_analysis", "lie_detection"]), JurisdictionPolicy(), IngestLimits())
    assert ctx.consent_scopes == ["audio_analysis", "lie_detection"]
    assert ctx.permitted_analyses == ["audio_analysis"]


def test_scopes_whose_prerequisite_is_missing_are_dropped() -> None:
    assert permitted_analyses(["audio_analysis", "face_analysis", "emotion_inference"], "US", JurisdictionPolicy()) == [
        "audio_analysis"
    ]
    no_faces = JurisdictionPolicy("p", {"US-IL": frozenset({"face_analysis"})})
    assert permitted_analyses(ALL, "US-IL", no_faces) == [
        "video_analysis",
        "audio_analysis",
        "transcription",
        "automated_scoring",
    ]
    assert permitted_analyses(ALL, "US-CA", no_faces) == ALL


def test_table_entries_add_up_from_specific_to_general() -> None:
    policy = JurisdictionPolicy("p", {"*": frozenset({"automated_scoring"}), "DE": frozenset({"transcription"})})
    # a deployment's table adds to the statutory rule sets: the EU emotion ban stays
    assert policy.prohibited_in("DE-BY") == {"automated_scoring", "transcription", "emotion_inference"}
    assert policy.prohibited_in("CN") == {"automated_scoring"}
    assert JurisdictionPolicy().prohibited_in("DE-BY") == {"emotion_inference"}


def test_announced_size_over_the_limit_is_refused_before_fetching() -> None:
    with pytest.raises(PolicyViolation) as info:
        decide(event(size_bytes=2_000), JurisdictionPolicy(), IngestLimits(max_size_bytes=1_000))
    assert info.value.code == FailureCode.OVER_LIMITS
    assert IngestLimits().max_size_bytes == 4 * 1024**3 and IngestLimits().max_duration_s == 3 * 3600


def with_notice(e: InterviewCompleted, notice: str | None) -> InterviewCompleted:
    data = e.model_dump(mode="json")
    data["consent"]["notice_given_at"] = notice
    return InterviewCompleted.model_validate(data)


@pytest.mark.parametrize("jurisdiction", ["IE", "EU", "US-IL", "US-NYC", "CN"])
def test_where_the_law_asks_for_notice_an_interview_without_one_is_refused(jurisdiction: str) -> None:
    with pytest.raises(PolicyViolation) as refused:
        decide(with_notice(event(jurisdiction), None), JurisdictionPolicy(), IngestLimits())
    assert refused.value.code == FailureCode.NO_NOTICE
    assert jurisdiction in refused.value.message and "notice_given_at" in refused.value.message


@pytest.mark.parametrize("jurisdiction", ["US", "US-CA", "GB"])
def test_where_no_notice_is_required_none_is_needed(jurisdiction: str) -> None:
    ctx = decide(with_notice(event(jurisdiction), None), JurisdictionPolicy(), IngestLimits())
    assert ctx.permitted_analyses == ALL


def test_a_notice_given_after_the_interview_started_is_refused() -> None:
    late = with_notice(event("US-IL"), "2025-03-14T09:05:00Z")  # the interview started at 09:00:12
    with pytest.raises(PolicyViolation, match="after the interview started") as refused:
        decide(late, JurisdictionPolicy(), IngestLimits())
    assert refused.value.code == FailureCode.NO_NOTICE
    on_time = with_notice(event("US-IL"), "2025-03-14T08:59:00Z")
    assert decide(on_time, JurisdictionPolicy(), IngestLimits()).permitted_analyses


@pytest.mark.parametrize(
    ("notice", "accepted"),
    [
        ("2025-02-28T17:00:00Z", True),  # Fri 28 Feb .. Thu 13 Mar: ten business days before Fri 14 Mar
        ("2025-03-03T08:00:00Z", False),  # Mon 3 Mar: nine
        ("2025-03-01T08:00:00Z", False),  # a Saturday is not a business day: nine too
    ],
)
def test_nyc_asks_for_the_notice_ten_business_days_ahead(notice: str, accepted: bool) -> None:
    e = with_notice(event("US-NYC"), notice)
    if accepted:
        assert decide(e, JurisdictionPolicy(), IngestLimits()).permitted_analyses == ALL
    else:
        with pytest.raises(PolicyViolation, match="10 business days") as refused:
            decide(e, JurisdictionPolicy(), IngestLimits())
        assert refused.value.code == FailureCode.NO_NOTICE
    # Illinois asks for a notice before the interview, not for a lead time.
    assert decide(with_notice(event("US-IL"), notice), JurisdictionPolicy(), IngestLimits()).permitted_analyses
