"""Frames extracts only what the consent and the jurisdiction permit: no frame and no key frame of an interview
whose video or face analysis is not permitted, audio still when audio analysis is."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from services.common.contracts import AudioReady, FrameChunkReady, InterviewCompleted, MediaIngested
from services.common.handler import Rejected
from services.common.objectstore import ObjectStore
from services.common.settings import Settings
from services.frames.stage import FramesStage, output_prefix
from services.fusion.ledger import Ledger
from services.ingest.stage import IngestStage
from services.samples import SampleSpec, generate_interview
from tests.integration.stage_fixtures import example

FACE = ["video_analysis", "face_analysis"]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_interview(SampleSpec(seed=21, duration=5.0, fps=10), tmp_path_factory.mktemp("consent")).media_path


@pytest.fixture(scope="module")
def stages(stack_settings: Settings) -> tuple[IngestStage, FramesStage]:
    store = ObjectStore(stack_settings.s3)
    raw, work = f"raw-{uuid.uuid4().hex[:12]}", f"work-{uuid.uuid4().hex[:12]}"
    store.ensure_bucket(raw)
    store.ensure_bucket(work)
    return IngestStage(store, raw), FramesStage(store, work)


def ingested(ingest: IngestStage, sample: Path, jurisdiction: str, scopes: list[str]) -> MediaIngested:
    data: dict[str, Any] = example("interview-completed")
    data.update(
        interview_id=f"consent-{uuid.uuid4().hex[:8]}",
        event_id=str(uuid.uuid4()),
        jurisdiction=jurisdiction,
        media=[{"uri": sample.as_uri(), "kind": "video_with_audio", "content_type": "video/mp4"}],
        questions=[{"question_id": "q1", "text": "Tell me about yourself.", "start_s": 0.5, "end_s": 4.5}],
    )
    data["consent"]["scopes"] = scopes
    return ingest.ingest(InterviewCompleted.model_validate(data))


def stored(frames: FramesStage, event: MediaIngested) -> set[str]:
    """The kinds of object frames stored for the interview: chunks, audio, keyframes."""
    prefix = f"{output_prefix(event)}/"
    return {key.removeprefix(prefix).split("/")[0] for key in frames.store.list_keys(frames.work_bucket, prefix)}


@pytest.mark.parametrize(
    ("jurisdiction", "scopes", "kinds"),
    [
        ("US", [*FACE, "audio_analysis", "transcription"], {"chunks", "keyframes", "audio"}),
        ("US", ["video_analysis", "audio_analysis"], {"audio"}),  # face analysis not consented
        ("CN", [*FACE, "audio_analysis", "transcription"], {"audio"}),  # PIPL: no separate face consent
        ("CN", [*FACE, "biometric_processing", "transcription"], {"chunks", "keyframes", "audio"}),
        ("US-IL", [*FACE, "audio_analysis"], {"audio"}),  # BIPA: no written release for face geometry
        ("DE", [*FACE, "automated_scoring"], {"chunks", "keyframes"}),  # no audio consent: no audio extracted
    ],
)
def test_frames_extracts_only_what_is_permitted(
    stages: tuple[IngestStage, FramesStage], sample: Path, jurisdiction: str, scopes: list[str], kinds: set[str]
) -> None:
    ingest, frames = stages
    event = ingested(ingest, sample, jurisdiction, scopes)
    outputs = frames.process(event)
    assert stored(frames, event) == kinds
    assert any(isinstance(e, FrameChunkReady) for e in outputs) == ("chunks" in kinds)
    assert any(isinstance(e, AudioReady) for e in outputs) == ("audio" in kinds)


def test_an_event_permitting_no_stream_it_has_is_refused_and_stores_nothing(
    stages: tuple[IngestStage, FramesStage], sample: Path
) -> None:
    ingest, frames = stages
    event = ingested(ingest, sample, "US", [*FACE, "audio_analysis"])
    # An event from before the policy change (or a replay) whose context permits only video without face.
    ctx = event.context.model_copy(update={"permitted_analyses": ["video_analysis"]})
    with pytest.raises(Rejected) as info:
        frames.process(event.model_copy(update={"context": ctx}))
    assert info.value.code == "policy_forbids"
    assert stored(frames, event) == set()


def test_fusion_finds_no_key_frames_of_an_interview_without_video_consent(
    stages: tuple[IngestStage, FramesStage], sample: Path
) -> None:
    """Even when the bucket holds key frames (stored before the consent changed, or by an older frames), a profile
    of an interview without video and face consent is built without them."""
    ingest, frames = stages
    event = ingested(ingest, sample, "US", [*FACE, "audio_analysis"])
    frames.process(event)
    ledger = Ledger(frames.store, frames.work_bucket)
    assert set(ledger.keyframes(event)) == {"q1-start", "q1-middle", "q1-end"}
    withdrawn = event.context.model_copy(update={"permitted_analyses": ["video_analysis", "audio_analysis"]})
    assert ledger.keyframes(event.model_copy(update={"context": withdrawn})) == {}


def test_every_key_ingest_and_frames_write_starts_with_the_tenant(
    stages: tuple[IngestStage, FramesStage], sample: Path
) -> None:
    ingest, frames = stages
    event = ingested(ingest, sample, "US", [*FACE, "audio_analysis"])
    frames.process(event)
    keys = frames.store.list_keys(ingest.raw_bucket) + frames.store.list_keys(frames.work_bucket)
    mine = [key for key in keys if f"/{event.interview_id}/" in key]
    assert {key.split("/")[1] for key in mine} == {event.interview_id}
    assert {key.split("/")[2] for key in mine} == {"media", "frames"}
    # every interview's keys start with its tenant; no staged upload is left in a shared prefix
    assert {key.split("/")[0] for key in keys} == {event.tenant_id}
