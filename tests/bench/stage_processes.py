"""All six stages as processes on the bench's private stack, interviews published, followed to their profiles.

Shared by the end-to-end parts (`bench_pipeline`, `bench_realistic`): `run_interviews` starts one process per
stage, lets the models load before the clock starts (as in a running deployment), publishes the events,
follows statuses and profiles until every profile is stored by the sink, and returns what each process cost:
CPU seconds (user + system, model loading excluded), peak RSS (VmHWM), per-stage busy time and span.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.common.contracts import (
    TOPICS,
    InterviewCompleted,
    ProfileReady,
    StageName,
    StageState,
    StageStatus,
    decode,
    encode,
    message_key,
    topic_for,
)
from services.common.kafka import connection_kwargs, create_producer, ensure_topics, physical_topic
from services.common.settings import PROJECT_ROOT, Settings, settings_env
from services.sink.callback import STATUS_UNIT as CALLBACK_UNIT

TIMEOUT_S = 60 * 60
#: Seconds the stage processes get to load their models before the clock starts.
WARM_UP_S = 20.0


@dataclass(frozen=True)
class StagesRun:
    """What one run of interviews through the stage processes measured."""

    settings: Settings  # with the run's own topic prefix
    published: float  # epoch seconds
    wall_s: float  # publishing to the last profile
    profiles: dict[str, ProfileReady]
    statuses: list[StageStatus]
    peak_rss_mb: dict[str, float | None]
    cpu_s: dict[str, float]

    @property
    def latencies_s(self) -> dict[str, float]:
        """Event (publishing) to profile, per interview."""
        return {p.interview_id: round(p.occurred_at.timestamp() - self.published, 1) for p in self.profiles.values()}


def stage_env(settings: Settings, file_roots: list[Path], extra: dict[str, str] | None = None) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLINE_")}
    return {
        **clean,
        **settings_env(settings),
        "SIGHTLINE_OBSERVABILITY__HTTP_PORT": "0",
        # the cached samples live in the project, outside the stack's home that ingest reads file:// from
        "SIGHTLINE_INGEST__FILE_ROOTS": json.dumps([str(root) for root in file_roots]),
        **(extra or {}),
    }


def start_stages(settings: Settings, logs: Path, env: dict[str, str]) -> dict[str, subprocess.Popen[bytes]]:
    procs = {}
    for stage in StageName:
        log = (logs / f"{stage.value}.log").open("ab")
        procs[stage.value] = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "worker", f"services.{stage.value}.stage:make"],
            stdout=log,
            stderr=log,
            env=env,
            cwd=PROJECT_ROOT,
        )
    return procs


def stop_stages(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs.values():
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def limits(cpu: dict[str, float], wall_s: float) -> dict[str, Any]:
    """Where the CPU went while interviews were processed, and how busy the machine was."""
    total = sum(cpu.values()) or 1e-9
    cores = os.cpu_count() or 1
    top = max(cpu, key=lambda k: cpu[k])
    return {
        "cpu_s": {k: round(v, 1) for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])},
        "cpu_share": {k: round(v / total, 2) for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])},
        "machine_cpu_utilisation": round(total / (wall_s * cores), 2) if wall_s > 0 else None,
        "limited_by": f"{top} ({cpu[top] / total:.0%} of the pipeline's CPU)",
    }


async def follow(settings: Settings, wanted: set[str]) -> tuple[dict[str, ProfileReady], list[StageStatus], float]:
    """Statuses and profiles until every wanted interview's profile is stored by the sink."""
    status_topic = physical_topic(settings.kafka, topic_for(StageStatus))
    profile_topic = physical_topic(settings.kafka, topic_for(ProfileReady))
    consumer = AIOKafkaConsumer(**connection_kwargs(settings.kafka, "bench"), enable_auto_commit=False)
    await consumer.start()
    profiles: dict[str, ProfileReady] = {}
    statuses: list[StageStatus] = []
    profiled_at: dict[str, float] = {}
    stored: set[str] = set()
    try:
        tps = [
            TopicPartition(t, p) for t in (status_topic, profile_topic) for p in consumer.partitions_for_topic(t) or ()
        ]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                for r in records:
                    if tp.topic == profile_topic:
                        p = decode(topic_for(ProfileReady), r.value or b"")
                        if isinstance(p, ProfileReady) and p.interview_id in wanted:
                            profiles[p.interview_id] = p
                            profiled_at.setdefault(p.interview_id, time.time())
                    else:
                        s = decode(topic_for(StageStatus), r.value or b"")
                        if isinstance(s, StageStatus):
                            statuses.append(s)
                            stored_row = s.unit != CALLBACK_UNIT  # the row writer, not the HR callback sender
                            if (
                                s.stage == StageName.SINK
                                and s.state == StageState.COMPLETED
                                and s.caused_by
                                and stored_row
                            ):
                                stored.add(str(s.caused_by))
            if len(profiles) == len(wanted) and all(str(p.event_id) in stored for p in profiles.values()):
                break
    finally:
        await consumer.stop()
    return profiles, statuses, max(profiled_at.values(), default=time.time())


