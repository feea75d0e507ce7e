"""A batch through `sightline analyse DIR`, interrupted midway and resumed, on the bench's private stack.

``SIGHTLINE_BENCH_ANALYSE_RECORDINGS`` short generated recordings (default 50) of
``SIGHTLINE_BENCH_ANALYSE_SECONDS`` seconds each (default 10) go through the command as a user runs it: it
starts the six stages itself, ``SIGHTLINE_BENCH_ANALYSE_CONCURRENCY`` interviews at a time (default 4). When
half the batch is finished it gets Ctrl-C; the same command then resumes. Measured: recordings per minute and
recording-minutes per wall-minute over both runs (model loading included: that is what a user waits for);
checked: every recording has exactly one stored profile, no finished interview was published again, and none
was lost (the state file, the profile topic and ClickHouse agree).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.common.clickhouse import DirectWarehouse
from services.common.contracts import InterviewCompleted, ProfileReady, decode, topic_for
from services.common.kafka import connection_kwargs, physical_topic
from services.common.objectstore import ObjectStore
from services.common.settings import PROJECT_ROOT, Settings, settings_env
from services.samples import SampleSpec, generate_interview
from tests.interrupts import hear_interrupts

RECORDINGS = int(os.environ.get("SIGHTLINE_BENCH_ANALYSE_RECORDINGS", "50"))
SECONDS = float(os.environ.get("SIGHTLINE_BENCH_ANALYSE_SECONDS", "10"))
CONCURRENCY = int(os.environ.get("SIGHTLINE_BENCH_ANALYSE_CONCURRENCY", "4"))
TIMEOUT_S = 4 * 60 * 60
HEADLINE = (
    "recordings",
    "recordings_per_minute",
    "times_real_time",
    "finished_before_interrupt",
    "interrupted_midway",
    "checks.lost",
    "checks.profiles_stored_twice",
    "checks.finished_republished",
)


def _samples(out: Path) -> Path:
    for i in range(RECORDINGS):
        spec = SampleSpec(seed=1000 + i, duration=SECONDS, fps=10, candidate="strong" if i % 2 else "weak")
        generate_interview(spec, out, name=f"rec-{i:03d}")
    return out


def _finished(state: Path) -> list[dict[str, Any]]:
    if not state.exists():
        return []
    return [json.loads(line) for line in state.read_text().splitlines() if line.strip()]


async def _read_topic(settings: Settings, topic: str) -> list[bytes]:
    """Every record of a topic (its producers have stopped), read with a throwaway consumer."""
    consumer = AIOKafkaConsumer(**connection_kwargs(settings.kafka, "bench-read"), enable_auto_commit=False)
    await consumer.start()
    try:
        name = physical_topic(settings.kafka, topic)
        tps = [TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or ()]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        values: list[bytes] = []
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=1000)
            values += [r.value or b"" for records in batch.values() for r in records]
        return values
    finally:
        await consumer.stop()


async def run(stack: Settings) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:6]
    s3 = stack.s3.model_copy(
        update={"raw_bucket": f"raw-{suffix}", "work_bucket": f"work-{suffix}", "report_bucket": f"rep-{suffix}"}
    )
    settings = stack.model_copy(
        update={"kafka": stack.kafka.model_copy(update={"topic_prefix": f"an{suffix}."}), "s3": s3}
    )
    ObjectStore(settings.s3).ensure_buckets()
    home = settings.stack.home
    recordings = _samples(home / f"analyse-{suffix}")
    state = home / f"analyse-{suffix}.jsonl"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLINE_")}
    env = {**clean, **settings_env(settings), "COLUMNS": "200"}
    options = ["--consent-scopes", "default", "--language", "en", "--jurisdiction", "US"]
    command = [sys.executable, "-m", "services.cli", "analyse", str(recordings), *options,
               "--concurrency", str(CONCURRENCY), "--state", str(state)]  # fmt: skip

    log = home / f"analyse-{suffix}.log"
    with log.open("ab") as out:
        started = time.perf_counter()
        first = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=out, stderr=out, preexec_fn=hear_interrupts)
        half = RECORDINGS // 2
        while len(_finished(state)) < half and first.poll() is None and time.perf_counter() - started < TIMEOUT_S:
            time.sleep(0.5)
        first.send_signal(signal.SIGINT)
        first_code = first.wait(timeout=300)
        first_s = time.perf_counter() - started
        before = _finished(state)
        resumed = time.perf_counter()
        second = subprocess.run(command, env=env, cwd=PROJECT_ROOT, stdout=out, stderr=out, timeout=TIMEOUT_S)
        second_s = time.perf_counter() - resumed

    rows = _finished(state)
    published = [str(decode(topic_for(InterviewCompleted), v).event_id)
                 for v in await _read_topic(settings, topic_for(InterviewCompleted))]  # fmt: skip
    profiles = [decode(topic_for(ProfileReady), v) for v in await _read_topic(settings, topic_for(ProfileReady))]
    profiled = {p.interview_id for p in profiles}
    warehouse = DirectWarehouse(settings.clickhouse)
    try:
        _, stored = warehouse.query_rows(
            f"SELECT interview_id, count() FROM {settings.clickhouse.database}.profiles FINAL GROUP BY interview_id"
        )
    finally:
        warehouse.close()
    stored_counts = {r[0]: r[1] for r in stored}
    finished_ids = {str(r["event_id"]) for r in rows}
    wall_s = first_s + second_s
    return {
        "recordings": RECORDINGS,
        "seconds_each": SECONDS,
        "concurrency": CONCURRENCY,
        "first_run_s": round(first_s, 1),
        "first_run_exit": first_code,
        "finished_before_interrupt": len(before),
        # The run proves resumption only when the interruption came with work left to do.
        "interrupted_midway": 0 < len(before) < RECORDINGS and first_code != 0,
        "resumed_run_s": round(second_s, 1),
        "resumed_run_exit": second.returncode,
        "recordings_per_minute": round(RECORDINGS / (wall_s / 60), 2),
        "times_real_time": round(RECORDINGS * SECONDS / wall_s, 2),
        "checks": {
            "finished": len(rows),
            "failed": sum(1 for r in rows if r["failure"]),
            "lost": RECORDINGS - len(finished_ids & set(published)),
            "without_profile": RECORDINGS - len({r["interview_id"] for r in rows} & profiled),
            "not_stored": RECORDINGS - len({r["interview_id"] for r in rows} & set(stored_counts)),
            # A duplicate delivery re-emits the same profile version; a second version would mean it was redone.
            "profiles_stored_twice": sum(1 for n in stored_counts.values() if n > 1),
            "finished_republished": sum(published.count(str(r["event_id"])) - 1 for r in before),
            "in_flight_republished": sum(1 for e in set(published) if published.count(e) > 1),
        },
        "log": str(log),
    }
