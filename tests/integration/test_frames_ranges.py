"""One long recording decoded by two frames workers of one consumer group, range by range, on the real
broker and object store: every chunk is emitted once, identical (ids, keys, pack bytes) to what a single
sequential pass stores, the audio is decoded once, and the media event's completed status announces the
same manifest as a single pass."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner

from services.common.contracts import (
    AudioReady,
    EventBase,
    FrameChunkReady,
    FrameRangeRequested,
    InterviewCompleted,
    MediaIngested,
    StageStatus,
    dead_letter_topic,
    encode,
    message_key,
    topic_for,
)
from services.common.handler import Emit
from services.common.objectstore import ObjectStore
from services.common.settings import Settings
from services.common.worker import StageWorker
from services.frames.stage import FramesConfig, FramesStage, range_request
from services.ingest.stage import IngestStage
from tests.frames_media import cfr_times, write_h264
from tests.integration.kafka_helpers import (
    create_topics,
    distinct_events,
    isolated,
    publish,
    read_all,
    read_topic,
    terminal_statuses,
    wait_for,
)
from tests.integration.stage_fixtures import example

IN = topic_for(MediaIngested)
RANGES = topic_for(FrameRangeRequested)
CHUNKS = topic_for(FrameChunkReady)
AUDIO = topic_for(AudioReady)
STATUS = topic_for(StageStatus)
DURATION_S = 26.0
#: 26 s in 4-second chunks (7) and 8-second ranges (4): the threshold is far below the default to keep it quick.
SPLIT = FramesConfig(split_above_s=10.0, range_s=8.0)
PARTITIONS = 2


class RecordingFrames(FramesStage):
    """The frames stage, noting which ranges this worker decoded."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ranges: list[int] = []

    def process_range(self, event: FrameRangeRequested, emit: Emit | None = None) -> list[EventBase]:
        self.ranges.append(event.range_index)
        return super().process_range(event, emit)


def recording(directory: Path) -> Path:
    """H.264 with B-frames and a keyframe every 37 frames, and a 48 kHz AAC tone."""
    video = write_h264(directory / "video.mp4", cfr_times(DURATION_S, 30.0), gop=37)
    out = directory / "interview.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(video), "-f", "lavfi", "-i",
         f"sine=frequency=330:sample_rate=48000:duration={DURATION_S}", "-c:v", "copy", "-c:a", "aac",
         "-shortest", str(out)],
        check=True,
    )  # fmt: skip
    return out


def interview_on_both_partitions(path: Path) -> InterviewCompleted:
    """An interview whose range keys fall on both partitions of the range topic, so both workers get some."""
    data: dict[str, Any] = example("interview-completed")
    partitioner = DefaultPartitioner()
    for _ in range(100):
        interview_id = f"fr-ranges-{uuid.uuid4().hex[:8]}"
        keys = [f"{data['tenant_id']}/{interview_id}:{i}".encode() for i in range(4)]
        if len({partitioner(k, list(range(PARTITIONS)), list(range(PARTITIONS))) for k in keys}) == PARTITIONS:
            break
    data.update(
        interview_id=interview_id,
        event_id=str(uuid.uuid4()),
        media=[{"uri": f"file://{path}", "kind": "video_with_audio", "content_type": "video/mp4"}],
    )
    data["questions"] = [
        {"question_id": "q1", "text": "Tell me about yourself.", "start_s": 0.5, "end_s": 7.98},
        {"question_id": "q2", "text": "Why this job?", "start_s": 8.0, "end_s": 17.0},
        {"question_id": "q3", "text": "Any questions?", "start_s": 17.5, "end_s": 25.0},
    ]
    event = InterviewCompleted.model_validate(data)
    return event.model_copy(update={"interview_ended_at": event.interview_started_at + timedelta(seconds=DURATION_S)})


