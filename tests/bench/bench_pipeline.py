"""End to end: sample interviews through all six stages, each its own process, on the bench's private stack,
against a naive single-process baseline on the same interviews in the same run.

Measured: interview-minutes processed per wall-minute (how many times real time), event-to-profile latency
per interview, per-stage busy time (sum over units of completed - started) and span (first unit started,
last unit completed, after publishing), CPU seconds per stage process
(what limits the pipeline on a small machine), peak RSS of every stage process (VmHWM), and the same
interviews through the naive baseline (`tests.bench.naive_pipeline`: every frame at full resolution one at
a time through the same vision models, openai-whisper on the whole audio, one process).
``SIGHTLINE_BENCH_INTERVIEWS`` and ``SIGHTLINE_BENCH_MINUTES`` set the load (default 2 x 2 min).
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
from tests.bench.footprint import clickhouse_footprint, kafka_footprint, object_footprint

INTERVIEWS = int(os.environ.get("SIGHTLINE_BENCH_INTERVIEWS", "2"))
MINUTES = float(os.environ.get("SIGHTLINE_BENCH_MINUTES", "2"))
SAMPLE_FPS = 15  # what the recordings are encoded at (a webcam in a browser)
TIMEOUT_S = 60 * 60
SAMPLES_DIR = PROJECT_ROOT / ".local" / "bench-samples"
HEADLINE = (
    "interview_minutes",
    "pipeline.times_real_time",
    "pipeline.wall_minutes",
    "naive.wall_s",
    "speedup_vs_naive",
    "pipeline.limited_by",
    "pipeline.machine_cpu_utilisation",
)


def _samples(home: Path) -> list[tuple[InterviewCompleted, Path]]:
    from services.samples.event import interview_event
    from services.samples.generate import generate_interview
    from services.samples.spec import SampleSpec

    out = SAMPLES_DIR
    events = []
    for i in range(INTERVIEWS):
        spec = SampleSpec(
            seed=100 + i,
            duration=MINUTES * 60,
            fps=SAMPLE_FPS,
            candidate="strong" if i % 2 == 0 else "weak",
            variant="smiling" if i % 2 == 0 else "neutral",
        )
        result = generate_interview(spec, out, name=f"bench-{i}-{MINUTES:g}min")
        events.append((interview_event(result, interview_id=f"bench-{i}-{uuid.uuid4().hex[:6]}"), result.media_path))
    return events


def _start(settings: Settings, logs: Path) -> dict[str, subprocess.Popen[bytes]]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLINE_")}
    env = {
        **clean,
        **settings_env(settings),
        "SIGHTLINE_OBSERVABILITY__HTTP_PORT": "0",
        # the cached samples live in the project, outside the stack's home that ingest reads file:// from
        "SIGHTLINE_INGEST__FILE_ROOTS": json.dumps([str(SAMPLES_DIR)]),
    }
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


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _limits(cpu: dict[str, float], wall_s: float) -> dict[str, Any]:
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


def _stop(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs.values():
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _follow(settings: Settings, wanted: set[str]) -> tuple[dict[str, ProfileReady], list[StageStatus], float]:
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


def _busy_seconds(statuses: list[StageStatus]) -> dict[str, float]:
    started: dict[tuple[str, str], datetime] = {}
    busy: dict[str, float] = defaultdict(float)
    for s in sorted(statuses, key=lambda s: s.occurred_at):
        key = (s.stage.value, str(s.caused_by))
        if s.state == StageState.STARTED:
            started.setdefault(key, s.occurred_at)
        elif s.state == StageState.COMPLETED and key in started:
            busy[s.stage.value] += (s.occurred_at - started.pop(key)).total_seconds()
    return {k: round(v, 1) for k, v in sorted(busy.items())}


def _spans(statuses: list[StageStatus], published: float) -> dict[str, list[float]]:
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


def _naive(media: list[Path]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench.naive_pipeline", *map(str, media)],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


async def run(stack: Settings) -> dict[str, Any]:
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    settings = stack.model_copy(update={"kafka": stack.kafka.model_copy(update={"topic_prefix": prefix})})
    await ensure_topics(
        settings.kafka, [(physical_topic(settings.kafka, s.name), s.partitions or 6) for s in TOPICS.values()]
    )
    samples = _samples(settings.stack.home)
    logs = settings.stack.home / "logs" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    procs = _start(settings, logs)
    try:
        await asyncio.sleep(20)  # models load before the clock starts, as in a running deployment
        cpu_before = {name: _cpu_s(p.pid) for name, p in procs.items()}  # model loading excluded
        producer = create_producer(settings.kafka, "bench")
        await producer.start()
        published = time.time()
        for event, _ in samples:
            await producer.send_and_wait(
                physical_topic(settings.kafka, topic_for(event)), encode(event), key=message_key(event)
            )
        await producer.stop()
        wanted = {e.interview_id for e, _ in samples}
        profiles, statuses, last_profile = await _follow(settings, wanted)
        wall_s = last_profile - published
        peak = {name: _peak_rss_mb(p.pid) for name, p in procs.items()}
        cpu = {name: _cpu_s(p.pid) - cpu_before[name] for name, p in procs.items()}
    finally:
        _stop(procs)
    footprint = {  # after the stages stopped: the sink no longer holds the embedded database
        "kafka": await kafka_footprint(settings),
        "s3": object_footprint(settings, wanted),
        "clickhouse": clickhouse_footprint(settings, wanted),
    }
    interview_s = sum(e.interview_ended_at.timestamp() - e.interview_started_at.timestamp() for e, _ in samples)
    latencies = {p.interview_id: round(p.occurred_at.timestamp() - published, 1) for p in profiles.values()}
    naive = _naive([m for _, m in samples])
    pipeline_x = interview_s / wall_s if wall_s > 0 else None
    return {
        "interviews": len(samples),
        "interview_minutes": round(interview_s / 60, 2),
        "profiles": len(profiles),
        "pipeline": {
            "wall_minutes": round(wall_s / 60, 2),
            "times_real_time": round(pipeline_x, 2) if pipeline_x else None,
            "event_to_profile_latency_s": latencies,
            "stage_busy_s": _busy_seconds(statuses),
            "stage_span_s": _spans(statuses, published),
            "peak_rss_mb": peak,
            **_limits(cpu, wall_s),
        },
        "footprint": footprint,
        "naive": naive,
        "speedup_vs_naive": round(naive["wall_s"] / wall_s, 2) if wall_s > 0 else None,
        "targets": {"times_real_time": 3.0, "speedup_vs_naive": 5.0},
    }
