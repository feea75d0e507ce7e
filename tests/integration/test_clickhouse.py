"""ClickHouse SQL for real through embedded chDB: migrations, idempotent inserts, the local owner."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.common.chdb_owner import RemoteWarehouse, owner_file, read_owner
from services.common.clickhouse import BatchBuffer, DirectWarehouse
from services.common.cluster_ddl import SINGLE, TableShape
from services.common.migrations import MIGRATIONS_DIR, MigrationError, load_migrations, migrate, migration_script
from services.common.settings import ClickHouseSettings, Settings
from tests.identities import token_of

SIGHTLINE = str(Path(sys.executable).with_name("sightline"))


@pytest.fixture(scope="module")
def warehouse(stack_settings: Settings) -> Iterator[DirectWarehouse]:
    wh = DirectWarehouse(stack_settings.clickhouse)
    yield wh
    wh.close()


def test_migrations_apply_once_and_create_the_tables(warehouse: DirectWarehouse) -> None:
    migrate(warehouse)  # whatever earlier tests did, the database is now current
    assert migrate(warehouse) == []
    _, rows = warehouse.query_rows(f"SELECT version FROM {warehouse.database}.schema_migrations FINAL ORDER BY version")
    assert [r[0] for r in rows] == [m.version for m in load_migrations()]
    _, tables = warehouse.query_rows(
        "SELECT name FROM system.tables WHERE database = {db:String}", {"db": warehouse.database}
    )
    assert {"stage_status", "dead_letters", "interview_progress"} <= {t[0] for t in tables}


def test_the_table_shapes_cluster_rendering_keeps_are_those_clickhouse_creates(warehouse: DirectWarehouse) -> None:
    """The parsed engine, version column and ORDER BY (kept by the replicated rendering) match the real tables."""
    migrate(warehouse)
    statements = [s for _, part in migration_script(warehouse.database, SINGLE) for s in part]
    shapes = [TableShape.parse(s) for s in statements if s.startswith("CREATE TABLE")]
    _, rows = warehouse.query_rows(
        "SELECT name, engine, sorting_key, engine_full FROM system.tables WHERE database = {db:String}",
        {"db": warehouse.database},
    )
    real = {name: (engine, sorting_key, engine_full) for name, engine, sorting_key, engine_full in rows}
    assert len(shapes) >= 14
    for shape in shapes:
        engine, sorting_key, engine_full = real[shape.table]
        assert (engine, sorting_key) == (shape.engine, ", ".join(shape.order_by)), shape.table
        version = f"({', '.join(shape.engine_args)})" if shape.engine_args else ""
        assert engine_full.startswith(shape.engine + version + " ")


def test_an_edited_applied_migration_is_refused(warehouse: DirectWarehouse, tmp_path: Path) -> None:
    db = f"mig_{uuid.uuid4().hex[:8]}"
    local = DirectWarehouse(warehouse.settings.model_copy(update={"database": db}))
    shutil.copytree(MIGRATIONS_DIR, tmp_path / "m")
    assert [m.version for m in migrate(local, tmp_path / "m")] == [m.version for m in load_migrations()]
    first = sorted((tmp_path / "m").glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(local, tmp_path / "m")


def _status_row(event_id: str, state: str, occurred: datetime, written: datetime) -> list[object]:
    return [uuid.UUID(event_id), "acme", "iv-dedup", "ingest", state, 1, "", "", "", occurred, written]


def test_batches_are_idempotent_and_replays_replace(warehouse: DirectWarehouse) -> None:
    migrate(warehouse)
    table = f"{warehouse.database}.stage_status"
    columns = [
        "event_id",
        "tenant_id",
        "interview_id",
        "stage",
        "state",
        "attempt",
        "unit",
        "reason_code",
        "reason_message",
        "occurred_at",
        "written_at",
    ]
    e1, e2 = str(uuid.uuid4()), str(uuid.uuid4())
    t0 = datetime(2026, 11, 1, 9, 0, 0, tzinfo=UTC)
    t1 = datetime(2026, 11, 1, 9, 0, 5, tzinfo=UTC)
    for _ in range(2):  # the same batch sent twice (a retry after a lost acknowledgement)
        buf = BatchBuffer(table, columns, max_rows=10, max_age_s=1)
        buf.add(e1, _status_row(e1, "started", t0, t0))
        buf.add(e2, _status_row(e2, "completed", t1, t1))
        buf.flush(warehouse)
    count_sql = f"SELECT count() FROM {table} WHERE interview_id = 'iv-dedup'"
    assert warehouse.query_rows(count_sql)[1] == [[2]]
    # A replayed event arrives in a different batch: the row is replaced, not added.
    later = BatchBuffer(table, columns, max_rows=10, max_age_s=1)
    later.add(e1 + "-replay", _status_row(e1, "started", t0, datetime.now(UTC)))
    later.flush(warehouse)
    assert warehouse.query_rows(count_sql.replace("FROM " + table, "FROM " + table + " FINAL"))[1] == [[2]]
    _, progress = warehouse.query_rows(
        f"SELECT stage, state FROM {warehouse.database}.interview_progress WHERE interview_id = 'iv-dedup'"
    )
    assert progress == [["ingest", "completed"]]


def test_readonly_queries_refuse_writes(warehouse: DirectWarehouse) -> None:
    with pytest.raises(Exception, match="readonly"):
        warehouse.query_rows(f"INSERT INTO {warehouse.database}.dead_letters (stage) VALUES ('x')", readonly=True)


@pytest.fixture
def owner_process(tmp_path: Path) -> Iterator[tuple[ClickHouseSettings, dict[str, str]]]:
    """`sightline db serve` owning its own chDB directory in a separate process."""
    ch = ClickHouseSettings(dsn=f"chdb://{tmp_path / 'chdb'}", database="owned")
    env = {
        **os.environ,
        "SIGHTLINE_CLICKHOUSE__DSN": ch.dsn,
        "SIGHTLINE_CLICKHOUSE__DATABASE": ch.database,
        "SIGHTLINE_OBSERVABILITY__HTTP_PORT": "0",
    }
    proc = subprocess.Popen([SIGHTLINE, "db", "serve"], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while read_owner(ch.dsn) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"db serve did not start: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.1)
    yield ch, env
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert not owner_file(ch.dsn).exists()


def test_other_processes_query_the_owned_directory_through_its_owner(
    owner_process: tuple[ClickHouseSettings, dict[str, str]],
) -> None:
    ch, env = owner_process
    out = subprocess.run(
        [
            SIGHTLINE,
            "query",
            "--format",
            "json",
            "SELECT version, name FROM owned.schema_migrations FINAL ORDER BY version",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["version"] for r in rows] == [m.version for m in load_migrations()]
    migrated = subprocess.run([SIGHTLINE, "db", "migrate"], env=env, capture_output=True, text=True, timeout=60)
    assert migrated.returncode == 0 and "up to date" in migrated.stdout
    refused = subprocess.run(
        [SIGHTLINE, "query", "DROP TABLE owned.stage_status"], env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1 and "readonly" in refused.stderr.lower()
    record = read_owner(ch.dsn)
    assert record is not None
    remote = RemoteWarehouse(record, ch.database, token=token_of("ops"))
    with pytest.raises(PermissionError):
        remote.command("DROP TABLE owned.stage_status")
    assert remote.query_rows("SELECT count() FROM owned.stage_status")[1] == [[0]]
