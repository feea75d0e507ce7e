"""The vision stage in the real worker loop: frame chunks made by the real ingest and frames stages from a
generated interview, under a jurisdiction that permits emotion inference and one (EU) that forbids it; a
replayed chunk, a corrupt pack and a missing pack."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from services.common.contracts import (
    ConsentScope,
    FrameChunkReady,
    InterviewCompleted,
    ObjectRef,
    StageStatus,
    VisionFeatures,
    dead_letter_topic,
    deterministic_event_id,
    encode,
    message_key,
    topic_for,
)
from services.common.objectstore import ObjectStore
from services.common.settings import Settings
from services.common.worker import StageWorker
from services.frames.pack import PACK_CONTENT_TYPE
from services.frames.stage import FramesConfig, FramesStage
from services.ingest.stage import IngestStage
from services.samples import SampleSpec, generate_interview
from services.samples.ground_truth import GroundTruth
from services.vision.aggregate import aggregate
from services.vision.body import sampled
from services.vision.litert_models import BODY_MODELS
from services.vision.settings import VisionSettings
from services.vision.stage import VisionStage
from services.vision.timeline import read_timeline
from tests.integration.kafka_helpers import (
    create_topics,
    distinct_events,
    isolated,
    publish,
    read_topic,
    terminal_statuses,
)
from tests.integration.stage_fixtures import example

IN = topic_for(FrameChunkReady)
OUT = topic_for(VisionFeatures)
STATUS = topic_for(StageStatus)
DLQ = dead_letter_topic("vision")
SPEC = SampleSpec(seed=21, duration=7.0, fps=10, audio=False)
EXPRESSION_COLUMNS = ("smile_intensity", "frowning", "p_happiness", "p_neutral")


@dataclass(frozen=True)
class Chunks:
    permitted: list[FrameChunkReady]
    forbidden: list[FrameChunkReady]
    work_bucket: str
    truth: GroundTruth


def _interview(interview_id: str, path: Path, jurisdiction: str) -> InterviewCompleted:
    data: dict[str, Any] = example("interview-completed")
    consent = dict(data["consent"])
    consent["scopes"] = [*consent["scopes"], ConsentScope.EMOTION_INFERENCE.value]
    data.update(
        interview_id=interview_id,
        event_id=str(uuid.uuid4()),
        jurisdiction=jurisdiction,
        consent=consent,
        media=[{"uri": f"file://{path}", "kind": "video", "content_type": "video/mp4"}],
        questions=[
            {"question_id": "q1", "text": "Tell me about yourself.", "start_s": 0.0, "end_s": 3.5},
            {"question_id": "q2", "text": "Why this job?", "start_s": 3.5, "end_s": 7.0},
        ],
    )
    event = InterviewCompleted.model_validate(data)
    return event.model_copy(
        update={"interview_ended_at": event.interview_started_at + timedelta(seconds=SPEC.duration)}
    )


@pytest.fixture(scope="module")
def chunks(stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Chunks:
    sample = generate_interview(SPEC, tmp_path_factory.mktemp("vision-sample"), name="vision")
    store = ObjectStore(stack_settings.s3)
    raw, work = f"raw-{uuid.uuid4().hex[:12]}", f"work-{uuid.uuid4().hex[:12]}"
    store.ensure_bucket(raw)
    store.ensure_bucket(work)
    ingest, frames = IngestStage(store, raw), FramesStage(store, work, FramesConfig(chunk_s=4.0))
    suffix = uuid.uuid4().hex[:8]
    out = {}
    for name, jurisdiction in (("permitted", "US"), ("forbidden", "IE")):
        ingested = ingest.ingest(_interview(f"vis-{name}-{suffix}", sample.media_path, jurisdiction))
        out[name] = [e for e in frames.process(ingested) if isinstance(e, FrameChunkReady)]
    return Chunks(out["permitted"], out["forbidden"], work, sample.truth)


def _broken(chunk: FrameChunkReady, store: ObjectStore, bucket: str, kind: str) -> FrameChunkReady:
    """A copy of a chunk event whose pack is garbage (``corrupt``) or does not exist (``missing``)."""
    key = f"{chunk.tenant_id}/{chunk.interview_id}/frames/{kind}.zip"
    ref = chunk.object.model_copy(update={"key": key})
    if kind == "corrupt":
        stored = store.put_bytes(bucket, key, b"PK\x03\x04 not really a zip" * 10, PACK_CONTENT_TYPE)
        ref = ObjectRef(
            bucket=bucket, key=key, sha256=stored.sha256, size_bytes=stored.size, content_type=PACK_CONTENT_TYPE
        )
    return chunk.model_copy(
        update={"event_id": deterministic_event_id("test", kind, str(chunk.event_id)), "object": ref}
    )


async def test_vision_stage_end_to_end(stack_settings: Settings, chunks: Chunks) -> None:
    settings = isolated(stack_settings)
    await create_topics(settings.kafka, [IN, OUT, STATUS, DLQ])
    store = ObjectStore(settings.s3)
    corrupt = _broken(chunks.permitted[0], store, chunks.work_bucket, "corrupt")
    missing = _broken(chunks.permitted[0], store, chunks.work_bucket, "missing")
    good = [*chunks.permitted, *chunks.forbidden]
    published = [*good, chunks.permitted[1], corrupt, missing]  # chunk 1 is delivered twice (a replay)
    await publish(settings.kafka, IN, [(message_key(e), encode(e)) for e in published])

    stage = VisionStage(store, chunks.work_bucket, VisionSettings(batch_size=64, max_batch_wait_ms=100))
    worker = StageWorker(stage, settings, group_id="g-vision")
    task = asyncio.create_task(worker.run())
    try:
        status_records = await read_topic(
            settings.kafka, STATUS, lambda r: len(terminal_statuses(r)) >= len(published), 240
        )
        out_records = await read_topic(settings.kafka, OUT, lambda r: len(r) >= len(good) + 1, 30)
    finally:
        worker.stop()
        await asyncio.wait_for(task, 60)

    finals = terminal_statuses(status_records)
    failed = {s.caused_by: s.reason for s in finals if s.state.value == "failed"}
    assert set(failed) == {corrupt.event_id, missing.event_id}
    assert failed[corrupt.event_id] is not None and failed[corrupt.event_id].code == "not_media"
    assert failed[missing.event_id] is not None and failed[missing.event_id].code == "missing_object"
    # frames of different chunks (and interviews) shared forward passes
    assert stage.batcher.batch_sizes and max(stage.batcher.batch_sizes) > max(c.frame_count for c in good)

    # one event per chunk; the replay re-emitted the same id
    features = [e for e in distinct_events(out_records, OUT) if isinstance(e, VisionFeatures)]
    assert len(features) == len(good)
    assert len(out_records) == len(good) + 1
    assert {(f.interview_id, f.chunk_index) for f in features} == {(c.interview_id, c.chunk_index) for c in good}
    windowed = 0
    for f in features:
        source = next(c for c in good if c.interview_id == f.interview_id and c.chunk_index == f.chunk_index)
        assert f.caused_by == source.event_id and f.total_chunks == source.total_chunks
        assert f.timeline.key.startswith(f"{f.tenant_id}/{f.interview_id}/vision/")
        table = read_timeline(store.get_bytes(f.timeline.bucket, f.timeline.key))
        assert table.num_rows == source.frame_count == f.summary.frames_analysed
        assert [s.second for s in f.seconds] == sorted({int(t) for t in table.column("pts_s").to_pylist()})
        searches = table.column("face_search").to_pylist()
        # key frames (every 0.5 s and the chunk's last) are searched whole, most others only around the face
        assert searches[0] == searches[-1] == "whole" and searches.count("whole") >= table.num_rows // 5
        windowed += searches.count("window")
        assert f.model_versions["face_search"] == "track-2-0.5s"  # how faces were searched travels with the features
        # hands and upper body: sampled at body_sample_hz (1 per second), the models named
        assert [b.t_s for b in f.body] == [
            table.column("pts_s").to_pylist()[i]
            for i in sampled(table.column("pts_s").to_pylist(), VisionSettings().body_sample_hz)
        ]
        assert {m.name for m in BODY_MODELS} <= set(f.model_versions)
        assert all(b.hands == 0 for b in f.body)  # the generated interview shows a face, no hands
        expression_columns = [c for c in table.column_names if c in EXPRESSION_COLUMNS]
        emotion = f.summary.emotion_inference
        # The face mesh measured the face either way; its expression-like measures follow emotion inference.
        marks = f.summary.face_landmarks
        assert marks is not None and marks.frames_measured > 0 and f.model_versions["face_mesh"]
        assert {"eye_openness", "eyes_closed", "mouth_opening"} <= set(table.column_names)
        assert (marks.brow_height_mean is not None) == emotion.performed
        assert ("brow_height" in table.column_names) == emotion.performed
        if f.interview_id == chunks.forbidden[0].interview_id:
            assert not emotion.performed and emotion.reason == "jurisdiction_prohibits"
            assert expression_columns == []
            assert f.summary.expression_distribution is None and f.summary.smile_intensity_mean is None
            assert all(s.smile_intensity is None and s.dominant_expression is None for s in f.seconds)
            assert "expression" not in f.model_versions
        else:
            assert emotion.performed and emotion.reason == "permitted"
            assert set(expression_columns) == set(EXPRESSION_COLUMNS)
            assert f.summary.expression_distribution is not None
            assert f.summary.smile_intensity_mean is not None

    assert windowed > len(features) * 10
    # per question, joined across chunks: the scripted absence is found, and per-question rows add up
    for interview in (chunks.permitted, chunks.forbidden):
        mine = [f for f in features if f.interview_id == interview[0].interview_id]
        behaviour = aggregate(mine)
        assert [q.question_id for q in behaviour.questions] == ["q1", "q2"]
        assert sum(q.frames_analysed for q in behaviour.questions) == sum(c.frame_count for c in interview)
        for gone in chunks.truth.events.no_face:
            covered = sum(max(0.0, min(p.end_s, gone.end) - max(p.start_s, gone.start)) for p in behaviour.face_absent)
            assert covered >= 0.9 * (gone.end - gone.start)
        assert (behaviour.questions[0].smile_s is None) == (interview is chunks.forbidden)
        assert behaviour.body is not None and behaviour.body.measured
        assert behaviour.body.whole.samples == sum(len(f.body) for f in mine)
