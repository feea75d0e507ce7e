"""The sink's per-table buffers: rows added while a batch is being written are kept, failed batches return."""

from __future__ import annotations

import json
from pathlib import Path

from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from services.common.contracts import StageStatus
from services.sink.batches import TableBatches, is_value_error
from services.sink.rows import Row, rows_for

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples" / "v1"


def status_rows(n: int) -> list[Row]:
    base = json.loads((EXAMPLES / "stage-status.json").read_text())
    rows = []
    for i in range(n):
        base["event_id"] = f"00000000-0000-4000-8000-{i:012d}"
        rows += rows_for(StageStatus.model_validate(base))
    return rows


def test_rows_added_after_a_take_stay_buffered_and_a_restored_batch_goes_first() -> None:
    batches = TableBatches("db", max_rows=100, max_age_s=60)
    first, later = status_rows(3), status_rows(5)[3:]
    batches.add(first)
    taken = batches.take()
    assert [t for t, _ in taken] == ["stage_status"]
    assert batches.pending == 3 and not batches.buffers["stage_status"].rows  # still pending while written
    batches.add(later)  # arrives while the taken batch is being written
    assert batches.pending == 5
    batches.restore(taken)  # the write failed
    buffer = batches.buffers["stage_status"]
    assert buffer.keys == [r.key for r in first + later]
    assert buffer.table == "`db`.stage_status" and batches.pending == 5


def test_a_written_batch_is_no_longer_pending() -> None:
    class Taking:
        def __init__(self) -> None:
            self.rows: list[object] = []

        def insert(self, table: str, rows: list[object], columns: object, token: str) -> None:
            self.rows += rows

    batches = TableBatches("db", max_rows=100, max_age_s=60)
    batches.add(status_rows(2))
    [(_, batch)] = batches.take()
    assert batches.pending == 2
    assert batch.flush(Taking()) == 2  # type: ignore[arg-type]
    assert batches.pending == 0


def test_a_full_buffer_is_due() -> None:
    batches = TableBatches("db", max_rows=2, max_age_s=60)
    batches.add(status_rows(1))
    assert not batches.due()
    batches.add(status_rows(2)[1:])
    assert batches.due()


def test_value_errors_are_told_apart_from_an_unavailable_server() -> None:
    assert is_value_error(OverflowError("int too big to convert"))
    assert is_value_error(DatabaseError("Code: 53. DB::Exception: Type mismatch in VALUES section"))
    assert not is_value_error(DatabaseError("Code: 60. DB::Exception: Unknown table expression identifier"))
    assert not is_value_error(OperationalError("connection refused"))
