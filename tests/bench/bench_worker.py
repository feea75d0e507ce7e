"""Stream-engine throughput (the worker loop and faust) against a naive consumer, on the same broker and the
same messages.

The handler stands for a stage doing I/O (an object-store read, a model call on another device):
it awaits `IO_WAIT_S` per message. The naive baseline is the textbook loop — take one message,
handle it, produce and wait for the acknowledgement, commit, repeat. Both engines overlap handling,
producing and committing across `max_in_flight` messages.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.common.contracts import (
    EventBase,
    InterviewCompleted,
    MediaIngested,
    StageName,
    StageStatus,
    dead_letter_topic,
    decode,
    deterministic_event_id,
    encode,
    message_key,
    topic_for,
)
from services.common.engines import create_worker
from services.common.handler import MessageMeta
from services.common.kafka import connection_kwargs, physical_topic
from services.common.settings import Settings
from tests.integration.kafka_helpers import create_topics, isolated, publish, wait_for
from tests.integration.stage_fixtures import example

IO_WAIT_S = 0.01
IN = topic_for(InterviewCompleted)
OUT = topic_for(MediaIngested)


class IoBoundStage:
    stage = StageName.INGEST
    input_topics: Sequence[str] = (IN,)

    def __init__(self) -> None:
        self.done = 0
        self.template = MediaIngested.model_validate(example("media-ingested"))

    async def handle(self, event: EventBase, meta: MessageMeta) -> Sequence[EventBase]:
        await asyncio.sleep(IO_WAIT_S)
        self.done += 1
        return [self.template.model_copy(update={"event_id": deterministic_event_id("b", event.event_id.hex)})]


def _events(n: int) -> list[tuple[bytes | None, bytes]]:
    base = InterviewCompleted.model_validate(example("interview-completed"))
    out = []
    for i in range(n):
        ev = base.model_copy(update={"interview_id": f"bench-{i}", "event_id": uuid.uuid4()})
        out.append((message_key(ev), encode(ev)))
    return out


async def _naive(settings: Settings, n: int) -> float:
    kafka = settings.kafka
    consumer = AIOKafkaConsumer(
        physical_topic(kafka, IN),
        **connection_kwargs(kafka, "naive"),
        group_id="naive",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
    )
    producer = AIOKafkaProducer(**connection_kwargs(kafka, "naive-p"), acks="all", enable_idempotence=False)
    await consumer.start()
    await producer.start()
    stage = IoBoundStage()
    started = time.perf_counter()
    try:
        while stage.done < n:
            record = await consumer.getone()
            event = decode(IN, record.value or b"")
            meta = MessageMeta(record.topic, record.partition, record.offset, record.key, record.timestamp, ())
            for out in await stage.handle(event, meta):
                await producer.send_and_wait(physical_topic(kafka, OUT), encode(out), key=message_key(out))
            await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()
    return time.perf_counter() - started


async def _worker(settings: Settings, n: int) -> float:
    stage = IoBoundStage()
    worker = create_worker(stage, settings, group_id=f"engine-{settings.worker.engine}")
    started = time.perf_counter()
    task = asyncio.create_task(worker.run())
    await wait_for(lambda: stage.done >= n, 600, "benchmark messages")
    elapsed = time.perf_counter() - started
    worker.stop()
    await task
    return elapsed


async def run(stack: Settings, n: int = 1000) -> dict[str, Any]:
    results: dict[str, Any] = {"messages": n, "handler_io_wait_s": IO_WAIT_S}
    engine = {"max_in_flight": 32, "poll_max_records": 200}
    for name, fn, extra in (
        ("naive", _naive, {}),
        ("worker", _worker, {**engine, "engine": "loop"}),
        ("faust", _worker, {**engine, "engine": "faust"}),
    ):
        settings = isolated(stack, **extra)
        await create_topics(
            settings.kafka, [IN, OUT, topic_for(StageStatus), dead_letter_topic("ingest")], partitions=4
        )
        await publish(settings.kafka, IN, _events(n))
        elapsed = await fn(settings, n)
        results[name] = {"seconds": round(elapsed, 3), "messages_per_s": round(n / elapsed, 1)}
    results["speedup"] = round(results["worker"]["messages_per_s"] / results["naive"]["messages_per_s"], 2)
    results["faust_speedup"] = round(results["faust"]["messages_per_s"] / results["naive"]["messages_per_s"], 2)
    return results
