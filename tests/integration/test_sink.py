"""The sink through the real worker loop on the local stack: events in, ClickHouse rows out.

Replays leave one current row per key with the same values, a failed insert blocks the offset commit
until ClickHouse takes the rows, and a sink killed mid-batch loses and duplicates nothing.
"""

from __future__ import annotations

import asyncio
import copy
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest

from services.audit.source import DEMOGRAPHICS
from services.common.chdb_owner import open_warehouse, read_owner
from services.common.clickhouse import DirectWarehouse
from services.common.contracts import (
    CandidateDemographics,
    CandidateOutcome,
    EventBase,
    MediaIngested,
    ProfileReady,
    ReviewDecision,
    SpeechResults,
    StageName,
    StageStatus,
    VisionFeatures,
    dead_letter_topic,
    deterministic_event_id,
    encode,
    message_key,
    topic_for,
)
from services.common.migrations import migrate
from services.common.settings import ClickHouseSettings, Settings
from services.common.worker import StageWorker
from services.sink.batches import TableBatches
from services.sink.rows import COLUMNS, Row, rows_for
from services.sink.stage import SinkStage
from tests.identities import token_of
from tests.integration.kafka_helpers import committed_total, create_topics, isolated, publish, read_topic, wait_for
from tests.integration.stage_fixtures import example

TOPICS = {
    cls: topic_for(cls)
    for cls in (
        MediaIngested,
        VisionFeatures,
        SpeechResults,
        ProfileReady,
        StageStatus,
        ReviewDecision,
        CandidateOutcome,
        CandidateDemographics,
    )
}
DEAD_LETTER_TOPICS = [dead_letter_topic(stage) for stage in StageName]
ROOT = Path(__file__).resolve().parents[2]

# ---- realistic events from the contract examples ---------------------------------------------------------


@dataclass(frozen=True)
class Review:
    """A person's decision on one profile version of a candidate, `hours` after that profile was produced."""

    profile_version: int
    label: str  # the label the reviewer settled on; an override when it differs from the suggestion
    hours: float
    reasons: tuple[str, ...] = ()
    reviewer: str = "rev-0042"


@dataclass(frozen=True)
class Candidate:
    """One interview, steered by `quality` (0 weak .. 1 strong): every score and behaviour follows it."""

    interview_id: str
    candidate_ref: str
    quality: float
    job_id: str = "REQ-1187"
    job_title: str = "Senior Data Engineer"
    tenant_id: str = "acme-eu"
    days_ago: int = 3
    label: str | None = None  # profile label; None: no profile yet
    profile_versions: int = 1
    data_quality: tuple[str, ...] = ()
    failed_stage: str | None = None  # a stage that failed for this interview
    reviews: tuple[Review, ...] = ()  # decisions in the order they were made
    outcome: tuple[str, float | None] | None = None  # (stage, 1-5 performance rating at 6 months, if any)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def started_at(self) -> datetime:
        base = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
        return base - timedelta(days=self.days_ago)


#: (question, chunk start second) of the three analysed chunks; q3 is the pressure question.
CHUNKS = (("q1", 10), ("q2", 100), ("q3", 240))
QUESTION_WINDOWS = {"q1": (4.0, 95.5), "q2": (96.0, 230.0), "q3": (231.0, 285.0)}


def _id(c: Candidate, *parts: str) -> str:
    return str(deterministic_event_id("sink-test", c.tenant_id, c.interview_id, *parts))


def _envelope(c: Candidate, data: dict[str, Any], *parts: str) -> dict[str, Any]:
    data = copy.deepcopy(data)
    data.update(event_id=_id(c, *parts), tenant_id=c.tenant_id, interview_id=c.interview_id)
    data["occurred_at"] = (c.started_at + timedelta(minutes=10)).isoformat()
    if "context" in data:
        ctx = data["context"]
        ctx.update(candidate_ref=c.candidate_ref, interview_started_at=c.started_at.isoformat())
        ctx["job"].update(job_id=c.job_id, title=c.job_title)
    return data


