"""One identity's reads from the configured ClickHouse: tenant-bound, and written to the access log.

Through the embedded database's owner, the owner binds and records (it trusts only the token); with the
warehouse in this process (a server DSN, or a chDB directory nobody owns), this process does both.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from services.common.chdb_owner import RemoteWarehouse, open_warehouse
from services.common.clickhouse import DirectWarehouse
from services.common.named_queries import NamedQuery
from services.common.settings import ClickHouseSettings

from .access_log import AccessRecord, Outcome, write_access
from .bound import TenantBoundWarehouse
from .tokens import Caller


class IdentityReads:
    """Open for the duration of a command: ``reader`` runs its queries, ``record`` logs what it read."""

    def __init__(self, clickhouse: ClickHouseSettings, caller: Caller) -> None:
        self.caller = caller
        self._warehouse = open_warehouse(clickhouse, token=caller.token)
        if isinstance(self._warehouse, RemoteWarehouse):
            self.reader: RemoteWarehouse | TenantBoundWarehouse = self._warehouse
        elif isinstance(self._warehouse, DirectWarehouse):
            self.reader = TenantBoundWarehouse(self._warehouse, caller.identity)
        else:  # pragma: no cover - open_warehouse returns one of the two
            raise TypeError(type(self._warehouse))
        self.database = self._warehouse.database

    def __enter__(self) -> IdentityReads:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._warehouse.close()

    def query_rows(
        self, sql: str, parameters: dict[str, Any] | None = None, *, readonly: bool = True
    ) -> tuple[list[str], list[list[Any]]]:
        """Arbitrary SQL (admins only)."""
        return self.reader.query_rows(sql, parameters, readonly=True)

    def named(self, query: NamedQuery, parameters: dict[str, Any] | None = None) -> tuple[list[str], list[list[Any]]]:
        """A named query, its tenant bound to the caller's."""
        return self.reader.named(query, parameters)

    def record(
        self,
        action: str,
        tenant_id: str,
        outcome: Outcome = "allowed",
        *,
        interview_id: str = "",
        subject: str = "",
        reason: str = "",
    ) -> None:
        record = AccessRecord(
            action, tenant_id, outcome, interview_id=interview_id, subject=subject, reason=reason,
            origin=self.caller.origin,
        )  # fmt: skip
        if isinstance(self._warehouse, RemoteWarehouse):
            self._warehouse.record_access(record)
        elif isinstance(self._warehouse, DirectWarehouse):
            write_access(self._warehouse, self.caller.identity, record)
