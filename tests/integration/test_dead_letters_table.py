"""Dead letters in ClickHouse: real stages dead-letter poison messages, the sink's dead-letter reader stores them
in `dead_letters` with their reasons, `sightline dlq ... --from table` replays them byte for byte, and reading
the dead letters again stores nothing twice."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaProducer

from services.common.contracts import (
    CandidateDemographics,
    InterviewCompleted,
    MediaIngested,
    StageStatus,
    dead_letter_topic,
    topic_for,
)
from services.common.kafka import connection_kwargs, physical_topic
from services.common.objectstore import ObjectStore
from services.common.settings import Settings
from services.common.worker import StageWorker
from services.dlq import REPLAY_HEADER
from services.ingest.stage import IngestStage
from services.sink.stage import SinkStage
from tests.integration.kafka_helpers import committed_total, create_topics, read_all, read_topic, wait_for
from tests.integration.stage_fixtures import example
from tests.integration.test_sink import ROOT, count, query, sink_settings

INTERVIEWS = topic_for(InterviewCompleted)
DEMOGRAPHICS = topic_for(CandidateDemographics)
#: A string that must never leave Kafka: it stands in a demographics payload.
PRIVATE = "prefers-not-to-say-but-wrote-it-anyway"


def _poison_interview() -> bytes:
    """JSON that names its interview but breaks the contract (no media, no consent...)."""
    document = {
        "schema_version": "1.0",
        "event_type": "interview-completed",
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2026-11-02T09:00:00Z",
        "tenant_id": "acme-eu",
        "interview_id": "iv-poison-1",
    }
    return json.dumps(document).encode()


def _poison_demographics() -> bytes:
    document = dict(example("candidate-demographics"), event_id=str(uuid.uuid4()), sex=PRIVATE)
    return json.dumps(document).encode()


async def _send(settings: Settings, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(**connection_kwargs(settings.kafka, "test"), acks="all", enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(physical_topic(settings.kafka, topic), value, key=key, headers=headers)
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def _running_sink(settings: Settings, group: str) -> AsyncIterator[SinkStage]:
    stage = SinkStage(settings)
    worker = StageWorker(stage, settings, group_id=group)
    task = asyncio.create_task(worker.run())
    try:
        yield stage
    finally:
        worker.stop()
        await asyncio.wait_for(task, 60)


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SIGHTLINE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "SIGHTLINE_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "SIGHTLINE_CLICKHOUSE__DSN": settings.clickhouse.dsn,
        "SIGHTLINE_CLICKHOUSE__DATABASE": settings.clickhouse.database,
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "dlq", *args], env=env, capture_output=True, text=True, timeout=120,
        cwd=ROOT,
    )  # fmt: skip


async def _letters(settings: Settings) -> dict[str, list[Any]]:
    rows = await query(
        settings,
        "SELECT stage, source_topic, tenant_id, interview_id, error_type, error_code, error_message, retryable, "
        "attempts, payload_b64, payload_withheld, letter_json FROM sightline.dead_letters FINAL",
    )
    return {row[0]: row for row in rows}


async def _stored(settings: Settings, n: int) -> bool:
    exists = (await query(settings, "EXISTS TABLE sightline.dead_letters"))[0][0]
    return bool(exists) and await count(settings, "dead_letters") >= n


async def test_dead_letters_of_real_stages_land_in_the_table_and_replay_from_it(stack_settings: Settings) -> None:
    settings = await sink_settings(stack_settings)
    await create_topics(settings.kafka, [INTERVIEWS, topic_for(MediaIngested), topic_for(StageStatus)])
    poison = _poison_interview()
    headers = [("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), ("x-bin", b"\x00\xff")]
    await _send(settings, INTERVIEWS, poison, b"acme-eu/iv-poison-1", headers)
    private = _poison_demographics()
    await _send(settings, DEMOGRAPHICS, private, b"acme-us/cand_5d21b8e07a", [])

    # Ingest, for real, gives up on the malformed interview.
    ingest = StageWorker(
        IngestStage(ObjectStore(settings.s3), f"raw-{uuid.uuid4().hex[:12]}"), settings, group_id="g-in"
    )
    task = asyncio.create_task(ingest.run())
    try:
        await read_topic(settings.kafka, dead_letter_topic("ingest"), lambda records: len(records) >= 1)
    finally:
        ingest.stop()
        await asyncio.wait_for(task, 60)

    # The sink dead-letters the malformed demographics itself, and its dead-letter reader stores both letters.
    async with _running_sink(settings, "g-sink-a"):
        await wait_for(lambda: _stored(settings, 2), 60, "both dead letters in the table")
        letters = await _letters(settings)
        assert set(letters) == {"ingest", "sink"}
        _, source, tenant, interview, error_type, code, message, retryable, attempts, payload, withheld, _ = letters[
            "ingest"
        ]
        assert (source, tenant, interview, error_type, code) == (
            INTERVIEWS, "acme-eu", "iv-poison-1", "ContractError", "invalid_event",
        )  # fmt: skip
        assert "field required" in message and not retryable and attempts == 1
        assert base64.b64decode(payload) == poison and not withheld
        # Demographics: the reason is kept, the payload is not, and its value shows nowhere in the row.
        demographics = letters["sink"]
        assert demographics[1] == DEMOGRAPHICS and "sex" in demographics[6]
        assert demographics[9] == "" and demographics[10] is True
        assert PRIVATE not in json.dumps(demographics, default=str)
        assert base64.b64encode(PRIVATE.encode()).decode()[:12] not in json.dumps(demographics, default=str)

        # Listing from the table shows what the topic shows, without payloads.
        listed = await asyncio.to_thread(_cli, settings, "list", "sink", "--from", "table", "--format", "json")
        assert listed.returncode == 0, listed.stderr
        (doc,) = map(json.loads, listed.stdout.splitlines())
        assert doc["source"]["topic"] == DEMOGRAPHICS and "payload_b64" not in doc and PRIVATE not in listed.stdout

        # Replay from the table: the exact bytes, key and headers go back where ingest read them.
        done = await asyncio.to_thread(_cli, settings, "replay", "ingest", "--from", "table")
        assert done.returncode == 0, done.stderr
        assert "replayed 1 message(s)" in done.stderr
        records = await read_topic(settings.kafka, INTERVIEWS, lambda records: len(records) >= 2)
        replayed = records[-1] if records[-1].offset > records[0].offset else records[0]
        assert replayed.value == poison and replayed.key == b"acme-eu/iv-poison-1"
        assert replayed.headers["traceparent"] == headers[0][1] and replayed.headers["x-bin"] == b"\x00\xff"
        assert REPLAY_HEADER in replayed.headers

        # The withheld demographics payload comes from the dead-letter topic, still byte for byte.
        done = await asyncio.to_thread(_cli, settings, "replay", "sink", "--from", "table")
        assert done.returncode == 0, done.stderr
        records = await read_topic(settings.kafka, DEMOGRAPHICS, lambda records: len(records) >= 2)
        assert [r.value for r in records] == [private, private] and records[1].key == b"acme-us/cand_5d21b8e07a"


async def test_reading_the_dead_letters_again_stores_nothing_twice(stack_settings: Settings) -> None:
    settings = await sink_settings(stack_settings)
    async with _running_sink(settings, "g-sink-1"):
        # Two letters stored apart (two inserts), so that reading them again together is a different batch.
        for n in (1, 2):
            await _send(settings, DEMOGRAPHICS, _poison_demographics(), f"acme-us/cand_{n}".encode(), [])
            await wait_for(lambda n=n: _stored(settings, n), 60, f"dead letter {n} in the table")

    # A replay of the sink: new groups read the data topic (the messages are dead-lettered again, the same
    # letters) and every dead-letter topic from the start.
    group = f"{settings.sink.dead_letter_group_id}-2"
    again = settings.model_copy(update={"sink": settings.sink.model_copy(update={"dead_letter_group_id": group})})
    letters = dead_letter_topic("sink")
    # And a record that is no dead letter at all, on a dead-letter topic: set aside with its reason, and passed.
    await _send(settings, letters, b"not a dead letter", b"k", [])
    async with _running_sink(again, "g-sink-2"):
        await wait_for(lambda: _committed(again, group, letters, 5), 60, "the letters read again")
    assert len(await read_all(settings.kafka, letters, quiet_s=0.5)) == 5
    assert await count(settings, "dead_letters", final=False) == 2  # not even before a merge
    assert await count(settings, "dead_letters") == 2
    (rejected,) = await query(settings, "SELECT target_table, reason FROM sightline.sink_rejected_rows FINAL")
    assert rejected[0] == "dead_letters" and "not a storable dead letter" in rejected[1] and "JSON" in rejected[1]


async def _committed(settings: Settings, group: str, topic: str, n: int) -> bool:
    return await committed_total(settings.kafka, group, topic) >= n