def eye_contact(c: Candidate, question: str, offset: int) -> float:
    """Eye contact of one second: higher for stronger candidates, dropping under pressure for weak ones."""
    base = 0.35 + 0.55 * c.quality
    if question == "q3":
        base -= 0.3 * (1 - c.quality)
    return round(min(1.0, max(0.0, base + (0.02 if offset % 2 else -0.02))), 3)


def vision_event(c: Candidate, index: int) -> VisionFeatures:
    question, start = CHUNKS[index]
    data = _envelope(c, example("vision-features"), "vision", str(index))
    data.update(chunk_index=index, total_chunks=len(CHUNKS), start_s=float(start), end_s=float(start + 10))
    seconds = []
    for offset in range(10):
        row = copy.deepcopy(data["seconds"][0])
        row.update(second=start + offset, eye_contact_ratio=eye_contact(c, question, offset))
        row["smile_intensity"] = round(0.1 + 0.5 * c.quality, 3)
        seconds.append(row)
    data["seconds"] = seconds
    summary = data["summary"]
    summary["eye_contact_ratio"] = round(sum(s["eye_contact_ratio"] for s in seconds) / len(seconds), 4)
    summary["episodes"] = {
        "look_away": [{"start_s": start + 2.0, "end_s": start + 2.0 + round(4 * (1 - c.quality), 2) + 0.5}],
        "smile": [],
        "face_absent": [],
        "second_face": [],
    }
    summary["look_away_count"] = 1
    blinks = blink_count(c)
    summary["face_landmarks"].update(
        frames_measured=100,
        measured_s=10.0,
        blink_count=blinks,
        eyes_closed=[{"start_s": start + 0.5 + k, "end_s": start + 0.7 + k} for k in range(blinks)],
    )
    data["body"] = [
        {
            "t_s": start + k + 0.5,
            "hands": 1 if k < hand_touches(c) else 0,
            "hand_face_touch": True if k < hand_touches(c) else None,
            "body": True,
            "shoulder_tilt_deg": 2.0,
            "shoulder_width": 0.3,
            "shoulder_centre": [0.5, 0.8],
            "head_height": 0.6,
        }
        for k in range(10)
    ]
    data["gaze"] = []  # no per-frame gaze: fusion keeps the eye contact and look-aways these rows describe
    return VisionFeatures.model_validate(data)


def blink_count(c: Candidate) -> int:
    """Blinks in each 10-s chunk: more for weaker (more nervous) candidates."""
    return round(2 + 6 * (1 - c.quality))


def hand_touches(c: Candidate) -> int:
    """Samples of each chunk (one a second) with a hand on the face: more for weaker candidates."""
    return round(4 * (1 - c.quality))


def speech_event(c: Candidate, index: int) -> SpeechResults:
    question = CHUNKS[index][0]
    start, end = QUESTION_WINDOWS[question]
    data = _envelope(c, example("speech-results"), "speech", str(index))
    data.update(segment_index=index, total_segments=len(CHUNKS), question_id=question, start_s=start, end_s=end)
    data["metrics"].update(
        duration_s=end - start, wpm=round(95 + 60 * c.quality, 1), filler_count=round(12 * (1 - c.quality))
    )
    data["metrics"]["filler_rate"] = round(data["metrics"]["filler_count"] / ((end - start) / 60), 2)
    for i, score in enumerate(data["competency_scores"]):
        score["score"] = round(min(100.0, 30 + 60 * c.quality + 3 * i + index), 1)
        for quote in score["evidence"]:  # keep the quotes inside this answer's window
            quote.update(start_s=start + 5 + i, end_s=start + 8 + i)
    words = data["words"]
    for w, word in enumerate(words):
        word.update(start_s=start + 1 + w * 0.4, end_s=start + 1.3 + w * 0.4)
    return SpeechResults.model_validate(data)


