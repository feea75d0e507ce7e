"""What both stream engines share around consuming: identity, the message processor, the producer, health
endpoints, the handler's start/stop hooks, signals and draining in-flight work."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

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
        self.health = HealthServer(
            registry=self.metrics.registry,
            host=settings.observability.http_host,
            port=settings.observability.http_port,
            liveness={"worker": self._check_alive},
            readiness={"consumer": self._check_ready},
        )
        self._prepare()

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

    async def _close(self, producer: AIOKafkaProducer | None) -> None:
        """Undo `_open` once consuming has stopped."""
        if producer is not None:
            await producer.stop()
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
