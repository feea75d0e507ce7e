"""The ingest stage's own decisions: media flags and the limits checked before anything is stored."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import cast

import pytest

from services.common.contracts import AudioStream, FailureCode, MediaSource, Probe, VideoStream
from services.common.handler import Rejected
from services.common.objectstore import ObjectStore
from services.common.settings import Settings
from services.ingest.policy import IngestLimits
from services.ingest.sources import SourcePolicy
from services.ingest.stage import IngestStage, local_file_roots, media_flags, sources_from, tenant_rules

VIDEO = VideoStream(codec="h264", width=640, height=480, fps=30.0, avg_fps=30.0, variable_frame_rate=False)
AUDIO = AudioStream(codec="aac", sample_rate=48000, channels=1)


def source(kind: str = "video_with_audio") -> MediaSource:
    return MediaSource.model_validate({"uri": "file:///x.mp4", "kind": kind, "content_type": "video/mp4"})


def test_flags_of_ordinary_media_are_empty() -> None:
    assert media_flags([(source(), Probe(duration_s=60, container="mp4", video=VIDEO, audio=AUDIO))], 61.0) == []


def test_flags_name_missing_streams_and_odd_video() -> None:
    odd = VIDEO.model_copy(
        update={"width": 320, "height": 240, "avg_fps": 7.5, "variable_frame_rate": True, "rotation_deg": 90}
    )
    items = [
        (source("video"), Probe(duration_s=60, container="mp4", video=odd)),
        (source("audio"), Probe(duration_s=60, container="mp4", audio=AUDIO)),
    ]
    assert media_flags(items, 60.0) == [
        "separate_audio_track",
        "variable_frame_rate",
        "rotated",
        "low_resolution",
        "low_frame_rate",
    ]
    assert media_flags([(source(), Probe(duration_s=60, container="mp4", audio=AUDIO))], 120.0) == [
        "audio_only",
        "duration_mismatch",
    ]
    assert media_flags([(source(), Probe(duration_s=60, container="mp4", video=VIDEO))], 62.0) == ["video_only"]


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
def test_recordings_over_the_duration_limit_are_rejected_before_storing(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=3:size=160x120:rate=5", str(clip)],
        check=True,
        timeout=60,
    )
    # The store is never reached: the limit is checked on the local copy.
    stage = IngestStage(cast(ObjectStore, None), "raw", limits=IngestLimits(max_duration_s=2.0), work_dir=tmp_path)
    src = MediaSource.model_validate({"uri": f"file://{clip}", "kind": "video", "content_type": "video/mp4"})
    with pytest.raises(Rejected) as info:
        stage._check("acme", 0, src, tmp_path)
    assert info.value.code == FailureCode.OVER_LIMITS
    ok = IngestStage(cast(ObjectStore, None), "raw", work_dir=tmp_path)._check("acme", 0, src, tmp_path)
    assert ok.probe.video is not None and ok.probe.duration_s == pytest.approx(3.0, abs=0.3)


def test_file_sources_can_be_refused(tmp_path: Path) -> None:
    stage = IngestStage(cast(ObjectStore, None), "raw", sources=SourcePolicy())
    with pytest.raises(Rejected) as info:
        stage._check("acme", 0, source(), tmp_path)
    assert info.value.code == FailureCode.POLICY_FORBIDS
    assert "file:// sources are not accepted here" in info.value.message


def test_production_refuses_file_sources_and_reserves_sightlines_own_buckets() -> None:
    production = sources_from(Settings(environment="production"))
    assert production.file_roots == ()
    assert production.reserved_buckets == {"sightline-raw", "sightline-work", "sightline-reports"}
    local = sources_from(Settings(environment="local"))
    assert local.file_roots == local_file_roots(Settings().stack.home)
    configured = Settings(ingest={"file_roots": [], "sources": {"acme": {"s3": ["hr-media/acme/"]}}})
    assert sources_from(configured).file_roots == ()
    assert sources_from(configured).rules_for("acme").s3[0].prefix == "acme/"


def test_a_misspelt_sources_entry_is_refused() -> None:
    with pytest.raises(ValueError, match="http_host"):
        Settings(ingest={"sources": {"acme": {"http_host": ["media.example.com"]}}})
    with pytest.raises(ValueError, match="acme"):
        tenant_rules({"acme": {"allowed_networks": ["not-a-network"]}})


def test_several_audio_tracks_are_flagged() -> None:
    assert AUDIO.track_count == 1
    two = AUDIO.model_copy(update={"track": 1, "track_count": 2, "track_choice": "first_with_sound"})
    flags = media_flags([(source(), Probe(duration_s=60, container="matroska", video=VIDEO, audio=two))], 61.0)
    assert flags == ["multiple_audio_tracks"]


def test_an_interview_naming_a_model_that_is_not_shipped_is_refused_before_fetching(tmp_path: Path) -> None:
    from services.common.competency import SHIPPED_MODELS_DIR, CompetencyModelLibrary
    from services.common.contracts import CompetencyModelRef, InterviewCompleted
    from tests.integration.stage_fixtures import example

    event = InterviewCompleted.model_validate(example("interview-completed"))
    stage = IngestStage(cast(ObjectStore, None), "raw", work_dir=tmp_path)  # the store is never reached
    shipped = CompetencyModelLibrary.from_directory(SHIPPED_MODELS_DIR)
    assert {(m.id, m.version) for m in stage.models} == {(m.id, m.version) for m in shipped}
    unknown = event.job.model_copy(
        update={"competency_model": CompetencyModelRef(id="cm-data-engineering", version="2025.1")}
    )
    with pytest.raises(Rejected) as refused:
        stage.ingest(event.model_copy(update={"job": unknown}))
    assert refused.value.code == FailureCode.COMPETENCY_MODEL_UNKNOWN
    assert "cm-data-engineering@2025.1 is not configured" in refused.value.message
    assert "software-engineer@1.0" in refused.value.message  # and says which are


@pytest.mark.parametrize(
    ("video", "duration_s", "named"),
    [
        (VIDEO.model_copy(update={"width": 65535, "height": 65535}), 60.0, "65535x65535 pixels"),  # a bomb
        (VIDEO.model_copy(update={"fps": 90000.0, "avg_fps": 90000.0}), 60.0, "90000 frames per second"),
        (VIDEO.model_copy(update={"frame_count": 10**9}), 60.0, "1000000000 frames over 60 s"),
    ],
)
def test_a_declared_picture_beyond_the_limits_is_refused_with_the_limit(
    video: VideoStream, duration_s: float, named: str
) -> None:
    stage = IngestStage(cast(ObjectStore, None), "raw")
    with pytest.raises(Rejected) as info:
        stage._check_picture("media[0]", Probe(duration_s=duration_s, container="mp4", video=video, audio=AUDIO))
    assert info.value.code == FailureCode.OVER_LIMITS
    assert named in info.value.message and "SIGHTLINE_INGEST__MAX_" in info.value.message
    ordinary = Probe(duration_s=duration_s, container="mp4", video=VIDEO.model_copy(update={"frame_count": 1800}))
    stage._check_picture("media[0]", ordinary)  # 30 fps for a minute, 640x480: within every limit


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
def test_real_files_are_held_to_the_picture_limits_and_odd_metadata_or_names_do_not_matter(tmp_path: Path) -> None:
    # Non-UTF-8 bytes in the metadata, a video whose audio ends after a third of it, and an .webm name on mp4.
    clip = tmp_path / "clip.webm"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=3:size=160x120:rate=5",
         "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", "-metadata", "title=caf\xe9",
         "-metadata:s:v:0", "handler_name=\udcff\udcfe", "-f", "mp4", str(clip)],
        check=True, timeout=60,
    )  # fmt: skip
    src = MediaSource.model_validate({"uri": f"file://{clip}", "kind": "video", "content_type": "video/webm"})
    ok = IngestStage(cast(ObjectStore, None), "raw", work_dir=tmp_path)._check("acme", 0, src, tmp_path)
    assert ok.probe.container == "mp4" and ok.probe.video is not None and ok.probe.audio is not None
    for limits, named in (
        (IngestLimits(max_pixels=160 * 120 - 1), "160x120 pixels"),
        (IngestLimits(max_frame_rate=4.0), "5 frames per second"),
    ):
        stage = IngestStage(cast(ObjectStore, None), "raw", limits=limits, work_dir=tmp_path)
        with pytest.raises(Rejected) as info:
            stage._check("acme", 0, src, tmp_path)
        assert info.value.code == FailureCode.OVER_LIMITS and named in info.value.message
