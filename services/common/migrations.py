"""Ordered ClickHouse migrations from `schemas/clickhouse/migrations/NNNN_name.sql`.

Each file holds statements separated by `;` at line ends, with `{db}` standing for the configured
database. Applied versions are recorded with a checksum in `{db}.schema_migrations`; running again
applies only what is new, and an applied file that was edited afterwards is refused (write a new
migration instead). Statements use IF NOT EXISTS so a migration interrupted half-way can be re-run.
On a cluster the statements are rendered for it (services/common/cluster_ddl.py): ON CLUSTER, replicated
engines, Distributed tables over shards; `sightline db migrate --print` shows them.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from services.common.clickhouse import Warehouse
from services.common.cluster_ddl import SINGLE, Topology, render, topology_of
from services.common.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

MIGRATIONS_DIR = PROJECT_ROOT / "schemas" / "clickhouse" / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self, database: str, topology: Topology = SINGLE) -> list[str]:
        text = "\n".join(line for line in self.sql.splitlines() if not line.strip().startswith("--"))
        parts = [p.strip().replace("{db}", database) for p in re.split(r";\s*(?:\n|$)", text) if p.strip()]
        return [rendered for part in parts for rendered in render(part, database, topology)]


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"migration file name must look like 0001_name.sql: {path.name}")
        found.append(Migration(int(match.group(1)), match.group(2), path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {directory}")
    return found


def bootstrap_statements(database: str, topology: Topology = SINGLE) -> list[str]:
    """The database and the table recording applied migrations."""
    statements = [
        f"CREATE DATABASE IF NOT EXISTS `{database}`",
        f"CREATE TABLE IF NOT EXISTS `{database}`.schema_migrations ("
        " version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC'))"
        " ENGINE = ReplacingMergeTree(applied_at) ORDER BY version",
    ]
    return [rendered for statement in statements for rendered in render(statement, database, topology)]


def migration_script(
    database: str, topology: Topology, directory: Path = MIGRATIONS_DIR
) -> list[tuple[str, list[str]]]:
    """Every statement `migrate` would run on an empty database of ``topology``, in order, by migration."""
    script = [("bootstrap", bootstrap_statements(database, topology))]
    migrations = load_migrations(directory)
    return script + [(f"{m.version:04d}_{m.name}", m.statements(database, topology)) for m in migrations]


def applied_migrations(warehouse: Warehouse) -> dict[int, str]:
    for statement in bootstrap_statements(warehouse.database, topology_of(warehouse)):
        warehouse.command(statement)
    _, rows = warehouse.query_rows(f"SELECT version, checksum FROM `{warehouse.database}`.schema_migrations FINAL")
    return {int(v): str(c) for v, c in rows}


def migrate(warehouse: Warehouse, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply pending migrations in order; returns those applied now."""
    migrations = load_migrations(directory)
    done = applied_migrations(warehouse)
    for m in migrations:
        if m.version in done and done[m.version] != m.checksum:
            raise MigrationError(
                f"migration {m.version:04d}_{m.name} changed after it was applied; add a new migration instead"
            )
    applied: list[Migration] = []
    for m in migrations:
        if m.version in done:
            continue
        for statement in m.statements(warehouse.database, topology_of(warehouse)):
            warehouse.command(statement)
        warehouse.insert(
            f"`{warehouse.database}`.schema_migrations",
            [[m.version, m.name, m.checksum, datetime.now(UTC)]],
            ["version", "name", "checksum", "applied_at"],
            dedup_token=f"migration-{m.version}-{m.checksum}",
        )
        log.info("applied migration", extra={"version": m.version, "migration": m.name})
        applied.append(m)
    return applied
