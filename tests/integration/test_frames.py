"""The frames stage in the real worker loop: normal, rotated, variable-frame-rate, no-audio and
no-video interviews, and a replayed event."""

from __future__ import annotations

import asyncio
import io
import math
import subprocess
import uuid
import wave
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from services.common.contracts import (
    AudioReady,
    FrameChunkReady,
    InterviewCompleted,
    MediaIngested,
    StageStatus,
    dead_letter_topic,
    decode,
    encode,
    message_key,
    topic_for,
)
from services.common.objectstore import ObjectStore
from services.common.settings import Settings
from services.common.worker import StageWorker
from services.frames.audio import Window, plan_segments
from services.frames.pack import read_pack
from services.frames.stage import FramesConfig, FramesStage, keyframe_key, output_prefix
from services.ingest.stage import IngestStage
from services.samples import SampleSpec, generate_interview
from tests.integration.kafka_helpers import (
    create_topics,
    distinct_events,
    isolated,
    publish,
    read_topic,
    terminal_statuses,
)
from tests.integration.stage_fixtures import example

IN = topic_for(MediaIngested)
CHUNKS = topic_for(FrameChunkReady)
AUDIO = topic_for(AudioReady)
STATUS = topic_for(StageStatus)
DLQ = dead_letter_topic("frames")
CHUNK_S = 4.0

SPECS = {
    "normal": SampleSpec(seed=11, duration=7.0, fps=12),
    "rotated": SampleSpec(seed=12, duration=6.0, fps=10, rotation=90),
    "vfr": SampleSpec(seed=13, duration=7.0, fps=15, vfr=True),
    "no-audio": SampleSpec(seed=14, duration=6.0, fps=10, audio=False),
    "no-video": SampleSpec(seed=15, duration=6.0, video=False),
}


@dataclass(frozen=True)
class Ingested:
    events: dict[str, MediaIngested]
    paths: dict[str, Path]
    raw_bucket: str


