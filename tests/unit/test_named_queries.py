"""Named queries: declared once with typed parameters, run with the tenant of the identity asking."""

from __future__ import annotations

import pytest

from services.access import AccessDenied
from services.common.named_queries import TENANT_ROWS, Catalogue, NamedQuery, ParameterError
from services.identity.bound import check_tenant_bound
from services.identity.named import bound_parameters, catalogue
from services.identity.tokens import Identity, Role

PROGRESS = NamedQuery(
    "test.progress",
    f"SELECT interview_id FROM {{db}}.stage_status WHERE {TENANT_ROWS} AND stage = {{stage:String}} "
    "LIMIT {limit:UInt32}",
    frozenset({Role.ANALYST, Role.ADMIN}),
)
ANALYST = Identity(name="acme-analyst", tenant_id="acme", role=Role.ANALYST)
PLATFORM = Identity(name="ops", tenant_id="*", role=Role.ADMIN)


def test_parameters_are_read_from_the_sql_with_their_types() -> None:
    assert PROGRESS.parameters == {"tenant": "String", "stage": "String", "limit": "UInt32"}
    assert PROGRESS.sql("sightline").startswith("SELECT interview_id FROM sightline.stage_status WHERE")
    with pytest.raises(ValueError, match="identifier"):
        PROGRESS.sql("sightline; DROP TABLE x")


def test_a_declaration_says_whether_it_reads_a_tenant_and_means_it() -> None:
    with pytest.raises(ValueError, match="tenant-bound"):
        NamedQuery("x", "SELECT 1 FROM {db}.t WHERE job_id = {job:String}", frozenset({Role.ADMIN}))
    with pytest.raises(ValueError, match="tenant-bound"):
        NamedQuery("x", f"SELECT 1 FROM {{db}}.t WHERE {TENANT_ROWS}", frozenset({Role.ADMIN}), tenant_bound=False)
    with pytest.raises(ValueError, match="two types"):
        NamedQuery("x", f"SELECT {{n:UInt8}}, {{n:String}} WHERE {TENANT_ROWS}", frozenset({Role.ADMIN}))
    with pytest.raises(ValueError, match="declared twice"):
        Catalogue([PROGRESS, PROGRESS])


def test_the_tenant_is_the_identitys_whatever_the_request_says() -> None:
    asked = {"stage": "sink", "limit": 5}
    assert bound_parameters(PROGRESS, ANALYST, asked) == {"stage": "sink", "limit": 5, "tenant": "acme"}
    assert bound_parameters(PROGRESS, ANALYST, {**asked, "tenant": "acme"})["tenant"] == "acme"
    with pytest.raises(AccessDenied, match="may not read tenant globex's data"):
        bound_parameters(PROGRESS, ANALYST, {**asked, "tenant": "globex"})
    with pytest.raises(AccessDenied, match="may not read tenant \\*'s data"):  # nor every tenant
        bound_parameters(PROGRESS, ANALYST, {**asked, "tenant": "*"})
    # The platform's identities read every tenant, or narrow to one.
    assert bound_parameters(PROGRESS, PLATFORM, asked)["tenant"] == "*"
    assert bound_parameters(PROGRESS, PLATFORM, {**asked, "tenant": "globex"})["tenant"] == "globex"


def test_roles_and_parameters_are_checked_before_anything_runs() -> None:
    reviewer = Identity(name="acme-reviewer", tenant_id="acme", role=Role.REVIEWER)
    with pytest.raises(AccessDenied, match=r"may not run the named query test\.progress"):
        bound_parameters(PROGRESS, reviewer, {"stage": "sink", "limit": 5})
    for bad, message in (
        ({"stage": "sink"}, "missing: \\['limit'\\]"),
        ({"stage": "sink", "limit": 5, "extra": 1}, "unknown: \\['extra'\\]"),
        ({"stage": "sink", "limit": "5 OR 1=1"}, "limit must be a UInt32"),
        ({"stage": "sink", "limit": -1}, "limit must be a UInt32"),
        ({"stage": "sink", "limit": True}, "limit must be a UInt32"),
        ({"stage": 3, "limit": 5}, "stage must be a String"),
        ({"stage": "sink", "limit": 5, "tenant": ["acme"]}, "tenant must be a String"),
    ):
        with pytest.raises(ParameterError, match=message):
            bound_parameters(PROGRESS, ANALYST, bad)


def test_every_read_of_the_product_is_declared_once_and_bound_where_it_reads_rows() -> None:
    queries = list(catalogue())
    assert len({q.name for q in queries}) == len(queries) >= 15
    for query in queries:
        sql = query.sql("sightline")
        if query.tenant_bound:
            assert "{tenant:String}" in sql, query.name
        # Every query passes the checks a tenant's reads get (no table functions, no system tables).
        for role in query.roles:
            check_tenant_bound(sql, Identity(name="x", tenant_id="acme", role=role))
    unbound = [q.name for q in queries if not q.tenant_bound]
    assert unbound == ["audit.decisions-exist"]  # a schema question, no tenant's rows
