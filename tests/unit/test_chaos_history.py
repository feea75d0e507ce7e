"""The fault campaign's schedule and its accounting of consumed offsets (tests.chaos): what makes the campaign
fail must be seen."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from services.common.contracts import StageStatus, dead_letter_topic, decode, decode_dead_letter, encode
from tests.chaos.faults import Injected, Kind, schedule
from tests.chaos.history import ACCOUNTED, STATUS, account_offsets, recovery
from tests.integration.kafka_helpers import Record

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples" / "v1"
COMPLETED = "sightline.interview-completed.v1"


def _example(name: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    data.update(changes)
    data["event_id"] = str(uuid.uuid4())
    return data


def _status(stage: str, state: str, source: str) -> Record:
    example = "stage-status.failed" if state == "failed" else "stage-status"
    status = decode(STATUS, json.dumps(_example(example, stage=stage, state=state)).encode())
    assert isinstance(status, StageStatus)
    return Record(0, 0, None, encode(status), {"source": source.encode()})


def _letter(stage: str, topic: str, partition: int, offset: int) -> Record:
    data = _example("dead-letter", stage=stage)
    data["source"] = {**data["source"], "topic": topic, "partition": partition, "offset": offset}
    return Record(0, 0, None, encode(decode_dead_letter(json.dumps(data).encode())), {})


def _topics(**extra: list[Record]) -> dict[str, list[Record]]:
    topics: dict[str, list[Record]] = {name: [] for name in (*ACCOUNTED, STATUS)}
    topics[dead_letter_topic("ingest")] = []
    topics.update(extra)
    return topics


def test_schedule_is_the_seeds_and_holds_every_kind() -> None:
    plan = schedule(7, 20, 10.0, 200.0)
    assert plan == schedule(7, 20, 10.0, 200.0)
    assert plan != schedule(8, 20, 10.0, 200.0)
    assert {f.kind for f in plan} == set(Kind)
    assert [f.at_s for f in plan] == sorted(f.at_s for f in plan)
    assert all(10.0 <= f.at_s <= 200.0 for f in plan)
    assert all(f.stage == "sink" for f in plan if f.kind in (Kind.DB_OWNER, Kind.SINK_PAUSE))
    assert all(f.stage != "sink" for f in plan if f.kind in (Kind.SCALE_UP, Kind.SCALE_DOWN))
    few = schedule(1, 3, 0.0, 5.0, kinds=(Kind.KILL, Kind.HANG))
    assert len(few) == 3 and {f.kind for f in few} == {Kind.KILL, Kind.HANG}


def test_every_consumed_offset_needs_a_terminal_status_or_a_dead_letter() -> None:
    consumed = [Record(0, offset, None, b"", {}) for offset in range(4)]
    statuses = [
        _status("ingest", "completed", f"{COMPLETED}/0/0"),
        _status("ingest", "failed", f"{COMPLETED}/0/1"),
        _status("ingest", "started", f"{COMPLETED}/0/3"),  # started only: not accounted for
    ]
    topics = _topics(**{COMPLETED: consumed, STATUS: statuses})
    topics[dead_letter_topic("ingest")] = [_letter("ingest", COMPLETED, 0, 2)]

    result = account_offsets(topics)

    assert result["records"] == 4
    assert result["outcomes"] == {"processed": 1, "refused": 1, "dead_lettered": 1, "unaccounted": 1}
    assert result["unaccounted"] == [f"ingest <- {COMPLETED}/0/3"]


def test_a_status_of_another_stage_does_not_account_for_a_record() -> None:
    topics = _topics(
        **{COMPLETED: [Record(1, 5, None, b"", {})], STATUS: [_status("frames", "completed", f"{COMPLETED}/1/5")]}
    )
    assert account_offsets(topics)["outcomes"] == {"unaccounted": 1}


def test_recovery_percentiles_skip_faults_with_nothing_left_to_heal() -> None:
    faults = [Injected("kill_replica", "frames", 1.0, 0.0, heal_s=float(s)) for s in range(1, 21)]
    faults.append(Injected("scale_up", "vision", 2.0, 0.0, heal_s=None))
    assert recovery(faults) == {"healed": 20, "p50_s": 10.5, "p95_s": 19.0, "max_s": 20.0}
    assert recovery([])["p50_s"] is None
