"""Ingest and frames as separate worker processes on the local stack, each killed mid-interview.

An interview-completed event goes in; ingest is SIGKILLed twice while it copies the media (once with
the upload staged but not promoted, once promoted but not announced) and frames once while it writes
the chunks. After the restarts the media is stored once with nothing staged left over, and every chunk
and audio segment of the manifest arrives with exactly one event id each.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.common.contracts import (
    AudioReady,
    FrameChunkReady,
    FrameRangeRequested,
    InterviewCompleted,
    MediaIngested,
    StageStatus,
    dead_letter_topic,
    decode,
    encode,
    message_key,
    topic_for,
)
from services.common.objectstore import STAGING_PREFIX, ObjectStore, StoredObject
from services.common.settings import Settings
from services.frames.audio import Window, plan_segments
from services.frames.chunking import chunk_count
from services.frames.stage import output_prefix
from services.fusion.ledger import Ledger
from services.ingest import stage as ingest_stage
from services.samples import SampleSpec, generate_interview
from services.samples.event import interview_event
from tests.fusion_data import STRONG
from tests.integration.kafka_helpers import (
    Record,
    committed_total,
    create_topics,
    distinct_events,
    isolated,
    publish,
    read_all,
    read_topic,
    terminal_statuses,
    wait_for,
)
from tests.integration.test_fusion import PROFILES, TOPICS, fusion_settings, interview, profiles_until, send

IN = topic_for(InterviewCompleted)
MEDIA = topic_for(MediaIngested)
CHUNKS = topic_for(FrameChunkReady)
AUDIO = topic_for(AudioReady)
STATUS = topic_for(StageStatus)
ROOT = Path(__file__).resolve().parents[2]
#: Short chunks give the frames pass many uploads, so there is a moment with some chunks stored and not all.
CHUNK_S = 1.0
GRACE_S = 1.0  # staged uploads older than this are orphans to the restarted ingest
#: Where `paused_ingest` stops: after the upload is staged ("staged") or after it is promoted ("promoted").
PAUSE_AT = "SIGHTLINE_TEST_PAUSE_AT"
PAUSE_MARKER = "SIGHTLINE_TEST_PAUSE_MARKER"


class _PausingStore(ObjectStore):
    """The real object store, stopping for good at one point of promoting an upload, so that a test can
    kill the process exactly there."""

    def _promote(self, staged: StoredObject, key: str, content_type: str, metadata: dict[str, str] | None) -> None:
        if os.environ.get(PAUSE_AT) == "staged":
            self._pause(staged)
        super()._promote(staged, key, content_type, metadata)
        if os.environ.get(PAUSE_AT) == "promoted":
            self._pause(staged)

    @staticmethod
    def _pause(staged: StoredObject) -> None:
        Path(os.environ[PAUSE_MARKER]).write_text(staged.key)
        time.sleep(3600)


def paused_ingest(settings: Settings) -> ingest_stage.IngestStage:
    """Factory for `sightline worker`: the ingest stage of `make`, over a store that pauses (see above)."""
    stage = ingest_stage.make(settings)
    stage.store = _PausingStore(settings.s3)
    return stage


def stack_env(settings: Settings) -> dict[str, str]:
    """The environment of a Sightline process that uses the broker and the object store of `settings`."""
    s3 = settings.s3
    return {
        **os.environ,
        "SIGHTLINE_ENVIRONMENT": "test",
        "SIGHTLINE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "SIGHTLINE_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "SIGHTLINE_S3__ENDPOINT": s3.endpoint,
        "SIGHTLINE_S3__ACCESS_KEY": s3.access_key,
        "SIGHTLINE_S3__SECRET_KEY": s3.secret_key.get_secret_value(),
        "SIGHTLINE_S3__RAW_BUCKET": s3.raw_bucket,
        "SIGHTLINE_S3__WORK_BUCKET": s3.work_bucket,
        "SIGHTLINE_S3__REPORT_BUCKET": s3.report_bucket,
    }


def spawn(settings: Settings, factory: str, group: str, **env: str) -> subprocess.Popen[bytes]:
    """`sightline worker <factory>` in its own process, configured through the environment only."""
    variables = {
        **stack_env(settings),
        "SIGHTLINE_WORKER__COMMIT_INTERVAL_S": "0.2",
        "SIGHTLINE_WORKER__DRAIN_TIMEOUT_S": "20",
        "SIGHTLINE_OBSERVABILITY__LOG_FORMAT": "text",
        "SIGHTLINE_OBSERVABILITY__HTTP_PORT": "0",
        **env,
    }
    command = [sys.executable, "-m", "services.cli", "worker", "--group", group, factory]
    return subprocess.Popen(command, env=variables, cwd=ROOT)


def staged_older_than(store: ObjectStore, bucket: str, seconds: float) -> bool:
    modified = store.list_modified(bucket, STAGING_PREFIX)
    return bool(modified) and all(datetime.now(UTC) - when > timedelta(seconds=seconds) for when in modified.values())


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)  # no chance to finish, produce or commit
    proc.wait(30)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            kill(proc)


def events_of(records: list[Record], topic: str, interview_id: str) -> list[Any]:
    return [e for e in (decode(topic, r.value) for r in records) if e.interview_id == interview_id]


def one_id_per_index(events: list[Any], index: str) -> dict[int, set[uuid.UUID]]:
    ids: dict[int, set[uuid.UUID]] = {}
    for e in events:
        ids.setdefault(getattr(e, index), set()).add(e.event_id)
    return ids


async def test_ingest_and_frames_killed_mid_interview_lose_and_duplicate_nothing(
    stack_settings: Settings, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:10]
    base = isolated(stack_settings)
    s3 = base.s3.model_copy(update={"raw_bucket": f"raw-{suffix}", "work_bucket": f"work-{suffix}"})
    settings = base.model_copy(update={"s3": s3})
    store = ObjectStore(s3)
    store.ensure_buckets()
    topics = [IN, MEDIA, CHUNKS, AUDIO, STATUS, dead_letter_topic("ingest"), dead_letter_topic("frames")]
    await create_topics(settings.kafka, topics)
    sample = generate_interview(SampleSpec(seed=31, duration=20.0, fps=10), tmp_path, name="restart")
    event = interview_event(sample, interview_id=f"restart-{suffix}")
    media_prefix = ingest_stage.media_prefix(event.tenant_id, event.interview_id)
    ingest_group, frames_group = f"g-ingest-{suffix}", f"g-frames-{suffix}"
    frames_env = {"SIGHTLINE_FRAMES__CHUNK_S": str(CHUNK_S)}

    frames = spawn(settings, "services.frames.stage:make", frames_group, **frames_env)
    ingest = spawn(
        settings,
        "tests.integration.test_pipeline_restart:paused_ingest",
        ingest_group,
        **{PAUSE_AT: "staged", PAUSE_MARKER: str(tmp_path / "staged")},
    )
    try:
        await publish(settings.kafka, IN, [(message_key(event), encode(event))])

        # 1. Killed with the upload staged, not yet under its key.
        await wait_for(lambda: (tmp_path / "staged").exists(), 120, "ingest to stage the upload")
        kill(ingest)
        assert store.list_keys(s3.raw_bucket) == [(tmp_path / "staged").read_text()]
        # The restarted worker only removes staged uploads older than its grace period; a fast restart
        # would otherwise meet an upload that is still young enough to belong to a live worker.
        await wait_for(lambda: staged_older_than(store, s3.raw_bucket, GRACE_S), 30, "the staged upload to age")

        # 2. Restarted; killed again with the media promoted under its key but no event produced.
        ingest = spawn(
            settings,
            "tests.integration.test_pipeline_restart:paused_ingest",
            ingest_group,
            **{
                PAUSE_AT: "promoted",
                PAUSE_MARKER: str(tmp_path / "promoted"),
                "SIGHTLINE_INGEST__STAGING_GRACE_S": str(GRACE_S),
            },
        )
        await wait_for(lambda: (tmp_path / "promoted").exists(), 120, "ingest to promote the upload")
        kill(ingest)
        assert len(store.list_keys(s3.raw_bucket, media_prefix)) == 1
        assert store.list_keys(s3.raw_bucket, STAGING_PREFIX) == [(tmp_path / "promoted").read_text()]
        assert await committed_total(settings.kafka, ingest_group, IN) == 0

        # 3. Restarted without pausing: ingests the interview and announces it.
        ingest = spawn(
            settings, "services.ingest.stage:make", ingest_group, SIGHTLINE_INGEST__STAGING_GRACE_S=str(GRACE_S)
        )
        media_records = await read_topic(settings.kafka, MEDIA, lambda r: len(r) >= 1, 120)
        [ingested] = events_of(media_records, MEDIA, event.interview_id)
        total_chunks = chunk_count(ingested.media[0].probe.duration_s, CHUNK_S)

        # 4. Frames killed with some chunks of the manifest stored, not all; the chunks it announced so far
        #    are stored ones (an event follows its object), and the restart announces the same ids again.
        chunk_prefix = f"{output_prefix(ingested)}/chunks/"
        deadline = time.monotonic() + 120
        stored = 0
        while stored == 0 and time.monotonic() < deadline:
            stored = len(store.list_keys(s3.work_bucket, chunk_prefix))
            time.sleep(0.02)
        kill(frames)
        assert 0 < stored < total_chunks, f"frames stored {stored} of {total_chunks} chunks before the kill"
        early = events_of(await read_all(settings.kafka, CHUNKS, quiet_s=1.0), CHUNKS, event.interview_id)
        stored_keys = set(store.list_keys(s3.work_bucket, chunk_prefix))
        assert all(c.object.key in stored_keys for c in early), (early, stored_keys)
        assert len({c.chunk_index for c in early}) < total_chunks

        frames = spawn(settings, "services.frames.stage:make", frames_group, **frames_env)
        status_records = await read_topic(
            settings.kafka,
            STATUS,
            lambda r: any(
                s.stage.value == "frames" and s.interview_id == event.interview_id for s in terminal_statuses(r)
            ),
            180,
        )
        await wait_for(lambda: _committed(settings, ingest_group, IN, 1), 30, "ingest to commit the interview")
    finally:
        for proc in (ingest, frames):
            stop(proc)

    finals = {s.stage.value: s for s in terminal_statuses(status_records) if s.interview_id == event.interview_id}
    assert {stage: s.state.value for stage, s in finals.items()} == {"ingest": "completed", "frames": "completed"}

    # The media is in the raw bucket once, and no staged upload was left behind by the killed workers.
    [media_key] = store.list_keys(s3.raw_bucket, media_prefix)
    assert store.list_keys(s3.raw_bucket, STAGING_PREFIX) == []
    sample_sha = hashlib.sha256(sample.media_path.read_bytes()).hexdigest()
    assert hashlib.sha256(store.get_bytes(s3.raw_bucket, media_key)).hexdigest() == sample_sha
    media_events = events_of(await read_all(settings.kafka, MEDIA, quiet_s=1.0), MEDIA, event.interview_id)
    assert {e.event_id for e in media_events} == {ingested.event_id}
    assert finals["ingest"].emitted == {MEDIA: 1}

    # Every chunk and segment of the manifest arrived; re-deliveries may repeat a record, never an index's id.
    chunks = events_of(await read_all(settings.kafka, CHUNKS, quiet_s=1.0), CHUNKS, event.interview_id)
    chunk_ids = one_id_per_index(chunks, "chunk_index")
    assert sorted(chunk_ids) == list(range(total_chunks)) and all(len(ids) == 1 for ids in chunk_ids.values())
    assert {c.total_chunks for c in chunks} == {total_chunks}
    audio = events_of(await read_all(settings.kafka, AUDIO, quiet_s=1.0), AUDIO, event.interview_id)
    windows = [Window(q.question_id, q.start_s, q.end_s) for q in event.questions]
    total_segments = len(plan_segments(windows, ingested.media[0].probe.duration_s))
    segment_ids = one_id_per_index(audio, "segment_index")
    assert sorted(segment_ids) == list(range(total_segments)) and all(len(ids) == 1 for ids in segment_ids.values())
    assert {a.total_segments for a in audio} == {total_segments}
    # A short interview is decoded in one pass: no frame ranges.
    assert finals["frames"].emitted == {CHUNKS: total_chunks, AUDIO: total_segments, topic_for(FrameRangeRequested): 0}

    # The objects the events point at are the only chunks stored: the killed pass left nothing else.
    stored_chunks = sorted(store.list_keys(s3.work_bucket, chunk_prefix))
    assert stored_chunks == sorted({c.object.key for c in chunks})
    assert await committed_total(settings.kafka, frames_group, MEDIA) == len(
        await read_all(settings.kafka, MEDIA, quiet_s=0.5)
    )


async def _committed(settings: Settings, group: str, topic: str, expected: int) -> bool:
    return await committed_total(settings.kafka, group, topic) == expected


async def test_fusion_killed_mid_interview_loses_and_duplicates_nothing(stack_settings: Settings) -> None:
    settings = fusion_settings(stack_settings)
    await create_topics(settings.kafka, TOPICS)
    ingested, events = interview(STRONG, "killed")
    half = len(events) // 2
    await send(settings, events[:half])
    ledger = Ledger(ObjectStore(settings.s3), settings.s3.work_bucket)

    def parts_stored() -> int:
        snap = ledger.snapshot(ingested.tenant_id, ingested.interview_id)
        return len(snap.vision) + len(snap.speech)

    first = spawn(settings, "services.fusion.stage:make", "g-fusion-kill")
    try:
        await wait_for(lambda: parts_stored() >= 2, 90, "fusion to store its first parts")
    finally:
        kill(first)  # mid-interview: some parts stored, offsets perhaps not committed
    await send(settings, events[half:])
    second = spawn(settings, "services.fusion.stage:make", "g-fusion-kill")
    try:
        (profile,) = await profiles_until(settings, 1)
        await asyncio.sleep(2)  # anything re-delivered after the kill has been handled by now
    finally:
        stop(second)
    assert second.returncode == 0
    records = await read_all(settings.kafka, PROFILES)
    assert len(distinct_events(records, PROFILES)) == 1  # re-delivered parts did not make a second profile
    assert profile.coverage.vision_chunks.received == profile.coverage.vision_chunks.expected > 0
    assert profile.coverage.speech_segments.received == profile.coverage.speech_segments.expected
    assert profile.data_quality == [] and profile.profile_version == 1
