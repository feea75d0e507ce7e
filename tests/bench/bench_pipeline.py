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

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from services.common.contracts import InterviewCompleted
from services.common.settings import PROJECT_ROOT, Settings
from tests.bench.footprint import clickhouse_footprint, kafka_footprint, object_footprint
from tests.bench.stage_processes import busy_seconds, limits, run_interviews, spans

INTERVIEWS = int(os.environ.get("SIGHTLINE_BENCH_INTERVIEWS", "2"))
MINUTES = float(os.environ.get("SIGHTLINE_BENCH_MINUTES", "2"))
SAMPLE_FPS = 15  # what the recordings are encoded at (a webcam in a browser)
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
    samples = _samples(stack.stack.home)
    done = await run_interviews(stack, [e for e, _ in samples], [SAMPLES_DIR])
    settings, wall_s, wanted = done.settings, done.wall_s, {e.interview_id for e, _ in samples}
    footprint = {  # after the stages stopped: the sink no longer holds the embedded database
        "kafka": await kafka_footprint(settings),
        "s3": object_footprint(settings, wanted),
        "clickhouse": clickhouse_footprint(settings, wanted),
    }
    interview_s = sum(e.interview_ended_at.timestamp() - e.interview_started_at.timestamp() for e, _ in samples)
    naive = _naive([m for _, m in samples])
    pipeline_x = interview_s / wall_s if wall_s > 0 else None
    return {
        "interviews": len(samples),
        "interview_minutes": round(interview_s / 60, 2),
        "profiles": len(done.profiles),
        "pipeline": {
            "wall_minutes": round(wall_s / 60, 2),
            "times_real_time": round(pipeline_x, 2) if pipeline_x else None,
            "event_to_profile_latency_s": done.latencies_s,
            "stage_busy_s": busy_seconds(done.statuses),
            "stage_span_s": spans(done.statuses, done.published),
            "peak_rss_mb": done.peak_rss_mb,
            **limits(done.cpu_s, wall_s),
        },
        "footprint": footprint,
        "naive": naive,
        "speedup_vs_naive": round(naive["wall_s"] / wall_s, 2) if wall_s > 0 else None,
        "targets": {"times_real_time": 3.0, "speedup_vs_naive": 5.0},
    }
