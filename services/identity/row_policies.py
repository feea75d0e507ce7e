"""Per-tenant roles, grants and row policies for a ClickHouse server (the embedded engine has none).

A server's users are bound to a tenant by holding its roles: ``sightline_<tenant>_<role>`` for each of the
four roles, whose row policies let them see ``tenant_id = '<tenant>'`` only, and whose grants follow
services/access.py (demographics for auditors; the access log readable by admins and auditors, appendable by
all; nothing writable otherwise). Once a table has a row policy, ClickHouse hides its rows from users that
no policy covers, so the pipeline's own user must hold ``sightline_platform`` (every row).

Rendered from the database's tables at migration time and executed only where the server lets the
migrating user manage access; elsewhere the statements are printed for an operator to run
(`sightline db tenant-access --print`). Reads through Sightline are bound to the tenant anyway
(services/identity/bound.py): these policies also bind what users run against the server directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from services.access import RESTRICTED_TABLES
from services.common.clickhouse import DirectWarehouse, error_code, is_chdb
from services.common.cluster_ddl import SINGLE, Topology

from .access_log import TABLE as ACCESS_LOG
from .tokens import ALL_TENANTS, Role, TokenDirectory

PLATFORM_ROLE = "sightline_platform"
#: Tables no tenant role reads: bookkeeping of the schema itself.
_INTERNAL_TABLES = frozenset({"schema_migrations"})
_LOG_READERS = frozenset({Role.ADMIN, Role.AUDITOR})
#: ClickHouse's "not enough privileges" and "access management disabled" answers.
_NO_ACCESS_MANAGEMENT = frozenset({497, 516, 36})


def tenant_role(tenant_id: str, role: Role) -> str:
    return f"sightline_{tenant_id}_{role.value}"


def _q(identifier: str) -> str:
    return "`" + identifier.replace("`", "") + "`"


def tenant_access_ddl(
    database: str, tables: Mapping[str, bool], tenants: Iterable[str], topology: Topology = SINGLE
) -> list[str]:
    """Statements creating the roles, grants and row policies of ``tenants`` over ``tables`` (name -> whether
    it has a ``tenant_id`` column). Idempotent: roles and policies ``IF NOT EXISTS``, grants repeatable.
    On a cluster each runs ``ON CLUSTER`` (access entities are per host unless kept in replicated storage);
    shards' ``_local`` tables get the policies of their Distributed table, for queries forwarded as the
    initial user (the cluster's ``secret``)."""
    db, on = _q(database), topology.on_cluster
    statements = [f"CREATE ROLE IF NOT EXISTS {PLATFORM_ROLE}{on}"]
    statements += [f"GRANT{on} SELECT, INSERT ON {db}.* TO {PLATFORM_ROLE}"]
    for table, tenanted in sorted(tables.items()):
        if tenanted:
            statements.append(
                f"CREATE ROW POLICY IF NOT EXISTS {_q('platform')}{on} ON {db}.{_q(table)} AS permissive "
                f"FOR SELECT USING 1 TO {PLATFORM_ROLE}"
            )
    for tenant in sorted(set(tenants) - {ALL_TENANTS}):
        roles = {role: _q(tenant_role(tenant, role)) for role in Role}
        statements += [f"CREATE ROLE IF NOT EXISTS {name}{on}" for name in roles.values()]
        for table, tenanted in sorted(tables.items()):
            if table in _INTERNAL_TABLES or not tenanted:
                continue
            readers = _readers(topology.logical_table(table))
            holders = ", ".join(roles[role] for role in Role if role in readers)
            statements.append(f"GRANT{on} SELECT ON {db}.{_q(table)} TO {holders}")
            statements.append(
                f"CREATE ROW POLICY IF NOT EXISTS {_q('tenant_' + tenant)}{on} ON {db}.{_q(table)} AS permissive "
                f"FOR SELECT USING tenant_id = '{tenant}' TO {', '.join(roles.values())}"
            )
        log_tables = sorted({ACCESS_LOG, topology.storage_table(ACCESS_LOG)})
        statements += [f"GRANT{on} INSERT ON {db}.{_q(t)} TO {', '.join(roles.values())}" for t in log_tables]
    return statements


def _readers(table: str) -> frozenset[Role]:
    if table == ACCESS_LOG:
        return _LOG_READERS
    return RESTRICTED_TABLES.get(table, frozenset(Role))


def database_tables(warehouse: DirectWarehouse) -> dict[str, bool]:
    """The database's tables and views, each with whether it has a ``tenant_id`` column."""
    _, rows = warehouse.query_rows(
        "SELECT t.name, countIf(c.name = 'tenant_id') > 0 FROM system.tables AS t "
        "LEFT JOIN system.columns AS c ON c.database = t.database AND c.table = t.name "
        "WHERE t.database = {db:String} GROUP BY t.name",
        {"db": warehouse.database},
        readonly=True,
    )
    return {str(name): bool(tenanted) for name, tenanted in rows}


@dataclass(frozen=True)
class TenantAccess:
    statements: list[str]
    applied: bool
    reason: str = ""


def apply_tenant_access(warehouse: DirectWarehouse, directory: TokenDirectory) -> TenantAccess:
    """Create the roles and policies of the directory's tenants where the server allows it."""
    statements = tenant_access_ddl(
        warehouse.database, database_tables(warehouse), directory.tenants(), Topology.of(warehouse.settings)
    )
    if is_chdb(warehouse.settings.dsn):
        return TenantAccess(statements, False, "the embedded engine has no users, roles or row policies")
    try:
        warehouse.command(statements[0])
    except Exception as exc:
        if error_code(str(exc)) in _NO_ACCESS_MANAGEMENT:
            return TenantAccess(statements, False, f"this ClickHouse user may not manage access: {exc}")
        raise
    for statement in statements[1:]:
        warehouse.command(statement)
    return TenantAccess(statements, True)
