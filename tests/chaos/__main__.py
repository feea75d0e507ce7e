"""`make chaos`: one fault campaign per seed, JSON under bench-results/ and a summary table.

Environment: SEED (default: drawn and printed), or SEEDS="1 2 3" for several campaigns in a row;
CHAOS_INTERVIEWS (24), CHAOS_REPLICAS (2), CHAOS_FAULTS (20). Exit code 0 only when every campaign passed.
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path
from typing import Any

from rich.table import Table

from services.common.console import make_console
from tests.chaos.campaign import Config, run

OUT_DIR = Path("bench-results")


def seeds() -> list[int]:
    if os.environ.get("SEEDS"):
        return [int(s) for s in os.environ["SEEDS"].split()]
    if os.environ.get("SEED"):
        return [int(os.environ["SEED"])]
    return [random.SystemRandom().randrange(1, 100_000)]


def summary(results: list[dict[str, Any]]) -> Table:
    table = Table(
        "seed", "faults by kind", "interviews complete", "partial (named)", "lost", "duplicates",
        "offsets unaccounted", "rebalances", "recovery p50 / p95 s", "wall s", "passed", title="Fault campaigns",
    )  # fmt: skip
    for r in results:
        kinds = ", ".join(f"{k} {n}" for k, n in r["faults_by_kind"].items())
        interviews = r["interviews"]
        rec = r["recovery"]
        table.add_row(
            str(r["seed"]),
            kinds,
            f"{interviews['complete']}/{interviews['published']}",
            str(interviews["partial_named"]),
            str(r["lost"]),
            str(r["duplicate_rows"]),
            str(r["offsets"]["outcomes"].get("unaccounted", 0)),
            _rebalances(r["rebalances"]),
            f"{rec['p50_s']} / {rec['p95_s']}",
            str(r["processing_wall_s"]),
            "yes" if r["passed"] else "NO",
        )
    return table


def _rebalances(counted: dict[str, Any]) -> str:
    by = ", ".join(f"{name} {n}" for name, n in counted["by_consumer"].items())
    return f"{counted['total']}: {by}"


def main() -> int:
    config = {
        "interviews": int(os.environ.get("CHAOS_INTERVIEWS", "24")),
        "replicas": int(os.environ.get("CHAOS_REPLICAS", "2")),
        "faults": int(os.environ.get("CHAOS_FAULTS", "20")),
    }
    OUT_DIR.mkdir(exist_ok=True)
    console = make_console(stderr=True)
    results = []
    for seed in seeds():
        console.print(f"chaos: seed {seed}")
        result = run(Config(seed=seed, **config), say=console.print)
        path = OUT_DIR / f"chaos-{seed}.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
        console.print(f"written to {path}")
        results.append(result)
    console.print(summary(results))
    return 0 if all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
