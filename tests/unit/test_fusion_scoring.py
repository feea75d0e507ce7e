"""The scoring model against candidates whose behaviour is known."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.common.contracts import (
    BodySample,
    DimensionKind,
    EvidenceKind,
    FaceLandmarks,
    ImageQuality,
    ProfileLabel,
    StageName,
)
from services.fusion.behaviour import answer_behaviour
from services.fusion.inputs import InterviewInputs, JobModel, Manifest
from services.fusion.profile import build_profile, coverage, feature_versions
from services.fusion.scoring import (
    BEHAVIOUR_DIMENSIONS,
    EMOTIONAL_STABILITY,
    EXPRESSION_POSITIVITY,
    band,
    score_interview,
)
from services.fusion.settings import FusionSettings
from tests.fusion_data import (
    QUESTIONS,
    STRONG,
    WEAK,
    Candidate,
    media_ingested,
    speech_results,
    vision_features,
    without_emotion,
)

SETTINGS = FusionSettings()


def inputs_for(candidate: Candidate, interview: str = "INT-1", **changes: object) -> InterviewInputs:
    ingested = media_ingested(interview, candidate)
    vision = vision_features(ingested, candidate)
    speech = speech_results(ingested, candidate)
    base = InterviewInputs(
        ingested=ingested,
        manifest=Manifest(str(ingested.event_id), len(vision), len(speech)),
        vision=vision,
        speech=speech,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def scores_by_dimension(inputs: InterviewInputs) -> dict[str, float]:
    return {d.dimension: d.score for d in score_interview(inputs, SETTINGS).dimensions}


def test_band_is_one_inside_and_falls_to_zero_at_the_limits() -> None:
    assert band(140, (120, 165), (60, 230)) == 1.0
    assert band(90, (120, 165), (60, 230)) == pytest.approx(0.5)
    assert band(60, (120, 165), (60, 230)) == 0.0
    assert band(300, (120, 165), (60, 230)) == 0.0
    assert band(None, (0, 1), (0, 1)) is None


def test_a_strong_candidate_outscores_a_weak_one_on_every_dimension() -> None:
    strong = scores_by_dimension(inputs_for(STRONG, "INT-S"))
    weak = scores_by_dimension(inputs_for(WEAK, "INT-W"))
    assert set(BEHAVIOUR_DIMENSIONS) <= set(strong)
    assert {"problem-solving", "ownership"} <= set(strong)
    for dimension, score in strong.items():
        assert score > weak[dimension], dimension


def test_labels_follow_the_thresholds_and_always_need_review() -> None:
    strong = score_interview(inputs_for(STRONG, "INT-S"), SETTINGS)
    weak = score_interview(inputs_for(WEAK, "INT-W"), SETTINGS)
    middling = score_interview(inputs_for(replace(STRONG, answer_score=55.0), "INT-M"), SETTINGS)
    assert strong.label == ProfileLabel.RECOMMEND
    assert weak.label == ProfileLabel.REJECT
    assert middling.label == ProfileLabel.PENDING
    assert strong.overall is not None and weak.overall is not None and strong.overall > weak.overall


def test_the_job_models_thresholds_win_over_the_defaults() -> None:
    strict = JobModel("cm", "1", {"problem-solving": 1.0, "ownership": 1.0}, recommend_at=99.0, reject_below=10.0)
    result = score_interview(inputs_for(STRONG, "INT-S", job_model=strict), SETTINGS)
    assert result.label == ProfileLabel.PENDING


def test_competency_weights_shape_the_overall_score() -> None:
    inputs = inputs_for(STRONG)
    speech = [
        s.model_copy(
            update={
                "competency_scores": [
                    c.model_copy(update={"score": 90.0 if c.competency_id == "ownership" else 30.0})
                    for c in s.competency_scores
                ]
            }
        )
        for s in inputs.speech
    ]
    owner_heavy = JobModel("cm", "1", {"ownership": 0.9, "problem-solving": 0.1})
    solver_heavy = JobModel("cm", "1", {"ownership": 0.1, "problem-solving": 0.9})
    a = score_interview(replace(inputs, speech=speech, job_model=owner_heavy), SETTINGS).overall
    b = score_interview(replace(inputs, speech=speech, job_model=solver_heavy), SETTINGS).overall
    assert a is not None and b is not None and a > b + 20


def test_pressure_question_changes_lower_emotional_stability_only_through_the_change() -> None:
    steady = scores_by_dimension(inputs_for(STRONG, "INT-A"))
    rattled = scores_by_dimension(
        inputs_for(
            replace(STRONG, pressure_wpm_factor=1.7, pressure_fillers_added=8.0, pressure_look_away_s=14.0), "INT-B"
        )
    )
    assert rattled[EMOTIONAL_STABILITY] < steady[EMOTIONAL_STABILITY] - 30


def test_stability_evidence_points_at_the_pressure_question() -> None:
    profile = score_interview(inputs_for(WEAK), SETTINGS)
    stability = next(d for d in profile.dimensions if d.dimension == EMOTIONAL_STABILITY)
    pressure = next(q for q in QUESTIONS if q[4])
    assert stability.evidence
    assert all(pressure[2] <= e.start_s < pressure[3] for e in stability.evidence)


def test_competency_evidence_quotes_the_answer() -> None:
    profile = score_interview(inputs_for(STRONG), SETTINGS)
    ownership = next(d for d in profile.dimensions if d.dimension == "ownership")
    assert ownership.kind == DimensionKind.COMPETENCY
    assert ownership.evidence and all(e.kind == EvidenceKind.QUOTE and e.text for e in ownership.evidence)


def test_without_emotion_inference_there_is_no_expression_score_and_the_profile_says_why() -> None:
    result = score_interview(inputs_for(without_emotion(STRONG)), SETTINGS)
    assert EXPRESSION_POSITIVITY not in {d.dimension for d in result.dimensions}
    assert "emotion_inference_not_permitted" in result.data_quality


def test_without_scoring_consent_nothing_is_scored() -> None:
    inputs = inputs_for(STRONG)
    context = inputs.ingested.context.model_copy(
        update={
            "permitted_analyses": [s for s in inputs.ingested.context.permitted_analyses if s != "automated_scoring"]
        }
    )
    ingested = inputs.ingested.model_copy(update={"context": context})
    result = score_interview(replace(inputs, ingested=ingested), SETTINGS)
    assert result.dimensions == [] and result.overall is None
    assert result.label == ProfileLabel.PENDING
    assert {"scoring_not_permitted", "insufficient_data"} <= set(result.data_quality)


def test_missing_parts_lower_confidence_and_are_flagged() -> None:
    full = inputs_for(STRONG)
    partial = replace(full, vision=full.vision[: len(full.vision) // 2], speech=full.speech[:1])
    complete_result = score_interview(full, SETTINGS)
    partial_result = score_interview(partial, SETTINGS)
    assert {"missing_vision_chunks", "missing_speech_segments"} <= set(partial_result.data_quality)
    assert partial_result.confidence < complete_result.confidence
    assert partial_result.label == ProfileLabel.PENDING  # too little evidence to suggest more
    assert "insufficient_data" in partial_result.data_quality
    assert "insufficient_data" not in complete_result.data_quality
    cov = coverage(partial)
    assert (cov.speech_segments.received, cov.speech_segments.expected) == (1, 3)


def test_one_lost_chunk_in_many_still_gets_a_label() -> None:
    full = inputs_for(STRONG)
    one_lost = replace(full, vision=full.vision[1:], failed_chunks=frozenset({0}))
    result = score_interview(one_lost, SETTINGS)
    assert "missing_vision_chunks" in result.data_quality
    assert result.label == ProfileLabel.RECOMMEND


def test_failed_units_count_as_arrived_but_missing() -> None:
    full = inputs_for(STRONG)
    inputs = replace(full, speech=full.speech[:2], failed_segments=frozenset({2}))
    assert inputs.complete
    assert "missing_speech_segments" in score_interview(inputs, SETTINGS).data_quality


def test_unprocessable_media_gives_an_unscored_profile() -> None:
    full = inputs_for(STRONG)
    inputs = replace(full, vision=[], speech=[], manifest=Manifest("x", 0, 0, frames_failed="not a media file"))
    result = score_interview(inputs, SETTINGS)
    assert result.overall is None and result.label == ProfileLabel.PENDING
    assert {"media_unprocessable", "insufficient_data"} <= set(result.data_quality)


def test_second_face_is_an_integrity_flag() -> None:
    result = score_interview(inputs_for(replace(STRONG, second_face_at=40.0)), SETTINGS)
    assert "multiple_faces" in result.data_quality
    assert "multiple_faces" not in score_interview(inputs_for(STRONG), SETTINGS).data_quality


def _lit(inputs: InterviewInputs, dark_ratio: float) -> InterviewInputs:
    quality = ImageQuality(brightness_mean=0.1, sharpness_mean=50.0, blurry_ratio=0.0, dark_ratio=dark_ratio)
    vision = [
        v.model_copy(update={"summary": v.summary.model_copy(update={"image_quality": quality})}) for v in inputs.vision
    ]
    return replace(inputs, vision=vision)


def test_a_mostly_dark_recording_is_flagged_for_its_lighting() -> None:
    assert "poor_lighting" in score_interview(_lit(inputs_for(STRONG), 0.8), SETTINGS).data_quality
    assert "poor_lighting" not in score_interview(_lit(inputs_for(STRONG), 0.2), SETTINGS).data_quality
    assert "poor_lighting" not in score_interview(inputs_for(STRONG), SETTINGS).data_quality  # not measured


def test_answer_behaviour_cuts_vision_to_the_question_window() -> None:
    inputs = inputs_for(WEAK)
    q3 = inputs.questions[2]
    a = answer_behaviour(q3, inputs.vision, inputs.speech)
    assert a.seconds_observed == 30
    assert sum(e.duration_s for e in a.look_aways) == pytest.approx(WEAK.pressure_look_away_s)
    assert a.look_aways[0].start_s == pytest.approx(q3.start_s + 2.0)  # joined across chunk edges
    assert len(a.look_aways) == 1
    assert a.speech is not None and a.speech.question_id == "q3"


def test_profile_event_is_deterministic_per_version() -> None:
    inputs = inputs_for(STRONG)
    scores = score_interview(inputs, SETTINGS)
    ref = inputs.vision[0].timeline
    when = inputs.ingested.occurred_at
    a = build_profile(inputs, scores, version=1, report=ref, occurred_at=when)
    b = build_profile(inputs, scores, version=1, report=ref, occurred_at=when)
    c = build_profile(inputs, scores, version=2, report=ref, occurred_at=when)
    assert a == b and a.needs_human_review
    assert a.profile_id != c.profile_id and a.event_id != c.event_id


def test_feature_versions_name_every_version_that_contributed() -> None:
    inputs = inputs_for(STRONG)
    asr = inputs.speech[0].model_versions["asr_model"]
    assert feature_versions(inputs)["asr_model"] == asr
    upgraded = [
        s.model_copy(update={"model_versions": {**s.model_versions, "asr_model": "whisper-small"}})
        for s in inputs.speech[:1]
    ]
    mixed = replace(inputs, speech=[*upgraded, *inputs.speech[1:]])
    assert feature_versions(mixed)["asr_model"] == "+".join(sorted([asr, "whisper-small"]))
    assert feature_versions(mixed).keys() == feature_versions(inputs).keys()
    many = [
        s.model_copy(update={"model_versions": {**s.model_versions, "asr_model": f"release-{i:02d}-" + "x" * 20}})
        for i, s in enumerate(inputs.speech)
    ]
    long = feature_versions(replace(inputs, speech=many))["asr_model"]
    assert len(long) <= 64 and long.startswith("release-00-") and long.endswith(f"+{len(many) - 1}more")


def test_unit_status_names_its_manifest_position() -> None:
    from tests.fusion_data import unit_failed

    status = unit_failed(media_ingested("INT-9", STRONG), StageName.SPEECH, 2, 3)
    assert status.detail["unit_index"] == 2


def test_a_shipped_competency_model_drives_weights_targets_and_thresholds() -> None:
    from services.common.competency import CompetencyModelLibrary
    from services.common.settings import Settings
    from services.fusion.jobmodel import job_model

    library = CompetencyModelLibrary.from_directory(Settings().speech.competency_models_dir)
    model = library.get("software-engineer", "1.0")
    converted = job_model(model)
    assert set(converted.competency_weights) == {c.id for c in model.competencies}
    assert converted.recommend_at == model.thresholds.recommend
    assert converted.reject_below == model.thresholds.reject
    first = model.questions[0]
    assert list(converted.question_competencies[first.id]) == first.competencies


@pytest.mark.parametrize(("locale", "flagged"), [("zh-CN", True), ("en-IE", False), ("und", False)])
def test_a_spoken_language_differing_from_the_interviews_is_flagged_unless_it_was_left_to_detection(
    locale: str, flagged: bool
) -> None:
    inputs = inputs_for(STRONG)
    context = inputs.ingested.context.model_copy(update={"locale": locale})
    ingested = inputs.ingested.model_copy(update={"context": context})
    flags = score_interview(replace(inputs, ingested=ingested), SETTINGS).data_quality
    assert ("language_mismatch" in flags) == flagged


def test_a_pose_model_that_never_saw_shoulders_flags_posture_as_not_measurable() -> None:
    base = inputs_for(STRONG)
    assert "posture_not_measurable" not in score_interview(base, SETTINGS).data_quality
    unseen = [BodySample(t_s=v.start_s, hands=0, body=False) for v in base.vision]
    seen = [b.model_copy(update={"body": True, "shoulder_width": 0.3}) for b in unseen]
    for samples, flagged in ((unseen, True), (seen, False)):
        vision = [v.model_copy(update={"body": [b]}) for v, b in zip(base.vision, samples, strict=True)]
        flags = score_interview(replace(base, vision=vision), SETTINGS).data_quality
        assert ("posture_not_measurable" in flags) is flagged


def test_a_face_too_small_for_the_face_mesh_is_a_data_quality_flag() -> None:
    full = inputs_for(STRONG)
    small = FaceLandmarks(frames_measured=0, frames_too_small=100, supported=False, measured_s=0.0)
    measured = FaceLandmarks(frames_measured=100, frames_too_small=0, supported=True, measured_s=10.0)

    def with_marks(marks: FaceLandmarks) -> InterviewInputs:
        summaries = [v.summary.model_copy(update={"face_landmarks": marks}) for v in full.vision]
        vision = [v.model_copy(update={"summary": s}) for v, s in zip(full.vision, summaries, strict=True)]
        return replace(full, vision=vision)

    assert "face_too_small_for_landmarks" in score_interview(with_marks(small), SETTINGS).data_quality
    assert "face_too_small_for_landmarks" not in score_interview(with_marks(measured), SETTINGS).data_quality
    assert "face_too_small_for_landmarks" not in score_interview(full, SETTINGS).data_quality  # no mesh ran
