"""`make bench`: runs every benchmark part on a private local stack and writes JSON to bench-results/.

A part is a module `tests/bench/bench_<name>.py` with `async def run(stack: Settings) -> dict`. Parts are
found by name, so adding a stage's benchmark needs no change here. `python -m tests.bench worker vision`
runs only the named parts. After the JSON, a short table shows each part's headline numbers: the dotted
paths a part lists in ``HEADLINE``, or else its speed-ups, ratios and targets.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import pkgutil
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from rich.table import Table

import tests.bench
from services.common.console import make_console
from services.common.stack import local_stack_settings, start_stack, stop_stack

OUT_DIR = Path("bench-results")


def discover() -> list[str]:
    names = (m.name for m in pkgutil.iter_modules(tests.bench.__path__))
    return sorted(n.removeprefix("bench_") for n in names if n.startswith("bench_"))


_HEADLINE_KEY = re.compile(r"(speedup|ratio|times_real_time)[a-z0-9_.]*$|^targets\.")


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Dotted paths to the leaves of nested dicts."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}{key}.")
    else:
        yield prefix.rstrip("."), value


def headline(module: ModuleType, result: dict[str, Any]) -> list[tuple[str, Any]]:
    leaves = dict(flatten(result))
    wanted = getattr(module, "HEADLINE", None)
    if wanted is not None:
        return [(path, leaves[path]) for path in wanted if path in leaves]
    return [(path, value) for path, value in leaves.items() if _HEADLINE_KEY.search(path)]


def print_summary(rows: list[tuple[str, str, Any]]) -> None:
    table = Table("part", "measure", "value", title="Benchmark headlines")
    for part, path, value in rows:
        table.add_row(part, path, str(value))
    make_console(stderr=True).print(table)


def main(argv: list[str]) -> int:
    available = discover()
    wanted = argv or available
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        print(f"unknown benchmark part(s): {', '.join(unknown)}; available: {', '.join(available)}", file=sys.stderr)
        return 2
    OUT_DIR.mkdir(exist_ok=True)
    results: dict[str, Any] = {}
    summary: list[tuple[str, str, Any]] = []
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
                summary += [(name, path, value) for path, value in headline(module, results[name])]
        finally:
            stop_stack(settings)
    path = OUT_DIR / ("bench.json" if argv == [] else f"bench-{'-'.join(wanted)}.json")
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print_summary(summary)
    print(f"written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
