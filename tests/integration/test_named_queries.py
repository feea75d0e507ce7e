"""Every named query of the product runs on the migrated embedded database, as an identity of one tenant (under
that tenant's table filters, as the owner's endpoint and a server connection run them) and as the process's own
read, and returns only the bound tenant's rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.common.clickhouse import DirectWarehouse
from services.common.migrations import migrate
from services.common.named_queries import NamedQuery
from services.common.settings import ClickHouseSettings
from services.identity.bound import TenantBoundWarehouse
from services.identity.named import catalogue
from services.identity.tokens import Identity
from services.status import PROGRESS

#: A value of each parameter a declared query takes (besides the tenant, which is bound).
SAMPLES: dict[str, Any] = {
    "interview": "", "limit": 10, "stage": "sink", "job": "", "first_day": "2026-01-01", "last_day": "2030-12-31",
    "since": "2020-01-01 00:00:00", "actor": "", "outcome": "", "cutoff": "2030-01-01 00:00:00",
}  # fmt: skip


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DirectWarehouse]:
    warehouse = DirectWarehouse(ClickHouseSettings(dsn=f"chdb://{tmp_path_factory.mktemp('named') / 'ch'}"))
    migrate(warehouse)
    at = datetime.now(UTC) - timedelta(hours=1)
    rows = [[uuid.uuid4(), tenant, interview, "ingest", "completed", 1, at] for tenant, interview in
            (("acme", "iv-a"), ("globex", "iv-b"))]  # fmt: skip
    columns = ["event_id", "tenant_id", "interview_id", "stage", "state", "attempt", "occurred_at"]
    warehouse.insert(f"{warehouse.database}.stage_status", rows, columns, dedup_token="named-queries")
    yield warehouse
    warehouse.close()


def parameters(query: NamedQuery) -> dict[str, Any]:
    return {name: SAMPLES[name] for name in query.parameters if name != "tenant"}


@pytest.mark.parametrize("query", list(catalogue()), ids=lambda q: q.name)
def test_every_named_query_runs_for_each_role_it_lists(warehouse: DirectWarehouse, query: NamedQuery) -> None:
    for role in sorted(query.roles):
        reader = TenantBoundWarehouse(warehouse, Identity(name=f"acme-{role}", tenant_id="acme", role=role))
        columns, rows = reader.named(query, parameters(query))  # the embedded engine names no columns of no rows
        if "tenant_id" in columns:
            assert {row[columns.index("tenant_id")] for row in rows} <= {"acme"}, query.name
    warehouse.named(query, parameters(query))  # the process's own read (every tenant)


def test_the_bound_tenant_and_the_process_read_what_they_should(warehouse: DirectWarehouse) -> None:
    def interviews(reader: Any) -> list[str]:
        columns, rows = reader.named(PROGRESS, parameters(PROGRESS))
        return sorted({row[columns.index("interview_id")] for row in rows})

    analyst = Identity(name="acme-analyst", tenant_id="acme", role="analyst")
    assert interviews(TenantBoundWarehouse(warehouse, analyst)) == ["iv-a"]
    assert interviews(warehouse) == ["iv-a", "iv-b"]
