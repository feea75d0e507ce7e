"""Test-side Kafka helpers: isolated topic namespaces, publishing, reading topics, committed offsets."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.common.contracts import EventBase, StageStatus, decode, topic_for
from services.common.kafka import connection_kwargs, ensure_topics, physical_group, physical_topic
from services.common.objectstore import ObjectStore
from services.common.settings import KafkaSettings, ObservabilitySettings, Settings, WorkerSettings


def pipeline_settings(settings: Settings, home: Path, **s3: Any) -> Settings:
    """`isolated` settings with buckets of their own (plus ``s3`` overrides) and an embedded database under
    ``home``, for a test that runs the whole pipeline; the buckets exist."""
    base = isolated(settings)
    suffix = uuid.uuid4().hex[:8]
    buckets = {"raw_bucket": f"raw-{suffix}", "work_bucket": f"work-{suffix}", "report_bucket": f"rep-{suffix}"}
    clickhouse = base.clickhouse.model_copy(update={"dsn": f"chdb://{home / 'chdb'}"})
    out = base.model_copy(update={"s3": base.s3.model_copy(update={**buckets, **s3}), "clickhouse": clickhouse})
    ObjectStore(out.s3).ensure_buckets()
    return out


def isolated(settings: Settings, **worker: Any) -> Settings:
    """Settings with a fresh topic namespace, quick retries and commits, for one test."""
    kafka = settings.kafka.model_copy(update={"topic_prefix": f"t{uuid.uuid4().hex[:10]}."})
    base = WorkerSettings(
        backoff_initial_s=0.05, backoff_max_s=0.2, commit_interval_s=0.2, poll_timeout_ms=100, max_attempts=3
    )
    return settings.model_copy(
        update={
            "kafka": kafka,
            "worker": base.model_copy(update=worker),
            "observability": ObservabilitySettings(http_port=0, log_format="text"),
        }
    )


async def create_topics(kafka: KafkaSettings, names: Iterable[str], partitions: int = 4) -> None:
    await ensure_topics(kafka, [(physical_topic(kafka, n), partitions) for n in names])


async def publish(kafka: KafkaSettings, topic: str, messages: Iterable[tuple[bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(**connection_kwargs(kafka, "test"), acks="all", enable_idempotence=False)
    await producer.start()
    try:
        for key, value in messages:
            await producer.send_and_wait(physical_topic(kafka, topic), value, key=key)
    finally:
        await producer.stop()


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]


async def read_topic(
    kafka: KafkaSettings,
    topic: str,
    until: Callable[[list[Record]], bool],
    timeout_s: float = 60.0,
) -> list[Record]:
    """Everything on a topic from the beginning, once `until(records)` holds (or fail at the timeout)."""
    name = physical_topic(kafka, topic)
    consumer = AIOKafkaConsumer(**connection_kwargs(kafka, "test-reader"), enable_auto_commit=False)
    await consumer.start()
    records: list[Record] = []
    try:
        partitions = consumer.partitions_for_topic(name)
        deadline = time.monotonic() + timeout_s
        while not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(name)
            if time.monotonic() > deadline:
                raise AssertionError(f"topic {name} does not exist")
            await asyncio.sleep(0.2)
        tps = [TopicPartition(name, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while not until(records):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out reading {topic}: {len(records)} records so far")
            batch = await consumer.getmany(timeout_ms=200)
            for tp, msgs in batch.items():
                records.extend(
                    Record(tp.partition, m.offset, m.key, m.value or b"", {k: bytes(v) for k, v in m.headers or ()})
                    for m in msgs
                )
    finally:
        await consumer.stop()
    return records


async def read_all(kafka: KafkaSettings, topic: str, quiet_s: float = 2.0, timeout_s: float = 60.0) -> list[Record]:
    """Everything on a topic once nothing new has arrived for `quiet_s` (to count re-deliveries)."""
    seen: list[int] = []
    last_change = [time.monotonic()]

    def settled(records: list[Record]) -> bool:
        if not seen or seen[-1] != len(records):
            seen.append(len(records))
            last_change[0] = time.monotonic()
        return time.monotonic() - last_change[0] >= quiet_s

    return await read_topic(kafka, topic, settled, timeout_s)


async def committed_total(kafka: KafkaSettings, group_id: str, topic: str) -> int:
    """Sum of the group's committed offsets over the topic's partitions (= messages done, from 0); the group
    as a worker is given it (the broker's name carries the topic prefix)."""
    name = physical_topic(kafka, topic)
    group = physical_group(kafka, group_id)
    consumer = AIOKafkaConsumer(**connection_kwargs(kafka, "test-offsets"), group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(name) or set()
        total = 0
        for p in partitions:
            committed = await consumer.committed(TopicPartition(name, p))
            total += committed or 0
        return total
    finally:
        await consumer.stop()


async def wait_for(predicate: Callable[[], Any], timeout_s: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def distinct_events(records: list[Record], topic: str) -> list[EventBase]:
    """The events on a topic, one per event id (at-least-once re-deliveries repeat ids)."""
    by_id: dict[str, EventBase] = {}
    for r in records:
        event = decode(topic, r.value)
        by_id[str(event.event_id)] = event
    return list(by_id.values())


def terminal_statuses(records: list[Record]) -> list[StageStatus]:
    """Completed and failed stage-status events, one per event id."""
    return [
        s
        for s in distinct_events(records, topic_for(StageStatus))
        if isinstance(s, StageStatus) and s.state.value in ("completed", "failed")
    ]


async def consumer_groups(kafka: KafkaSettings) -> set[str]:
    """The consumer groups the broker knows."""
    admin = AIOKafkaAdminClient(**connection_kwargs(kafka, "test-groups"))
    await admin.start()
    try:
        return {group[0] for group in await admin.list_consumer_groups()}
    finally:
        await admin.close()
