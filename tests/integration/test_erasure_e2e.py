"""Erasing one of two candidates, on the local stack with encryption at rest on: after the sink carried out
`sightline erase`'s request, a search of every bucket, every table and every topic finds nothing readable of
the erased candidate and everything of the other.

Both candidates run through the whole pipeline (every stage in the real worker loop); the HR system's
review decision, outcome and self-identification of each are stored too. Records on the pipeline's own
topics are sealed with the interview's data key, so the erased candidate's stay on the topics but no
longer open; topics with the HR system at one end keep plain records until their retention drops them,
which the registry keeps within the erasure deadline.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.common.chdb_owner import open_warehouse
from services.common.clickhouse import DirectWarehouse, Warehouse
from services.common.contracts import (
    TOPICS,
    CandidateDemographics,
    CandidateOutcome,
    InterviewCompleted,
    ReviewDecision,
    decode,
    encode,
    message_key,
    topic_for,
)
from services.common.engines import create_worker
from services.common.envelope import KeyErased, create_kek_file, is_sealed, is_sealed_stream
from services.common.kafka import publish_events
from services.common.objectstore import ObjectStore
from services.common.sealing import SEALED_TOPICS, record_interview
from services.common.settings import Settings
from services.erasure.cli import candidate_request
from services.erasure.erase import RECEIPTS_TABLE, digest
from services.erasure.retention import expired_interviews
from services.frames.stage import make as make_frames
from services.fusion.stage import make as make_fusion
from services.ingest.stage import make as make_ingest
from services.samples import SampleSpec, generate_interview
from services.samples.event import interview_event
from services.sink.stage import make as make_sink
from services.speech.stage import make as make_speech
from services.vision.stage import make as make_vision
from tests.identities import token_of
from tests.integration.kafka_helpers import (
    Record,
    committed_total,
    create_topics,
    isolated,
    publish,
    read_all,
    wait_for,
)
from tests.integration.stage_fixtures import example
from tests.integration.test_sink import stored_demographics

pytestmark = pytest.mark.timeout(1200)

#: The tables every interview leaves rows in (besides the erasure receipts).
INTERVIEW_TABLES = (
    "interviews", "answers", "vision_chunks", "behaviour_timeline", "profiles", "profile_dimensions",
    "stage_status", "review_decisions", "candidate_outcomes", "candidate_demographics",
)  # fmt: skip


@pytest.fixture(scope="module")
def candidates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, InterviewCompleted]:
    out = tmp_path_factory.mktemp("erasure-samples")
    suffix = uuid.uuid4().hex[:6]
    events = {}
    for name, candidate, seed in (("erased", "strong", 31), ("kept", "weak", 32)):
        spec = SampleSpec(seed=seed, duration=20.0, fps=10, candidate=candidate)
        result = generate_interview(spec, out, name=f"erasure-{name}")
        events[name] = interview_event(result, tenant_id="acme", interview_id=f"er-{name}-{suffix}")
    return events


@pytest.fixture
def settings(stack_settings: Settings, tmp_path: Path) -> Settings:
    base = isolated(stack_settings)
    suffix = uuid.uuid4().hex[:8]
    kek = create_kek_file(tmp_path / "keys" / "kek")
    s3 = base.s3.model_copy(
        update={
            "raw_bucket": f"raw-{suffix}",
            "work_bucket": f"work-{suffix}",
            "report_bucket": f"rep-{suffix}",
            "keys_bucket": f"keys-{suffix}",
            "kek_ref": f"file:{kek}",
        }
    )
    clickhouse = base.clickhouse.model_copy(update={"dsn": f"chdb://{tmp_path / 'chdb'}"})
    retention = base.retention.model_copy(update={"sweep_interval_s": 0.0})
    settings = base.model_copy(update={"s3": s3, "clickhouse": clickhouse, "retention": retention})
    ObjectStore(settings.s3).ensure_buckets()
    return settings


def hr_events(event: InterviewCompleted) -> list[Any]:
    """The HR system's review decision, outcome and self-identification for the interview, dated now (the
    tables' TTLs drop rows dated long ago, as the examples are)."""
    now = datetime.now(UTC).isoformat()
    common = {"tenant_id": event.tenant_id, "interview_id": event.interview_id, "candidate_ref": event.candidate_ref}
    outcome = {**example("candidate-outcome"), **common, "recorded_at": now, "stage": "rejected"}
    outcome.update(hired_at=None, tenure_days=None, ratings=[], event_id=str(uuid.uuid4()))
    demographics = {**example("candidate-demographics"), **common, "collected_at": now, "event_id": str(uuid.uuid4())}
    return [
        decision(event, f"d-{event.interview_id}"),
        CandidateOutcome.model_validate(outcome),
        CandidateDemographics.model_validate(demographics),
    ]


