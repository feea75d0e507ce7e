"""Dead letters: read a stage's dead-letter topic and put chosen messages back where they were read.

A dead letter keeps the message byte for byte (value, key, headers) with its source topic, so a replay
republishes exactly what the stage once received; stage outputs have deterministic ids, so a message that
had partly succeeded before it was dead-lettered produces no duplicates downstream.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.common.contracts import DeadLetter, StageName, dead_letter_topic, decode_dead_letter
from services.common.kafka import connection_kwargs, create_producer, physical_topic
from services.common.settings import KafkaSettings

#: Added to replayed messages so their origin is visible to operators and in consumers' logs.
REPLAY_HEADER = "sightline-replayed-from"


@dataclass(frozen=True)
class Letter:
    offset: int  # on the dead-letter topic
    partition: int
    letter: DeadLetter


async def read_letters(kafka: KafkaSettings, stage: StageName, *, idle_ms: int = 1500) -> list[Letter]:
    """Every dead letter of the stage, oldest first per partition (no consumer group: nothing is committed)."""
    name = physical_topic(kafka, dead_letter_topic(stage.value))
    consumer = AIOKafkaConsumer(**connection_kwargs(kafka, "dlq-reader"), enable_auto_commit=False)
    await consumer.start()
    letters: list[Letter] = []
    try:
        partitions = consumer.partitions_for_topic(name)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(name) or set()
        tps = [TopicPartition(name, p) for p in sorted(partitions)]
        if not tps:
            return letters
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        # The broker's end offsets may lag, so read until the topic stays quiet rather than to an offset.
        while batch := await consumer.getmany(timeout_ms=idle_ms):
            for tp, records in batch.items():
                letters.extend(Letter(r.offset, tp.partition, decode_dead_letter(r.value or b"")) for r in records)
    finally:
        await consumer.stop()
    return sorted(letters, key=lambda x: (x.partition, x.offset))


def select(
    letters: Iterable[Letter],
    *,
    interview_id: str | None = None,
    only_retryable: bool = False,
    event_ids: set[str] | None = None,
) -> list[Letter]:
    chosen = []
    for item in letters:
        letter = item.letter
        if interview_id is not None and letter.interview_id != interview_id:
            continue
        if only_retryable and not letter.error.retryable:
            continue
        if event_ids is not None and str(letter.event_id) not in event_ids:
            continue
        chosen.append(item)
    return chosen


async def replay(kafka: KafkaSettings, letters: Iterable[Letter]) -> int:
    """Republish each letter's message to its source topic; returns how many were acknowledged."""
    producer = create_producer(kafka, "dlq-replay")
    await producer.start()
    sent = 0
    try:
        for item in letters:
            letter = item.letter
            key = base64.b64decode(letter.source.key_b64) if letter.source.key_b64 is not None else None
            headers = [
                (h.key, base64.b64decode(h.value_b64) if h.value_b64 is not None else b"")
                for h in letter.headers
                if h.key != REPLAY_HEADER
            ]
            headers.append((REPLAY_HEADER, str(letter.event_id).encode()))
            await producer.send_and_wait(
                physical_topic(kafka, letter.source.topic),
                base64.b64decode(letter.payload_b64),
                key=key,
                headers=headers,
            )
            sent += 1
    finally:
        await producer.stop()
    return sent
