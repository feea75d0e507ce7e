"""The sink stage: interviews, features, answers, profiles, review decisions, outcomes and statuses (and,
apart, self-identified demographics for the bias audit) into ClickHouse.

Run as ``sightline worker services.sink.stage:make``. `handle` only maps an event to rows and
buffers them; rows reach ClickHouse in batches, by size or age (`SIGHTLINE_CLICKHOUSE__INSERT_BATCH_*`),
from a background flusher and, above all, from the worker's `flush` hook that runs before every offset
commit: when the insert fails the hook raises, the worker skips the commit, and the rows stay buffered
for the next attempt. So an offset is committed only once ClickHouse holds the rows of every message
before it; after a crash the uncommitted messages come again and their rows replace themselves
(deterministic keys, ReplacingMergeTree, insert deduplication tokens).

Stage-status events are read by a second worker loop in the same process, in a consumer group of its
own, so the high volume of statuses never delays the feature and profile rows (and scales on its own lag).
A third loop announces profiles to the HR system's callback (services.sink.callback says why it lives here).
A fourth stores every stage's dead letters in the `dead_letters` table (services.sink.dead_letters).
A fifth carries out erasure requests, and a timer the retention schedule (services.sink.erasure says why
here); the sink then drops every later event of an erased interview or candidate.

With embedded chDB the sink owns the data directory (only one process may open it) and answers other
local processes' read-only queries, like `sightline db serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry

from services.common.chdb_owner import ChdbOwner, read_owner
from services.common.clickhouse import DirectWarehouse, Warehouse, is_chdb
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
    topic_for,
)
from services.common.handler import MessageMeta, Rejected
from services.common.health import HealthServer
from services.common.metrics import StageMetrics
from services.common.migrations import migrate
from services.common.settings import Settings
from services.common.worker import StageWorker
from services.erasure.erase import digest
from services.identity.tokens import TokenDirectory
from services.sink.batches import TableBatches
from services.sink.callback import CallbackSender
from services.sink.dead_letters import DeadLetterInput, DeadLetterProcessor
from services.sink.erasure import ErasureInput, ErasureProcessor
from services.sink.rows import Row, RowError, rows_for

log = logging.getLogger(__name__)

T = TypeVar("T")

INVALID_ROW = "invalid_row"


class SinkStage:
    stage = StageName.SINK
    input_topics: Sequence[str] = (
        topic_for(MediaIngested),
        topic_for(VisionFeatures),
        topic_for(SpeechResults),
        topic_for(ProfileReady),
        topic_for(CandidateDemographics),
        topic_for(ReviewDecision),
        topic_for(CandidateOutcome),
    )
    output_topics: Sequence[str] = ()

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.max_in_flight = settings.sink.max_in_flight
        ch = settings.clickhouse
        self.batches = TableBatches(ch.database, ch.insert_batch_rows, ch.insert_batch_seconds)
        self.warehouse: Warehouse | None = None
        self._owner: ChdbOwner | None = None
        self._owner_server: HealthServer | None = None
        self._lock = asyncio.Lock()
        self._room = asyncio.Event()  # set while the buffers have room (see _admit)
        self._flusher: asyncio.Task[None] | None = None
        self._status_worker: StatusWorker | None = None
        self._status_task: asyncio.Task[None] | None = None
        self._callback_worker: CallbackWorker | None = None
        self._callback_task: asyncio.Task[None] | None = None
        self._letter_worker: DeadLetterWorker | None = None
        self._letter_task: asyncio.Task[None] | None = None
        self.erasure = ErasureInput(self)
        self._erasure_worker: ErasureWorker | None = None
        self._erasure_task: asyncio.Task[None] | None = None
        self._sweep_task: asyncio.Task[None] | None = None
        #: Digests (services.erasure.erase.digest) of erased interviews and candidates: their events are dropped.
        self.erased: set[str] = set()
        #: The registry of the worker running the sink (its /metrics), once the worker says.
        self.metrics: StageMetrics | None = None

    # ---- lifecycle ----------------------------------------------------------------------------

    def use_metrics(self, metrics: StageMetrics) -> None:
        """Called by the worker before `start`: the stage-status reader reports on the same /metrics."""
        self.metrics = metrics

    async def start(self) -> None:
        await asyncio.to_thread(self._open)
        if self.settings.sink.migrate_on_start:
            assert self.warehouse is not None
            await self._call(migrate, self.warehouse)
        if self._owner is not None:
            await self._serve_owner(self._owner)
        self._flusher = asyncio.create_task(self._flush_when_due(), name="sink-flusher")
        self._status_worker = StatusWorker(StatusInput(self), self.settings, self.metrics)
        self._status_task = asyncio.create_task(self._status_worker.run(), name="sink-status-worker")
        self._status_task.add_done_callback(_report_status_worker_end)
        self._letter_worker = DeadLetterWorker(DeadLetterInput(self), self.settings, self.metrics)
        self._letter_task = asyncio.create_task(self._letter_worker.run(), name="sink-dead-letter-worker")
        self._letter_task.add_done_callback(_report_dead_letter_worker_end)
        await self.erasure.load_erased()
        self._erasure_worker = ErasureWorker(self.erasure, self.settings, self.metrics)
        self._erasure_task = asyncio.create_task(self._erasure_worker.run(), name="sink-erasure-worker")
        self._erasure_task.add_done_callback(_report_erasure_worker_end)
        self._sweep_task = asyncio.create_task(self.erasure.sweep_periodically(), name="sink-retention-sweep")
        if self.settings.sink.callback_enabled:
            self._callback_worker = CallbackWorker(CallbackSender(self.settings), self.settings, self.metrics)
            self._callback_task = asyncio.create_task(self._callback_worker.run(), name="sink-callback-worker")
            self._callback_task.add_done_callback(_report_callback_worker_end)

    async def stop(self) -> None:
        side_loops: list[tuple[SideWorker | None, asyncio.Task[None] | None]] = [
            (self._status_worker, self._status_task),
            (self._letter_worker, self._letter_task),
            (self._erasure_worker, self._erasure_task),
            (self._callback_worker, self._callback_task),
        ]
        for worker, task in side_loops:
            if worker is not None and task is not None:
                worker.stop()
                with contextlib.suppress(Exception):
                    await task
        if self._sweep_task is not None:
            self._sweep_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweep_task
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        try:
            await self.flush()  # rows of uncommitted messages: written now, or read again after restart
        except Exception:
            log.exception("final flush failed; the uncommitted messages will be delivered again")
        if self._owner_server is not None:
            await self._owner_server.stop()
        if self._owner is not None:
            self._owner.close()
        elif self.warehouse is not None:
            self.warehouse.close()

    def _open(self) -> None:
        ch = self.settings.clickhouse
        if not is_chdb(ch.dsn):
            self.warehouse = DirectWarehouse(ch)
            return
        holder = read_owner(ch.dsn)
        if holder is not None:
            raise RuntimeError(f"the chDB directory is owned by process {holder.pid}; stop it before the sink")
        self._owner = ChdbOwner(ch, _token_directory(self.settings))
        self.warehouse = self._owner.warehouse

    async def _serve_owner(self, owner: ChdbOwner) -> None:
        host = self.settings.observability.http_host
        server = HealthServer(
            registry=CollectorRegistry(),
            host=host,
            port=self.settings.sink.owner_port,
            extra_routes=owner.routes(),
            ssl_context=owner.ssl_context(),
        )
        owner.publish(await server.start(), host)
        self._owner_server = server

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking warehouse call off the loop, one at a time with the owner's query endpoint."""
        if self._owner is not None:
            result: T = await asyncio.to_thread(self._owner.run_locked, fn, *args)
            return result
        return await asyncio.to_thread(fn, *args)

    # ---- the handler --------------------------------------------------------------------------

    def is_erased(self, event: EventBase) -> bool:
        """Whether the event is about an erased interview or candidate (a late arrival after the erasure)."""
        candidate = getattr(event, "candidate_ref", None)
        return self.is_erased_interview(event.tenant_id, event.interview_id) or (
            isinstance(candidate, str) and self.is_erased_interview(event.tenant_id, candidate)
        )

    def is_erased_interview(self, tenant_id: str, identifier: str) -> bool:
        """Whether this interview (or candidate) of the tenant was erased."""
        return bool(self.erased) and digest(tenant_id, identifier) in self.erased

    async def handle(self, event: EventBase, meta: MessageMeta) -> Sequence[EventBase]:
        if self.is_erased(event):
            log.info("event of an erased interview dropped", extra={"event_type": event.event_type})
            return []
        try:
            rows = rows_for(event)
        except RowError as exc:
            reason = f"{event.event_type} {event.event_id} from {meta.source}: {exc}"
            self.batches.add([_refused_row(event, reason)])
            raise Rejected(INVALID_ROW, reason) from None
        await self.add(rows)
        if isinstance(event, ProfileReady):
            self._observe_latency(event)
        return []

    def _observe_latency(self, profile: ProfileReady) -> None:
        """End-to-end latency of a first profile (a rescore's later version would measure the rescore's wait)."""
        completed = profile.context.interview_completed_at
        if self.metrics is None or completed is None or profile.profile_version != 1:
            return
        self.metrics.profile_latency.observe(max(0.0, (datetime.now(UTC) - completed).total_seconds()))

    async def add(self, rows: Sequence[Row]) -> None:
        """Buffer rows for the next batch insert, once the buffers have room."""
        await self._admit()
        self.batches.add(rows)

    async def _admit(self) -> None:
        """Back-pressure: while ClickHouse refuses inserts, stop taking rows beyond the buffer limit."""
        limit = self.settings.sink.max_buffered_rows
        while self.batches.pending >= limit:
            self._room.clear()
            await self._room.wait()

    async def flush(self) -> None:
        """Write every buffered row; raising blocks the worker's offset commit (see module docstring)."""
        async with self._lock:
            if self.warehouse is None:
                return
            taken = self.batches.take()
            for i, (table, batch) in enumerate(taken):
                try:
                    await self._call(self.batches.write, self.warehouse, table, batch)
                except BaseException:
                    self.batches.restore(taken[i:])
                    raise
            self._room.set()

    async def _flush_when_due(self) -> None:
        period = min(0.2, self.settings.clickhouse.insert_batch_seconds / 2)
        while True:
            await asyncio.sleep(period)
            if not self.batches.due():
                continue
            try:
                await self.flush()
            except Exception as exc:  # retried at the next tick or commit; the commit stays blocked
                log.warning("batch insert failed, will retry: %s", exc)