def decision(event: InterviewCompleted, decision_id: str) -> ReviewDecision:
    data = {**example("review-decision"), "tenant_id": event.tenant_id, "interview_id": event.interview_id}
    data.update(event_id=str(uuid.uuid4()), decision_id=decision_id, decided_at=datetime.now(UTC).isoformat())
    return ReviewDecision.model_validate(data)


def count(warehouse: Warehouse, sql: str) -> int:
    _, rows = warehouse.query_rows(sql, readonly=True)
    return int(rows[0][0])


async def until_rows(settings: Settings, sql: str, wanted: int, timeout_s: float) -> None:
    """Poll the sink's warehouse (through its owner endpoint, as the platform's admin) until ``sql`` counts
    ``wanted``; demographics, which no SQL may name, are counted through the audit's named query."""

    def enough() -> bool:
        if "candidate_demographics" in sql:
            try:
                return len(stored_demographics(settings)) >= wanted
            except Exception:  # not created or not published yet
                return False
        warehouse = open_warehouse(settings.clickhouse, token=token_of("ops"))
        try:
            return count(warehouse, sql) >= wanted
        except Exception:  # the sink may not have created the tables or published its endpoint yet
            return False
        finally:
            warehouse.close()

    await wait_for(lambda: asyncio.to_thread(enough), timeout_s, sql)


async def _committed(settings: Settings, topic: str, wanted: int) -> bool:
    return await committed_total(settings.kafka, "sightline-sink", topic) >= wanted


def expired_ids(settings: Settings, now: datetime) -> set[str]:
    remote = open_warehouse(settings.clickhouse, token=token_of("ops"))
    try:
        return {e.interview_id for e in expired_interviews(remote, settings.retention, now=now)}
    finally:
        remote.close()


def mentions(blob: bytes | str, needles: list[str]) -> list[str]:
    text = blob if isinstance(blob, str) else blob.decode("utf-8", "replace")
    return [n for n in needles if n in text]


