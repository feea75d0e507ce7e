"""Scale-out on one machine: the same 40 short interviews through 1, 2 and 3 replicas of every stage (the sink:
one, it owns the embedded database), no faults. Measured per replica count: wall time from publishing to the
last stored profile, interviews per minute and the checked history of the fault campaign (tests.chaos.history):
nothing lost or stored twice. Run it alone with `make bench PARTS=scaleout`; on two cores the curve flattens at
once (docs/operations.md, "Fault campaign").
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from services.common.settings import Settings
from tests.chaos.campaign import Config, run_on
from tests.integration.kafka_helpers import pipeline_settings

INTERVIEWS = int(os.environ.get("SIGHTLINE_BENCH_SCALEOUT_INTERVIEWS", "40"))
REPLICAS = (1, 2, 3)
HEADLINE = tuple(f"replicas_{n}.{k}" for n in REPLICAS for k in ("interviews_per_minute", "lost", "duplicate_rows"))


async def run(stack: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {"interviews": INTERVIEWS, "cores": os.cpu_count()}
    for replicas in REPLICAS:
        home = Path(tempfile.mkdtemp(prefix="sightline-scaleout-"))  # a database of its own for each count
        settings = pipeline_settings(stack, home)
        config = Config(seed=replicas, interviews=INTERVIEWS, replicas=replicas, faults=0, tag=f"scale{replicas}")
        try:
            result = await asyncio.to_thread(run_on, config, settings, lambda _message: None)
        finally:
            shutil.rmtree(home, ignore_errors=True)
        wall = result["processing_wall_s"]
        out[f"replicas_{replicas}"] = {
            "processing_wall_s": wall,
            "interviews_per_minute": round(60 * INTERVIEWS / wall, 2) if wall else None,
            "startup_s": result["startup_s"],
            "complete": result["interviews"]["complete"],
            "lost": result["lost"],
            "duplicate_rows": result["duplicate_rows"],
            "offsets": result["offsets"]["outcomes"],
            "passed": result["passed"],
        }
    return out
