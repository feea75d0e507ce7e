"""What each role may do, and the restricted tables no query of another role may name.

Identities (a name, a tenant and a role) come from tokens (:mod:`services.identity.tokens`); this module
says what a role may do (:func:`authorize`) and within which tenant. Reads through Sightline's commands
are named, parameterised queries bound to the identity's tenant; arbitrary SQL (`sightline query`) is an
admin's, and even then every table is filtered to the admin's tenant by the engine
(:mod:`services.identity.bound`) unless the admin acts for every tenant (``*``).

Restricted tables: ``candidate_demographics`` (voluntary self-identification), auditors only, so that
scoring, fusion, reports and reviewers never read it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from services.identity.tokens import Identity, Role


class Action(StrEnum):
    """What an entry point does on someone's behalf; the access log names it. Closed."""

    STATUS = "status"  # stage statuses of interviews
    REPORT = "report"  # a profile and its HR report
    QUERY = "query"  # arbitrary read-only SQL
    AUDIT = "audit"  # the bias audit (reads demographics)
    DEAD_LETTERS = "dlq"  # dead letters: list, replay
    CALIBRATE = "calibrate"  # outcomes and scores of a job
    CALIBRATE_APPLY = "calibrate-apply"  # writing a job's competency weights
    ACCESS_LOG = "access-log"  # who read what
    ERASE = "erase"  # erasing a candidate
    BACKUP = "backup"  # backing up the whole database (every tenant)
    RESTORE = "restore"  # replacing the whole database from a backup


#: Roles that may take each action (within their tenant).
PERMITTED: Mapping[Action, frozenset[Role]] = MappingProxyType(
    {
        Action.STATUS: frozenset(Role),
        Action.REPORT: frozenset({Role.ADMIN, Role.ANALYST, Role.REVIEWER}),
        Action.QUERY: frozenset({Role.ADMIN}),
        Action.AUDIT: frozenset({Role.AUDITOR}),
        Action.DEAD_LETTERS: frozenset({Role.ADMIN}),
        Action.CALIBRATE: frozenset({Role.ADMIN, Role.ANALYST}),
        Action.CALIBRATE_APPLY: frozenset({Role.ADMIN}),
        Action.ACCESS_LOG: frozenset({Role.ADMIN, Role.AUDITOR}),
        Action.ERASE: frozenset({Role.ADMIN}),
        Action.BACKUP: frozenset({Role.ADMIN}),
        Action.RESTORE: frozenset({Role.ADMIN}),
    }
)

#: Restricted tables and the roles that may read them.
RESTRICTED_TABLES: Mapping[str, frozenset[Role]] = MappingProxyType(
    {"candidate_demographics": frozenset({Role.AUDITOR})}
)

# Table functions that name tables in strings (which could spell a restricted name in pieces), and quoted
# identifiers with escapes (`candidate\x5fdemographics`): refused to roles that lack any restricted table.
_INDIRECT_READS = re.compile(r"\b(?:merge|remote|remoteSecure|cluster|clusterAllReplicas|loop)\s*\(", re.I)
_ESCAPED_IDENTIFIER = re.compile(r"[`\"][^`\"]*\\")


class AccessDenied(PermissionError):
    """The identity may not do this."""


def authorize(identity: Identity, action: Action, tenant_id: str | None = None) -> None:
    """Raise :class:`AccessDenied` unless ``identity`` may take ``action`` on ``tenant_id``'s data."""
    roles = PERMITTED[action]
    if identity.role not in roles:
        allowed = ", ".join(sorted(roles))
        raise AccessDenied(f"{identity} may not use {action} (roles allowed: {allowed})")
    if tenant_id is not None and not identity.may_read_tenant(tenant_id):
        raise AccessDenied(f"{identity} may not read tenant {tenant_id}'s data")


def check_query(sql: str, role: Role) -> None:
    """Raise :class:`AccessDenied` when ``role`` may not run ``sql``; conservative: a restricted table's
    name anywhere in the text (even in a comment or string) refuses the query."""
    plain = sql.replace("`", "").replace('"', "").lower()
    for table, roles in RESTRICTED_TABLES.items():
        if role not in roles and re.search(rf"\b{table}\b", plain):
            allowed = ", ".join(sorted(roles))
            raise AccessDenied(f"the {role} role may not read {table} (only: {allowed}); see docs/fairness.md")
    if any(role not in roles for roles in RESTRICTED_TABLES.values()) and (
        _INDIRECT_READS.search(sql) or _ESCAPED_IDENTIFIER.search(sql)
    ):
        raise AccessDenied(
            f"the {role} role may not use table functions that name tables in strings, or escaped identifiers"
        )


__all__ = ["PERMITTED", "RESTRICTED_TABLES", "AccessDenied", "Action", "Role", "authorize", "check_query"]
