"""One consumed record, handled to its end: the part of stream processing both engines share.

`MessageProcessor.process` decodes a record, runs the stage's handler with retries and exponential backoff,
dead-letters what cannot be processed (the original bytes, with headers that say why), reports a
stage-status per message (started, retrying, completed, failed with a reason) and returns only once every
output, status and dead letter is acknowledged by the broker (acks=all). An engine commits the record's
offset after that: at-least-once. Output event ids are deterministic, so a replay after a crash produces
the same ids and downstream sinks de-duplicate.

A handler may send outputs before it returns (`MessageMeta.emit`, from any thread): a long interview's
first frame chunks reach the next stages while the rest is still being decoded; an output emitted again
(a retry) is sent once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

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
from services.common.envelope import EncryptionError, KeyErased
from services.common.handler import MessageMeta, Rejected, Retryable, StageHandler
from services.common.kafka import logical_topic, physical_topic
from services.common.logs import log_context
from services.common.metrics import StageMetrics
from services.common.sealing import sealer_for
from services.common.settings import KafkaSettings, Settings

log = logging.getLogger(__name__)

#: Failure label of records skipped because their interview was erased (their data key is gone).
ERASED = "erased"


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


def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with +-20 % jitter so retries of many workers do not align."""
    base = min(cap, initial * 2.0 ** max(0, attempt - 1))
    jitter = (rng or random).uniform(0.8, 1.2)
    return min(cap, base * jitter)


def message_meta(
    kafka: KafkaSettings,
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    timestamp_ms: int | None,
    headers: Sequence[tuple[str, bytes | bytearray | memoryview]] | None,
) -> MessageMeta:
    """What a handler learns about the record it handles, named by the registered (logical) topic."""
    return MessageMeta(
        topic=logical_topic(kafka, topic),
        partition=partition,
        offset=offset,
        key=key,
        timestamp_ms=timestamp_ms,
        headers=tuple((k, bytes(v)) for k, v in (headers or ())),
    )


