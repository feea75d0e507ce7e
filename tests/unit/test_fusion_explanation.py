"""Accommodations switch off the measures they would distort; the profile explains what weighed and what was left
out."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.common.contracts import Accommodation, DimensionKind
from services.fusion.inputs import InterviewInputs
from services.fusion.scoring import (
    COMMUNICATION,
    CONFIDENCE,
    EXPRESSION_POSITIVITY,
    score_interview,
)
from services.fusion.settings import FusionSettings
from tests.fusion_data import STRONG, WEAK, Candidate
from tests.unit.test_fusion_scoring import inputs_for

SETTINGS = FusionSettings()


def accommodated(candidate: Candidate, *kinds: Accommodation, interview: str = "INT-A") -> InterviewInputs:
    inputs = inputs_for(candidate, interview)
    context = inputs.ingested.context.model_copy(update={"accommodations": list(kinds)})
    return replace(inputs, ingested=inputs.ingested.model_copy(update={"context": context}))


def dims(inputs: InterviewInputs) -> dict[str, float]:
    return {d.dimension: d.score for d in score_interview(inputs, SETTINGS).dimensions}


def test_a_stutter_accommodation_leaves_fluency_out_of_every_score() -> None:
    # A fluent candidate and one who pauses and repeats a lot, otherwise alike.
    halting = replace(STRONG, filler_rate=11.0, pause_ratio=0.6, wpm=70.0, pressure_fillers_added=6.0)
    plain = dims(inputs_for(halting, "INT-H")), dims(inputs_for(STRONG, "INT-F"))
    assert plain[0][COMMUNICATION] < plain[1][COMMUNICATION] - 20  # without the accommodation fluency counts
    with_stutter = dims(accommodated(halting, Accommodation.STUTTER)), dims(accommodated(STRONG, Accommodation.STUTTER))
    assert with_stutter[0][COMMUNICATION] == with_stutter[1][COMMUNICATION]  # now only eye contact remains
    assert with_stutter[0][CONFIDENCE] == with_stutter[1][CONFIDENCE]
    explanation = score_interview(accommodated(halting, Accommodation.STUTTER), SETTINGS).explanation
    assert [(n.measure, n.reason) for n in explanation.not_measured] == [("speaking_fluency", "accommodation_stutter")]
    assert "speaking_fluency" not in explanation.looked_at and explanation.accommodations == [Accommodation.STUTTER]


def test_no_camera_drops_every_visual_measure_and_facial_difference_the_face_ones() -> None:
    weak_eyes = replace(STRONG, eye_contact=0.2, smile=0.05)
    no_camera = score_interview(accommodated(weak_eyes, Accommodation.NO_CAMERA), SETTINGS)
    assert EXPRESSION_POSITIVITY not in {d.dimension for d in no_camera.dimensions}
    assert {n.measure for n in no_camera.explanation.not_measured} == {
        "eye_contact",
        "expression",
        "posture_and_motion",
    }
    assert {n.reason for n in no_camera.explanation.not_measured} == {"accommodation_no_camera"}
    facial = score_interview(accommodated(weak_eyes, Accommodation.FACIAL_DIFFERENCE), SETTINGS)
    assert [n.measure for n in facial.explanation.not_measured] == ["eye_contact", "expression"]
    assert "posture_and_motion" in facial.explanation.looked_at
    # Eye contact no longer pulls confidence down.
    assert dims(accommodated(weak_eyes, Accommodation.LOW_VISION))[CONFIDENCE] > dims(inputs_for(weak_eyes))[CONFIDENCE]


def test_the_weights_explain_the_overall_score() -> None:
    for candidate in (STRONG, WEAK):
        scores = score_interview(inputs_for(candidate, "INT-W"), SETTINGS)
        shares = {w.dimension: w.share for w in scores.explanation.weights}
        assert set(shares) == {d.dimension for d in scores.dimensions}
        assert sum(shares.values()) == pytest.approx(1.0, abs=1e-3)
        assert scores.overall == pytest.approx(sum(shares[d.dimension] * d.score for d in scores.dimensions), abs=0.1)
        competency = [d.dimension for d in scores.dimensions if d.kind == DimensionKind.COMPETENCY]
        assert sum(shares[c] for c in competency) == pytest.approx(1 - SETTINGS.behaviour_weight, abs=1e-3)
        assert [w.share for w in scores.explanation.weights] == sorted(shares.values(), reverse=True)


def test_what_consent_or_jurisdiction_left_out_is_explained() -> None:
    scores = score_interview(inputs_for(replace(STRONG, emotion_inference=False)), SETTINGS)
    assert [(n.measure, n.reason) for n in scores.explanation.not_measured] == [("expression", "no_consent")]
    assert scores.explanation.looked_at == [
        "answer_content",
        "speaking_fluency",
        "voice",
        "eye_contact",
        "posture_and_motion",
    ]


def test_evidence_captions_leave_out_what_was_not_looked_at() -> None:
    def captions(inputs: InterviewInputs) -> str:
        scores = score_interview(inputs, SETTINGS)
        return " ".join(e.text or "" for d in scores.dimensions for e in d.evidence)

    plain = captions(inputs_for(STRONG))
    assert "words/min" in plain and "eye contact" in plain
    assert "words/min" not in captions(accommodated(STRONG, Accommodation.STUTTER))
    assert "eye contact" not in captions(accommodated(STRONG, Accommodation.FACIAL_DIFFERENCE))