async def test_erasing_one_candidate_leaves_nothing_readable_of_them_and_all_of_the_other(
    settings: Settings, candidates: dict[str, InterviewCompleted]
) -> None:
    erased, kept = candidates["erased"], candidates["kept"]
    gone = [erased.interview_id, erased.candidate_ref]
    db = settings.clickhouse.database
    await create_topics(settings.kafka, TOPICS)
    factories = (make_ingest, make_frames, make_vision, make_speech, make_fusion, make_sink)
    workers = [create_worker(factory(settings), settings) for factory in factories]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        await publish(
            settings.kafka, topic_for(InterviewCompleted), [(message_key(e), encode(e)) for e in (erased, kept)]
        )
        await until_rows(settings, f"SELECT count() FROM {db}.latest_profiles", 2, 900)
        await publish_events(settings.kafka, [*hr_events(erased), *hr_events(kept)], "test-hr")
        for table in ("review_decisions", "candidate_outcomes", "candidate_demographics"):
            await until_rows(settings, f"SELECT count() FROM {db}.{table}", 2, 120)

        # The retention schedule would pick both interviews once their retention ended, and neither before.
        # (Queries go to the sink, which serves them from this event loop: they run in a thread.)
        started = erased.interview_started_at
        soon = await asyncio.to_thread(expired_ids, settings, started + timedelta(days=10))
        later = await asyncio.to_thread(expired_ids, settings, started + timedelta(days=366))
        assert soon == set()
        assert {erased.interview_id, kept.interview_id} <= later

        request = candidate_request("acme", erased.candidate_ref, (), "test")
        await publish_events(settings.kafka, [request], "test-erase")
        await until_rows(settings, f"SELECT count() FROM {db}.{RECEIPTS_TABLE}", 1, 180)

        # A decision about the erased candidate still on its way is dropped; one about the other is stored.
        late = [decision(e, f"late-{e.interview_id}") for e in (erased, kept)]
        await publish_events(settings.kafka, late, "test-hr")
        decisions = topic_for(ReviewDecision)
        await wait_for(lambda: _committed(settings, decisions, 4), 120, "the sink to read every decision")
        await until_rows(settings, f"SELECT count() FROM {db}.review_decisions FINAL", 2, 60)
    finally:
        for w in workers:
            w.stop()
        await asyncio.gather(*tasks, return_exceptions=True)

    store = ObjectStore(settings.s3)
    keyring = store.keyring
    assert keyring is not None

    # ---- every bucket ------------------------------------------------------------------------------------
    kept_buckets = set()
    for bucket in store.buckets():
        for key in store.list_keys(bucket):
            raw = store.client.get_object(bucket, key).read()
            assert not mentions(key, gone), f"s3://{bucket}/{key} is left of the erased candidate"
            assert not mentions(raw, gone), f"s3://{bucket}/{key} names the erased candidate"
            if kept.interview_id in key:
                kept_buckets.add(bucket)
                if "/frames/" in key or "/vision/" in key or "/fusion/" in key:
                    assert is_sealed(raw), f"per-frame data s3://{bucket}/{key} is stored unencrypted"
                    assert store.get_bytes(bucket, key)  # and opens with the interview's key
                if "/media/" in key:
                    assert is_sealed_stream(raw), f"the recording s3://{bucket}/{key} is stored unencrypted"
    assert kept_buckets == set(store.buckets()), "the other candidate keeps media, frames, reports and keys"

    # ---- every table -------------------------------------------------------------------------------------
    warehouse = DirectWarehouse(settings.clickhouse)
    try:
        _, tables = warehouse.query_rows(
            f"SELECT name FROM system.tables WHERE database = '{db}' AND engine LIKE '%MergeTree%'"
        )
        names = {str(t[0]) for t in tables}
        assert set(INTERVIEW_TABLES) | {RECEIPTS_TABLE, "dead_letters"} <= names
        for table in sorted(names):
            _, rows = warehouse.query_rows(f"SELECT * FROM {db}.{table}")
            assert not mentions(repr(rows), gone), f"{table} still holds the erased candidate"
            if table in INTERVIEW_TABLES:
                assert kept.interview_id in repr(rows) or kept.candidate_ref in repr(rows), f"{table} lost the other"
        _, receipts = warehouse.query_rows(
            f"SELECT reason, interview_digests, subject_digest, keys_destroyed, rows_deleted, objects_deleted, topics "
            f"FROM {db}.{RECEIPTS_TABLE}"
        )
        _, late = warehouse.query_rows(f"SELECT interview_id, decision_id FROM {db}.review_decisions FINAL")
    finally:
        warehouse.close()
    [(reason, interview_digests, subject, keys, rows_deleted, objects_deleted, topics)] = receipts
    assert reason == "candidate_request"
    assert interview_digests == [digest("acme", erased.interview_id)]
    assert subject == digest("acme", erased.candidate_ref)
    assert keys >= 1
    assert all(rows_deleted[t] >= 1 for t in INTERVIEW_TABLES), rows_deleted
    assert objects_deleted[settings.s3.raw_bucket] >= 1 and objects_deleted[settings.s3.work_bucket] >= 1
    assert topics["sightline.speech-results.v1"] == "crypto-shredded"
    assert sorted(r[1] for r in late) == sorted([f"d-{kept.interview_id}", f"late-{kept.interview_id}"])

    # ---- every topic -------------------------------------------------------------------------------------
    deadline_ms = settings.retention.request_deadline_days * 86_400_000
    shredded: dict[str, int] = {}
    opened_kept: set[str] = set()
    for name, spec in sorted(TOPICS.items()):
        records: list[Record] = await read_all(settings.kafka, name, quiet_s=0.5, timeout_s=60)
        for record in records:
            owner = record_interview(record.key)
            if is_sealed(record.value):
                assert name in SEALED_TOPICS
                assert owner is not None
                if owner == ("acme", erased.interview_id):
                    with pytest.raises(KeyErased):
                        keyring.open(*owner, record.value)
                    shredded[name] = shredded.get(name, 0) + 1
                else:
                    plain = keyring.open(*owner, record.value)
                    if owner[1] == kept.interview_id:
                        opened_kept.add(name)
                        assert decode(name, plain).interview_id == kept.interview_id
                continue
            assert name not in SEALED_TOPICS or not mentions(record.value, gone), f"{name}: a plain record"
            if mentions(record.value, gone):
                # The HR system's own events and the profile it reads: gone with the topic's retention.
                assert spec.retention_ms <= deadline_ms, f"{name} keeps the erased candidate past the deadline"
    for name in ("sightline.media-ingested.v1", "sightline.vision-features.v1", "sightline.speech-results.v1"):
        assert shredded.get(name, 0) >= 1, f"no sealed record of the erased interview on {name}: {shredded}"
        assert name in opened_kept
