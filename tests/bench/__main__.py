"""`make bench`: runs every benchmark part on a private local stack and writes JSON to bench-results/.

A part is a module `tests/bench/bench_<name>.py` with `async def run(stack: Settings) -> dict`. Parts are
found by name, so adding a stage's benchmark needs no change here. `python -m tests.bench worker vision`
runs only the named parts.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import pkgutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import tests.bench
from services.common.stack import local_stack_settings, start_stack, stop_stack

OUT_DIR = Path("bench-results")


def discover() -> list[str]:
    names = (m.name for m in pkgutil.iter_modules(tests.bench.__path__))
    return sorted(n.removeprefix("bench_") for n in names if n.startswith("bench_"))


def main(argv: list[str]) -> int:
    available = discover()
    wanted = argv or available
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        print(f"unknown benchmark part(s): {', '.join(unknown)}; available: {', '.join(available)}", file=sys.stderr)
        return 2
    OUT_DIR.mkdir(exist_ok=True)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="sightline-bench-") as home:
        settings = local_stack_settings(Path(home), broker_storage="memory")
        start_stack(settings)
        try:
            for name in wanted:
                module = importlib.import_module(f"tests.bench.bench_{name}")
                print(f"bench: {name} ...", file=sys.stderr, flush=True)
                started = time.perf_counter()
                results[name] = asyncio.run(module.run(settings))
                results[name]["bench_wall_s"] = round(time.perf_counter() - started, 1)
        finally:
            stop_stack(settings)
    path = OUT_DIR / ("bench.json" if argv == [] else f"bench-{'-'.join(wanted)}.json")
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
