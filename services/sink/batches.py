"""One buffer per table, flushed as idempotent batches; a row ClickHouse refuses is set aside, not retried.

A batch that fails because of one bad value would fail the same way forever and block every commit
after it. When ClickHouse (or the client's serialisation) refuses a batch for a value, the batch is
split in halves until the refused rows are alone; the others are inserted and the refused ones go to
`sink_rejected_rows` with the reason. Any other error (the server is down, a table is missing)
propagates: the buffer keeps its rows and the caller retries, so no offset is committed past them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.exceptions import DataError

from services.common.clickhouse import BatchBuffer, Warehouse, dedup_token, error_code, is_transient
from services.sink.replays import StoredRows
from services.sink.rows import COLUMNS, Row

log = logging.getLogger(__name__)

REJECTED_TABLE = "sink_rejected_rows"
REJECTED_COLUMNS = COLUMNS[REJECTED_TABLE]

#: Tables written one insert per row, each with the row's own deduplication token: dead letters are few, and
#: so a dead letter read again (a replay of the sink, another consumer group) is dropped by ClickHouse at
#: insert, within the table's `non_replicated_deduplication_window`, not only merged away later.
ONE_INSERT_PER_ROW = frozenset({"dead_letters"})

# Server codes that blame the data rather than the server: parse, type, range and size errors.
_VALUE_ERROR_CODES = frozenset({6, 26, 27, 32, 38, 41, 43, 53, 69, 70, 72, 131, 321, 395})


def is_value_error(exc: BaseException) -> bool:
    """True when the insert failed because of the rows it carried (retrying cannot help)."""
    if isinstance(exc, DataError | TypeError | ValueError | OverflowError | UnicodeError):
        return True
    return not is_transient(exc) and error_code(str(exc)) in _VALUE_ERROR_CODES


@dataclass(frozen=True)
class Refused:
    table: str
    key: str
    row: Sequence[Any]
    reason: str


class TableBatches:
    """Per-table buffers. `take` and `restore` run on the event loop (where rows are added), `write` in a
    worker thread on batches already taken, so rows added during an insert are never lost."""

    def __init__(self, database: str, max_rows: int, max_age_s: float) -> None:
        self.database = database
        self.max_rows, self.max_age_s = max_rows, max_age_s
        self.buffers = {table: self._empty(table) for table in COLUMNS}
        # Batches taken for writing: their rows still count as pending until ClickHouse has them, so
        # back-pressure holds (and readers see the rows) while an insert runs or retries.
        self.writing: list[BatchBuffer] = []
        self.stored = StoredRows(database)

    def _empty(self, table: str) -> BatchBuffer:
        return BatchBuffer(f"`{self.database}`.{table}", COLUMNS[table], self.max_rows, self.max_age_s)

    def add(self, rows: Iterable[Row]) -> None:
        for row in rows:
            self.buffers[row.table].add(row.key, row.ordered())

    @property
    def pending(self) -> int:
        """Rows not yet in ClickHouse: buffered, or taken by a write that has not finished."""
        return sum(len(b.rows) for b in self.buffers.values()) + sum(len(b.rows) for b in self.writing)

    def due(self) -> bool:
        return any(b.due() for b in self.buffers.values())

    def take(self) -> list[tuple[str, BatchBuffer]]:
        """Detach every non-empty buffer for writing."""
        taken = [(table, buffer) for table, buffer in self.buffers.items() if buffer.rows]
        for table, _ in taken:
            self.buffers[table] = self._empty(table)
        self.writing = [batch for _, batch in taken]  # a written batch empties itself
        return taken

    def restore(self, taken: Iterable[tuple[str, BatchBuffer]]) -> None:
        """Put batches that were not written back in front of the rows added since."""
        taken = list(taken)
        self.writing = [w for w in self.writing if all(w is not batch for _, batch in taken)]
        for table, batch in taken:
            current = self.buffers[table]
            batch.rows += current.rows
            batch.keys += current.keys
            self.buffers[table] = batch

    def flush(self, warehouse: Warehouse) -> int:
        """Take and write everything (for callers without an event loop)."""
        taken = self.take()
        written = 0
        for i, (table, batch) in enumerate(taken):
            try:
                written += self.write(warehouse, table, batch)
            except Exception:
                self.restore(taken[i:])
                raise
        return written

    def write(self, warehouse: Warehouse, table: str, batch: BatchBuffer) -> int:
        """Insert one taken batch (blocking); raises when ClickHouse did not take it."""
        if table in ONE_INSERT_PER_ROW:
            return self._write_isolating(warehouse, table, batch, singly=True)
        self.stored.drop_stored(warehouse, table, batch)
        try:
            return batch.flush(warehouse)
        except Exception as exc:
            if not is_value_error(exc):
                raise
            log.warning("batch refused for a value; isolating the rows", extra={"table": table})
            return self._write_isolating(warehouse, table, batch)

    def _write_isolating(self, warehouse: Warehouse, table: str, buffer: BatchBuffer, *, singly: bool = False) -> int:
        items = list(zip(buffer.keys, buffer.rows, strict=True))
        groups = [[item] for item in items] if singly else [items]
        refused = [
            r for group in groups for r in _insert_bisecting(warehouse, buffer.table, buffer.columns, table, group)
        ]
        if refused:
            rows = [[r.table, r.key, r.reason[:4000], _row_json(buffer.columns, r.row)] for r in refused]
            keys = [f"{r.table}/{r.key}" for r in refused]
            target = f"`{self.database}`.{REJECTED_TABLE}"
            warehouse.insert(target, rows, REJECTED_COLUMNS, dedup_token(target, keys))
            log.error("rows refused by ClickHouse set aside", extra={"table": table, "count": len(refused)})
        buffer.rows, buffer.keys, buffer.first_added = [], [], None
        return len(items) - len(refused)


def _insert_bisecting(
    warehouse: Warehouse,
    target: str,
    columns: Sequence[str],
    table: str,
    items: list[tuple[str, Sequence[Any]]],
) -> list[Refused]:
    try:
        warehouse.insert(target, [r for _, r in items], columns, dedup_token(target, [k for k, _ in items]))
        return []
    except Exception as exc:
        if not is_value_error(exc):
            raise
        if len(items) == 1:
            key, row = items[0]
            return [Refused(table, key, row, f"{type(exc).__name__}: {exc}")]
    half = len(items) // 2
    return [
        *_insert_bisecting(warehouse, target, columns, table, items[:half]),
        *_insert_bisecting(warehouse, target, columns, table, items[half:]),
    ]


def _row_json(columns: Sequence[str], row: Sequence[Any]) -> str:
    return json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False, default=str)


__all__ = ["REJECTED_TABLE", "TableBatches", "is_value_error"]