class MessageProcessor:
    """Runs records through a stage's handler; the engine owns consuming, committing and the producer."""

    def __init__(self, handler: StageHandler, settings: Settings, metrics: StageMetrics, metrics_label: str) -> None:
        self.handler = handler
        self.settings = settings
        self.stage = StageName(handler.stage)
        self.metrics = metrics
        self.metrics_label = metrics_label
        # A handler may name the unit of all its statuses (the sink's callback sender: "callback"): another
        # loop of the same stage reads the same event, so the unit tells them apart, in the status and its id.
        self.status_unit: str | None = getattr(handler, "status_unit", None)
        self._status_id_parts = (self.status_unit,) if self.status_unit else ()
        #: Set by the engine once started (acks=all, see `services.common.kafka.create_producer`).
        self.producer: AIOKafkaProducer | None = None
        #: Seals and opens records of the pipeline's own topics when a key-encryption key is configured.
        self.sealer = sealer_for(settings)

    async def process(self, meta: MessageMeta, value: bytes) -> None:
        """Handle one record to its end: outputs, statuses and any dead letter acknowledged by the broker.

        Raises only when something could not be produced; the record must then not be committed.
        """
        started = time.perf_counter()
        self.metrics.messages_in.labels(self.metrics_label, meta.topic).inc()
        with log_context(stage=self.stage.value, source=meta.source):
            await self._process_record(meta, value)
        self.metrics.processing_seconds.labels(self.metrics_label).observe(time.perf_counter() - started)

    async def _process_record(self, meta: MessageMeta, value: bytes) -> None:
        # Dead letters keep the record as read (sealed records stay sealed); the handler gets it opened.
        plain = value
        if self.sealer is not None:
            try:
                plain = await self.sealer.open(meta.key, value)
            except KeyErased:
                # The interview was erased after this record was written: nothing is left to process.
                log.info("record of an erased interview skipped")
                self.metrics.messages_failed.labels(self.metrics_label, ERASED).inc()
                return
            except EncryptionError as exc:  # a damaged record, or one sealed under another KEK
                log.warning("sealed record does not open", extra={"error": str(exc)})
                await self._dead_letter(meta, value, exc, attempts=1, retryable=False)
                self.metrics.messages_failed.labels(self.metrics_label, "invalid_event").inc()
                return
        try:
            event = decode(meta.topic, plain)
        except ContractError as exc:
            log.warning("malformed event", extra={"error": str(exc)})
            letter = await self._dead_letter(meta, value, exc, attempts=1, retryable=False)
            self.metrics.messages_failed.labels(self.metrics_label, "invalid_event").inc()
            if letter.tenant_id and letter.interview_id:
                # Enough of the event survived to say whose interview failed: record it where people look.
                reason = FailureReason(code="invalid_event", message=str(exc)[:2000], retryable=False)
                await _acked([await self._send_status(letter, meta, StageState.FAILED, 1, reason, None)])
            return
        with log_context(interview_id=event.interview_id, tenant_id=event.tenant_id):
            await self._run_handler(meta, value, event)

    async def _run_handler(self, meta: MessageMeta, value: bytes, event: EventBase) -> None:
        worker = self.settings.worker
        unit = self.status_unit or _unit_of(event)
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
                self.metrics.messages_failed.labels(self.metrics_label, rej.code).inc()
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
                    self.metrics.messages_failed.labels(self.metrics_label, reason.code).inc()
                    return
                delay = backoff_delay(attempt, worker.backoff_initial_s, worker.backoff_max_s)
                log.warning("attempt %d failed, retrying in %.2fs: %s", attempt, delay, exc)
                self.metrics.messages_retried.labels(self.metrics_label).inc()
                pending.extend(await status(StageState.RETRYING, attempt, _reason_for(exc, attempt)))
                attempt += 1
                await asyncio.sleep(delay)
        for out in outputs:
            early.emit(out)  # those already emitted early are not sent again
        pending.extend(await early.settle())
        # Every declared output topic is counted, zeros included, so a consumer of the status can
        # tell "nothing of this kind" (an audio-only interview has no frame chunks) from "not yet".
        # An output may also stand for events other messages will emit on its behalf (a frame range for its
        # chunks, `promised_outputs`): they are counted here, where the manifest is announced.
        emitted = dict.fromkeys(getattr(self.handler, "output_topics", ()), 0)
        promised = getattr(self.handler, "promised_outputs", None)
        for out in early.sent.values():
            emitted[topic_for(out)] = emitted.get(topic_for(out), 0) + 1
            for topic, count in (promised(out) if promised is not None else {}).items():
                emitted[topic] = emitted.get(topic, 0) + count
        pending.extend(await status(StageState.COMPLETED, attempt, None, emitted=emitted))
        await _acked(pending)

    async def _send(self, topic: str, event: EventBase | DeadLetter, meta: MessageMeta) -> asyncio.Future[Any]:
        assert self.producer is not None, "set the producer first"
        key = message_key(event)
        headers = [
            *message_headers(event),
            ("producer", self.stage.value.encode()),
            ("source", meta.source.encode()),
        ]
        value = encode(event)
        if self.sealer is not None:
            value = await self.sealer.seal(topic, event, value)
        fut: asyncio.Future[Any] = await self.producer.send(
            physical_topic(self.settings.kafka, topic), value, key=key, headers=headers
        )
        self.metrics.messages_out.labels(self.metrics_label, topic).inc()
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
            event_id=deterministic_event_id(
                "status", self.stage.value, meta.source, state.value, str(attempt), *self._status_id_parts
            ),
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
        self.metrics.dead_lettered.labels(self.metrics_label).inc()
        return letter


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
    """The unit's position in its manifest (``unit_kind``, ``unit_index``, ``unit_total``), when it has one;
    a unit that covers a run of chunks (a frame range) adds them (``chunk_start``, ``chunk_end``)."""
    for index_name, total_name, kind in (
        ("chunk_index", "total_chunks", "chunk"),
        ("segment_index", "total_segments", "segment"),
        ("range_index", "total_ranges", "range"),
    ):
        index, total = getattr(event, index_name, None), getattr(event, total_name, None)
        if isinstance(index, int) and isinstance(total, int):
            detail: dict[str, int | float | str | bool] = {"unit_kind": kind, "unit_index": index, "unit_total": total}
            first, end = getattr(event, "chunk_start", None), getattr(event, "chunk_end", None)
            if isinstance(first, int) and isinstance(end, int):
                detail |= {"chunk_start": first, "chunk_end": end}
            return detail
    return {}
