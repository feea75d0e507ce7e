"""The sink's dead-letter reader: every stage's dead letters into the `dead_letters` table.

A loop of its own in the sink process (like the stage-status reader, services.sink.stage) reads every
``sightline.dead-letter.<stage>.v1`` topic and buffers one row per letter in the sink's batches, so the rows
reach ClickHouse before the offsets are committed. Rows are keyed by the letter's stage and source record
(ReplacingMergeTree) and inserted one per letter with its own deduplication token (services.sink.batches):
reading the letters again stores nothing twice.

Dead letters are not interview events: the reader decodes them itself (`DeadLetterProcessor`) and reports no
stage status (a status per dead letter would say "sink completed" about an interview that failed). A record
on a dead-letter topic that is not a dead letter is set aside in `sink_rejected_rows` with the reason, and
committed: dead-lettering it again would only feed the same topics.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from services.common.contracts import ContractError, EventBase, StageName, dead_letter_topic, decode_dead_letter
from services.common.handler import MessageMeta
from services.common.processing import MessageProcessor
from services.sink.rows import Row, RowError, dead_letter_rows

if TYPE_CHECKING:
    from services.sink.stage import SinkStage

log = logging.getLogger(__name__)

#: Failure code of a record on a dead-letter topic that could not be stored (metrics, rejected rows).
UNREADABLE_LETTER = "invalid_dead_letter"


class DeadLetterInput:
    """The dead-letter half of the sink, run by the sink's `DeadLetterWorker` with its own consumer group."""

    stage = StageName.SINK
    input_topics: Sequence[str] = tuple(dead_letter_topic(stage) for stage in StageName)

    def __init__(self, sink: SinkStage) -> None:
        self.sink = sink
        self.max_in_flight = sink.max_in_flight

    async def handle(self, event: EventBase, meta: MessageMeta) -> Sequence[EventBase]:
        raise TypeError(f"{meta.source}: dead-letter topics carry no events; DeadLetterProcessor reads them")

    async def store(self, meta: MessageMeta, value: bytes) -> str | None:
        """Buffer the record's row; returns why it could not be stored as a dead letter, if it could not."""
        try:
            letter = decode_dead_letter(value)
            if (
                letter.tenant_id
                and letter.interview_id
                and self.sink.is_erased_interview(letter.tenant_id, letter.interview_id)
            ):
                return None  # a letter about an erased interview, written after the erasure: not kept
            rows = dead_letter_rows(letter)
        except (ContractError, RowError) as exc:
            reason = f"{meta.source}: not a storable dead letter: {exc}"[:4000]
            await self.sink.add([Row("sink_rejected_rows", meta.source, _rejected(meta, reason))])
            return reason
        await self.sink.add(rows)
        return None

    async def flush(self) -> None:
        await self.sink.flush()


def _rejected(meta: MessageMeta, reason: str) -> dict[str, str]:
    return {"target_table": "dead_letters", "row_key": meta.source, "reason": reason, "row_json": ""}


class DeadLetterProcessor(MessageProcessor):
    """`MessageProcessor` for dead-letter topics: decode a letter and store it; no statuses, no dead letters."""

    handler: DeadLetterInput

    async def _process_record(self, meta: MessageMeta, value: bytes) -> None:
        problem = await self.handler.store(meta, value)
        if problem is not None:
            log.warning("unreadable dead letter set aside", extra={"error": problem})
            self.metrics.messages_failed.labels(self.metrics_label, UNREADABLE_LETTER).inc()


__all__ = ["UNREADABLE_LETTER", "DeadLetterInput", "DeadLetterProcessor"]