def profile_event(c: Candidate, version: int) -> ProfileReady:
    data = _envelope(c, example("profile-ready"), "profile", str(version))
    data.update(profile_id=_id(c, "profile-id", str(version)), profile_version=version, label=c.label)
    for i, dim in enumerate(data["dimensions"]):
        dim["score"] = round(min(100.0, 25 + 65 * c.quality + 2 * i + version), 1)
    data["overall"] = round(sum(d["score"] for d in data["dimensions"]) / len(data["dimensions"]), 1)
    data["data_quality"] = list(c.data_quality)
    return ProfileReady.model_validate(data)


def profile_time(c: Candidate) -> datetime:
    """When the candidate's profiles were produced (every version: see `_envelope`)."""
    return c.started_at + timedelta(minutes=10)


def decision_event(c: Candidate, index: int) -> ReviewDecision:
    review = c.reviews[index]
    assert c.label is not None
    decided = profile_time(c) + timedelta(hours=review.hours)
    confirm = review.label == c.label
    data = {
        **_envelope(c, {"occurred_at": ""}, "review", str(index)),
        "event_type": "review-decision",
        "decision_id": f"rd-{c.interview_id}-{index}",
        "profile_version": review.profile_version,
        "suggested_label": c.label,
        "action": "confirm" if confirm else "override",
        "override_label": None if confirm else review.label,
        "reason_codes": list(review.reasons) or None,
        "note": None if confirm else f"reviewed version {review.profile_version}",
        "reviewer_id": review.reviewer,
        "reviewer_role": "recruiter",
        "decided_at": decided.isoformat(),
    }
    data["occurred_at"] = decided.isoformat()
    return ReviewDecision.model_validate(data)


def outcome_event(c: Candidate) -> CandidateOutcome:
    assert c.outcome is not None
    stage, rating = c.outcome
    hired = c.started_at + timedelta(days=14)
    recorded = hired + timedelta(days=190)
    data = {
        **_envelope(c, {"occurred_at": ""}, "outcome"),
        "event_type": "candidate-outcome",
        "candidate_ref": c.candidate_ref,
        "job_id": c.job_id,
        "stage": stage,
        "hired_at": hired.isoformat() if stage == "hired" else None,
        "tenure_days": 190 if stage == "hired" else None,
        "ratings": [
            {"measure": "performance", "value": rating, "scale_min": 1, "scale_max": 5, "at_months": 6,
             "rated_at": (recorded - timedelta(days=2)).isoformat()},
        ] if rating is not None else [],
        "recorded_at": recorded.isoformat(),
    }  # fmt: skip
    data["occurred_at"] = recorded.isoformat()
    return CandidateOutcome.model_validate(data)


def status_event(c: Candidate, stage: str, state: str) -> StageStatus:
    data = _envelope(c, example("stage-status.failed" if state == "failed" else "stage-status"), stage, state)
    data.update(stage=stage, state=state, unit=None, emitted={}, detail={})
    if state != "failed":
        data["reason"] = None
    return StageStatus.model_validate(data)


def interview_events(c: Candidate) -> list[EventBase]:
    """What the pipeline would have produced for the candidate's interview."""
    media = _envelope(c, example("media-ingested"), "media")
    events: list[EventBase] = [MediaIngested.model_validate(media), status_event(c, "ingest", "completed")]
    if c.failed_stage is not None:
        return [*events, status_event(c, c.failed_stage, "failed")]
    events += [vision_event(c, i) for i in range(len(CHUNKS))]
    events += [speech_event(c, i) for i in range(len(CHUNKS))]
    events += [status_event(c, s, "completed") for s in ("frames", "vision", "speech")]
    if c.label is not None:
        events += [profile_event(c, v) for v in range(1, c.profile_versions + 1)]
        events.append(status_event(c, "fusion", "completed"))
        events += [decision_event(c, i) for i in range(len(c.reviews))]
    if c.outcome is not None:
        events.append(outcome_event(c))
    return events


