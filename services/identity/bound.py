"""Reads bound to an identity's tenant, enforced by the engine rather than by the text of the SQL.

Every table of Sightline's database is read through ClickHouse's ``additional_table_filters`` setting:
``tenant_id = '<tenant>'`` where the table has a tenant column, ``0`` (no rows) where it has none. The
filter applies wherever the table is read (joins, sub-queries, views), and ``readonly=1`` in the same
request forbids a query from changing it. What a filter cannot see is refused before the query runs:
table functions that read tables or files by name (``merge``, ``remote``, ``file``, ``url``...) and the
``system`` database beyond its schema tables. This binds the embedded engine, which has no users to grant
to; a ClickHouse server additionally gets per-tenant roles and row policies (:mod:`services.identity.row_policies`).

An identity of every tenant (``*``, platform admins) reads without filters; restricted tables
(:data:`services.access.RESTRICTED_TABLES`) stay refused to roles they do not list, whoever asks.

Identities read through named queries (:mod:`services.identity.named`), whose tenant parameter is theirs;
arbitrary SQL is an admin's only. The filters bind both: they are the second line behind the parameters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from services.access import AccessDenied, check_query
from services.common.clickhouse import DirectWarehouse
from services.common.named_queries import NamedQuery

from .named import bound_parameters
from .tokens import Identity, Role

#: Table functions that read tables, files or other servers by name, which no filter of ours reaches.
_FUNCTIONS_READING_BY_NAME = re.compile(
    r"\b(?:merge|remote|remoteSecure|cluster|clusterAllReplicas|loop|file|url|urlCluster|s3|s3Cluster|gcs|"
    r"azureBlobStorage|hdfs|mysql|postgresql|mongodb|redis|sqlite|jdbc|odbc|executable|dictionary|deltaLake|"
    r"iceberg|hudi|fileCluster|input|view|viewIfPermitted|mergeTreeIndex|mergeTreeProjection)\s*\(",
    re.I,
)
_SYSTEM_TABLE = re.compile(r"\b(?:system|information_schema)\s*\.\s*(\w*)", re.I)
#: System tables that describe the schema only (no rows of anyone's data, no other sessions' queries).
_SCHEMA_TABLES = frozenset({"tables", "columns", "one", "numbers"})
_ESCAPED_IDENTIFIER = re.compile(r"[`\"][^`\"]*\\")


#: The statements that read. Anything else is refused before the engine sees it: besides being no read, a
#: statement other than a SELECT takes its SETTINGS clause (``readonly=1``) into the embedded engine's session,
#: where it would stay and refuse the owner's own writes afterwards.
_READ_STATEMENTS = frozenset({"select", "with", "show", "describe", "desc", "explain", "exists"})
_FIRST_WORD = re.compile(r"^(?:\s|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*(\w*)", re.S)


def check_read(sql: str) -> None:
    """Refuse a statement that is not a read (whoever asks)."""
    match = _FIRST_WORD.match(sql)
    if match is None or match.group(1).lower() not in _READ_STATEMENTS:
        raise AccessDenied("queries run readonly: only SELECT, WITH, SHOW, DESCRIBE, EXPLAIN or EXISTS statements")


def check_tenant_bound(sql: str, identity: Identity) -> None:
    """Refuse what is not a read, what the tenant filters cannot bind, and restricted tables the role may not
    read."""
    check_read(sql)
    check_query(sql, identity.role)
    if identity.all_tenants:
        return
    if _FUNCTIONS_READING_BY_NAME.search(sql):
        raise AccessDenied(
            "queries bound to a tenant may not use table functions that read tables, files or servers by name"
        )
    plain = sql.replace("`", "").replace('"', "")
    if any(name.lower() not in _SCHEMA_TABLES for name in _SYSTEM_TABLE.findall(plain)):
        raise AccessDenied("queries bound to a tenant may not read the system database (beyond tables and columns)")
    if _ESCAPED_IDENTIFIER.search(sql):
        raise AccessDenied("queries bound to a tenant may not use escaped identifiers")


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def tenant_filters(warehouse: DirectWarehouse, tenant_id: str) -> str:
    """The ``additional_table_filters`` value binding every table outside ``system`` to ``tenant_id``."""
    _, rows = warehouse.query_rows(
        "SELECT database, name, countIf(c.name = 'tenant_id') > 0 FROM system.tables AS t "
        "LEFT JOIN system.columns AS c ON c.database = t.database AND c.table = t.name "
        "WHERE t.database NOT IN ('system', 'INFORMATION_SCHEMA', 'information_schema') "
        "GROUP BY database, name",
        readonly=True,
    )
    condition = f"tenant_id = {_quoted(tenant_id)}"
    entries = [f"{_quoted(f'{db}.{table}')}: {_quoted(condition if tenanted else '0')}" for db, table, tenanted in rows]
    return "{" + ", ".join(entries) + "}"


class TenantBoundWarehouse:
    """Read-only access to a warehouse as ``identity``: rows of its tenant only."""

    def __init__(self, warehouse: DirectWarehouse, identity: Identity) -> None:
        self.warehouse = warehouse
        self.identity = identity
        self.database = warehouse.database

    def query_rows(
        self, sql: str, parameters: dict[str, Any] | None = None, *, readonly: bool = True
    ) -> tuple[list[str], list[list[Any]]]:
        """Arbitrary read-only SQL: admins only (every other role reads through named queries)."""
        if self.identity.role is not Role.ADMIN:
            raise AccessDenied(
                f"{self.identity} may not run arbitrary SQL (admins only); Sightline's commands read through "
                "named queries (docs/operations.md, 'Identities and roles')"
            )
        return self._run(sql, parameters)

    def named(self, query: NamedQuery, parameters: dict[str, Any] | None = None) -> tuple[list[str], list[list[Any]]]:
        """``query`` with its tenant parameter bound to the identity's tenant."""
        return self._run(query.sql(self.database), bound_parameters(query, self.identity, parameters))

    def _run(self, sql: str, parameters: dict[str, Any] | None) -> tuple[list[str], list[list[Any]]]:
        check_tenant_bound(sql, self.identity)
        asked = (parameters or {}).get("tenant")
        if asked and not self.identity.may_read_tenant(str(asked)):  # named queries name their tenant so
            raise AccessDenied(f"{self.identity} may not read tenant {asked}'s data")
        settings: dict[str, Any] = {"readonly": 1}
        if not self.identity.all_tenants:
            settings["additional_table_filters"] = tenant_filters(self.warehouse, self.identity.tenant_id)
        return self.warehouse.query_rows(sql, parameters, readonly=True, settings=settings)

    def command(self, sql: str) -> None:
        raise PermissionError("reads bound to an identity cannot write")

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str], dedup_token: str) -> None:
        raise PermissionError("reads bound to an identity cannot write")

    def close(self) -> None:
        self.warehouse.close()
