"""Consent at every stage: what the consent and the jurisdiction permit decides what is extracted, scored, shown
and said to be missing."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.common.contracts import InterviewContext
from services.fusion.inputs import InterviewInputs, Manifest
from services.fusion.scoring import score_interview
from services.fusion.settings import FusionSettings
from services.ingest.policy import (
    IngestLimits,
    JurisdictionPolicy,
    PolicyViolation,
    decide,
    may_extract_audio,
    may_extract_video,
    why_not_permitted,
)
from services.report.model import KeyFrame
from tests.fusion_data import STRONG
from tests.unit.test_fusion_scoring import inputs_for
from tests.unit.test_ingest_policy import event
from tests.unit.test_report_inputs import english_input

FACE_SCOPES = ["video_analysis", "face_analysis"]
AUDIO_SCOPES = ["audio_analysis", "transcription"]
VISUAL = {"eye_contact", "expression", "posture_and_motion"}
SPOKEN = {"answer_content", "speaking_fluency", "voice"}


def context(jurisdiction: str, scopes: list[str]) -> InterviewContext:
    return decide(event(jurisdiction, scopes), JurisdictionPolicy(), IngestLimits())


@pytest.mark.parametrize(
    ("jurisdiction", "scopes", "video", "audio"),
    [
        ("US", [*FACE_SCOPES, *AUDIO_SCOPES], True, True),
        ("US", ["video_analysis", *AUDIO_SCOPES], False, True),  # no face consent: no frames
        ("CN", [*FACE_SCOPES, *AUDIO_SCOPES], False, True),  # PIPL: face needs the separate consent
        ("CN", [*FACE_SCOPES, "biometric_processing", *AUDIO_SCOPES], True, True),
        ("US-IL", [*FACE_SCOPES, "audio_analysis"], False, True),  # BIPA likewise
        ("US", [*FACE_SCOPES, "transcription"], True, True),  # transcription alone still needs the audio
        ("US", [*FACE_SCOPES, "automated_scoring"], True, False),
    ],
)
def test_what_frames_may_extract(jurisdiction: str, scopes: list[str], video: bool, audio: bool) -> None:
    permitted = context(jurisdiction, scopes).permitted_analyses
    assert (may_extract_video(permitted), may_extract_audio(permitted)) == (video, audio)


def test_a_consent_from_which_nothing_can_be_extracted_is_refused_at_ingest() -> None:
    with pytest.raises(PolicyViolation) as no_face:
        context("US", ["video_analysis", "automated_scoring"])
    assert no_face.value.code == "no_consent"
    with pytest.raises(PolicyViolation) as no_separate:
        context("CN", [*FACE_SCOPES, "automated_scoring"])
    assert no_separate.value.code == "policy_forbids"
    assert "biometric_processing" in no_separate.value.message


@pytest.mark.parametrize(
    ("jurisdiction", "scopes", "scope", "reason"),
    [
        ("US", [*FACE_SCOPES, "audio_analysis"], "face_analysis", None),
        ("US", ["video_analysis", "audio_analysis"], "face_analysis", "no_consent"),
        ("US", ["face_analysis", "audio_analysis"], "face_analysis", "no_consent"),  # video was not consented
        ("CN", [*FACE_SCOPES, "audio_analysis"], "face_analysis", "no_separate_consent"),
        ("CN", [*FACE_SCOPES, "emotion_inference", "audio_analysis"], "emotion_inference", "no_separate_consent"),
        ("DE", [*FACE_SCOPES, "emotion_inference", "audio_analysis"], "emotion_inference", "jurisdiction_prohibits"),
    ],
)
def test_why_a_scope_is_not_permitted(jurisdiction: str, scopes: list[str], scope: str, reason: str | None) -> None:
    assert why_not_permitted(context(jurisdiction, scopes), scope) == reason


def frames_would_emit(inputs: InterviewInputs) -> InterviewInputs:
    """The inputs fusion sees when frames extracted what the consent permits (no chunk without video)."""
    permitted = inputs.ingested.context.permitted_analyses
    vision = inputs.vision if may_extract_video(permitted) else []
    speech = inputs.speech if may_extract_audio(permitted) else []
    manifest = Manifest(inputs.manifest.media_event_id, len(vision), len(speech))
    return replace(inputs, vision=vision, speech=speech, manifest=manifest)


def with_context(ctx: InterviewContext) -> InterviewInputs:
    inputs = inputs_for(STRONG, "INT-C")
    ingested = inputs.ingested.model_copy(update={"context": ctx})
    return frames_would_emit(replace(inputs, ingested=ingested))


def test_without_the_separate_consent_the_profile_says_nothing_visual_was_measured_and_why() -> None:
    scores = score_interview(
        with_context(context("CN", [*FACE_SCOPES, *AUDIO_SCOPES, "automated_scoring"])), FusionSettings()
    )
    assert {(n.measure, n.reason) for n in scores.explanation.not_measured} == {
        (m, "no_separate_consent") for m in VISUAL
    }
    assert set(scores.explanation.looked_at) == SPOKEN
    assert "video_analysis_not_permitted" in scores.data_quality
    assert "audio_analysis_not_permitted" not in scores.data_quality
    assert not [e for d in scores.dimensions for e in d.evidence if e.kind == "key_frame"]


def test_without_audio_consent_the_profile_says_nothing_spoken_was_measured() -> None:
    scores = score_interview(with_context(context("US", [*FACE_SCOPES, "automated_scoring"])), FusionSettings())
    expected = {(m, "no_consent") for m in [*SPOKEN, "expression"]}  # emotion_inference was not consented either
    assert {(n.measure, n.reason) for n in scores.explanation.not_measured} == expected
    assert "audio_analysis_not_permitted" in scores.data_quality
    assert "video_analysis_not_permitted" not in scores.data_quality


def test_with_everything_permitted_nothing_is_said_missing() -> None:
    scopes = [*FACE_SCOPES, "emotion_inference", "biometric_processing", *AUDIO_SCOPES, "automated_scoring"]
    scores = score_interview(with_context(context("CN", scopes)), FusionSettings())
    assert scores.explanation.not_measured == []
    assert not {"video_analysis_not_permitted", "audio_analysis_not_permitted"} & set(scores.data_quality)


def test_a_report_refuses_key_frames_of_an_interview_without_video_consent() -> None:
    report = english_input()
    frame = KeyFrame.from_object_key("t/i/frames/e/keyframes/q1-middle.jpg", b"\xff\xd8\xff")
    report.model_validate({**report.model_dump(), "key_frames": [frame.model_dump()]})  # permitted: accepted
    ctx = report.profile.context.model_copy(update={"permitted_analyses": ["audio_analysis", "transcription"]})
    profile = report.profile.model_copy(update={"context": ctx})
    with pytest.raises(ValueError, match="key frames"):
        report.model_validate(
            {**report.model_dump(), "profile": profile.model_dump(), "key_frames": [frame.model_dump()]}
        )