async def publish_events(settings: Settings, events: Sequence[EventBase]) -> None:
    by_topic: dict[str, list[tuple[bytes | None, bytes]]] = {}
    for event in events:
        by_topic.setdefault(topic_for(event), []).append((message_key(event), encode(event)))
    for topic, messages in by_topic.items():
        await publish(settings.kafka, topic, messages)


# ---- running the sink ---------------------------------------------------------------------------------------


async def sink_settings(stack_settings: Settings, **clickhouse: Any) -> Settings:
    """Isolated topics, a database of its own and a status group of its own; many messages in flight, as
    a sink is run (handling only buffers rows)."""
    settings = isolated(stack_settings, max_in_flight=64)
    token = uuid.uuid4().hex[:8]
    settings = settings.model_copy(
        update={
            "clickhouse": settings.clickhouse.model_copy(update={"database": f"sink_{token}", **clickhouse}),
            # The examples carry a callback to an endpoint that does not exist: these tests are about rows
            # (tests/integration/test_callback.py covers the callback sender).
            "sink": settings.sink.model_copy(
                update={
                    "status_group_id": f"g-status-{token}",
                    "dead_letter_group_id": f"g-letters-{token}",
                    "callback_enabled": False,
                }
            ),
        }
    )
    await create_topics(settings.kafka, [*TOPICS.values(), *DEAD_LETTER_TOPICS])
    return settings


async def query(settings: Settings, sql: str, *, owned: bool = False) -> list[list[Any]]:
    """Rows of a query, through the owning sink while one runs (from a thread: the owner may be serving
    on this event loop); `owned`: only through a running owner (never open another process's directory)."""
    return await asyncio.to_thread(_query, settings, sql, owned)


def _query(settings: Settings, sql: str, owned: bool) -> list[list[Any]]:
    record = read_owner(settings.clickhouse.dsn)
    if owned and record is None:
        raise RuntimeError("no sink owns the directory now")
    warehouse = open_warehouse(settings.clickhouse, token=token_of("ops"))  # the platform's admin
    try:
        return warehouse.query_rows(sql.replace("sightline.", f"{settings.clickhouse.database}."))[1]
    finally:
        warehouse.close()


def stored_demographics(settings: Settings) -> list[list[Any]]:
    """Every tenant's stored self-identification (tenant, candidate, sex, race/ethnicity): no SQL names that
    table but the audit's own named query, run as the platform's auditor (services/access.py)."""
    warehouse = open_warehouse(settings.clickhouse, token=token_of("ops-auditor"))
    try:
        return warehouse.named(DEMOGRAPHICS)[1]
    finally:
        warehouse.close()


async def count(settings: Settings, table: str, final: bool = True, *, owned: bool = False) -> int:
    sql = f"SELECT count() FROM sightline.{table}{' FINAL' if final else ''}"
    return int((await query(settings, sql, owned=owned))[0][0])


async def run_sink_until(settings: Settings, group: str, done: Any, timeout_s: float = 60) -> SinkStage:
    stage = SinkStage(settings)
    worker = StageWorker(stage, settings, group_id=group)
    task = asyncio.create_task(worker.run())
    try:
        await wait_for(lambda: task.done() or done(), timeout_s, "the sink to store the rows")
    finally:
        worker.stop()
        await asyncio.wait_for(task, 60)
    return stage


def expected_counts(candidates: Sequence[Candidate]) -> dict[str, int]:
    events = [e for c in candidates for e in interview_events(c)]
    profiles = [e for e in events if isinstance(e, ProfileReady)]
    vision = [e for e in events if isinstance(e, VisionFeatures)]
    return {
        "interviews": len(candidates),
        "answers": sum(isinstance(e, SpeechResults) for e in events),
        "vision_chunks": len(vision),
        "behaviour_timeline": sum(len(v.seconds) for v in vision),
        "profiles": len(profiles),
        "profile_dimensions": sum(len(p.dimensions) for p in profiles),
        "review_decisions": sum(isinstance(e, ReviewDecision) for e in events),
        "candidate_outcomes": sum(isinstance(e, CandidateOutcome) for e in events),
    }