def busy_seconds(statuses: list[StageStatus]) -> dict[str, float]:
    """Per stage, the sum over units of completed - started."""
    started: dict[tuple[str, str], datetime] = {}
    busy: dict[str, float] = defaultdict(float)
    for s in sorted(statuses, key=lambda s: s.occurred_at):
        key = (s.stage.value, str(s.caused_by))
        if s.state == StageState.STARTED:
            started.setdefault(key, s.occurred_at)
        elif s.state == StageState.COMPLETED and key in started:
            busy[s.stage.value] += (s.occurred_at - started.pop(key)).total_seconds()
    return {k: round(v, 1) for k, v in sorted(busy.items())}


def spans(statuses: list[StageStatus], published: float) -> dict[str, list[float]]:
    """Per stage, seconds after publishing when its first unit started and its last unit completed: how the
    stages overlap, and which one the interviews wait for at the end."""
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for s in statuses:
        at = s.occurred_at.timestamp() - published
        if s.state == StageState.STARTED:
            first[s.stage.value] = min(first.get(s.stage.value, at), at)
        elif s.state == StageState.COMPLETED:
            last[s.stage.value] = max(last.get(s.stage.value, at), at)
    return {k: [round(first[k], 1), round(last.get(k, first[k]), 1)] for k in sorted(first)}


async def run_interviews(
    stack: Settings,
    events: list[InterviewCompleted],
    file_roots: list[Path],
    env_extra: dict[str, str] | None = None,
) -> StagesRun:
    """The events through all six stages as processes, on topics of their own on the stack's broker."""
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    settings = stack.model_copy(update={"kafka": stack.kafka.model_copy(update={"topic_prefix": prefix})})
    await ensure_topics(
        settings.kafka, [(physical_topic(settings.kafka, s.name), s.partitions or 6) for s in TOPICS.values()]
    )
    logs = settings.stack.home / "logs" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    procs = start_stages(settings, logs, stage_env(settings, file_roots, env_extra))
    try:
        await asyncio.sleep(WARM_UP_S)  # models load before the clock starts, as in a running deployment
        cpu_before = {name: cpu_s(p.pid) for name, p in procs.items()}  # model loading excluded
        producer = create_producer(settings.kafka, "bench")
        await producer.start()
        published = time.time()
        for event in events:
            await producer.send_and_wait(
                physical_topic(settings.kafka, topic_for(event)), encode(event), key=message_key(event)
            )
        await producer.stop()
        profiles, statuses, last_profile = await follow(settings, {e.interview_id for e in events})
        peak = {name: peak_rss_mb(p.pid) for name, p in procs.items()}
        cpu = {name: cpu_s(p.pid) - cpu_before[name] for name, p in procs.items()}
    finally:
        stop_stages(procs)
    return StagesRun(settings, published, last_profile - published, profiles, statuses, peak, cpu)