def _report_status_worker_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the stage-status reader stopped; statuses are not stored", exc_info=task.exception())


def _report_dead_letter_worker_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the dead-letter reader stopped; dead letters are not stored", exc_info=task.exception())


def _report_erasure_worker_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the erasure reader stopped; erasure requests wait on the topic", exc_info=task.exception())


def _report_callback_worker_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the callback sender stopped; profiles are not announced", exc_info=task.exception())


def _refused_row(event: EventBase, reason: str) -> Row:
    return Row(
        "sink_rejected_rows",
        f"{event.tenant_id}/{event.interview_id}@{event.event_id}",
        {"target_table": event.event_type, "row_key": str(event.event_id), "reason": reason[:4000], "row_json": ""},
    )


class StatusInput:
    """The stage-status half of the sink, run by `StatusWorker` with its own consumer group."""

    stage = StageName.SINK
    input_topics: Sequence[str] = (topic_for(StageStatus),)

    def __init__(self, sink: SinkStage) -> None:
        self.sink = sink
        self.max_in_flight = sink.max_in_flight

    async def handle(self, event: EventBase, meta: MessageMeta) -> Sequence[EventBase]:
        return await self.sink.handle(event, meta)

    async def flush(self) -> None:
        await self.sink.flush()


#: The `stage` label of the stage-status reader's metrics.
STATUS_METRICS_LABEL = "sink-status"


