"""ClickHouse backups to S3 and their restore (`sightline db backup` / `db restore`).

ClickHouse writes the backup itself (``BACKUP DATABASE ... TO S3(...)``): every table's parts and every
table's and view's definition, under ``<backup_url>/<name>/``. A backup may be incremental (``--base``: only
parts the base lacks are written; restoring needs the base too). On a cluster the statement runs
``ON CLUSTER`` and every shard writes its own parts (one replica per shard); restoring a replicated table
restores one replica and Keeper copies to the others.

Restore is all or nothing for the database: into a database that has tables, only with ``replace`` (the
database is dropped first). The backup does not hold the object store's media and reports (kept by bucket
versioning or replication) nor Kafka's offsets (see docs/operations.md, "Backup and disaster recovery").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from services.common.clickhouse import DirectWarehouse, sql_string
from services.common.cluster_ddl import topology_of
from services.common.settings import Settings

#: The bucket `db backup` writes to when no backup_url is set (on the object store's own endpoint).
DEFAULT_BUCKET = "sightline-backups"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class BackupError(RuntimeError):
    """A backup or restore that did not happen, and why."""


@dataclass(frozen=True)
class BackupTarget:
    """Where backups live, as the ClickHouse server reaches them, with the credentials it signs with."""

    url: str
    access_key: str
    secret_key: str

    @classmethod
    def from_settings(cls, settings: Settings) -> BackupTarget:
        s3 = settings.s3
        scheme = "https" if s3.secure else "http"
        url = settings.clickhouse.backup_url or f"{scheme}://{s3.endpoint}/{DEFAULT_BUCKET}"
        return cls(url.rstrip("/"), s3.access_key, s3.secret_key.get_secret_value())

    @property
    def bucket(self) -> str:
        """The bucket of the URL (path-style: the first path segment)."""
        return self.url.split("://", 1)[-1].split("/")[1]

    def location(self, name: str) -> str:
        if not _NAME.match(name):
            raise BackupError(f"backup names are letters, digits, '.', '_' and '-' (at most 128): {name!r}")
        url = sql_string(f"{self.url}/{name}")
        return f"S3({url}, {sql_string(self.access_key)}, {sql_string(self.secret_key)})"


@dataclass(frozen=True)
class BackupResult:
    name: str
    backup_id: str
    status: str
    url: str


def new_backup_name(database: str, now: datetime | None = None) -> str:
    return f"{database}-{(now or datetime.now(UTC)):%Y%m%dT%H%M%SZ}"


def backup_database(
    warehouse: DirectWarehouse, target: BackupTarget, name: str, *, base: str | None = None
) -> BackupResult:
    """Write the database to ``target/name`` (incremental over ``base`` when given); waits until done."""
    db = f"`{warehouse.database}`"
    sql = f"BACKUP DATABASE {db}{topology_of(warehouse).on_cluster} TO {target.location(name)}"
    if base:
        sql += f" SETTINGS base_backup = {target.location(base)}"
    return _run(warehouse, sql, name, target, "BACKUP_CREATED")


def restore_database(warehouse: DirectWarehouse, target: BackupTarget, name: str, *, replace: bool) -> BackupResult:
    """Recreate the database from ``target/name``; a database that has tables is replaced only if asked."""
    db, on_cluster = f"`{warehouse.database}`", topology_of(warehouse).on_cluster
    _, rows = warehouse.query_rows(
        "SELECT count() FROM system.tables WHERE database = {db:String}", {"db": warehouse.database}
    )
    if int(rows[0][0]):
        if not replace:
            raise BackupError(
                f"database {warehouse.database} has {rows[0][0]} tables; restore replaces it only with --replace"
            )
        warehouse.command(f"DROP DATABASE IF EXISTS {db}{on_cluster} SYNC")
    return _run(warehouse, f"RESTORE DATABASE {db}{on_cluster} FROM {target.location(name)}", name, target, "RESTORED")


def _run(warehouse: DirectWarehouse, sql: str, name: str, target: BackupTarget, done: str) -> BackupResult:
    try:
        _, rows = warehouse.query_rows(sql)
    except Exception as exc:  # the server's message says what failed (missing backup, credentials, space)
        raise BackupError(_without_secret(str(exc), target)) from exc
    backup_id, status = (str(v) for v in rows[0][:2])
    if status != done:
        raise BackupError(f"{name}: ClickHouse reports {status} (backup id {backup_id}, see system.backups)")
    return BackupResult(name, backup_id, status, f"{target.url}/{name}")


def _without_secret(message: str, target: BackupTarget) -> str:
    return message.replace(target.secret_key, "***") if target.secret_key else message