async def all_stored(settings: Settings, expected: dict[str, int], *, owned: bool = False) -> bool:
    tables = [table for table in expected if table != "candidate_demographics"]
    try:
        counts = ", ".join(f"(SELECT count() FROM sightline.{table} FINAL)" for table in tables)
        (row,) = await query(settings, f"SELECT {counts or 0}", owned=owned)  # one round trip per poll
        found = dict(zip(tables, row, strict=False))
        if "candidate_demographics" in expected:
            found["candidate_demographics"] = len(await asyncio.to_thread(stored_demographics, settings))
        return found == expected
    except Exception:  # tables not created yet
        return False


SNAPSHOT = {
    "interviews": "interview_id, job_id, candidate_ref, duration_s, media_flags, event_id",
    "answers": "interview_id, segment_index, question_id, pressure, wpm, competency.id, competency.score",
    "vision_chunks": "interview_id, chunk_index, eye_contact_ratio, look_away_s, event_id",
    "behaviour_timeline": "interview_id, second, chunk_index, eye_contact_ratio, smile_intensity",
    "profiles": "interview_id, profile_version, overall, label, data_quality",
    "profile_dimensions": "interview_id, profile_version, dimension, score, evidence_count",
    "review_decisions": "interview_id, decision_id, profile_version, action, final_label, reason_codes, decided_at",
    "candidate_outcomes": "interview_id, stage, rating.value, rating.at_months, tenure_days",
}


async def snapshot(settings: Settings) -> dict[str, list[list[Any]]]:
    return {
        table: await query(settings, f"SELECT {cols} FROM sightline.{table} FINAL ORDER BY {cols}")
        for table, cols in SNAPSHOT.items()
    }


#: The table holding one row per event of each type (keyed by the event's unit).
STORED_BY: dict[type[EventBase], str] = {
    MediaIngested: "interviews",
    VisionFeatures: "vision_chunks",
    SpeechResults: "answers",
    ProfileReady: "profiles",
    StageStatus: "stage_status",
    ReviewDecision: "review_decisions",
    CandidateOutcome: "candidate_outcomes",
}

CANDIDATES = (
    Candidate(
        "IV-S-1", "cand_strong01", 0.9, label="recommend", outcome=("hired", 4.0),
        reviews=(Review(1, "pending", 2, ("missing_context",)), Review(1, "recommend", 26)),
    ),
    Candidate("IV-W-1", "cand_weak0001", 0.2, label="reject", profile_versions=2),
)  # fmt: skip