class SideWorker(StageWorker):
    """A worker loop beside the sink's main one, in a consumer group of its own, reporting on the sink's
    registry (its /metrics) under a label of its own: its in-flight and back-pressure gauges are not the
    main loop's. It serves no HTTP port of its own."""

    def __init__(
        self, handler: Any, settings: Settings, *, group_id: str, label: str, metrics: StageMetrics | None = None
    ) -> None:
        quiet = settings.model_copy(
            update={"observability": settings.observability.model_copy(update={"http_port": 0})}
        )
        super().__init__(handler, quiet, group_id=group_id, metrics=metrics, metrics_label=label)


class StatusWorker(SideWorker):
    """The shared worker loop on stage-status in a consumer group of its own. The loop reports nothing
    about status inputs (a status about a status would feed itself back without end), so the sink's
    statuses come only from its main loop."""

    def __init__(self, handler: StatusInput, settings: Settings, metrics: StageMetrics | None = None) -> None:
        super().__init__(
            handler, settings, group_id=settings.sink.status_group_id, label=STATUS_METRICS_LABEL, metrics=metrics
        )


#: The `stage` label of the dead-letter reader's metrics.
DEAD_LETTER_METRICS_LABEL = "sink-dead-letters"


class DeadLetterWorker(SideWorker):
    """The dead-letter reader (services.sink.dead_letters) on every dead-letter topic, in a group of its own."""

    def __init__(self, handler: DeadLetterInput, settings: Settings, metrics: StageMetrics | None = None) -> None:
        super().__init__(
            handler, settings, group_id=settings.sink.dead_letter_group_id, label=DEAD_LETTER_METRICS_LABEL,
            metrics=metrics,
        )  # fmt: skip
        self.processor = DeadLetterProcessor(handler, self.settings, self.metrics, self.metrics_label)


