"""The ingest and frames settings groups reach the stages built by their `make(settings)` factories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.common.contracts import FailureCode, InterviewCompleted
from services.common.settings import Settings
from services.frames import stage as frames_stage
from services.frames.audio import DEFAULT_SEGMENT_S
from services.frames.chunking import DEFAULT_CHUNK_S
from services.frames.geometry import DEFAULT_MAX_SIDE
from services.frames.pack import DEFAULT_JPEG_QUALITY
from services.frames.ranges import DEFAULT_RANGE_S, DEFAULT_SPLIT_ABOVE_S
from services.frames.sampling import DEFAULT_SAMPLE_FPS
from services.frames.settings import FramesSettings
from services.ingest import stage as ingest_stage
from services.ingest.policy import IngestLimits, JurisdictionPolicy, PolicyViolation, decide
from services.ingest.settings import IngestSettings

EXAMPLE = Path(__file__).resolve().parents[2] / "schemas" / "examples" / "v1" / "interview-completed.en-IE.json"
ALL_SCOPES = ["video_analysis", "audio_analysis", "transcription", "face_analysis", "emotion_inference"]


def completed(jurisdiction: str, size_bytes: int | None = None) -> InterviewCompleted:
    data = json.loads(EXAMPLE.read_text())
    data["jurisdiction"] = jurisdiction
    data["consent"]["scopes"] = ALL_SCOPES
    data["media"][0]["size_bytes"] = size_bytes
    return InterviewCompleted.model_validate(data)


def test_default_groups_build_the_stages_defaults() -> None:
    ingest = ingest_stage.make(Settings())
    assert ingest.policy == JurisdictionPolicy()
    assert ingest.limits == IngestLimits()
    frames = frames_stage.make(Settings())
    assert frames.config == frames_stage.FramesConfig()
    assert (frames.config.sample_fps, frames.config.chunk_s, frames.config.max_side) == (
        DEFAULT_SAMPLE_FPS,
        DEFAULT_CHUNK_S,
        DEFAULT_MAX_SIDE,
    )
    assert (frames.config.segment_s, frames.config.jpeg_quality) == (DEFAULT_SEGMENT_S, DEFAULT_JPEG_QUALITY)
    assert (frames.config.split_above_s, frames.config.range_s) == (DEFAULT_SPLIT_ABOVE_S, DEFAULT_RANGE_S)


def test_frames_variables_shape_the_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "SAMPLE_FPS": "5",
        "CHUNK_S": "60",
        "MAX_SIDE": "320",
        "JPEG_QUALITY": "70",
        "THUMBNAIL_MAX_SIDE": "160",
        "SEGMENT_S": "30",
        "SPLIT_ABOVE_S": "900",
        "RANGE_S": "60",
    }.items():
        monkeypatch.setenv(f"SIGHTLINE_FRAMES__{name}", value)
    config = frames_stage.make(Settings()).config
    assert config == frames_stage.FramesConfig(
        sample_fps=5.0,
        chunk_s=60.0,
        max_side=320,
        segment_s=30.0,
        jpeg_quality=70,
        thumbnail_max_side=160,
        split_above_s=900.0,
        range_s=60.0,
    )


def test_ingest_variables_set_the_policy_table_and_the_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    table = {"EU": ["emotion_inference"], "US-IL": ["face_analysis"]}
    monkeypatch.setenv("SIGHTLINE_INGEST__PROHIBITED", json.dumps(table))
    monkeypatch.setenv("SIGHTLINE_INGEST__POLICY_VERSION", "policy-test.1")
    monkeypatch.setenv("SIGHTLINE_INGEST__MAX_SIZE_BYTES", "1000")
    monkeypatch.setenv("SIGHTLINE_INGEST__MAX_DURATION_S", "600")
    stage = ingest_stage.make(Settings())
    assert stage.limits == IngestLimits(max_size_bytes=1000, max_duration_s=600.0)

    illinois = decide(completed("US-IL"), stage.policy, stage.limits)
    # face analysis is prohibited there, and emotion inference needs it
    assert illinois.permitted_analyses == ["video_analysis", "audio_analysis", "transcription"]
    assert illinois.policy_version == "policy-test.1"
    assert "face_analysis" in decide(completed("US-CA"), stage.policy, stage.limits).permitted_analyses
    with pytest.raises(PolicyViolation) as too_large:
        decide(completed("US-CA", size_bytes=1001), stage.policy, stage.limits)
    assert too_large.value.code == FailureCode.OVER_LIMITS


def test_a_misspelt_scope_in_the_policy_table_is_refused() -> None:
    group = IngestSettings(prohibited={"EU": ["emotion_inferance"]})
    with pytest.raises(ValueError, match="emotion_inferance"):
        ingest_stage.policy_from(group)


def test_out_of_range_values_are_refused() -> None:
    with pytest.raises(ValueError):
        FramesSettings(sample_fps=0)
    with pytest.raises(ValueError):
        FramesSettings(jpeg_quality=101)
    with pytest.raises(ValueError):
        IngestSettings(max_duration_s=0)


def test_the_staging_grace_reaches_the_ingest_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ingest_stage.make(Settings()).staging_grace_s == IngestSettings().staging_grace_s
    monkeypatch.setenv("SIGHTLINE_INGEST__STAGING_GRACE_S", "5")
    assert ingest_stage.make(Settings()).staging_grace_s == 5.0
