"""The faust-streaming engine: a stage's handler as a faust agent.

Faust consumes the stage's input topics in a consumer group (its assignor keeps co-partitioned topics
together, which fusion's per-interview state relies on) and the agent hands every record to the same
`MessageProcessor` the loop engine uses: retries, dead letters, status events and acks=all outputs behave
alike on both engines.

Acknowledging, which is what lets faust commit an offset, is done here rather than by faust's stream:

* faust acks a record when the agent moves past it, even when its processing raised, so a record whose
  outputs could not be produced would be committed; here a record is acked only after `process` returned;
* up to `max_in_flight` records are handled at once, and they finish out of order. faust-streaming 0.15
  commits past a single unacked record at the head of a partition (its gap check is off by one), so
  records are acked strictly in offset order per partition: a record is acked once it and everything
  before it on its partition have finished (`PartitionOffsets`, shared with the loop engine).

A record that cannot be finished (outputs not produced) is never acked; the engine stops with
`FatalWorkerError` and the record is delivered again to the next owner of its partition. On revocation,
in-flight records of the revoked partitions get `drain_timeout_s` to finish before they are handed back.
No faust tables are used: stages keep their state where they can reconcile it from (object storage).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import faust
from faust.types import TP, EventT, StreamT
from mode.utils.objects import cached_property

from services.common.handler import tell_assigned
from services.common.kafka import physical_topic, ssl_context
from services.common.offsets import PartitionOffsets
from services.common.processing import message_meta
from services.common.runner import StageRunner
from services.common.settings import KafkaSettings, Settings

log = logging.getLogger(__name__)


def faust_app(settings: Settings, group_id: str) -> faust.App:
    """A faust app for one stage: no web server, tables or leader topic; topics come from the registry."""
    kafka, worker = settings.kafka, settings.worker
    datadir = Path(tempfile.gettempdir()) / "sightline-faust" / group_id
    datadir.parent.mkdir(parents=True, exist_ok=True)
    return faust.App(
        group_id,
        broker=[f"kafka://{server.strip()}" for server in kafka.bootstrap_servers.split(",")],
        broker_client_id=f"{kafka.client_id}-{group_id}",
        broker_credentials=_credentials(kafka),
        broker_session_timeout=kafka.session_timeout_ms / 1000,
        broker_heartbeat_interval=kafka.heartbeat_interval_ms / 1000,
        broker_max_poll_interval=kafka.max_poll_interval_ms / 1000,
        broker_request_timeout=kafka.request_timeout_ms / 1000,
        broker_commit_interval=worker.commit_interval_s,
        broker_max_poll_records=worker.poll_max_records,
        consumer_auto_offset_reset=worker.auto_offset_reset,
        # Records wait in faust's buffer while every slot is busy; a small buffer pauses fetching soon, as
        # the loop does, instead of holding thousands of records that a crash would deliver again anyway.
        stream_buffer_maxsize=worker.poll_max_records,
        processing_guarantee="at_least_once",
        store="memory://",
        # faust creates its data directory at start even without tables; the working directory of a pod
        # is read-only, its /tmp is not.
        datadir=datadir,
        autodiscover=False,
        web_enabled=False,
        # Topics are created by `sightline topics create` with the registry's partition counts; a topic
        # faust declared itself would get its own default and break co-partitioning.
        topic_allow_declare=False,
        topic_disable_leader=True,
        # Shutdown must not wait for a record that will never be acked (one whose outputs failed).
        stream_wait_empty=False,
    )


def _credentials(kafka: KafkaSettings) -> faust.auth.Credentials | None:
    context = ssl_context(kafka)
    if kafka.security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password.get_secret_value() if kafka.sasl_password else None,
            mechanism=kafka.sasl_mechanism or "PLAIN",
            ssl_context=context,
        )
    return faust.SSLCredentials(context) if context is not None else None


@dataclass
class _Partition:
    offsets: PartitionOffsets = field(default_factory=PartitionOffsets)
    #: Finished records not yet acked, by offset: acked once nothing before them is in flight.
    finished: dict[int, EventT[bytes]] = field(default_factory=dict)
    tasks: dict[int, asyncio.Task[None]] = field(default_factory=dict)


class FaustStageWorker(StageRunner):
    """Runs a `StageHandler` as a faust agent; same interface as `StageWorker` (run, stop, health)."""

    def _prepare(self) -> None:
        if hasattr(self.handler, "flush"):
            # A buffered sink's flush must run before, and block, every commit; the loop engine does that.
            raise ValueError(f"{self.stage.value}: buffered stages (with flush) run on the loop engine")
        self._partitions: dict[TP, _Partition] = {}
        self._slots = asyncio.Semaphore(self.max_in_flight)

    @cached_property
    def app(self) -> faust.App:
        app = faust_app(self.settings, self.group_id)
        topics = [physical_topic(self.settings.kafka, t) for t in self.handler.input_topics]
        channel = app.topic(*topics, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
        app.agent(channel, name=f"sightline.{self.stage.value}", concurrency=1)(self._agent)
        app.on_partitions_revoked.connect(self._on_revoked)
        app.on_partitions_assigned.connect(self._on_assigned)
        return app

    async def run(self, *, install_signal_handlers: bool = False) -> None:
        producer = await self._open(install_signal_handlers=install_signal_handlers)
        try:
            await self.app.start()
            self.started = True
            log.info("worker started", extra={"stage": self.stage.value, "group": self.group_id, "engine": "faust"})
            await self._until_stopped_or_crashed()
        finally:
            await self._drain(set(self._partitions))
            with contextlib.suppress(Exception):
                await self._bounded("the last offset commit", self.app.consumer.commit())
            await self._bounded("leaving the group", self.app.stop())
            await self._close(producer)
        self._raise_if_fatal()

    async def _until_stopped_or_crashed(self) -> None:
        # A crashed faust app (an agent or the consumer died) stops consuming for good: end the process with
        # an error, so the platform restarts it, instead of idling while the liveness probe says ok.
        while not self._stopping.is_set():
            if self.app.should_stop:
                self.fatal = self.fatal or self.app.crash_reason or RuntimeError("the faust app stopped")
                log.error("faust app stopped: %s", self.fatal)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=1.0)

    # ---- the agent ----------------------------------------------------------------------------

    async def _agent(self, stream: StreamT[bytes]) -> None:
        async for event in cast(faust.Stream[bytes], stream).noack().events():
            if self.fatal is not None:
                continue  # stopping: leave the rest unacked for the next owner
            if self._slots.locked():
                # Full: the agent stops taking records, faust's buffer fills and its consumer pauses.
                self.metrics.paused.labels(self.metrics_label).set(1)
            await self._slots.acquire()
            self.metrics.paused.labels(self.metrics_label).set(0)
            message = event.message
            if message.tp not in self.app.consumer.assignment():
                # Taken from the buffer before a revocation (while waiting for a slot): the new owner reads it.
                self._slots.release()
                continue
            part = self._partitions.setdefault(message.tp, _Partition())
            if message.offset in part.tasks or (
                part.offsets.committed is not None and message.offset < part.offsets.committed
            ):
                self._slots.release()
                continue
            part.offsets.start(message.offset)
            task = asyncio.create_task(self._process(stream, event, part), name=f"{message.tp}/{message.offset}")
            part.tasks[message.offset] = task
            self.metrics.in_flight.labels(self.metrics_label).set(self._in_flight())

    async def _process(self, stream: StreamT[bytes], event: EventT[bytes], part: _Partition) -> None:
        message = event.message
        meta = message_meta(
            self.settings.kafka,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            timestamp_ms=round(message.timestamp * 1000) if message.timestamp else None,
            headers=list(message.headers.items() if isinstance(message.headers, Mapping) else message.headers or ()),
        )
        try:
            # A record whose outputs could not be produced is never acked: the next owner retries it.
            if await self._process_tracked(meta, message.value or b"", part.offsets):
                part.finished[message.offset] = event
                await self._ack_in_order(stream, part)
        finally:
            part.tasks.pop(message.offset, None)
            self._slots.release()
            self.metrics.in_flight.labels(self.metrics_label).set(self._in_flight())

    async def _ack_in_order(self, stream: StreamT[bytes], part: _Partition) -> None:
        point = part.offsets.commit_point()
        if point is None:
            return
        for offset in sorted(o for o in part.finished if o < point):
            await stream.ack(part.finished.pop(offset))
        part.offsets.mark_committed(point)

    def _in_flight(self) -> int:
        return sum(len(p.tasks) for p in self._partitions.values())

    # ---- rebalancing --------------------------------------------------------------------------

    async def _on_revoked(self, sender: Any, /, *args: Any, signal: Any, **_: Any) -> None:
        revoked: set[TP] = set(args[0])
        await self._drain(revoked & set(self._partitions))
        for tp in revoked:
            self._partitions.pop(tp, None)
        tell_assigned(self.handler, (tp.partition for tp in self.app.consumer.assignment()))

    async def _on_assigned(self, sender: Any, /, *_: Any, signal: Any, **__: Any) -> None:
        assignment = self.app.consumer.assignment()
        self._note_assignment(len(assignment))
        tell_assigned(self.handler, (tp.partition for tp in assignment))

    async def _drain(self, partitions: set[TP]) -> None:
        """Let in-flight records of these partitions finish for a while, then hand the rest back."""
        await self._drain_tasks(
            [t for tp in partitions if tp in self._partitions for t in self._partitions[tp].tasks.values()]
        )
