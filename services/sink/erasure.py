"""The sink's erasure reader and retention sweep (services.erasure does the erasing).

Erasure lives in the sink because the sink owns the warehouse: with embedded chDB no other process may
write it, and the sink's own buffers must not bring an erased interview's rows back. So, per request:
the interviews are resolved, their digests join the sink's *erased* set (the sink drops any later event of
them, e.g. a review decision still on its way), buffered rows are flushed, then objects, keys and rows are
erased and the receipt is written. The erased set is loaded from the receipts at start.

Requests arrive on ``sightline.candidate-erasure-requested.v1`` (`sightline erase`, the HR system), read
by a loop of their own (`ErasureWorker`, like the stage-status and dead-letter readers). A request that
keeps failing is dead-lettered after the worker's attempts, so it can be replayed; the deadline
(`SIGHTLINE_RETENTION__REQUEST_DEADLINE_DAYS`) leaves room for that. Every `sweep_interval_s` the sink
also erases the interviews whose retention ended (services.erasure.retention), the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from services.common.contracts import (
    CandidateErasureRequested,
    ContractError,
    EventBase,
    StageName,
    decode_as,
    deterministic_event_id,
    topic_for,
)
from services.common.handler import MessageMeta
from services.common.objectstore import ObjectStore
from services.common.processing import MessageProcessor, backoff_delay
from services.common.sealing import SEALED_TOPICS
from services.erasure.erase import RECEIPTS_TABLE, Eraser, ErasureReceipt, digest
from services.erasure.retention import expired_interviews

if TYPE_CHECKING:
    from services.sink.stage import SinkStage

log = logging.getLogger(__name__)

RETENTION_EXPIRED = "retention_expired"


def retention_requests(expired: Sequence[tuple[str, str]], now: datetime) -> list[CandidateErasureRequested]:
    """One request per tenant for its expired interviews (id derived from them: a repeated sweep repeats it)."""
    by_tenant: dict[str, list[str]] = defaultdict(list)
    for tenant, interview in expired:
        by_tenant[tenant].append(interview)
    return [
        CandidateErasureRequested(
            event_id=deterministic_event_id("retention", tenant, *sorted(ids)),
            occurred_at=now,
            tenant_id=tenant,
            scope="interviews",
            interview_ids=sorted(ids)[:1000],
            reason=RETENTION_EXPIRED,
            requested_by="sightline-retention",
            requested_at=now,
        )
        for tenant, ids in sorted(by_tenant.items())
    ]


class ErasureInput:
    """The erasure half of the sink, run by `ErasureWorker` in a consumer group of its own."""

    stage = StageName.SINK
    input_topics: Sequence[str] = (topic_for(CandidateErasureRequested),)

    def __init__(self, sink: SinkStage) -> None:
        self.sink = sink
        self.max_in_flight = 1  # one erasure at a time: each rewrites table parts
        self._eraser: Eraser | None = None

    @property
    def eraser(self) -> Eraser:
        if self._eraser is None:
            assert self.sink.warehouse is not None, "the sink is not started"
            self._eraser = Eraser(self.sink.warehouse, ObjectStore(self.sink.settings.s3), sealed_topics=SEALED_TOPICS)
        return self._eraser

    async def handle(self, event: EventBase, meta: MessageMeta) -> Sequence[EventBase]:
        raise TypeError(f"{meta.source}: erasure requests are not interview events; ErasureProcessor reads them")

    async def load_erased(self) -> None:
        """The digests of every interview erased before: their late events are dropped too."""
        assert self.sink.warehouse is not None
        warehouse = self.sink.warehouse
        _, rows = await self.sink._call(
            warehouse.query_rows,
            f"SELECT DISTINCT arrayJoin(interview_digests) FROM {warehouse.database}.{RECEIPTS_TABLE}",
        )
        self.sink.erased.update(str(r[0]) for r in rows)

    async def erase(self, request: CandidateErasureRequested) -> ErasureReceipt:
        eraser = self.eraser
        interviews = set(request.interview_ids or ())
        if request.candidate_ref is not None:
            tables = await self.sink._call(eraser.tables)
            interviews |= await self.sink._call(eraser.interviews_of, request.tenant_id, request.candidate_ref, tables)
        self.sink.erased.update(digest(request.tenant_id, i) for i in interviews)
        if request.candidate_ref is not None:
            self.sink.erased.add(digest(request.tenant_id, request.candidate_ref))
        await self.sink.flush()  # rows still buffered reach their tables, and are erased with the rest
        receipt = await self.sink._call(eraser.erase, request)
        self.sink.erased.update(receipt.interview_digests)  # any interview found only once flushed, too
        log.info(
            "erasure done",
            extra={"erasure_id": receipt.erasure_id, "rows": sum(receipt.rows_deleted.values()),
                   "objects": sum(receipt.objects_deleted.values()), "keys": receipt.keys_destroyed},
        )  # fmt: skip
        return receipt

    async def sweep(self, now: datetime | None = None) -> list[ErasureReceipt]:
        """Erase every interview whose retention ended."""
        now = now or datetime.now(UTC)
        assert self.sink.warehouse is not None
        warehouse, retention = self.sink.warehouse, self.sink.settings.retention
        expired = await self.sink._call(lambda: expired_interviews(warehouse, retention, now=now))
        requests = retention_requests([(e.tenant_id, e.interview_id) for e in expired], now)
        return [await self.erase(r) for r in requests]

    async def sweep_periodically(self) -> None:
        interval = self.sink.settings.retention.sweep_interval_s
        while interval > 0:
            try:
                receipts = await self.sweep()
                if receipts:
                    log.info("retention sweep erased interviews", extra={"erasures": len(receipts)})
            except Exception:  # the next sweep tries again; the ClickHouse TTLs stay the backstop
                log.exception("retention sweep failed")
            await asyncio.sleep(interval)

    async def flush(self) -> None:
        await self.sink.flush()


class ErasureProcessor(MessageProcessor):
    """`MessageProcessor` for erasure requests: decode, erase with retries, dead-letter what still fails.
    No stage statuses: a request is about a candidate, not an interview; its receipt is the record."""

    handler: ErasureInput

    async def _process_record(self, meta: MessageMeta, value: bytes) -> None:
        try:
            request = decode_as(CandidateErasureRequested, value, topic=meta.topic)
        except ContractError as exc:
            log.warning("malformed erasure request", extra={"error": str(exc)})
            await self._dead_letter(meta, value, exc, attempts=1, retryable=False)
            self.metrics.messages_failed.labels(self.metrics_label, "invalid_event").inc()
            return
        worker = self.settings.worker
        for attempt in range(1, worker.max_attempts + 1):
            try:
                await self.handler.erase(request)
                return
            except Exception as exc:
                if attempt >= worker.max_attempts:
                    log.exception("erasure failed after %d attempts; dead-lettered for replay", attempt)
                    await self._dead_letter(meta, value, exc, attempts=attempt, retryable=True)
                    self.metrics.messages_failed.labels(self.metrics_label, "erasure_failed").inc()
                    return
                delay = backoff_delay(attempt, worker.backoff_initial_s, worker.backoff_max_s)
                log.warning("erasure attempt %d failed, retrying in %.2fs: %s", attempt, delay, exc)
                self.metrics.messages_retried.labels(self.metrics_label).inc()
                await asyncio.sleep(delay)


__all__ = ["RETENTION_EXPIRED", "ErasureInput", "ErasureProcessor", "retention_requests"]