@pytest.fixture(scope="module")
def ingested(stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    out: Path = tmp_path_factory.mktemp("frames-samples")
    store = ObjectStore(stack_settings.s3)
    raw = f"raw-{uuid.uuid4().hex[:12]}"
    store.ensure_bucket(raw)
    ingest = IngestStage(store, raw)
    suffix = uuid.uuid4().hex[:8]
    events, paths = {}, {}
    for name, spec in SPECS.items():
        result = generate_interview(spec, out, name=name)
        completed = interview(f"fr-{name}-{suffix}", result.media_path, spec)
        events[name] = ingest.ingest(completed)
        paths[name] = result.media_path
    return Ingested(events, paths, raw)


def ffmpeg_first_frame(path: Path, width: int, height: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """The first frame as ffmpeg shows it (auto-rotated), scaled to the given size."""
    cmd = ["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1", "-vf", f"scale={width}:{height}"]
    raw = subprocess.run([*cmd, "-f", "rawvideo", "-pix_fmt", "bgr24", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)


def interview(interview_id: str, path: Path, spec: SampleSpec) -> InterviewCompleted:
    data: dict[str, Any] = example("interview-completed")
    kind = "video_with_audio" if spec.video and spec.audio else ("video" if spec.video else "audio")
    content_type = "video/mp4" if spec.video else "audio/mp4"
    data.update(
        interview_id=interview_id,
        event_id=str(uuid.uuid4()),
        media=[{"uri": f"file://{path}", "kind": kind, "content_type": content_type}],
    )
    # the last window runs past the end of the recording: its segment is clipped
    data["questions"] = [
        {"question_id": "q1", "text": "Tell me about yourself.", "start_s": 0.5, "end_s": 3.0},
        {"question_id": "q2", "text": "Why this job?", "start_s": 3.0, "end_s": 5.5},
        {"question_id": "q3", "text": "Any questions?", "start_s": 5.6, "end_s": 9.0},
    ]
    event = InterviewCompleted.model_validate(data)
    return event.model_copy(
        update={"interview_ended_at": event.interview_started_at + timedelta(seconds=spec.duration)}
    )


async def test_frames_stage_end_to_end(stack_settings: Settings, ingested: Ingested) -> None:
    settings = isolated(stack_settings)
    await create_topics(settings.kafka, [IN, CHUNKS, AUDIO, STATUS, DLQ])
    store = ObjectStore(settings.s3)
    work = f"work-{uuid.uuid4().hex[:12]}"
    events = ingested.events
    normal = events["normal"]
    published = [*events.values(), normal]  # the normal interview is delivered twice (a replay)
    await publish(settings.kafka, IN, [(message_key(e), encode(e)) for e in published])

    worker = StageWorker(FramesStage(store, work, FramesConfig(chunk_s=CHUNK_S)), settings, group_id="g-frames")
    task = asyncio.create_task(worker.run())
    try:
        status_records = await read_topic(
            settings.kafka, STATUS, lambda r: len(terminal_statuses(r)) >= len(published), 120
        )
    finally:
        worker.stop()
        await asyncio.wait_for(task, 60)
    finals = terminal_statuses(status_records)
    assert all(s.state.value != "failed" for s in finals), [s.reason for s in finals if s.reason]
    # The completed status counts both outputs, zeros included: "no chunks" is an answer, not a delay.
    completed = {s.interview_id: s.emitted for s in finals if s.state.value == "completed"}
    assert completed[events["no-video"].interview_id][CHUNKS] == 0
    assert completed[events["no-video"].interview_id][AUDIO] >= 1
    assert completed[events["no-audio"].interview_id][AUDIO] == 0
    assert completed[events["normal"].interview_id][CHUNKS] == math.ceil(
        events["normal"].media[0].probe.duration_s / CHUNK_S
    )

    expected_chunks = {
        name: math.ceil(e.media[0].probe.duration_s / CHUNK_S) for name, e in events.items() if name != "no-video"
    }
    chunk_records = await read_topic(
        settings.kafka, CHUNKS, lambda r: len(r) >= sum(expected_chunks.values()) + expected_chunks["normal"], 30
    )
    chunks = [c for c in distinct_events(chunk_records, CHUNKS) if isinstance(c, FrameChunkReady)]
    plans = {
        name: plan_segments(
            [Window(q.question_id, q.start_s, q.end_s) for q in e.context.questions], e.media[0].probe.duration_s
        )
        for name, e in events.items()
        if name != "no-audio"
    }
    wanted_audio = sum(len(p) for p in plans.values()) + len(plans["normal"])
    audio_records = await read_topic(settings.kafka, AUDIO, lambda r: len(r) >= wanted_audio, 30)

    # replay: the duplicated delivery re-emitted identical ids and keys
    normal_records = [
        c for c in (decode(CHUNKS, r.value) for r in chunk_records) if c.interview_id == normal.interview_id
    ]
    assert len(normal_records) == 2 * expected_chunks["normal"]
    ids_by_index: dict[int, set[tuple[str, str]]] = {}
    for c in normal_records:
        assert isinstance(c, FrameChunkReady)
        ids_by_index.setdefault(c.chunk_index, set()).add((str(c.event_id), c.object.key))
    assert all(len(v) == 1 for v in ids_by_index.values())

    for name, event in events.items():
        mine = sorted((c for c in chunks if c.interview_id == event.interview_id), key=lambda c: c.chunk_index)
        if name == "no-video":
            assert mine == []
            continue
        total = expected_chunks[name]
        assert [c.chunk_index for c in mine] == list(range(total)), name
        assert all(c.total_chunks == total for c in mine)
        probe = event.media[0].probe
        assert probe.video is not None
        display = (
            (probe.video.height, probe.video.width)
            if probe.video.rotation_deg in (90, 270)
            else (
                probe.video.width,
                probe.video.height,
            )
        )
        if name == "rotated":
            assert display == (480, 640)  # 640x480 stored with a 90 degree display rotation
        first = read_pack(store.get_bytes(mine[0].object.bucket, mine[0].object.key)).frames[0]
        reference = ffmpeg_first_frame(ingested.paths[name], *display)
        assert np.abs(first.astype(int) - reference.astype(int)).mean() < 8, name  # same orientation as a player
        last = -1.0
        for c in mine:
            assert c.object.key.startswith(f"{event.tenant_id}/{event.interview_id}/")
            pack = read_pack(store.get_bytes(c.object.bucket, c.object.key))
            assert len(pack.timestamps) == c.frame_count
            assert (pack.width, pack.height) == (c.width, c.height) == display, name
            assert all(f.shape[:2] == (display[1], display[0]) for f in pack.frames)
            for t in pack.timestamps:
                assert t > last, name  # strictly increasing across chunks
                assert c.chunk_index * CHUNK_S <= t < c.end_s
                last = t
        assert keyframe_key(event, event.context.questions[0].question_id, "start") in store.list_keys(
            work, output_prefix(event)
        )

    segments = [a for a in distinct_events(audio_records, AUDIO) if isinstance(a, AudioReady)]
    for name, event in events.items():
        segs = sorted((a for a in segments if a.interview_id == event.interview_id), key=lambda a: a.segment_index)
        if name == "no-audio":
            assert segs == []
            continue
        plan = plans[name]
        assert [(a.question_id, a.start_s, a.end_s) for a in segs] == [
            (s.question_id, s.start_s, s.end_s) for s in plan
        ]
        assert all(a.total_segments == len(plan) for a in segs)
        for a in segs:
            with wave.open(io.BytesIO(store.get_bytes(a.object.bucket, a.object.key))) as wav:
                assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
                assert abs(wav.getnframes() / 16000 - (a.end_s - a.start_s)) < 0.1


def test_each_output_is_emitted_once_its_object_is_stored_while_the_rest_is_still_decoding(
    stack_settings: Settings, ingested: Ingested
) -> None:
    event = ingested.events["normal"]
    store = ObjectStore(stack_settings.s3)
    stage = FramesStage(store, f"work-{uuid.uuid4().hex[:12]}", FramesConfig(chunk_s=CHUNK_S))
    store.ensure_bucket(stage.work_bucket)
    emitted: list[tuple[FrameChunkReady | AudioReady, bool, int]] = []

    def emit(out: Any) -> None:
        assert isinstance(out, FrameChunkReady | AudioReady)
        stored = store.get_bytes(out.object.bucket, out.object.key)  # the claim-check object is there already
        chunks_so_far = len(store.list_keys(stage.work_bucket, f"{output_prefix(event)}/chunks/"))
        emitted.append((out, bool(stored), chunks_so_far))

    returned = stage.process(event, emit)
    assert [e.event_id for e, _, _ in emitted] and all(stored for _, stored, _ in emitted)
    assert sorted(str(e.event_id) for e, _, _ in emitted) == sorted(str(e.event_id) for e in returned)
    chunks = [(e, n) for e, _, n in emitted if isinstance(e, FrameChunkReady)]
    assert len(chunks) == math.ceil(7.0 / CHUNK_S) >= 2
    # the first chunk went out before the second chunk was written: emitted while decoding, not at the end
    assert chunks[0][0].chunk_index == 0 and chunks[0][1] == 1, chunks
