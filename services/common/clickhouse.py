"""ClickHouse access: one client for a server (http[s]://) or embedded chDB (chdb:///path).

Inserts are batched and idempotent: every batch carries a deterministic deduplication token, so a
batch re-sent after a timeout or a crash is dropped by ClickHouse instead of doubling rows, and
tables are ReplacingMergeTree keyed by deterministic ids so a replayed event replaces its row.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import clickhouse_connect
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from services.common.settings import ClickHouseSettings

if TYPE_CHECKING:
    from services.common.named_queries import NamedQuery

log = logging.getLogger(__name__)

# Server error codes worth another attempt (timeouts, too many parts, memory pressure, network).
TRANSIENT_CODES = frozenset({159, 160, 202, 203, 209, 210, 241, 242, 252, 285, 319, 425, 999})


class Reader(Protocol):
    """What a read needs: a database name and queries (also met by reads bound to an identity)."""

    database: str

    def query_rows(
        self, sql: str, parameters: dict[str, Any] | None = None, *, readonly: bool = False
    ) -> tuple[list[str], list[list[Any]]]: ...

    def named(
        self, query: NamedQuery, parameters: dict[str, Any] | None = None
    ) -> tuple[list[str], list[list[Any]]]: ...


class Warehouse(Reader, Protocol):
    """What Sightline needs from ClickHouse; implemented directly and through the local chDB owner."""

    def command(self, sql: str) -> None: ...
    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str], dedup_token: str) -> None: ...
    def close(self) -> None: ...


def sql_string(value: str) -> str:
    """``value`` as a ClickHouse string literal (for statements that take no bound parameters)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def is_chdb(dsn: str) -> bool:
    return dsn.startswith("chdb:")


def chdb_path(dsn: str) -> str:
    return dsn.removeprefix("chdb://")


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError):
        return True
    if isinstance(exc, DatabaseError):
        code = error_code(str(exc))
        return code in TRANSIENT_CODES
    return isinstance(exc, ConnectionError | TimeoutError)


def error_code(message: str) -> int | None:
    marker = "Code: "
    at = message.find(marker)
    if at < 0:
        return None
    digits = ""
    for ch in message[at + len(marker) :]:
        if not ch.isdigit():
            break
        digits += ch
    return int(digits) if digits else None


class DirectWarehouse:
    """A clickhouse-connect client; for chDB this process becomes the data directory's owner."""

    def __init__(self, settings: ClickHouseSettings) -> None:
        self.settings = settings
        self.database = settings.database
        if is_chdb(settings.dsn):  # in-process: no connection to secure
            self.client = clickhouse_connect.get_client(dsn=settings.dsn)
        else:
            self.client = clickhouse_connect.get_client(dsn=settings.dsn, ca_cert=settings.ca_file)

    def query_rows(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        *,
        readonly: bool = False,
        settings: dict[str, Any] | None = None,
    ) -> tuple[list[str], list[list[Any]]]:
        """Rows of ``sql``; ``settings`` go with the query (``readonly`` adds ``readonly=1``)."""
        sent = {**(settings or {}), **({"readonly": 1} if readonly else {})}
        result = self.client.query(sql, parameters=parameters, settings=sent or None)
        return list(result.column_names), [list(r) for r in result.result_rows]

    def named(self, query: NamedQuery, parameters: dict[str, Any] | None = None) -> tuple[list[str], list[list[Any]]]:
        """``query`` as this process's own read (the sink's retention sweep): the parameters as given, every
        tenant's rows when a tenant-bound query names none. Reads for an identity bind its tenant first
        (services/identity/bound.py)."""
        from services.common.named_queries import TENANT
        from services.identity.tokens import ALL_TENANTS

        values = {TENANT: ALL_TENANTS, **(parameters or {})} if query.tenant_bound else dict(parameters or {})
        return self.query_rows(query.sql(self.database), query.checked(values), readonly=True)

    def command(self, sql: str) -> None:
        self.client.command(sql)

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str], dedup_token: str) -> None:
        attempts = self.settings.max_attempts
        sent: dict[str, Any] = {"insert_deduplication_token": dedup_token}
        if self.settings.sharded:  # the Distributed table forwards the batch now, so a failure is seen and retried
            sent["distributed_foreground_insert"] = 1
        for attempt in range(1, attempts + 1):
            try:
                self.client.insert(table, [list(r) for r in rows], column_names=list(columns), settings=sent)
                return
            except Exception as exc:
                if attempt >= attempts or not is_transient(exc):
                    raise
                delay = min(10.0, 0.2 * 2**attempt)
                log.warning("transient insert failure, retrying", extra={"table": table, "delay_s": delay})
                time.sleep(delay)

    def close(self) -> None:
        self.client.close()


def dedup_token(table: str, keys: Sequence[str]) -> str:
    """A token that is equal for a re-sent batch of the same rows and different otherwise."""
    digest = hashlib.sha256(table.encode())
    for key in keys:
        digest.update(b"\x00" + key.encode())
    return digest.hexdigest()


@dataclass
class BatchBuffer:
    """Rows waiting for one table's next insert; flushed by size or age (the caller decides when)."""

    table: str
    columns: Sequence[str]
    max_rows: int
    max_age_s: float
    rows: list[Sequence[Any]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    first_added: float | None = None

    def add(self, key: str, row: Sequence[Any]) -> None:
        if len(row) != len(self.columns):
            raise ValueError(f"{self.table}: row has {len(row)} values for {len(self.columns)} columns")
        if self.first_added is None:
            self.first_added = time.monotonic()
        self.rows.append(row)
        self.keys.append(key)

    def due(self, now: float | None = None) -> bool:
        if not self.rows:
            return False
        age = (now if now is not None else time.monotonic()) - (self.first_added or 0.0)
        return len(self.rows) >= self.max_rows or age >= self.max_age_s

    def flush(self, warehouse: Warehouse) -> int:
        """Insert the rows buffered so far as one idempotent batch and drop them only on success; rows
        added while the insert runs (it may run in a thread) stay for the next flush."""
        count = len(self.rows)
        if count == 0:
            return 0
        warehouse.insert(self.table, self.rows[:count], self.columns, dedup_token(self.table, self.keys[:count]))
        del self.rows[:count]
        del self.keys[:count]
        self.first_added = time.monotonic() if self.rows else None
        return count
