"""The stream-processing loop every stage runs.

A stage is a `StageHandler`: a pure-ish `handle(event) -> output events`. The worker around it

* consumes its input topics in a consumer group and never auto-commits;
* runs handlers off the poll loop, at most `max_in_flight` at once, pausing fetches while full, so a
  slow message never keeps the consumer from polling (no rebalance storms);
* produces every output with acks=all and commits an input offset only after its outputs (and its
  status events) are acknowledged: at-least-once. Output event ids are deterministic, so a replay
  after a crash produces the same ids and downstream sinks de-duplicate;
* retries failures with exponential backoff, then dead-letters the original bytes with headers that
  say why; domain rejections (`Rejected`) become a recorded failure at once;
* lets a handler send outputs before it returns (`MessageMeta.emit`, from any thread): a long interview's
  first frame chunks and audio segments reach the next stages while the rest is still being decoded. The
  offset is still committed only after every output, early or not, is acknowledged; an output emitted
  again (a retry) is sent once;
* reports a stage-status event per message (started, retrying, completed, failed with a reason);
* on revocation or SIGTERM lets in-flight work finish for `drain_timeout_s`, hands back the rest
  uncommitted, commits what finished and leaves the group.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import random
import signal
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord

from services.common.contracts import (
    ContractError,
    DeadLetter,
    EventBase,
    FailureReason,
    StageName,
    StageState,
    StageStatus,
    dead_letter_for,
    dead_letter_topic,
    decode,
    deterministic_event_id,
    encode,
    message_headers,
    message_key,
    topic_for,
)
from services.common.health import HealthServer
from services.common.kafka import create_consumer, create_producer, logical_topic, physical_topic
from services.common.logs import log_context
from services.common.metrics import StageMetrics, create_metrics
from services.common.offsets import PartitionOffsets
from services.common.settings import Settings

log = logging.getLogger(__name__)


class Rejected(Exception):
    """The input is understood and refused for a domain reason (no consent, not a media file, ...).

    Not retried and not dead-lettered: it ends as a failed status with this code and message.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Retryable(Exception):
    """A transient failure (network, store unavailable): worth another attempt after a pause."""


#: Sends one output event now, before the handler returns; callable from any thread.
Emit = Callable[[EventBase], None]


