"""`sightline status` against a real chDB with recorded stage statuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.common.clickhouse import DirectWarehouse
from services.common.migrations import migrate
from services.common.settings import ClickHouseSettings

COLUMNS = ["event_id", "tenant_id", "interview_id", "stage", "state", "attempt", "unit", "reason_code",
           "reason_message", "occurred_at"]  # fmt: skip


def _row(interview: str, stage: str, state: str, t: int, unit: str = "", code: str = "", msg: str = "") -> list[object]:
    at = datetime(2026, 11, 1, 9, 0, tzinfo=UTC) + timedelta(seconds=t)
    return [uuid.uuid4(), "acme", interview, stage, state, 1, unit, code, msg, at]


@pytest.fixture(scope="module")
def dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("status") / "ch"
    settings = ClickHouseSettings(dsn=f"chdb://{path}")
    warehouse = DirectWarehouse(settings)
    migrate(warehouse)
    rows = [
        # a profiled interview: vision and speech finished every unit
        _row("iv-done", "ingest", "started", 0),
        _row("iv-done", "ingest", "completed", 1),
        _row("iv-done", "frames", "completed", 5),
        *[_row("iv-done", "vision", "completed", 10 + i, unit=f"chunk {i + 1}/3") for i in range(3)],
        *[_row("iv-done", "speech", "completed", 10 + i, unit=f"segment {i + 1}/2") for i in range(2)],
        # fusion takes both kinds of units (and the whole-interview media event): counted against both manifests
        _row("iv-done", "fusion", "completed", 19),
        *[_row("iv-done", "fusion", "completed", 20, unit=f"chunk {i + 1}/3") for i in range(3)],
        *[_row("iv-done", "fusion", "completed", 20, unit=f"segment {i + 1}/2") for i in range(2)],
        _row("iv-done", "sink", "completed", 21),
        # one still in vision, with a failed chunk
        _row("iv-busy", "ingest", "completed", 30),
        _row("iv-busy", "frames", "completed", 31),
        _row("iv-busy", "vision", "completed", 32, unit="chunk 1/4"),
        _row("iv-busy", "vision", "failed", 33, unit="chunk 2/4", code="missing_object", msg="pack gone"),
        # one rejected at ingest
        _row("iv-bad", "ingest", "failed", 40, code="no_consent", msg="the candidate did not consent"),
    ]
    warehouse.insert("sightline.stage_status", rows, COLUMNS, dedup_token="status-test")
    warehouse.close()
    return settings.dsn


def _status(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SIGHTLINE_CLICKHOUSE__DSN": dsn, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "status", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_status_lists_each_interview_with_its_phase_units_and_failures(dsn: str) -> None:
    result = _status(dsn, "--format", "json")
    assert result.returncode == 1, result.stderr  # one shown interview failed
    docs = {d["interview_id"]: d for d in map(json.loads, result.stdout.splitlines())}
    assert list(docs) == ["iv-bad", "iv-busy", "iv-done"]  # newest first
    assert docs["iv-done"]["phase"] == "profiled"
    assert docs["iv-done"]["stages"]["vision"] == "3/3 done"
    assert docs["iv-done"]["stages"]["speech"] == "2/2 done"
    assert docs["iv-done"]["stages"]["fusion"] == "5/5 done"
    assert docs["iv-done"]["stages"]["sink"] == "completed"
    assert docs["iv-busy"]["phase"] == "vision"
    assert docs["iv-busy"]["stages"]["vision"] == "1/4"
    assert docs["iv-busy"]["failures"] == ["vision: missing_object: pack gone"]
    assert docs["iv-bad"]["phase"] == "failed"
    assert docs["iv-bad"]["failures"] == ["ingest: no_consent: the candidate did not consent"]


def test_status_of_one_interview_and_of_an_unknown_one(dsn: str) -> None:
    one = _status(dsn, "iv-done")
    assert one.returncode == 0, one.stderr
    assert "iv-done" in one.stdout and "profiled" in one.stdout and "iv-busy" not in one.stdout
    unknown = _status(dsn, "iv-nope")
    assert unknown.returncode == 1 and "no status recorded for interview iv-nope" in unknown.stderr
