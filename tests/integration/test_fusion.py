"""Fusion on its engine (faust-streaming) on the local stack: joining by manifest, replays, restarts, deadlines."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.common.contracts import (
    AudioReady,
    EventBase,
    FrameChunkReady,
    MediaIngested,
    ObjectRef,
    ProfileLabel,
    ProfileReady,
    SpeechResults,
    StageName,
    StageState,
    StageStatus,
    VisionFeatures,
    dead_letter_topic,
    encode,
    message_key,
    topic_for,
)
from services.common.engines import create_worker
from services.common.faust_worker import FaustStageWorker
from services.common.handler import MessageMeta
from services.common.objectstore import ObjectStore
from services.common.settings import Settings
from services.fusion.ledger import Ledger
from services.fusion.scoring import EMOTIONAL_STABILITY
from services.fusion.stage import FusionStage
from tests.fusion_data import (
    QUESTIONS,
    STRONG,
    WEAK,
    Candidate,
    frames_completed,
    frames_failed,
    media_ingested,
    speech_results,
    unit_failed,
    vision_features,
)
from tests.integration.kafka_helpers import (
    create_topics,
    distinct_events,
    isolated,
    publish,
    read_all,
    read_topic,
)

TOPICS = [*FusionStage.input_topics, topic_for(ProfileReady), dead_letter_topic("fusion")]
PROFILES = topic_for(ProfileReady)


def fusion_settings(stack: Settings, **fusion: object) -> Settings:
    settings = isolated(stack)
    suffix = uuid.uuid4().hex[:10]
    s3 = settings.s3.model_copy(update={"work_bucket": f"work-{suffix}", "report_bucket": f"reports-{suffix}"})
    settings = settings.model_copy(update={"s3": s3, "fusion": settings.fusion.model_copy(update=fusion)})
    ObjectStore(settings.s3).ensure_buckets()
    return settings


def interview(candidate: Candidate, name: str) -> tuple[MediaIngested, list[EventBase]]:
    ingested = media_ingested(f"{name}-{uuid.uuid4().hex[:6]}", candidate)
    vision = vision_features(ingested, candidate)
    speech = speech_results(ingested, candidate)
    return ingested, [ingested, frames_completed(ingested, len(vision), len(speech)), *vision, *speech]


async def send(settings: Settings, events: Iterable[EventBase]) -> None:
    by_topic: dict[str, list[tuple[bytes | None, bytes]]] = {}
    for e in events:
        by_topic.setdefault(topic_for(e), []).append((message_key(e), encode(e)))
    for topic, messages in by_topic.items():
        await publish(settings.kafka, topic, messages)


async def profiles_until(settings: Settings, count: int, timeout_s: float = 90) -> list[ProfileReady]:
    records = await read_topic(
        settings.kafka, PROFILES, lambda r: len(distinct_events(r, PROFILES)) >= count, timeout_s
    )
    return [p for p in distinct_events(records, PROFILES) if isinstance(p, ProfileReady)]


class Running:
    def __init__(self, settings: Settings, group: str = "g-fusion") -> None:
        self.stage = FusionStage(settings)
        self.worker = create_worker(self.stage, settings, group_id=group)
        assert isinstance(self.worker, FaustStageWorker)  # fusion's own engine
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Running:
        self.task = asyncio.create_task(self.worker.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.worker.stop()
        assert self.task is not None
        await asyncio.wait_for(self.task, 60)


async def test_two_candidates_get_ordered_profiles_with_evidence_and_replays_change_nothing(
    stack_settings: Settings,
) -> None:
    settings = fusion_settings(stack_settings)
    await create_topics(settings.kafka, TOPICS)
    strong, strong_events = interview(STRONG, "strong")
    weak, weak_events = interview(WEAK, "weak")
    await send(settings, [*strong_events, *weak_events])
    async with Running(settings):
        first = await profiles_until(settings, 2)
        # Replay everything of the strong candidate: the same profile comes back, nothing new.
        await send(settings, strong_events)
        await asyncio.sleep(3)
    records = await read_all(settings.kafka, PROFILES)
    assert len(records) >= 2
    assert {str(p.event_id) for p in distinct_events(records, PROFILES)} == {str(p.event_id) for p in first}

    by_interview = {p.interview_id: p for p in first}
    s, w = by_interview[strong.interview_id], by_interview[weak.interview_id]
    assert s.overall is not None and w.overall is not None and s.overall > w.overall
    assert (s.label, w.label) == (ProfileLabel.RECOMMEND, ProfileLabel.REJECT)
    assert s.profile_version == w.profile_version == 1
    assert s.coverage.vision_chunks.received == s.coverage.vision_chunks.expected > 0
    assert s.coverage.speech_segments.received == s.coverage.speech_segments.expected == len(QUESTIONS)
    assert s.data_quality == []
    stability = next(d for d in w.dimensions if d.dimension == EMOTIONAL_STABILITY)
    pressure = next(q for q in QUESTIONS if q[4])
    assert stability.evidence and all(pressure[2] <= e.start_s < pressure[3] for e in stability.evidence)

    store = ObjectStore(settings.s3)
    assert isinstance(s.report, ObjectRef) and s.report.content_type == "text/html"
    page = store.get_bytes(s.report.bucket, s.report.key)
    assert hashlib.sha256(page).hexdigest() == s.report.sha256 and len(page) == s.report.size_bytes
    html = page.decode()
    assert s.context.candidate_ref in html and "<svg" in html
    assert all(q[1] in html for q in QUESTIONS)  # every question is in the report

    # Fusion says nothing about the status events it reads (no feedback loop through stage-status).
    status_records = await read_all(settings.kafka, topic_for(StageStatus))
    fusion_statuses = [
        e
        for e in distinct_events(status_records, topic_for(StageStatus))
        if isinstance(e, StageStatus) and e.stage == StageName.FUSION
    ]
    handled = len(strong_events) + len(weak_events) - 2  # every input but the two frames statuses
    assert len({(st.caused_by, st.state) for st in fusion_statuses}) == 2 * handled


async def test_a_restart_mid_interview_loses_and_duplicates_nothing(stack_settings: Settings) -> None:
    settings = fusion_settings(stack_settings)
    await create_topics(settings.kafka, TOPICS)
    ingested, events = interview(STRONG, "restart")
    half = len(events) // 2
    await send(settings, events[:half])
    async with Running(settings):
        ledger = Ledger(ObjectStore(settings.s3), settings.s3.work_bucket)
        for _ in range(100):
            snap = await asyncio.to_thread(ledger.snapshot, ingested.tenant_id, ingested.interview_id)
            if len(snap.vision) + len(snap.speech) >= half - 2:
                break
            await asyncio.sleep(0.2)
    # A new instance (same group) picks up where the first stopped, from what is stored.
    await send(settings, events[half:])
    async with Running(settings):
        profiles = await profiles_until(settings, 1)
        await asyncio.sleep(2)
    records = await read_all(settings.kafka, PROFILES)
    assert len(distinct_events(records, PROFILES)) == 1
    (profile,) = profiles
    assert profile.coverage.vision_chunks.received == profile.coverage.vision_chunks.expected
    assert profile.coverage.speech_segments.received == 3 and profile.data_quality == []


async def test_the_deadline_gives_a_partial_profile_and_late_parts_a_new_version(stack_settings: Settings) -> None:
    settings = fusion_settings(stack_settings, deadline_s=1.0, sweep_interval_s=0.5)
    await create_topics(settings.kafka, TOPICS)
    _, events = interview(STRONG, "late")
    speech = [e for e in events if isinstance(e, SpeechResults)]
    late = speech[-1]
    await send(settings, [e for e in events if e is not late])
    async with Running(settings):
        (partial,) = await profiles_until(settings, 1)
        assert partial.profile_version == 1
        assert "missing_speech_segments" in partial.data_quality
        assert partial.coverage.speech_segments.received == 2
        assert partial.label == ProfileLabel.PENDING
        await send(settings, [late])
        profiles = await profiles_until(settings, 2)
    final = max(profiles, key=lambda p: p.profile_version)
    assert final.profile_version == 2
    assert final.coverage.speech_segments.received == 3
    assert "missing_speech_segments" not in final.data_quality
    assert final.profile_id != partial.profile_id


async def test_failed_units_and_failed_media_end_in_flagged_profiles_without_waiting(stack_settings: Settings) -> None:
    settings = fusion_settings(stack_settings)  # default deadline: only the failures can finish these
    await create_topics(settings.kafka, TOPICS)
    ingested, events = interview(replace(STRONG, smile=0.5), "unitfail")
    vision = [e for e in events if isinstance(e, VisionFeatures)]
    lost = vision[3]
    kept = [e for e in events if e is not lost]
    broken = media_ingested(f"broken-{uuid.uuid4().hex[:6]}", STRONG)
    await send(
        settings,
        [
            *kept,
            unit_failed(ingested, StageName.VISION, lost.chunk_index, lost.total_chunks),
            broken,
            frames_failed(broken, "no video or audio stream"),
        ],
    )
    async with Running(settings):
        profiles = {p.interview_id: p for p in await profiles_until(settings, 2)}
    partial = profiles[ingested.interview_id]
    assert "missing_vision_chunks" in partial.data_quality
    assert partial.coverage.vision_chunks.received == len(vision) - 1
    unprocessable = profiles[broken.interview_id]
    assert unprocessable.overall is None and unprocessable.dimensions == []
    assert {"media_unprocessable", "insufficient_data"} <= set(unprocessable.data_quality)


def range_status(ingested: MediaIngested, index: int, total: int, chunks: tuple[int, int], failed: bool) -> StageStatus:
    """What frames reports about one frame range of a long recording (see services.common.processing)."""
    state = StageState.FAILED if failed else StageState.COMPLETED
    data = frames_completed(ingested, 0, 0).model_dump(mode="json")
    data.update(
        event_id=str(uuid.uuid4()),
        caused_by=str(uuid.uuid4()),  # the range event
        state=state.value,
        unit=f"range {index + 1}/{total}",
        emitted={} if failed else {topic_for(FrameChunkReady): chunks[1] - chunks[0], topic_for(AudioReady): 0},
        reason={"code": "not_media", "message": "media[0]: damaged", "retryable": False} if failed else None,
        detail={
            "unit_kind": "range",
            "unit_index": index,
            "unit_total": total,
            "chunk_start": chunks[0],
            "chunk_end": chunks[1],
        },
    )
    return StageStatus.model_validate(data)


async def test_range_statuses_keep_the_manifest_and_a_failed_range_counts_its_chunks_missing(
    stack_settings: Settings,
) -> None:
    settings = fusion_settings(stack_settings)  # default deadline: only the failed range can finish it
    await create_topics(settings.kafka, TOPICS)
    ingested, events = interview(STRONG, "ranges")
    vision = [e for e in events if isinstance(e, VisionFeatures)]
    speech = [e for e in events if isinstance(e, SpeechResults)]
    assert len(vision) >= 4
    kept = [e for e in events if not (isinstance(e, VisionFeatures) and e.chunk_index in (2, 3))]
    ranges = [range_status(ingested, 0, 2, (0, 2), failed=False), range_status(ingested, 1, 2, (2, 4), failed=True)]
    await send(settings, [*kept, *ranges])  # the range statuses arrive after the media event's manifest
    async with Running(settings):
        (profile,) = await profiles_until(settings, 1)
    assert "missing_vision_chunks" in profile.data_quality
    assert (profile.coverage.vision_chunks.received, profile.coverage.vision_chunks.expected) == (
        len(vision) - 2,
        len(vision),
    )
    assert profile.coverage.speech_segments.expected == profile.coverage.speech_segments.received == len(speech)


async def test_the_report_command_writes_the_stored_profiles_report(
    stack_settings: Settings, tmp_path: Path, access_log_dsn: str
) -> None:
    settings = fusion_settings(stack_settings)
    await create_topics(settings.kafka, TOPICS)
    ingested, events = interview(STRONG, "report")
    await send(settings, events)
    async with Running(settings):
        (profile,) = await profiles_until(settings, 1)
    env = {
        **os.environ,
        "SIGHTLINE_S3__ENDPOINT": settings.s3.endpoint,
        "SIGHTLINE_S3__ACCESS_KEY": settings.s3.access_key,
        "SIGHTLINE_S3__SECRET_KEY": settings.s3.secret_key.get_secret_value(),
        "SIGHTLINE_S3__WORK_BUCKET": settings.s3.work_bucket,
        "SIGHTLINE_CLICKHOUSE__DSN": access_log_dsn,  # every report read goes to the access log
    }
    cli = [sys.executable, "-m", "services.cli"]

    def report(*args: str) -> subprocess.CompletedProcess[str]:
        command = [*cli, "report", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, cwd=tmp_path)

    english = report(ingested.interview_id, "--out", "en.html", "--pdf")
    assert english.returncode == 0, english.stderr
    html = (tmp_path / "en.html").read_text()
    assert profile.context.candidate_ref in html and "<svg" in html
    assert (tmp_path / "en.pdf").read_bytes().startswith(b"%PDF")
    chinese = report(ingested.interview_id, "--tenant", ingested.tenant_id, "--lang", "zh", "--out", "zh.html")
    assert chinese.returncode == 0, chinese.stderr
    assert 'lang="zh' in (tmp_path / "zh.html").read_text()
    missing = report("no-such-interview")
    assert missing.returncode == 1 and "give --tenant" in missing.stderr
    wrong_version = report(ingested.interview_id, "--version", "7")
    assert wrong_version.returncode == 1 and "not 7" in wrong_version.stderr
    log = subprocess.run([*cli, "access-log", "--format", "json", "--interview", ingested.interview_id], env=env,
                         capture_output=True, text=True, timeout=180, cwd=tmp_path)  # fmt: skip
    reads = [json.loads(line) for line in log.stdout.splitlines()]
    assert [(r["action"], r["outcome"], r["actor"]) for r in reads] == [("report", "allowed", "ops")] * 2, log.stderr


async def test_parts_recomputed_by_other_models_are_scored_again_once_and_plain_replays_are_not(
    stack_settings: Settings,
) -> None:
    settings = fusion_settings(stack_settings, deadline_s=2.0, sweep_interval_s=0.5)
    await create_topics(settings.kafka, TOPICS)
    ingested, events = interview(STRONG, "upgrade")
    speech = [e for e in events if isinstance(e, SpeechResults)]
    # Every answer transcribed again after an engine upgrade: other versions, and other words that no
    # longer earn competency scores.
    upgraded = [
        e.model_copy(
            update={"model_versions": {**e.model_versions, "asr_model": "whisper-small"}, "competency_scores": []}
        )
        for e in speech
    ]
    await send(settings, events)
    async with Running(settings):
        [first] = await profiles_until(settings, 1)
        await send(settings, speech)  # a plain replay: the stored profile again, nothing new
        await asyncio.sleep(3)
        await send(settings, upgraded)  # one new version once the parts stop changing, not one per part
        await profiles_until(settings, 2)
        await send(settings, upgraded)  # replaying the upgraded parts: nothing new again
        await asyncio.sleep(4)
    profiles = [p for p in distinct_events(await read_all(settings.kafka, PROFILES), PROFILES)]
    versions = {p.profile_version: p for p in profiles if isinstance(p, ProfileReady)}
    assert sorted(versions) == [1, 2]
    assert versions[1].event_id == first.event_id and first.feature_versions["asr_model"] == "large-v3"
    assert versions[2].feature_versions["asr_model"] == "whisper-small"
    assert versions[2].dimensions != first.dimensions and versions[2].overall != first.overall  # scored anew
    ledger = Ledger(ObjectStore(settings.s3), settings.s3.work_bucket)
    assert not ledger.snapshot(ingested.tenant_id, ingested.interview_id).rescore


async def test_each_instance_sweeps_only_the_interviews_on_its_partitions(stack_settings: Settings) -> None:
    settings = fusion_settings(stack_settings, deadline_s=1.0)
    await create_topics(settings.kafka, TOPICS)
    owners = {0: FusionStage(settings), 1: FusionStage(settings)}
    interviews: dict[int, MediaIngested] = {}
    for partition in owners:
        ingested, events = interview(STRONG, f"owned-{partition}")
        interviews[partition] = ingested
        incomplete = [e for e in events if not isinstance(e, SpeechResults)]  # stalls: speech never arrives
        for offset, event in enumerate(incomplete):
            meta = MessageMeta(
                topic=topic_for(event), partition=partition, offset=offset, key=None, timestamp_ms=None, headers=()
            )
            assert await owners[0].handle(event, meta) == []
    # An interview whose marker predates partition-named markers: any instance may sweep it.
    legacy, legacy_events = interview(WEAK, "legacy")
    ledger = Ledger(ObjectStore(settings.s3), settings.s3.work_bucket)
    for event in legacy_events:
        if isinstance(event, MediaIngested):
            ledger.open_interview(event)
    later = datetime.now(UTC) + timedelta(seconds=30)
    for partition, stage in owners.items():
        stage.assigned(frozenset({partition}))
        await stage.start()
    try:
        swept_by_1 = await owners[1].sweep(now=later)
        swept_by_0 = await owners[0].sweep(now=later)
    finally:
        for stage in owners.values():
            await stage.stop()
    assert {p.interview_id for p in swept_by_1} == {interviews[1].interview_id, legacy.interview_id}
    assert {p.interview_id for p in swept_by_0} == {interviews[0].interview_id}
    assert all(
        "missing_speech_segments" in p.data_quality
        for p in swept_by_0 + swept_by_1
        if p.interview_id != legacy.interview_id
    )
    assert ledger.pending() == []