async def test_events_become_rows_and_a_replay_changes_nothing(stack_settings: Settings) -> None:
    settings = await sink_settings(stack_settings)
    events = [e for c in CANDIDATES for e in interview_events(c)]
    bad = vision_event(CANDIDATES[0], 0).model_dump(mode="json")
    bad.update(event_id=str(uuid.uuid4()), chunk_index=9, total_chunks=10)
    bad["seconds"][0]["faces_max"] = 70_000  # valid by contract, too large for its column
    events.append(VisionFeatures.model_validate(bad))
    await publish_events(settings, events)
    expected = expected_counts(CANDIDATES)
    statuses = sum(isinstance(e, StageStatus) for e in events)
    sink = await run_sink_until(
        settings,
        "g-sink-1",
        lambda: _stored_with_one_rejected(settings, expected),
    )
    first = await snapshot(settings)
    # The stage-status reader reports on the sink's own registry (its /metrics), under a label of its own.
    assert sink.metrics is not None
    exposed = generate_latest(sink.metrics.registry).decode()
    status_in = f'sightline_messages_in_total{{stage="sink-status",topic="{topic_for(StageStatus)}"}}'
    assert status_in in exposed and 'sightline_messages_in_total{stage="sink",' in exposed
    # Each interview's first profile is timed from its interview-completed event (a second version is a rescore).
    assert f"sightline_profile_latency_seconds_count {float(len(CANDIDATES))}" in exposed
    assert {t: len(rows) for t, rows in first.items()} == expected
    strong = {r[0]: r for r in first["profiles"] if r[1] == 1}
    assert strong["IV-S-1"][3] == "recommend" and strong["IV-W-1"][3] == "reject"
    assert strong["IV-S-1"][2] > strong["IV-W-1"][2]
    # Both decisions stay; the later one is current. The outcome keeps its rating.
    assert [r[1:5] for r in first["review_decisions"]] == [
        ["rd-IV-S-1-0", 1, "override", "pending"],
        ["rd-IV-S-1-1", 1, "confirm", "recommend"],
    ]
    current = await query(settings, "SELECT interview_id, decision_id FROM sightline.current_review_decisions")
    assert current == [["IV-S-1", "rd-IV-S-1-1"]]
    assert first["candidate_outcomes"] == [["IV-S-1", "hired", [4.0], [6], 190]]
    q3 = [r for r in first["answers"] if r[2] == "q3"]
    assert len(q3) == 2 and all(r[3] for r in q3)
    assert [r[1] for r in first["behaviour_timeline"] if r[0] == "IV-S-1"][:3] == [10, 11, 12]

    # The malformed event is set aside with its reason; the rest of its batch was stored.
    (rejected,) = await query(settings, "SELECT target_table, reason FROM sightline.sink_rejected_rows FINAL")
    assert rejected[0] == "vision-features" and "faces_max=70000" in rejected[1]
    assert await count(settings, "vision_chunks") == expected["vision_chunks"]
    # Statuses: every pipeline status, plus the sink's own, including the failure with its reason.
    assert len(await query(settings, "SELECT 1 FROM sightline.stage_status FINAL WHERE stage != 'sink'")) == statuses
    columns = await query(
        settings,
        f"SELECT table, groupArray(name) FROM system.columns WHERE database = '{settings.clickhouse.database}' "
        "GROUP BY table",
    )
    stored = {table: set(names) for table, names in columns}
    for table, names in COLUMNS.items():
        assert set(names) <= stored[table], table

    # Replaying every topic (a new consumer group reads it all again, and the events are re-published).
    await publish_events(settings, events)
    await run_sink_until(
        settings, "g-sink-2", lambda: _committed_at_least(settings, "g-sink-2", 2 * len(_data_events(events)))
    )
    assert await snapshot(settings) == first
    (duplicates,) = await query(
        settings,
        "SELECT count() FROM (SELECT interview_id, second, chunk_index FROM sightline.behaviour_timeline FINAL "
        "GROUP BY interview_id, second, chunk_index HAVING count() > 1)",
    )
    assert duplicates == [0]


async def _stored_with_one_rejected(settings: Settings, expected: dict[str, int]) -> bool:
    stored = await all_stored(settings, expected)
    return stored and await count(settings, "sink_rejected_rows") == 1 and await _sink_failed(settings)


async def _sink_failed(settings: Settings) -> bool:
    rows = await query(
        settings,
        "SELECT reason_code, reason_message FROM sightline.stage_status FINAL "
        "WHERE stage = 'sink' AND state = 'failed'",
    )
    return len(rows) == 1 and rows[0][0] == "invalid_row" and "faces_max" in rows[0][1]


