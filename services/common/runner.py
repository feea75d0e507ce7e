"""What both stream engines share around consuming: identity, the message processor, the producer, health
endpoints, the handler's start/stop hooks, signals, draining in-flight work and a stop bounded in time."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import time
from collections.abc import Awaitable, Collection

from aiokafka import AIOKafkaProducer

from services.common.contracts import StageName
from services.common.handler import FatalWorkerError, MessageMeta, StageHandler
from services.common.health import HealthServer
from services.common.kafka import create_producer, physical_group
from services.common.metrics import StageMetrics, create_metrics
from services.common.offsets import PartitionOffsets
from services.common.processing import MessageProcessor
from services.common.settings import Settings
from services.common.signals import on_termination

log = logging.getLogger(__name__)


class StageRunner:
    """Base of `StageWorker` (aiokafka loop) and `FaustStageWorker`; `run` is theirs."""

    def __init__(
        self,
        handler: StageHandler,
        settings: Settings,
        *,
        group_id: str | None = None,
        metrics: StageMetrics | None = None,
        metrics_label: str | None = None,
    ) -> None:
        self.handler = handler
        self.settings = settings
        self.stage = StageName(handler.stage)
        #: The group at the broker: the given name (by default `sightline-<stage>`) after the topic prefix.
        self.group_id = physical_group(settings.kafka, group_id or f"sightline-{self.stage.value}")
        self.metrics = metrics or create_metrics()
        #: The `stage` label of its metrics: the stage's name unless a second consumer of a stage needs its own.
        self.metrics_label = metrics_label or self.stage.value
        # A handler whose messages are cheap (the sink only buffers rows) may ask for more in flight.
        self.max_in_flight: int = getattr(handler, "max_in_flight", None) or settings.worker.max_in_flight
        self.processor = MessageProcessor(handler, settings, self.metrics, self.metrics_label)
        #: Why the engine stopped on its own (outputs could not be produced, the consumer died), if it did.
        self.fatal: BaseException | None = None
        self.started = False
        self._stopping = asyncio.Event()
        #: When the steps of a stop that wait for the broker must be over (`_bounded`), and whether one gave up.
        self._wind_down_by: float | None = None
        self._gave_up = False
        self.health = HealthServer(
            registry=self.metrics.registry,
            host=settings.observability.http_host,
            port=settings.observability.http_port,
            liveness={"worker": self._check_alive},
            readiness={"consumer": self._check_ready},
        )
        self._prepare()

    async def run(self, *, install_signal_handlers: bool = False) -> None:
        """Consume until `stop` or a fatal error (each engine's own)."""
        raise NotImplementedError

    def run_process(self) -> None:
        """`run` as the main loop of a worker process, until SIGTERM or a fatal error (raised).

        When the stop gave up waiting for the broker, the Kafka clients' own tasks and threads still wait for it
        and would hold the process (asyncio.run waits for every cancelled task, the interpreter for every
        thread): the process then ends at once, its logs flushed, with what it would have returned."""
        runner = asyncio.Runner()
        try:
            runner.run(self.run(install_signal_handlers=True))
        finally:
            if self._gave_up:
                logging.shutdown()
                os._exit(1 if self.fatal is not None else 0)
            runner.close()

    def _prepare(self) -> None:
        """The engine's own state, set up at the end of construction."""

    def _check_alive(self) -> str | None:
        return f"stopped after fatal error: {self.fatal}" if self.fatal is not None else None

    def _check_ready(self) -> str | None:
        if not self.started:
            return "not started"
        return "shutting down" if self._stopping.is_set() else None

    def stop(self) -> None:
        """Ask the engine to finish (signal-handler safe)."""
        self._stopping.set()

    async def _open(self, *, install_signal_handlers: bool) -> AIOKafkaProducer:
        """Signals, health server, the handler's `start()` hook (buckets, models) and a started producer."""
        if install_signal_handlers:
            on_termination(self.stop)
        await self.health.start()
        # A stage that runs consumers of its own (the sink's stage-status reader) reports on this registry.
        use_metrics = getattr(self.handler, "use_metrics", None)
        if use_metrics is not None:
            use_metrics(self.metrics)
        start_hook = getattr(self.handler, "start", None)
        if start_hook is not None:
            await start_hook()
        producer = create_producer(self.settings.kafka, f"{self.stage.value}-producer")
        await producer.start()
        self.processor.producer = producer
        return producer

    def _note_assignment(self, partitions: int) -> None:
        """A rebalance ended with ``partitions`` partitions of the group here: counted, and logged in a line the
        fault campaign counts (`tests.chaos.campaign`)."""
        self.metrics.rebalances.labels(self.metrics_label).inc()
        log.info("partitions assigned to %s: %d", self.metrics_label, partitions, extra={"group": self.group_id})

    async def _unless_stopping(self, action: Awaitable[object]) -> bool:
        """Await ``action`` unless a stop is asked first, which cancels it; True when it finished."""
        task = asyncio.ensure_future(action)
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            raise
        finally:
            stop.cancel()
        if not task.done():
            task.cancel()  # not awaited: with the broker gone its cancellation may wait too
            return False
        task.result()  # its exception, if it raised
        return True

    async def _bounded(self, step: str, action: Awaitable[object]) -> bool:
        """One step of a stop that waits for the broker (the last commit, leaving the group, the producer's last
        sends); True when it finished. With the broker gone such a step would wait for ever: together they get
        `shutdown_timeout_s` from the first of them, and once one gives up the rest are skipped. Nothing is
        lost: an offset is committed only after its outputs, and what was not committed is delivered again."""
        bound = self.settings.worker.shutdown_timeout_s
        if self._wind_down_by is None:
            self._wind_down_by = time.monotonic() + bound
        if self._gave_up:
            if inspect.iscoroutine(action):
                action.close()
            return False
        try:
            await asyncio.wait_for(action, max(0.0, self._wind_down_by - time.monotonic()))
            return True
        except TimeoutError:
            self._gave_up = True
            log.warning(
                "shutdown gave up waiting for the broker after %.1fs (at: %s); what was not committed will be "
                "delivered again",
                bound,
                step,
                extra={"stage": self.stage.value, "step": step},
            )
            return False

    async def _close(self, producer: AIOKafkaProducer | None) -> None:
        """Undo `_open` once consuming has stopped."""
        if producer is not None:
            await self._bounded("flushing the producer", producer.stop())
        stop_hook = getattr(self.handler, "stop", None)
        if stop_hook is not None:
            await stop_hook()
        await self.health.stop()
        self.started = False
        log.info("worker stopped", extra={"stage": self.stage.value})

    def _raise_if_fatal(self) -> None:
        if self.fatal is not None:
            raise FatalWorkerError(str(self.fatal)) from self.fatal

    async def _process_tracked(self, meta: MessageMeta, value: bytes, offsets: PartitionOffsets) -> bool:
        """Process one record and note in its partition's offsets whether it finished. False when its outputs
        could not be produced: the engine then stops, and the record is never committed."""
        try:
            await self.processor.process(meta, value)
        except asyncio.CancelledError:
            offsets.abandon(meta.offset)
            raise
        except Exception as exc:
            offsets.abandon(meta.offset)
            log.exception("could not produce outputs; stopping without committing")
            self.fatal = exc
            self._stopping.set()
            return False
        offsets.finish(meta.offset)
        return True

    async def _drain_tasks(self, tasks: Collection[asyncio.Task[None]]) -> None:
        """Let in-flight messages finish for `drain_timeout_s`, then cancel the rest (handed back uncommitted)."""
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self.settings.worker.drain_timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
            log.warning("handed back unfinished messages", extra={"count": len(pending)})
