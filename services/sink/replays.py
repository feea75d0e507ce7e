"""Rows of a replayed message are dropped before they reach the table, not only merged away later.

The sink inserts in batches with a deduplication token derived from the batch's rows. When it dies between an
insert and the offset commit, the uncommitted messages come again after the restart, mixed with other
messages into batches of another shape: another token, so ClickHouse takes the rows a second time and a
query without FINAL sees them twice until the ReplacingMergeTree merges. A row is the same row when its
sorting key and the event it came from (``event_id``, in every table the sink writes) are the same, so
before a batch is inserted the rows the table already holds are removed from it, and so are repeats
inside the batch (a message delivered again while its rows were still buffered).

One indexed read per table and batch: the sorting keys start with the tenant and the interview. Two sink
replicas handing a partition over at the same moment can still both insert a row; FINAL covers that.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from enum import Enum
from typing import Any

from services.common.clickhouse import BatchBuffer, Reader, sql_string

log = logging.getLogger(__name__)

SOURCE_COLUMN = "event_id"


class StoredRows:
    """Knows each table's row identity (sorting key + event id) and drops the rows already stored."""

    def __init__(self, database: str) -> None:
        self.database = database
        self._identity: dict[str, tuple[str, ...] | None] = {}

    def identity(self, reader: Reader, table: str, columns: Sequence[str]) -> tuple[str, ...] | None:
        """The identity columns of ``table``, or None when it has no plain-column sorting key or no event id."""
        if table not in self._identity:
            _, rows = reader.query_rows(
                "SELECT sorting_key FROM system.tables WHERE database = {db:String} AND name = {table:String}",
                {"db": self.database, "table": table},
            )
            key = tuple(part.strip() for part in str(rows[0][0]).split(",")) if rows and rows[0][0] else ()
            usable = key and SOURCE_COLUMN in columns and all(part in columns for part in key)
            self._identity[table] = (*key, *([] if SOURCE_COLUMN in key else [SOURCE_COLUMN])) if usable else None
        return self._identity[table]

    def drop_stored(self, reader: Reader, table: str, batch: BatchBuffer) -> int:
        """Remove from ``batch`` the rows ``table`` holds already and repeats within it; how many were removed."""
        identity = self.identity(reader, table, batch.columns)
        if identity is None or not batch.rows:
            return 0
        at = [list(batch.columns).index(column) for column in identity]
        mine = [tuple(_text(row[i]) for i in at) for row in batch.rows]
        stored = self._stored(reader, table, identity, at, batch.rows)
        keep: list[int] = []
        seen = set(stored)
        for index, ident in enumerate(mine):
            if ident not in seen:
                seen.add(ident)
                keep.append(index)
        dropped = len(batch.rows) - len(keep)
        if dropped:
            batch.rows = [batch.rows[i] for i in keep]
            batch.keys = [batch.keys[i] for i in keep]
            log.info("rows already stored dropped from a batch", extra={"table": table, "count": dropped})
        return dropped

    def _stored(
        self, reader: Reader, table: str, identity: tuple[str, ...], at: list[int], rows: Sequence[Sequence[Any]]
    ) -> set[tuple[str, ...]]:
        # Narrow by the leading key column (the primary index) and the event ids of the batch.
        lead = sorted({_text(row[at[0]]) for row in rows})
        events = sorted({_text(row[at[-1]]) for row in rows})
        where = (
            f"toString({identity[0]}) IN ({', '.join(map(sql_string, lead))}) "
            f"AND toString({SOURCE_COLUMN}) IN ({', '.join(map(sql_string, events))})"
        )
        columns = ", ".join(f"toString({column})" for column in identity)
        _, found = reader.query_rows(f"SELECT {columns} FROM `{self.database}`.{table} WHERE {where}")
        return {tuple(str(v) for v in row) for row in found}


def _text(value: Any) -> str:
    """A key value as ClickHouse's toString writes it (enums by their value)."""
    return str(value.value if isinstance(value, Enum) else value)


__all__ = ["StoredRows"]
