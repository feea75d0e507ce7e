"""Copy the schemas directory and set topic partition counts in its topic registry.

Run by the chart's topics Job before `sightline topics create`, so partition counts come from the chart's
values while every other property of a topic stays as registered in `schemas/topics.yaml`. The command
then loads the copy (SIGHTLINE_SCHEMAS_DIR) and checks it, co-partitioning rules included.

Usage: apply_partitions.py SOURCE_SCHEMAS_DIR TARGET_SCHEMAS_DIR  (counts as JSON in SIGHTLINE_TOPIC_PARTITIONS)
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import yaml


def apply_partitions(source: Path, target: Path, partitions: dict[str, int]) -> None:
    shutil.copytree(source, target, dirs_exist_ok=True)
    registry_file = target / "topics.yaml"
    registry = yaml.safe_load(registry_file.read_text(encoding="utf-8"))
    known = {entry["name"] for entry in registry["topics"]}
    unknown = sorted(set(partitions) - known)
    if unknown:
        raise SystemExit(f"topics.partitions names topics that are not registered: {', '.join(unknown)}")
    for entry in registry["topics"]:
        entry["partitions"] = int(partitions.get(entry["name"], entry["partitions"]))
    registry_file.write_text(yaml.safe_dump(registry, sort_keys=False, allow_unicode=True), encoding="utf-8")


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    counts = json.loads(os.environ.get("SIGHTLINE_TOPIC_PARTITIONS") or "{}")
    apply_partitions(Path(sys.argv[1]), Path(sys.argv[2]), counts)


if __name__ == "__main__":
    main()
