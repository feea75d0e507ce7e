"""`make bench`: runs every benchmark on a private local stack and writes JSON to bench-results/."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

from services.common.stack import local_stack_settings, start_stack, stop_stack
from tests.bench import bench_worker

OUT_DIR = Path("bench-results")


def main() -> int:
    OUT_DIR.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sightline-bench-") as home:
        settings = local_stack_settings(Path(home), broker_storage="memory")
        start_stack(settings)
        try:
            results = {"worker_loop": asyncio.run(bench_worker.run(settings))}
        finally:
            stop_stack(settings)
    path = OUT_DIR / "bench.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