@dataclass(frozen=True)
class MessageMeta:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    timestamp_ms: int | None
    headers: tuple[tuple[str, bytes], ...]
    #: Set by the worker while the message is handled; None where no worker runs the handler (tests, tools).
    emit: Emit | None = field(default=None, compare=False, repr=False)

    @property
    def source(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


@runtime_checkable
class StageHandler(Protocol):
    """What a stage provides; the worker does the rest."""

    stage: StageName
    input_topics: Sequence[str]
    # Optional: `output_topics: Sequence[str]`, counted (zeros included) in the completed status.

    async def handle(self, event: EventBase, meta: MessageMeta) -> Sequence[EventBase]:
        """Process one event and return the events to emit. Raise Rejected or Retryable to fail.

        Outputs that stand on their own may be sent earlier through ``meta.emit``; returning them too
        is harmless (an event id is sent once per message).
        """
        ...


class HasFlush(Protocol):
    async def flush(self) -> None:
        """Called before offsets are committed; raising blocks the commit (buffered sinks)."""
        ...


class FatalWorkerError(RuntimeError):
    """The worker cannot continue safely (outputs could not be produced); it stops without committing."""


class _EarlyOutputs:
    """A message's outputs, each sent once and in order on the worker's loop, whether the handler emits them
    while it works (from any thread) or returns them."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, send: Callable[[EventBase], Coroutine[Any, Any, asyncio.Future[Any]]]
    ) -> None:
        self._loop = loop
        self._send = send
        self._lock = threading.Lock()
        self.sent: dict[str, EventBase] = {}
        self._sending: list[concurrent.futures.Future[asyncio.Future[Any]]] = []

    def emit(self, event: EventBase) -> None:
        with self._lock:
            if str(event.event_id) in self.sent:
                return
            self.sent[str(event.event_id)] = event
            # run_coroutine_threadsafe keeps the order of calls, from the loop's thread as from others
            self._sending.append(asyncio.run_coroutine_threadsafe(self._send(event), self._loop))

    async def settle(self) -> list[asyncio.Future[Any]]:
        """Delivery futures of everything emitted so far (sending errors raise here)."""
        with self._lock:
            sending, self._sending = self._sending, []
        return list(await asyncio.gather(*(asyncio.wrap_future(f) for f in sending)))


@dataclass
class _Job:
    tp: TopicPartition
    offset: int
    task: asyncio.Task[None]


@dataclass
class WorkerState:
    assigned: set[TopicPartition] = field(default_factory=set)
    offsets: dict[TopicPartition, PartitionOffsets] = field(default_factory=dict)
    jobs: dict[tuple[TopicPartition, int], _Job] = field(default_factory=dict)
    paused: bool = False
    started: bool = False
    fatal: BaseException | None = None


def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with +-20 % jitter so retries of many workers do not align."""
    base = min(cap, initial * 2.0 ** max(0, attempt - 1))
    jitter = (rng or random).uniform(0.8, 1.2)
    return min(cap, base * jitter)


class StageWorker:
    def __init__(
        self,
        handler: StageHandler,
        settings: Settings,
        *,
        group_id: str | None = None,
        metrics: StageMetrics | None = None,
    ) -> None:
        self.handler = handler
        self.settings = settings
        self.stage = StageName(handler.stage)
        self.group_id = group_id or f"sightline-{self.stage.value}"
        self.metrics = metrics or create_metrics()
        self.state = WorkerState()
        self._stopping = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._last_commit = time.monotonic()
        self._commit_lock = asyncio.Lock()
        self.health = HealthServer(
            registry=self.metrics.registry,
            host=settings.observability.http_host,
            port=settings.observability.http_port,
            liveness={"worker": self._check_alive},
            readiness={"consumer": self._check_ready},
        )

    # ---- health -------------------------------------------------------------------------------

    def _check_alive(self) -> str | None:
        if self.state.fatal is not None:
            return f"stopped after fatal error: {self.state.fatal}"
        return None

    def _check_ready(self) -> str | None:
        if not self.state.started:
            return "not started"
        if self._stopping.is_set():
            return "shutting down"
        return None

    # ---- lifecycle ----------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish (signal-handler safe)."""
        self._stopping.set()

    async def run(self, *, install_signal_handlers: bool = False) -> None:
        if install_signal_handlers:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop)
        await self.health.start()
        # Optional hooks: a handler may define `async start()` (buckets, models) and/or `async stop()`.
        start_hook = getattr(self.handler, "start", None)
        if start_hook is not None:
            await start_hook()
        kafka = self.settings.kafka
        self._producer = create_producer(kafka, f"{self.stage.value}-producer")
        self._consumer = create_consumer(kafka, self.settings.worker, self.group_id, f"{self.stage.value}-consumer")
        await self._producer.start()
        try:
            await self._consumer.start()
            topics = [physical_topic(kafka, t) for t in self.handler.input_topics]
            self._consumer.subscribe(topics, listener=_Rebalance(self))
            self.state.started = True
            log.info("worker started", extra={"stage": self.stage.value, "group": self.group_id})
            await self._poll_loop()
        finally:
            await self._shutdown()
            stop_hook = getattr(self.handler, "stop", None)
            if stop_hook is not None:
                await stop_hook()
            await self.health.stop()
        if self.state.fatal is not None:
            raise FatalWorkerError(str(self.state.fatal)) from self.state.fatal

    async def _poll_loop(self) -> None:
        assert self._consumer is not None
        worker = self.settings.worker
        # A handler whose messages are cheap (the sink only buffers rows) may ask for more in flight.
        limit = getattr(self.handler, "max_in_flight", None) or worker.max_in_flight
        while not self._stopping.is_set() and self.state.fatal is None:
            capacity = limit - len(self.state.jobs)
            self._apply_backpressure(capacity <= 0)
            batch = await self._consumer.getmany(timeout_ms=worker.poll_timeout_ms, max_records=max(1, capacity))
            for tp, records in batch.items():
                for record in records:
                    self._spawn(tp, record)
            if time.monotonic() - self._last_commit >= worker.commit_interval_s:
                await self.commit()

    def _apply_backpressure(self, full: bool) -> None:
        assert self._consumer is not None
        if full and not self.state.paused:
            self._consumer.pause(*self._consumer.assignment())
            self.state.paused = True
            self.metrics.paused.labels(self.stage.value).set(1)
        elif not full and self.state.paused:
            self._consumer.resume(*self._consumer.assignment())
            self.state.paused = False
            self.metrics.paused.labels(self.stage.value).set(0)

    def _spawn(self, tp: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        if tp not in self.state.assigned:
            return  # fetched just before a revocation: the new owner will read it
        tracker = self.state.offsets.setdefault(tp, PartitionOffsets())
        if (tp, record.offset) in self.state.jobs:
            return
        tracker.start(record.offset)
        task = asyncio.create_task(self._process(tp, record), name=f"{tp.topic}/{tp.partition}/{record.offset}")
        self.state.jobs[(tp, record.offset)] = _Job(tp, record.offset, task)
        self.metrics.in_flight.labels(self.stage.value).set(len(self.state.jobs))

    async def _shutdown(self) -> None:
        await self._drain(set(self.state.assigned))
        if self.state.fatal is None:
            with contextlib.suppress(Exception):
                await self.commit()
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()
        self.state.started = False
        log.info("worker stopped", extra={"stage": self.stage.value})

    async def _drain(self, partitions: set[TopicPartition]) -> None:
        """Let in-flight work on these partitions finish for a while, then hand the rest back."""
        jobs = [job for job in self.state.jobs.values() if job.tp in partitions]
        if not jobs:
            return
        _, pending = await asyncio.wait([j.task for j in jobs], timeout=self.settings.worker.drain_timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
            log.warning("handed back unfinished messages", extra={"count": len(pending)})

    # ---- committing ---------------------------------------------------------------------------

    async def commit(self, partitions: set[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """Commit every partition's safe point; buffered sinks flush first and block it on failure."""
        assert self._consumer is not None
        async with self._commit_lock:
            self._last_commit = time.monotonic()
            points = {
                tp: point
                for tp, tracker in self.state.offsets.items()
                if (partitions is None or tp in partitions) and (point := tracker.commit_point()) is not None
            }
            if not points:
                return {}
            flusher: HasFlush | None = self.handler if hasattr(self.handler, "flush") else None  # type: ignore[assignment]
            if flusher is not None:
                try:
                    await flusher.flush()
                except Exception:
                    log.exception("flush failed; offsets not committed")
                    return {}
            try:
                await self._consumer.commit(points)
            except Exception:
                log.exception("offset commit failed; the messages will be delivered again")
                return {}
            for tp, point in points.items():
                self.state.offsets[tp].mark_committed(point)
            self.metrics.commits.labels(self.stage.value).inc()
            return points

    # ---- rebalancing --------------------------------------------------------------------------

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._drain(revoked)
        await self.commit(revoked)
        for tp in revoked:
            self.state.assigned.discard(tp)
            self.state.offsets.pop(tp, None)

    def on_assigned(self, assigned: set[TopicPartition]) -> None:
        self.state.assigned |= assigned
        if self.state.paused and self._consumer is not None:
            # Newly assigned partitions start unpaused; keep back-pressure consistent.
            self._consumer.pause(*assigned)

    # ---- one message --------------------------------------------------------------------------

    async def _process(self, tp: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        meta = MessageMeta(
            topic=logical_topic(self.settings.kafka, record.topic),
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            timestamp_ms=record.timestamp,
            headers=tuple((k, bytes(v)) for k, v in (record.headers or ())),
        )
        tracker = self.state.offsets[tp]
        started = time.perf_counter()
        self.metrics.messages_in.labels(self.stage.value, meta.topic).inc()
        try:
            with log_context(stage=self.stage.value, source=meta.source):
                await self._process_record(meta, record.value or b"")
            tracker.finish(record.offset)
            self.metrics.processing_seconds.labels(self.stage.value).observe(time.perf_counter() - started)
        except asyncio.CancelledError:
            tracker.abandon(record.offset)
            raise
        except Exception as exc:  # producing failed: cannot record the outcome, so do not commit
            tracker.abandon(record.offset)
            log.exception("could not produce outputs; stopping without committing")
            self.state.fatal = exc
            self._stopping.set()
        finally:
            self.state.jobs.pop((tp, record.offset), None)
            self.metrics.in_flight.labels(self.stage.value).set(len(self.state.jobs))

    async def _process_record(self, meta: MessageMeta, value: bytes) -> None:
        try:
            event = decode(meta.topic, value)
        except ContractError as exc:
            log.warning("malformed event", extra={"error": str(exc)})
            letter = await self._dead_letter(meta, value, exc, attempts=1, retryable=False)
            self.metrics.messages_failed.labels(self.stage.value, "invalid_event").inc()
            if letter.tenant_id and letter.interview_id:
                # Enough of the event survived to say whose interview failed: record it where people look.
                reason = FailureReason(code="invalid_event", message=str(exc)[:2000], retryable=False)
                await _acked([await self._send_status(letter, meta, StageState.FAILED, 1, reason, None)])
            return
        with log_context(interview_id=event.interview_id, tenant_id=event.tenant_id):
            await self._run_handler(meta, value, event)

    async def _run_handler(self, meta: MessageMeta, value: bytes, event: EventBase) -> None:
        worker = self.settings.worker
        unit = _unit_of(event)
        # Stages that consume stage-status (fusion, sink) report nothing about handling a status: a status
        # about a status would feed itself back through the same topic without end.
        quiet = isinstance(event, StageStatus)

        async def status(state: StageState, attempt: int, reason: FailureReason | None, **kw: Any) -> list[Any]:
            return [] if quiet else [await self._send_status(event, meta, state, attempt, reason, unit, **kw)]

        pending = await status(StageState.STARTED, 1, None)
        early = _EarlyOutputs(asyncio.get_running_loop(), lambda out: self._send(topic_for(out), out, meta))
        meta = replace(meta, emit=early.emit)
        attempt = 1
        while True:
            try:
                outputs = await self.handler.handle(event, meta)
                break
            except Rejected as rej:
                reason = FailureReason(code=rej.code, message=rej.message, retryable=False)
                log.warning("rejected", extra={"code": rej.code, "reason": rej.message})
                pending.extend(await early.settle())
                pending.extend(await status(StageState.FAILED, attempt, reason))
                self.metrics.messages_failed.labels(self.stage.value, rej.code).inc()
                await _acked(pending)
                return
            except Exception as exc:
                if attempt >= worker.max_attempts:
                    log.exception("giving up after %d attempts", attempt)
                    reason = _reason_for(exc, attempts=attempt)
                    pending.extend(await early.settle())
                    pending.extend(await status(StageState.FAILED, attempt, reason))
                    await _acked(pending)
                    await self._dead_letter(meta, value, exc, attempts=attempt, retryable=True)
                    self.metrics.messages_failed.labels(self.stage.value, reason.code).inc()
                    return
                delay = backoff_delay(attempt, worker.backoff_initial_s, worker.backoff_max_s)
                log.warning("attempt %d failed, retrying in %.2fs: %s", attempt, delay, exc)
                self.metrics.messages_retried.labels(self.stage.value).inc()
                pending.extend(await status(StageState.RETRYING, attempt, _reason_for(exc, attempt)))
                attempt += 1
                await asyncio.sleep(delay)
        for out in outputs:
            early.emit(out)  # those already emitted early are not sent again
        pending.extend(await early.settle())
        # Every declared output topic is counted, zeros included, so a consumer of the status can
        # tell "nothing of this kind" (an audio-only interview has no frame chunks) from "not yet".
        emitted = dict.fromkeys(getattr(self.handler, "output_topics", ()), 0)
        for out in early.sent.values():
            emitted[topic_for(out)] = emitted.get(topic_for(out), 0) + 1
        pending.extend(await status(StageState.COMPLETED, attempt, None, emitted=emitted))
        await _acked(pending)

    # ---- producing ----------------------------------------------------------------------------

    async def _send(self, topic: str, event: EventBase | DeadLetter, meta: MessageMeta) -> asyncio.Future[Any]:
        assert self._producer is not None
        key = message_key(event)
        headers = [
            *message_headers(event),
            ("producer", self.stage.value.encode()),
            ("source", meta.source.encode()),
        ]
        fut: asyncio.Future[Any] = await self._producer.send(
            physical_topic(self.settings.kafka, topic), encode(event), key=key, headers=headers
        )
        self.metrics.messages_out.labels(self.stage.value, topic).inc()
        return fut

    async def _send_status(
        self,
        event: EventBase | DeadLetter,
        meta: MessageMeta,
        state: StageState,
        attempt: int,
        reason: FailureReason | None,
        unit: str | None,
        *,
        emitted: dict[str, int] | None = None,
    ) -> asyncio.Future[Any]:
        # caused_by names the unit of work, so a consumer (fusion) can tell which chunk or segment failed
        # and find a stage's outputs (frames keys its objects by the media-ingested event id).
        status = StageStatus(
            event_id=deterministic_event_id("status", self.stage.value, meta.source, state.value, str(attempt)),
            caused_by=event.event_id if isinstance(event, EventBase) else None,
            occurred_at=datetime.now(UTC),
            tenant_id=event.tenant_id or "",
            interview_id=event.interview_id or "",
            producer=f"sightline-{self.stage.value}",
            stage=self.stage,
            state=state,
            attempt=attempt,
            reason=reason,
            unit=unit,
            emitted=emitted or {},
            detail=_unit_detail(event) if isinstance(event, EventBase) else {},
        )
        return await self._send(topic_for(status), status, meta)

    async def _dead_letter(
        self, meta: MessageMeta, value: bytes, exc: BaseException, *, attempts: int, retryable: bool
    ) -> DeadLetter:
        letter = dead_letter_for(
            stage=self.stage,
            topic=meta.topic,
            partition=meta.partition,
            offset=meta.offset,
            value=value,
            key=meta.key,
            headers=meta.headers,
            timestamp_ms=meta.timestamp_ms,
            error=exc,
            retryable=retryable,
            attempts=attempts,
        )
        fut = await self._send(dead_letter_topic(self.stage.value), letter, meta)
        await _acked([fut])
        self.metrics.dead_lettered.labels(self.stage.value).inc()
        return letter


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: StageWorker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.worker.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.worker.on_assigned(set(assigned))


async def _acked(futures: Sequence[asyncio.Future[Any]]) -> None:
    """Wait until the broker acknowledged every send (raises if any failed)."""
    if futures:
        await asyncio.gather(*futures)


def _reason_for(exc: BaseException, attempts: int) -> FailureReason:
    code = "transient_error" if isinstance(exc, Retryable) else "internal_error"
    return FailureReason(code=code, message=f"{type(exc).__name__}: {exc} (attempt {attempts})"[:2000], retryable=True)


def _unit_of(event: EventBase) -> str | None:
    """'chunk 3/12' style progress for events that belong to a manifest."""
    detail = _unit_detail(event)
    return f"{detail['unit_kind']} {int(detail['unit_index']) + 1}/{detail['unit_total']}" if detail else None


def _unit_detail(event: EventBase) -> dict[str, int | float | str | bool]:
    """The unit's position in its manifest (``unit_kind``, ``unit_index``, ``unit_total``), when it has one."""
    for index_name, total_name, kind in (
        ("chunk_index", "total_chunks", "chunk"),
        ("segment_index", "total_segments", "segment"),
    ):
        index, total = getattr(event, index_name, None), getattr(event, total_name, None)
        if isinstance(index, int) and isinstance(total, int):
            return {"unit_kind": kind, "unit_index": index, "unit_total": total}
    return {}


async def run_worker(handler: StageHandler, settings: Settings) -> None:
    """Entry point of a stage process: run until SIGTERM, exit non-zero on a fatal error."""
    worker = StageWorker(handler, settings)
    await worker.run(install_signal_handlers=True)
