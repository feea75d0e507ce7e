"""Dead letters: read a stage's dead letters and put chosen messages back where they were read.

A dead letter keeps the message byte for byte (value, key, headers) with its source topic, so a replay
republishes exactly what the stage once received; stage outputs have deterministic ids, so a message that
had partly succeeded before it was dead-lettered produces no duplicates downstream.

Letters are read from the stage's dead-letter topic or from the `dead_letters` table the sink fills from
every dead-letter topic (longer retention, queryable). The table keeps no payload of the topics in
`PRIVATE_PAYLOAD_TOPICS`; replaying such a letter from the table takes its payload from the topic.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.access import PERMITTED, Action
from services.common.contracts import (
    CandidateDemographics,
    DeadLetter,
    StageName,
    dead_letter_topic,
    decode_dead_letter,
    topic_for,
)
from services.common.kafka import connection_kwargs, create_producer, physical_topic
from services.common.named_queries import TENANT_ROWS, NamedQuery
from services.common.settings import KafkaSettings

#: Added to replayed messages so their origin is visible to operators and in consumers' logs.
REPLAY_HEADER = "sightline-replayed-from"


#: Topics whose message values are never stored outside Kafka nor shown (self-identification, docs/fairness.md).
PRIVATE_PAYLOAD_TOPICS = frozenset({topic_for(CandidateDemographics)})


@dataclass(frozen=True)
class Letter:
    offset: int | None  # on the dead-letter topic; None when read from the table
    partition: int | None
    letter: DeadLetter

    @property
    def payload_withheld(self) -> bool:
        """The payload was not stored with this letter (read from the table, of a private topic)."""
        return self.offset is None and self.letter.source.topic in PRIVATE_PAYLOAD_TOPICS


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


#: A stage's letters in the `dead_letters` table, oldest first.
LETTERS = NamedQuery(
    "dlq.letters",
    "SELECT letter_json, payload_b64 FROM {db}.dead_letters FINAL "
    f"WHERE {TENANT_ROWS} AND stage = {{stage:String}} AND letter_json != '' "
    "ORDER BY occurred_at, source_topic, source_partition, source_offset",
    PERMITTED[Action.DEAD_LETTERS],
)


def letters_from_table(rows: Iterable[Sequence[Any]]) -> list[Letter]:
    """Letters from the rows of `LETTERS`: the stored letter with its payload put back."""
    letters = []
    for letter_json, payload_b64 in rows:
        document = {**json.loads(letter_json), "payload_b64": payload_b64}
        letters.append(Letter(None, None, DeadLetter.model_validate_json(json.dumps(document))))
    return letters


async def with_withheld_payloads(kafka: KafkaSettings, stage: StageName, letters: list[Letter]) -> list[Letter]:
    """The letters, those whose payload the table withholds replaced by the same letters read from the
    dead-letter topic. Raises LookupError naming any the topic no longer holds (past its retention)."""
    withheld = {str(item.letter.event_id) for item in letters if item.payload_withheld}
    if not withheld:
        return letters
    found = select(await read_letters(kafka, stage), event_ids=withheld)
    on_topic = {str(item.letter.event_id): item for item in found}
    missing = sorted(withheld - set(on_topic))
    if missing:
        topic = dead_letter_topic(stage)
        raise LookupError(f"payload withheld from the table and gone from {topic}: {', '.join(missing)}")
    return [on_topic.get(str(item.letter.event_id), item) if item.payload_withheld else item for item in letters]


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