@pytest.fixture(scope="module")
def ingested(stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> MediaIngested:
    store = ObjectStore(stack_settings.s3)
    raw = f"raw-{uuid.uuid4().hex[:12]}"
    store.ensure_bucket(raw)
    path = recording(tmp_path_factory.mktemp("frames-ranges"))
    return IngestStage(store, raw).ingest(interview_on_both_partitions(path))


async def test_two_workers_share_the_ranges_of_one_interview(stack_settings: Settings, ingested: MediaIngested) -> None:
    settings = isolated(stack_settings)
    await create_topics(settings.kafka, [IN, RANGES, CHUNKS, AUDIO, STATUS, dead_letter_topic("frames")], PARTITIONS)
    store = ObjectStore(settings.s3)
    work = f"work-{uuid.uuid4().hex[:12]}"
    stages = [RecordingFrames(store, work, SPLIT) for _ in range(2)]
    workers = [StageWorker(stage, settings, group_id="g-frames-ranges") for stage in stages]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        await wait_for(
            lambda: all(any(tp.topic.endswith(RANGES) for tp in w.state.assigned) for w in workers),
            90,
            "both workers to own a partition of the range topic",
        )
        await publish(settings.kafka, IN, [(message_key(ingested), encode(ingested))])
        # the media event and its four ranges each end in one terminal status
        status_records = await read_topic(settings.kafka, STATUS, lambda r: len(terminal_statuses(r)) >= 5, 240)
    finally:
        for w in workers:
            w.stop()
        await asyncio.gather(*(asyncio.wait_for(t, 60) for t in tasks))

    finals = terminal_statuses(status_records)
    assert [s.reason for s in finals if s.state.value == "failed"] == []
    (media_status,) = [s for s in finals if s.caused_by == ingested.event_id]
    range_statuses = [s for s in finals if s.detail.get("unit_kind") == "range"]
    assert sorted(s.unit or "" for s in range_statuses) == [f"range {i}/4" for i in range(1, 5)]
    assert sorted(i for stage in stages for i in stage.ranges) == [0, 1, 2, 3]
    assert all(stage.ranges for stage in stages), "both workers decoded ranges of the one interview"

    # a single sequential pass of the same event, for reference
    reference_bucket = f"ref-{uuid.uuid4().hex[:12]}"
    store.ensure_bucket(reference_bucket)
    reference = FramesStage(store, reference_bucket, FramesConfig()).process(ingested)
    single_chunks = {e.chunk_index: e for e in reference if isinstance(e, FrameChunkReady)}
    single_audio = [e for e in reference if isinstance(e, AudioReady)]
    assert len(single_chunks) == 7

    # the manifest fusion reads is the one a single pass announces
    assert media_status.emitted[CHUNKS] == len(single_chunks)
    assert media_status.emitted[AUDIO] == len(single_audio)
    assert media_status.emitted[RANGES] == 4

    chunk_records = await read_all(settings.kafka, CHUNKS, quiet_s=2.0, timeout_s=60)
    assert len(chunk_records) == len(single_chunks), "every chunk emitted exactly once"
    chunks = {c.chunk_index: c for c in distinct_events(chunk_records, CHUNKS) if isinstance(c, FrameChunkReady)}
    assert sorted(chunks) == sorted(single_chunks)
    for index, single in single_chunks.items():
        split = chunks[index]
        assert split.event_id == single.event_id and split.caused_by == ingested.event_id
        assert split.object.key == single.object.key and split.object.sha256 == single.object.sha256, index
        skip = {"occurred_at", "object"}
        assert split.model_dump(exclude=skip) == single.model_dump(exclude=skip)
    keyframes = sorted(k for k in store.list_keys(work, "") if "/keyframes/" in k)
    assert keyframes == sorted(k for k in store.list_keys(reference_bucket, "") if "/keyframes/" in k)
    assert len(keyframes) == 9
    for key in keyframes:
        assert store.get_bytes(work, key) == store.get_bytes(reference_bucket, key), key

    audio = [a for a in distinct_events(await read_all(settings.kafka, AUDIO, 1.0, 30), AUDIO)]
    assert sorted((a.segment_index, a.object.sha256) for a in audio if isinstance(a, AudioReady)) == sorted(
        (a.segment_index, a.object.sha256) for a in single_audio
    )


async def test_a_refused_range_ends_in_a_failed_status_naming_its_chunks(
    stack_settings: Settings, ingested: MediaIngested
) -> None:
    settings = isolated(stack_settings)
    await create_topics(settings.kafka, [RANGES, CHUNKS, STATUS, dead_letter_topic("frames")], PARTITIONS)
    store = ObjectStore(settings.s3)
    stage = FramesStage(store, f"work-{uuid.uuid4().hex[:12]}", SPLIT)
    video = ingested.media[0]
    ranges = stage.plan(video)
    no_video = ingested.context.model_copy(update={"permitted_analyses": ["audio_analysis", "transcription"]})
    refused = range_request(ingested, video, ranges[1], len(ranges), SPLIT).model_copy(update={"context": no_video})
    misfit = range_request(ingested, video, ranges[2], len(ranges), SPLIT).model_copy(update={"total_chunks": 9})
    await publish(settings.kafka, RANGES, [(message_key(e), encode(e)) for e in (refused, misfit)])
    worker = StageWorker(stage, settings, group_id="g-frames-refused")
    task = asyncio.create_task(worker.run())
    try:
        records = await read_topic(settings.kafka, STATUS, lambda r: len(terminal_statuses(r)) >= 2, 120)
    finally:
        worker.stop()
        await asyncio.wait_for(task, 60)
    failed = {s.caused_by: s for s in terminal_statuses(records)}
    assert {e.event_id for e in (refused, misfit)} == set(failed)
    assert all(s.state.value == "failed" and s.reason is not None for s in failed.values())
    assert failed[refused.event_id].reason.code == "policy_forbids"  # type: ignore[union-attr]
    assert failed[misfit.event_id].reason.code == "invalid_event"  # type: ignore[union-attr]
    # fusion counts exactly these chunks as missing
    assert (failed[refused.event_id].detail["chunk_start"], failed[refused.event_id].detail["chunk_end"]) == (2, 4)
    assert failed[refused.event_id].unit == "range 2/4"
    assert await read_all(settings.kafka, CHUNKS, quiet_s=1.0, timeout_s=10) == []