async def test_a_failed_insert_blocks_the_commit_until_clickhouse_takes_the_rows(stack_settings: Settings) -> None:
    settings = await sink_settings(stack_settings)
    candidate = Candidate("IV-BLOCK-1", "cand_block01", 0.6)
    answers = [speech_event(candidate, i) for i in range(len(CHUNKS))]
    stage = SinkStage(settings)
    worker = StageWorker(stage, settings, group_id="g-block")
    task = asyncio.create_task(worker.run())
    admin = DirectWarehouse(settings.clickhouse)  # same process as the owning sink: shares its engine
    db = settings.clickhouse.database
    try:
        await wait_for(lambda: read_owner(settings.clickhouse.dsn) is not None, 30, "the sink to start")
        await wait_for(lambda: _has_table(settings, "answers"), 30, "the migrations")
        admin.command(f"RENAME TABLE {db}.answers TO {db}.answers_offline")  # inserts now fail
        await publish_events(settings, answers)
        await wait_for(lambda: stage.batches.pending >= len(answers), 30, "the answers to be buffered")
        await asyncio.sleep(4 * settings.worker.commit_interval_s + 1.0)  # several commit attempts
        assert await committed_total(settings.kafka, "g-block", TOPICS[SpeechResults]) == 0
        assert stage.batches.pending >= len(answers)
        admin.command(f"RENAME TABLE {db}.answers_offline TO {db}.answers")  # ClickHouse is back
        await wait_for(
            lambda: _committed_is(settings, "g-block", TOPICS[SpeechResults], len(answers)), 30, "the commit"
        )
        assert await count(settings, "answers") == len(answers)
        assert stage.batches.pending == 0
    finally:
        admin.close()
        worker.stop()
        await asyncio.wait_for(task, 60)


async def _has_table(settings: Settings, table: str) -> bool:
    return bool((await query(settings, f"EXISTS TABLE sightline.{table}"))[0][0])


async def _committed_is(settings: Settings, group: str, topic: str, n: int) -> bool:
    return await committed_total(settings.kafka, group, topic) == n


# ---- a sink process killed mid-batch ------------------------------------------------------------------------


def _spawn_sink(settings: Settings, ch: ClickHouseSettings, **env: str) -> subprocess.Popen[bytes]:
    variables = {
        **os.environ,
        "SIGHTLINE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "SIGHTLINE_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "SIGHTLINE_CLICKHOUSE__DSN": ch.dsn,
        "SIGHTLINE_CLICKHOUSE__DATABASE": ch.database,
        "SIGHTLINE_SINK__STATUS_GROUP_ID": settings.sink.status_group_id,
        "SIGHTLINE_SINK__DEAD_LETTER_GROUP_ID": settings.sink.dead_letter_group_id,
        "SIGHTLINE_SINK__CALLBACK_ENABLED": "false",  # rows only, as in sink_settings
        # A killed member holds its partitions until its session expires: keep that short.
        "SIGHTLINE_KAFKA__SESSION_TIMEOUT_MS": "3000",
        "SIGHTLINE_KAFKA__HEARTBEAT_INTERVAL_MS": "1000",
        "SIGHTLINE_OBSERVABILITY__LOG_FORMAT": "text",
        "SIGHTLINE_OBSERVABILITY__LOG_LEVEL": "WARNING",
        **env,
    }
    command = [sys.executable, "-m", "services.cli", "worker", "--group", "g-kill", "services.sink.stage:make"]
    return subprocess.Popen(command, env=variables, cwd=ROOT)


def _data_events(events: Sequence[EventBase]) -> list[EventBase]:
    return [e for e in events if not isinstance(e, StageStatus)]


async def _sink_completed(settings: Settings, interview_id: str, n: int) -> None:
    def done(records: list[Any]) -> bool:
        return len(_completed_by_sink(records, interview_id)) >= n

    await read_topic(settings.kafka, TOPICS[StageStatus], done, 60)


def _completed_by_sink(records: list[Any], interview_id: str) -> set[uuid.UUID]:
    statuses = [StageStatus.model_validate_json(r.value) for r in records]
    return {
        s.event_id for s in statuses if s.stage == "sink" and s.state == "completed" and s.interview_id == interview_id
    }


async def _committed_data(settings: Settings, group: str) -> int:
    topics = [t for cls, t in TOPICS.items() if cls is not StageStatus]
    return sum([await committed_total(settings.kafka, group, t) for t in topics])


