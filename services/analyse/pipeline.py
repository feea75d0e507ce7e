"""The pipeline `sightline analyse` and `make demo` run on: the local stack, the topics and the six stage
processes. Whatever is already running is used; what this process starts, it stops again."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from services.common.contracts import TOPICS, StageName
from services.common.kafka import connection_kwargs, ensure_topics, physical_group, physical_topic
from services.common.settings import Settings
from services.common.stack import stack_status, start_stack, stop_stack

log = logging.getLogger(__name__)

#: Every stage runs as its own process: name -> worker factory.
DEPLOYED_STAGES: dict[str, str] = {stage.value: f"services.{stage.value}.stage:make" for stage in StageName}
SINK_GRACE_S = 3.0  # about three of the sink's flush intervals
DESCRIBE_TIMEOUT_S = 10.0


async def create_registered_topics(settings: Settings) -> list[str]:
    """Create every topic of the registry that does not exist yet (idempotent); the names created."""
    kafka = settings.kafka
    wanted = [
        (
            physical_topic(kafka, spec.name),
            spec.partitions or kafka.default_partitions,
            {
                "retention.ms": str(spec.retention_ms),
                "cleanup.policy": spec.cleanup_policy,
                "max.message.bytes": str(spec.max_message_bytes),
            },
        )
        for spec in TOPICS.values()
    ]
    return await ensure_topics(kafka, wanted)


async def running_stages(settings: Settings) -> set[str]:
    """Stages whose default consumer group has members: a pipeline already consuming this broker."""
    names = {physical_group(settings.kafka, f"sightline-{name}"): name for name in DEPLOYED_STAGES}
    admin = AIOKafkaAdminClient(**connection_kwargs(settings.kafka, "analyse-admin"))
    await admin.start()
    quiet = logging.getLogger("aiokafka.conn")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # a broker that cannot describe groups makes the client log a traceback
    try:
        responses = await asyncio.wait_for(admin.describe_consumer_groups(list(names)), DESCRIBE_TIMEOUT_S)
    finally:
        quiet.setLevel(level)
        await admin.close()
    running: set[str] = set()
    for response in responses:
        for group in response.groups:
            group_id, state, members = group[1], group[2], group[5]
            if group_id in names and members and state not in ("Dead", "Empty"):
                running.add(names[group_id])
    return running


def start_stages(
    settings: Settings, names: list[str], env: Mapping[str, str] | None = None
) -> dict[str, subprocess.Popen[bytes]]:
    """Each named stage in its own `sightline worker` process, logging under the stack's home, with ``env`` added
    to this process's environment."""
    logs = settings.stack.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs = {}
    for name in names:
        with (logs / f"{name}.log").open("ab") as out:
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "worker", DEPLOYED_STAGES[name]],
                stdout=out,
                stderr=out,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "SIGHTLINE_OBSERVABILITY__HTTP_PORT": "0", **(env or {})},
                start_new_session=True,  # Ctrl-C reaches this command, which stops the stages in order
            )
    return procs


def stop_stages(procs: dict[str, subprocess.Popen[bytes]], *, keep_sink: bool = False) -> None:
    """The producing stages first (each finishes what it holds), then the sink, so it stores their last words;
    ``keep_sink`` leaves it running (it stores the review decision and serves the console's reads)."""
    last = StageName.SINK.value
    producers = [p for name, p in procs.items() if name != last and p.poll() is None]
    terminate(producers)
    if last in procs and not keep_sink:
        if producers:
            time.sleep(SINK_GRACE_S)
        terminate([procs[last]])


def terminate(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class Pipeline:
    """What is running for this command, and what it started itself (and so stops)."""

    settings: Settings
    started_stack: bool = False
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    reused: set[str] = field(default_factory=set)

    @property
    def logs(self) -> Path:
        return self.settings.stack.home / "logs"

    def dead(self) -> list[str]:
        return [name for name, proc in self.procs.items() if proc.poll() is not None]

    def stop(self, say: Callable[[str], None]) -> None:
        if self.procs:
            stop_stages(self.procs)
            say(f"stopped the stages this command started ({', '.join(self.procs)})")
            self.procs = {}
        if self.started_stack:
            stop_stack(self.settings)
            say("stopped the local stack this command started")
            self.started_stack = False


def bring_up(
    settings: Settings, say: Callable[[str], None], *, start: bool = True, env: Mapping[str, str] | None = None
) -> Pipeline:
    """Start the local stack when it is configured here and down, create missing topics, and start the
    stages no running pipeline consumes for (none when ``start`` is False: the pipeline runs elsewhere), with
    ``env`` added to their environment. Raises StackError or OSError when a dependency fails."""
    pipeline = Pipeline(settings)
    if not start:
        return pipeline
    if _is_local(settings):
        down = [c.name for c in stack_status(settings).components if c.managed and not c.healthy]
        if down:
            say(f"starting the local stack ({', '.join(down)})")
        start_stack(settings, progress=say)  # also makes the embedded ClickHouse's directory
        # Only processes this command started are stopped at the end: a stack that was up stays up.
        pipeline.started_stack = bool(down)
    try:
        created = asyncio.run(create_registered_topics(settings))
        if created:
            say(f"created {len(created)} topic(s)")
        try:
            pipeline.reused = asyncio.run(running_stages(settings))
        except Exception as exc:  # a broker that cannot describe groups (the local one): start every stage
            log.debug("cannot describe consumer groups: %s", exc)
        missing = [name for name in DEPLOYED_STAGES if name not in pipeline.reused]
        if pipeline.reused:
            say(f"using the running stage(s): {', '.join(sorted(pipeline.reused))}")
        if missing:
            pipeline.procs = start_stages(settings, missing, env)
            say(f"started {', '.join(missing)} (logs: {pipeline.logs})")
    except BaseException:
        pipeline.stop(say)
        raise
    return pipeline


def _is_local(settings: Settings) -> bool:
    """The broker is the local stack's (so starting that stack is what the user means)."""
    return settings.kafka.bootstrap_servers.rsplit(":", 1)[-1] == str(settings.stack.kafka_port)


__all__ = [
    "DEPLOYED_STAGES",
    "Pipeline",
    "bring_up",
    "create_registered_topics",
    "running_stages",
    "start_stages",
    "stop_stages",
    "terminate",
]
