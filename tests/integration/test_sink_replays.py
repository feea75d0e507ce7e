"""A message the sink stores again after a crash (inserted, not yet committed) adds no row, even batched with
other messages under another deduplication token, and even read without FINAL (services.sink.replays)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from services.common.clickhouse import DirectWarehouse
from services.common.contracts import StageStatus
from services.common.migrations import migrate
from services.common.settings import Settings
from services.sink.batches import TableBatches
from services.sink.rows import Row, rows_for

EXAMPLE = Path(__file__).resolve().parents[2] / "schemas" / "examples" / "v1" / "stage-status.json"


def status_rows(n: int) -> list[Row]:
    """Rows of ``n`` statuses dated now (the table's TTL would remove the example's old date at a merge)."""
    base = json.loads(EXAMPLE.read_text())
    base["occurred_at"] = datetime.now(UTC).isoformat()
    rows = []
    for i in range(n):
        base["event_id"] = f"00000000-0000-4000-8000-{i:012d}"
        rows += rows_for(StageStatus.model_validate(base))
    return rows


def test_a_replay_batched_differently_adds_no_row(stack_settings: Settings) -> None:
    ch = stack_settings.clickhouse.model_copy(update={"database": f"replays_{uuid.uuid4().hex[:8]}"})
    warehouse = DirectWarehouse(ch)
    try:
        migrate(warehouse)
        before_crash = TableBatches(ch.database, max_rows=100, max_age_s=60)
        before_crash.add(status_rows(3))
        assert before_crash.flush(warehouse) == 3

        # Restarted: messages 1 and 2 come again, with new ones, and message 4 twice (delivered again while
        # its rows were still buffered).
        after_restart = TableBatches(ch.database, max_rows=100, max_age_s=60)
        rows = status_rows(5)
        after_restart.add([*rows[1:], rows[4]])
        assert after_restart.flush(warehouse) == 2

        _, counted = warehouse.query_rows(f"SELECT count(), uniqExact(event_id) FROM {ch.database}.stage_status")
        assert counted == [[5, 5]]
    finally:
        warehouse.command(f"DROP DATABASE IF EXISTS {ch.database}")
        warehouse.close()