async def test_a_sink_killed_mid_batch_loses_and_duplicates_nothing(stack_settings: Settings, tmp_path: Path) -> None:
    settings = await sink_settings(stack_settings)
    own = settings.model_copy(
        update={"clickhouse": ClickHouseSettings(dsn=f"chdb://{tmp_path / 'chdb'}", database="killed")}
    )
    first, second = (
        Candidate("IV-K-1", "cand_kill0001", 0.7, label="recommend"),
        Candidate("IV-K-2", "cand_kill0002", 0.3),
    )
    await publish_events(settings, interview_events(first))
    # Nothing is committed in this run; rows reach ClickHouse only when 4 s old.
    proc = _spawn_sink(
        settings,
        own.clickhouse,
        SIGHTLINE_WORKER__COMMIT_INTERVAL_S="600",
        SIGHTLINE_CLICKHOUSE__INSERT_BATCH_SECONDS="4",
    )
    try:
        await wait_for(lambda: all_stored(own, expected_counts([first]), owned=True), 90, "the first interview")
        await publish_events(settings, interview_events(second))
        await _sink_completed(settings, second.interview_id, len(_data_events(interview_events(second))))
        assert await count(own, "answers", owned=True) == expected_counts([first])["answers"]  # the second is buffered
    finally:
        proc.send_signal(signal.SIGKILL)  # mid-batch: rows of the second interview only in memory
        proc.wait(30)
    assert await _committed_data(settings, "g-kill") == 0

    restarted = _spawn_sink(settings, own.clickhouse, SIGHTLINE_CLICKHOUSE__INSERT_BATCH_SECONDS="0.3")
    both = [first, second]
    events = [e for c in both for e in _data_events(interview_events(c))]
    try:
        await wait_for(lambda: all_stored(own, expected_counts(both), owned=True), 90, "every row after the restart")
        await wait_for(lambda: _committed_is_all(settings, len(events)), 60, "the restarted sink to commit")
        published = [e for c in both for e in interview_events(c)]
        for cls, table in STORED_BY.items():
            pipeline_only = " WHERE stage != 'sink'" if cls is StageStatus else ""  # not the sink's own
            sql = f"SELECT toString(event_id) FROM sightline.{table} FINAL{pipeline_only}"
            stored = sorted(r[0] for r in await query(own, sql, owned=True))
            wanted = sorted(str(e.event_id) for e in published if isinstance(e, cls))
            assert stored == wanted, table  # each event's row exactly once: none lost, none doubled
    finally:
        restarted.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(restarted.wait, 60) == 0


async def _committed_at_least(settings: Settings, group: str, n: int) -> bool:
    return await _committed_data(settings, group) >= n


async def _committed_is_all(settings: Settings, n: int) -> bool:
    return await _committed_data(settings, "g-kill") == n


async def test_a_row_clickhouse_refuses_is_set_aside_and_the_rest_of_its_batch_is_written(
    stack_settings: Settings,
) -> None:
    ch = stack_settings.clickhouse.model_copy(update={"database": f"sink_{uuid.uuid4().hex[:8]}", "max_attempts": 1})
    warehouse = DirectWarehouse(ch)
    try:
        migrate(warehouse)
        rows = [r for r in rows_for(vision_event(CANDIDATES[0], 1)) if r.table == "behaviour_timeline"]
        bad = rows[3]
        rows[3] = Row(bad.table, bad.key, {**bad.values, "faces_max": 70_000})  # bypasses the mapper's check
        batches = TableBatches(ch.database, max_rows=100, max_age_s=60)
        batches.add(rows)
        assert batches.flush(warehouse) == len(rows) - 1 and batches.pending == 0
        db = ch.database
        _, stored = warehouse.query_rows(f"SELECT second FROM {db}.behaviour_timeline FINAL ORDER BY second")
        assert [s for (s,) in stored] == [r.values["second"] for r in rows if r is not rows[3]]
        sql = f"SELECT target_table, row_key, reason, row_json FROM {db}.sink_rejected_rows"
        _, refused = warehouse.query_rows(sql)
        assert [r[:2] for r in refused] == [["behaviour_timeline", bad.key]] and "faces_max" in refused[0][2]
        assert '"faces_max": 70000' in refused[0][3]
    finally:
        warehouse.close()
