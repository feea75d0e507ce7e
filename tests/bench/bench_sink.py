"""Sink throughput: interviews' events through the real worker loop into embedded ClickHouse.

Each interview brings a media-ingested event, three vision chunks (10 per-second rows each), three
answers, a profile with four dimensions and six statuses. Measured from the sink's start until every
row is queryable with FINAL, so group joins and migrations are included (as after a deployment).
The naive baseline in the same run takes one message at a time and inserts every row on its own.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from services.common.contracts import StageStatus
from services.common.settings import Settings
from services.common.worker import StageWorker
from services.sink.stage import SinkStage
from tests.integration.kafka_helpers import wait_for
from tests.integration.test_sink import (
    Candidate,
    all_stored,
    expected_counts,
    interview_events,
    publish_events,
    sink_settings,
)

INTERVIEWS = 60
HEADLINE = ("sink.rows_per_s", "naive.rows_per_s", "speedup_vs_naive")

#: The baseline writes every row on its own, one message at a time (insert per row); the sink batches.
CONFIGS = {
    "naive": {"max_in_flight": 1, "insert_batch_rows": 1},
    "sink": {"max_in_flight": 500, "insert_batch_rows": 5000},
}


async def _one(stack: Settings, name: str, max_in_flight: int, insert_batch_rows: int) -> dict[str, Any]:
    settings = await sink_settings(stack)
    settings = settings.model_copy(
        update={
            "worker": settings.worker.model_copy(update={"commit_interval_s": 1.0}),
            "sink": settings.sink.model_copy(update={"max_in_flight": max_in_flight}),
            "clickhouse": settings.clickhouse.model_copy(update={"insert_batch_rows": insert_batch_rows}),
        }
    )
    candidates = [
        Candidate(f"BENCH-{name}-{i:04d}", f"cand_bench{i:04d}", (i % 10) / 10, label="pending")
        for i in range(INTERVIEWS)
    ]
    events = [e for c in candidates for e in interview_events(c)]
    await publish_events(settings, events)
    expected = expected_counts(candidates)
    stage = SinkStage(settings)
    worker = StageWorker(stage, settings, group_id=f"bench-sink-{name}")
    started = time.perf_counter()
    task = asyncio.create_task(worker.run())
    try:
        await wait_for(lambda: all_stored(settings, expected), 1200, "every row")
        elapsed = time.perf_counter() - started
    finally:
        worker.stop()
        await asyncio.wait_for(task, 60)
    rows = sum(expected.values()) + sum(isinstance(e, StageStatus) for e in events)
    return {
        "events": len(events),
        "rows": rows,
        "seconds": round(elapsed, 2),
        "events_per_s": round(len(events) / elapsed, 1),
        "rows_per_s": round(rows / elapsed, 1),
        "max_in_flight": max_in_flight,
        "batch_rows": insert_batch_rows,
    }


async def run(stack: Settings) -> dict[str, Any]:
    results: dict[str, Any] = {"interviews": INTERVIEWS}
    for name, config in CONFIGS.items():
        results[name] = await _one(stack, name, **config)
    results["speedup_vs_naive"] = round(results["sink"]["rows_per_s"] / results["naive"]["rows_per_s"], 2)
    return results
