"""Named queries: the reads Sightline's own code makes of ClickHouse, declared once with typed parameters.

A named query is a name, SQL text whose values are ClickHouse parameters (``{job:String}``; ``{db}`` stands
for the database), the roles that may run it, and whether it is bound to a tenant. A tenant-bound query
reads rows through its ``{tenant:String}`` parameter, which the reader fills from the identity asking
(:mod:`services.identity.named`), never from the request: an identity of one tenant cannot ask for
another's rows. The embedded database's endpoint runs named queries for any permitted identity and
arbitrary SQL for admins only; on a ClickHouse server the same queries run directly, bound alike.

The platform's identities (tenant ``*``) read every tenant: :data:`TENANT_ROWS` lets ``*`` through, and no
identity of a single tenant can be bound to ``*`` (tenant ids never contain it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from services.identity.tokens import Role

#: The parameter a tenant-bound query reads its tenant from.
TENANT = "tenant"
#: The rows of the bound tenant; every tenant's for the platform's identities (``*``).
TENANT_ROWS = "({tenant:String} = '*' OR tenant_id = {tenant:String})"

_PARAMETER = re.compile(r"\{(\w+):([^{}]+)\}")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INTEGER = re.compile(r"^U?Int(8|16|32|64)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?$")


class ParameterError(ValueError):
    """A request's parameters do not fit the named query (missing, unknown or of the wrong type)."""


@dataclass(frozen=True)
class NamedQuery:
    name: str
    template: str
    roles: frozenset[Role]
    tenant_bound: bool = True
    parameters: Mapping[str, str] = field(init=False)  # name -> ClickHouse type, read from the template

    def __post_init__(self) -> None:
        found: dict[str, str] = {}
        for name, kind in _PARAMETER.findall(self.template):
            if found.setdefault(name, kind) != kind:
                raise ValueError(f"{self.name}: parameter {name} has two types ({found[name]}, {kind})")
        object.__setattr__(self, "parameters", found)
        if self.tenant_bound != (found.get(TENANT) == "String"):
            raise ValueError(f"{self.name}: a tenant-bound query, and only one, reads {{tenant:String}}")
        if not self.roles:
            raise ValueError(f"{self.name}: no role may run it")

    def sql(self, database: str) -> str:
        if not _IDENTIFIER.match(database):
            raise ValueError(f"database name {database!r} is not a plain identifier")
        return self.template.replace("{db}", database)

    def checked(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` when they are exactly this query's parameters, each of its type; else ParameterError."""
        unknown = sorted(set(values) - set(self.parameters))
        missing = sorted(set(self.parameters) - set(values))
        if unknown or missing:
            expected = sorted(self.parameters)
            raise ParameterError(f"{self.name} takes {expected} (unknown: {unknown}, missing: {missing})")
        for name, value in values.items():
            if not _fits(self.parameters[name], value):
                raise ParameterError(f"{self.name}: {name} must be a {self.parameters[name]}, not {value!r}")
        return dict(values)


def _fits(kind: str, value: Any) -> bool:
    if kind == "String":
        return isinstance(value, str)
    if _INTEGER.match(kind):
        return isinstance(value, int) and not isinstance(value, bool) and (value >= 0 or not kind.startswith("U"))
    if kind == "Date":
        return isinstance(value, date) or (isinstance(value, str) and bool(_DATE.match(value)))
    if kind.startswith("DateTime"):
        return isinstance(value, str) and bool(_DATETIME.match(value))
    return False  # a type no declared query uses yet: declare how it is checked first


class Catalogue:
    """Named queries by name; a name is declared once."""

    def __init__(self, queries: Iterable[NamedQuery]) -> None:
        self._by_name: dict[str, NamedQuery] = {}
        for query in queries:
            if query.name in self._by_name:
                raise ValueError(f"the named query {query.name} is declared twice")
            self._by_name[query.name] = query

    def __getitem__(self, name: str) -> NamedQuery:
        try:
            return self._by_name[name]
        except KeyError:
            raise ParameterError(f"no named query {name!r}") from None

    def __iter__(self) -> Any:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)
