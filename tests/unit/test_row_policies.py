"""Per-tenant roles, grants and row policies rendered for a ClickHouse server: well-formed (the engine parses
every statement), one policy per tenant and table, grants following the roles, and never run on the embedded
engine (which has no access management)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.clickhouse import DirectWarehouse
from services.common.cluster_ddl import Topology
from services.common.migrations import migrate
from services.common.settings import ClickHouseSettings
from services.identity.row_policies import PLATFORM_ROLE, apply_tenant_access, database_tables, tenant_access_ddl
from services.identity.tokens import TokenDirectory
from tests.identities import tokens_json


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DirectWarehouse]:
    path: Path = tmp_path_factory.mktemp("policies") / "ch"
    warehouse = DirectWarehouse(ClickHouseSettings(dsn=f"chdb://{path}"))
    migrate(warehouse)
    yield warehouse
    warehouse.close()


def test_every_tenant_table_gets_a_policy_per_tenant_and_the_engine_parses_each_statement(
    warehouse: DirectWarehouse,
) -> None:
    tables = database_tables(warehouse)
    assert tables["profiles"] and tables["access_log"] and not tables["schema_migrations"]
    statements = tenant_access_ddl("sightline", tables, ["acme-us", "globex", "*"])
    for statement in statements:
        warehouse.query_rows(f"EXPLAIN AST {statement}")  # raises on a syntax error
    tenanted = sorted(name for name, has in tables.items() if has)
    for tenant in ("acme-us", "globex"):
        policies = [s for s in statements if s.startswith(f"CREATE ROW POLICY IF NOT EXISTS `tenant_{tenant}`")]
        assert sorted(s.split(" ON `sightline`.`")[1].split("`")[0] for s in policies) == tenanted
        assert all(f"USING tenant_id = '{tenant}' TO " in s for s in policies)
        assert all("`sightline_globex_analyst`" not in s for s in policies if tenant == "acme-us")
    assert not any("`tenant_*`" in s for s in statements)  # the platform is a role of its own, not a tenant
    assert f"CREATE ROLE IF NOT EXISTS {PLATFORM_ROLE}" in statements


def test_grants_follow_the_roles(warehouse: DirectWarehouse) -> None:
    statements = tenant_access_ddl("sightline", database_tables(warehouse), ["acme-us"])
    grants = {s.split(" TO ")[0]: s.split(" TO ")[1] for s in statements if s.startswith("GRANT SELECT ON")}
    assert grants["GRANT SELECT ON `sightline`.`candidate_demographics`"] == "`sightline_acme-us_auditor`"
    assert (
        grants["GRANT SELECT ON `sightline`.`access_log`"] == "`sightline_acme-us_admin`, `sightline_acme-us_auditor`"
    )
    assert grants["GRANT SELECT ON `sightline`.`profiles`"].count("sightline_acme-us_") == 4
    assert "GRANT SELECT ON `sightline`.`schema_migrations`" not in grants
    writes = [s for s in statements if s.startswith("GRANT INSERT")]
    assert writes == [
        "GRANT INSERT ON `sightline`.`access_log` TO `sightline_acme-us_admin`, `sightline_acme-us_analyst`, "
        "`sightline_acme-us_reviewer`, `sightline_acme-us_auditor`"
    ]


def test_the_embedded_engine_is_left_alone(warehouse: DirectWarehouse) -> None:
    result = apply_tenant_access(warehouse, TokenDirectory.parse(tokens_json(), "test"))
    assert not result.applied and "embedded engine" in result.reason
    assert any("tenant_globex" in s for s in result.statements)
    # The embedded engine's user really cannot manage access: enforcement there is the tenant filter's.
    with pytest.raises(Exception, match="Not enough privileges"):
        warehouse.command(result.statements[0])  # CREATE ROLE


def test_on_a_sharded_cluster_every_statement_runs_on_the_cluster_and_local_tables_get_the_same_policies(
    warehouse: DirectWarehouse,
) -> None:
    topology = Topology("prod", replicated=True, sharded=True)
    tables = {f"{name}_local": has for name, has in database_tables(warehouse).items()}
    tables |= database_tables(warehouse)
    statements = tenant_access_ddl("sightline", tables, ["acme-us"], topology)
    for statement in statements:
        assert " ON CLUSTER 'prod'" in statement
        warehouse.query_rows(f"EXPLAIN AST {statement}")
    demographics = [s for s in statements if s.startswith("GRANT ON CLUSTER 'prod' SELECT ON `sightline`.`candidate_d")]
    assert [s.split(" TO ")[1] for s in demographics] == ["`sightline_acme-us_auditor`"] * 2
    log_inserts = [s.split(" TO ")[0] for s in statements if " INSERT ON `sightline`.`access_log" in s]
    assert set(log_inserts) == {
        "GRANT ON CLUSTER 'prod' INSERT ON `sightline`.`access_log`",
        "GRANT ON CLUSTER 'prod' INSERT ON `sightline`.`access_log_local`",
    }
