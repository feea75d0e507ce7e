from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from services.common.clickhouse import BatchBuffer, dedup_token, is_transient
from services.common.migrations import MIGRATIONS_DIR, MigrationError, load_migrations


class RecordingWarehouse:
    database = "db"

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.calls: list[tuple[str, list[Sequence[Any]], str]] = []

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str], dedup_token: str) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("down")
        self.calls.append((table, list(rows), dedup_token))


def test_batch_flushes_by_size_and_age_with_a_stable_token() -> None:
    buf = BatchBuffer("t", ["id", "v"], max_rows=3, max_age_s=10.0)
    buf.add("a", ["a", 1])
    assert not buf.due(now=buf.first_added)
    assert buf.due(now=(buf.first_added or 0) + 11)
    buf.add("b", ["b", 2])
    buf.add("c", ["c", 3])
    assert buf.due(now=buf.first_added)
    wh = RecordingWarehouse()
    assert buf.flush(wh) == 3
    assert wh.calls[0][2] == dedup_token("t", ["a", "b", "c"])
    assert buf.rows == [] and not buf.due()


def test_failed_flush_keeps_rows_for_the_retry_with_the_same_token() -> None:
    buf = BatchBuffer("t", ["id"], max_rows=10, max_age_s=1.0)
    buf.add("x", ["x"])
    wh = RecordingWarehouse(fail=1)
    with pytest.raises(ConnectionError):
        buf.flush(wh)
    assert buf.rows == [["x"]]
    buf.flush(wh)
    assert wh.calls == [("t", [["x"]], dedup_token("t", ["x"]))]


def test_rows_must_match_columns() -> None:
    buf = BatchBuffer("t", ["a", "b"], max_rows=1, max_age_s=1.0)
    with pytest.raises(ValueError, match="2 columns"):
        buf.add("k", ["only-one"])


def test_dedup_token_distinguishes_batches() -> None:
    assert dedup_token("t", ["a", "b"]) != dedup_token("t", ["ab"])
    assert dedup_token("t", ["a"]) != dedup_token("u", ["a"])


def test_transient_classification() -> None:
    from clickhouse_connect.driver.exceptions import DatabaseError

    assert is_transient(DatabaseError("Code: 252. DB::Exception: Too many parts"))
    assert not is_transient(DatabaseError("Code: 60. DB::Exception: Unknown table"))
    assert is_transient(TimeoutError())


def test_shipped_migrations_are_ordered_and_split_into_statements() -> None:
    migrations = load_migrations(MIGRATIONS_DIR)
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    first = migrations[0].statements("sightline")
    assert all("{db}" not in s for s in first)
    assert any(s.startswith("CREATE TABLE IF NOT EXISTS sightline.stage_status") for s in first)


def test_badly_named_migration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_init.sql").write_text("SELECT 1")
    with pytest.raises(MigrationError, match=r"0001_name\.sql"):
        load_migrations(tmp_path)


def test_rows_added_while_a_batch_is_inserted_wait_for_the_next_flush() -> None:

    from services.common.clickhouse import BatchBuffer

    buffer = BatchBuffer("t", ["a"], max_rows=10, max_age_s=1.0)
    inserted: list[list[Sequence[Any]]] = []

    class Recording:
        """Stands for the insert running in a thread while the event loop keeps buffering."""

        def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str], dedup_token: str) -> None:
            inserted.append(list(rows))
            buffer.add("late", ["late"])

    buffer.add("k1", ["first"])
    assert buffer.flush(Recording()) == 1  # type: ignore[arg-type]
    assert inserted == [[["first"]]]
    assert buffer.rows == [["late"]] and buffer.keys == ["late"] and buffer.first_added is not None
