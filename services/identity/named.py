"""Named queries run as an identity: the role must be one the query lists, and the tenant parameter is the
identity's own (a request that names another tenant is refused as forged). The platform's identities
(tenant ``*``) may name any tenant, and read every tenant when they name none.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from services.access import AccessDenied
from services.common.named_queries import TENANT, Catalogue, NamedQuery, ParameterError

from .tokens import ALL_TENANTS, Identity


@cache
def catalogue() -> Catalogue:
    """Every named query of the product (imported on first use: the declaring modules import this package)."""
    from .catalogue import CATALOGUE

    return CATALOGUE


def bound_parameters(query: NamedQuery, identity: Identity, asked: Mapping[str, Any] | None) -> dict[str, Any]:
    """The parameters ``query`` runs with for ``identity``: ``asked`` with the tenant bound to the identity's."""
    if identity.role not in query.roles:
        allowed = ", ".join(sorted(query.roles))
        raise AccessDenied(f"{identity} may not run the named query {query.name} (roles allowed: {allowed})")
    values = dict(asked or {})
    tenant = values.pop(TENANT, None)
    if not query.tenant_bound:
        if tenant is not None:
            raise ParameterError(f"{query.name} reads no tenant's rows and takes no tenant")
        return query.checked(values)
    if tenant is not None and not isinstance(tenant, str):
        raise ParameterError(f"{query.name}: tenant must be a String, not {tenant!r}")
    if identity.all_tenants:
        values[TENANT] = tenant or ALL_TENANTS
    elif tenant is None or tenant == identity.tenant_id:
        values[TENANT] = identity.tenant_id
    else:
        raise AccessDenied(
            f"{identity} may not read tenant {tenant}'s data (a named query reads the tenant of the identity asking)"
        )
    return query.checked(values)