#: The `stage` label of the erasure reader's metrics.
ERASURE_METRICS_LABEL = "sink-erasure"


class ErasureWorker(SideWorker):
    """The erasure reader (services.sink.erasure) on candidate-erasure-requested, in a group of its own."""

    def __init__(self, handler: ErasureInput, settings: Settings, metrics: StageMetrics | None = None) -> None:
        super().__init__(
            handler, settings, group_id=settings.retention.group_id, label=ERASURE_METRICS_LABEL, metrics=metrics
        )
        self.processor = ErasureProcessor(handler, self.settings, self.metrics, self.metrics_label)


#: The `stage` label of the callback sender's metrics.
CALLBACK_METRICS_LABEL = "sink-callback"


class CallbackWorker(SideWorker):
    """The HR callback sender (services.sink.callback) on profile-ready, in a consumer group of its own."""

    def __init__(self, handler: CallbackSender, settings: Settings, metrics: StageMetrics | None = None) -> None:
        super().__init__(
            handler, settings, group_id=settings.sink.callback_group_id, label=CALLBACK_METRICS_LABEL, metrics=metrics
        )


def make(settings: Settings) -> SinkStage:
    """Factory for ``sightline worker services.sink.stage:make``."""
    return SinkStage(settings)


__all__ = [
    "INVALID_ROW",
    "CallbackWorker",
    "DeadLetterWorker",
    "ErasureWorker",
    "SinkStage",
    "StatusInput",
    "StatusWorker",
    "make",
]


def _token_directory(settings: Settings) -> TokenDirectory | None:
    """Identities the owner's query endpoint admits; with none defined it refuses every request (the sink still
    runs: it writes, others cannot read until identities exist)."""
    identity = settings.identity
    if identity.tokens_file is None and identity.tokens_json is None:
        log.warning("no identities defined (SIGHTLINE_IDENTITY__TOKENS_FILE): the query endpoint refuses every request")
        return None
    return TokenDirectory.from_settings(identity)
