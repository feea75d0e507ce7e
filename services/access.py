"""Who may read what through the query layer Sightline has today (`sightline query`, `sightline audit`).

A deliberately small role check, until tenancy and identity give ClickHouse users and grants of their own:
the caller states a role (``--role`` or ``SIGHTLINE_ROLE``; the default is ``operator``) and SQL naming a
restricted table is refused to every role the table does not list. It guards the command line against
mistakes and casual reads; it is not a security boundary against someone who can reach ClickHouse
directly (the chDB owner's query endpoint, a server's own users): those need ClickHouse grants.

Restricted today: ``candidate_demographics`` (voluntary self-identification), auditors only, so that
scoring, fusion, reports and reviewers never read it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Role(StrEnum):
    """Who runs a query. Closed."""

    OPERATOR = "operator"  # runs the pipeline, looks at statuses and dead letters
    REVIEWER = "reviewer"  # reads profiles and reports, confirms or overrides labels
    AUDITOR = "auditor"  # runs the bias audit; the only role that reads demographics


#: Restricted tables and the roles that may read them.
RESTRICTED_TABLES: Mapping[str, frozenset[Role]] = MappingProxyType(
    {"candidate_demographics": frozenset({Role.AUDITOR})}
)

# Table functions that name tables in strings (which could spell a restricted name in pieces), and quoted
# identifiers with escapes (`candidate\x5fdemographics`): refused to roles that lack any restricted table.
_INDIRECT_READS = re.compile(r"\b(?:merge|remote|remoteSecure|cluster|clusterAllReplicas|loop)\s*\(", re.I)
_ESCAPED_IDENTIFIER = re.compile(r"[`\"][^`\"]*\\")


class AccessDenied(PermissionError):
    """The role may not run this query."""


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


__all__ = ["RESTRICTED_TABLES", "AccessDenied", "Role", "check_query"]
