"""The shared stream-processing loop (the "loop" engine), on aiokafka.

A stage is a `StageHandler` (services.common.handler). The worker around it

* consumes its input topics in a consumer group and never auto-commits;
* runs handlers off the poll loop, at most `max_in_flight` at once, pausing fetches while full, so a
  slow message never keeps the consumer from polling (no rebalance storms);
* runs each message through `MessageProcessor` (retries, dead letters, status events, early outputs) and
  commits its offset only after its outputs, statuses and dead letters are acknowledged: at-least-once;
* lets buffered sinks flush before a commit, and blocks the commit when the flush fails;
* on revocation or SIGTERM lets in-flight work finish for `drain_timeout_s`, hands back the rest
  uncommitted, commits what finished and leaves the group;
* never waits for an absent broker once asked to stop: a periodic commit in progress is abandoned, and the
  final commit, leaving the group and flushing the producer get `shutdown_timeout_s` together (`_bounded`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord

from services.common.handler import HasFlush, tell_assigned
from services.common.kafka import create_consumer, physical_topic
from services.common.offsets import PartitionOffsets
from services.common.processing import message_meta
from services.common.runner import StageRunner

log = logging.getLogger(__name__)


#: Awaits an action and says whether it finished (False: given up, e.g. to stop without the broker).
Waiter = Callable[[Awaitable[object]], Awaitable[bool]]


async def _to_the_end(action: Awaitable[object]) -> bool:
    await action
    return True


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


class StageWorker(StageRunner):
    def _prepare(self) -> None:
        self.state = WorkerState()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._last_commit = time.monotonic()
        self._commit_lock = asyncio.Lock()

    async def run(self, *, install_signal_handlers: bool = False) -> None:
        self._producer = await self._open(install_signal_handlers=install_signal_handlers)
        kafka = self.settings.kafka
        self._consumer = create_consumer(kafka, self.settings.worker, self.group_id, f"{self.stage.value}-consumer")
        try:
            await self._consumer.start()
            topics = [physical_topic(kafka, t) for t in self.handler.input_topics]
            self._consumer.subscribe(topics, listener=_Rebalance(self))
            self.started = True
            log.info("worker started", extra={"stage": self.stage.value, "group": self.group_id})
            await self._poll_loop()
        finally:
            await self._shutdown()
            await self._close(self._producer)
        self._raise_if_fatal()

    async def _poll_loop(self) -> None:
        assert self._consumer is not None
        worker = self.settings.worker
        while not self._stopping.is_set() and self.fatal is None:
            capacity = self.max_in_flight - len(self.state.jobs)
            self._apply_backpressure(capacity <= 0)
            batch = await self._consumer.getmany(timeout_ms=worker.poll_timeout_ms, max_records=max(1, capacity))
            for tp, records in batch.items():
                for record in records:
                    self._spawn(tp, record)
            if time.monotonic() - self._last_commit >= worker.commit_interval_s:
                await self.commit(wait=self._unless_stopping)

    def _apply_backpressure(self, full: bool) -> None:
        assert self._consumer is not None
        if full and not self.state.paused:
            self._consumer.pause(*self._consumer.assignment())
            self.state.paused = True
            self.metrics.paused.labels(self.metrics_label).set(1)
        elif not full and self.state.paused:
            self._consumer.resume(*self._consumer.assignment())
            self.state.paused = False
            self.metrics.paused.labels(self.metrics_label).set(0)

    def _spawn(self, tp: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        if tp not in self.state.assigned:
            return  # fetched just before a revocation: the new owner will read it
        tracker = self.state.offsets.setdefault(tp, PartitionOffsets())
        if (tp, record.offset) in self.state.jobs:
            return
        tracker.start(record.offset)
        task = asyncio.create_task(self._process(tp, record), name=f"{tp.topic}/{tp.partition}/{record.offset}")
        self.state.jobs[(tp, record.offset)] = _Job(tp, record.offset, task)
        self.metrics.in_flight.labels(self.metrics_label).set(len(self.state.jobs))

    async def _shutdown(self) -> None:
        await self._drain(set(self.state.assigned))
        if self.fatal is None:
            with contextlib.suppress(Exception):
                await self.commit(wait=functools.partial(self._bounded, "the last offset commit"))
        if self._consumer is not None:
            await self._bounded("leaving the group", self._consumer.stop())

    async def _drain(self, partitions: set[TopicPartition]) -> None:
        """Let in-flight work on these partitions finish for a while, then hand the rest back."""
        await self._drain_tasks([job.task for job in self.state.jobs.values() if job.tp in partitions])

    # ---- committing ---------------------------------------------------------------------------

    async def commit(
        self, partitions: set[TopicPartition] | None = None, *, wait: Waiter = _to_the_end
    ) -> dict[TopicPartition, int]:
        """Commit every partition's safe point; buffered sinks flush first and block it on failure. ``wait``
        awaits the broker's part and says whether it finished (a stop need not wait for an absent broker)."""
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
                if not await wait(self._consumer.commit(points)):
                    log.info("offset commit abandoned to stop; the messages will be delivered again")
                    return {}
            except Exception:
                log.exception("offset commit failed; the messages will be delivered again")
                return {}
            for tp, point in points.items():
                self.state.offsets[tp].mark_committed(point)
            self.metrics.commits.labels(self.metrics_label).inc()
            return points

    # ---- rebalancing --------------------------------------------------------------------------

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._drain(revoked)
        await self.commit(revoked)
        for tp in revoked:
            self.state.assigned.discard(tp)
            self.state.offsets.pop(tp, None)
        tell_assigned(self.handler, (tp.partition for tp in self.state.assigned))

    def on_assigned(self, assigned: set[TopicPartition]) -> None:
        self.state.assigned |= assigned
        self._note_assignment(len(self.state.assigned))
        tell_assigned(self.handler, (tp.partition for tp in self.state.assigned))
        if self.state.paused and self._consumer is not None:
            # Newly assigned partitions start unpaused; keep back-pressure consistent.
            self._consumer.pause(*assigned)

    # ---- one message --------------------------------------------------------------------------

    async def _process(self, tp: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        meta = message_meta(
            self.settings.kafka,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            timestamp_ms=record.timestamp,
            headers=record.headers,
        )
        try:
            await self._process_tracked(meta, record.value or b"", self.state.offsets[tp])
        finally:
            self.state.jobs.pop((tp, record.offset), None)
            self.metrics.in_flight.labels(self.metrics_label).set(len(self.state.jobs))


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: StageWorker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.worker.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.worker.on_assigned(set(assigned))
