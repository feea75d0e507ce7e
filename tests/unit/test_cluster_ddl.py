"""Every shipped migration rendered for a replicated and a sharded cluster: the DDL an operator runs there.

No ClickHouse cluster runs on this machine; the single-server DDL runs for real on chDB
(tests/integration/test_clickhouse.py checks that what it creates is what these shapes say).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from services.cli import cli
from services.common.clickhouse import DirectWarehouse
from services.common.cluster_ddl import (
    CLUSTER_WIDE_PATH,
    INTERVIEW_SHARDING_KEY,
    SHARD_PATH,
    SINGLE,
    DdlError,
    TableShape,
    Topology,
    render,
)
from services.common.migrations import migration_script
from services.common.settings import ClickHouseSettings

DB = "sightline"
REPLICATED = Topology("prod", replicated=True)
SHARDED = Topology("prod", replicated=True, sharded=True)
ON_CLUSTER = re.compile(r"^(CREATE (?:TABLE|VIEW|DATABASE) IF NOT EXISTS|ALTER TABLE) \S+ ON CLUSTER 'prod'(?:$|[\s(])")
DISTRIBUTED = re.compile(
    r"^CREATE TABLE IF NOT EXISTS (?P<name>\S+) ON CLUSTER 'prod' AS (?P<local>\S+) "
    r"ENGINE = Distributed\('prod', 'sightline', '(?P<table>\w+)', (?P<key>.+)\)$"
)


def _script(topology: Topology) -> list[str]:
    return [s for _, statements in migration_script(DB, topology) for s in statements]


def _tables(statements: list[str]) -> dict[str, TableShape]:
    shapes = (TableShape.parse(s) for s in statements if s.startswith("CREATE TABLE") and "Distributed(" not in s)
    return {shape.table: shape for shape in shapes}


def test_one_server_runs_the_migrations_as_written() -> None:
    for _, statements in migration_script(DB, SINGLE):
        for statement in statements:
            assert "ON CLUSTER" not in statement and "Replicated" not in statement and "_local" not in statement
    assert render("ALTER TABLE sightline.x MODIFY TTL t", DB) == ["ALTER TABLE sightline.x MODIFY TTL t"]


@pytest.mark.parametrize("topology", [REPLICATED, SHARDED], ids=["replicated", "sharded"])
def test_every_statement_runs_on_the_whole_cluster(topology: Topology) -> None:
    statements = _script(topology)
    assert len(statements) >= len(_script(SINGLE))
    for statement in statements:
        assert ON_CLUSTER.match(statement), statement[:120]


@pytest.mark.parametrize("topology", [REPLICATED, SHARDED], ids=["replicated", "sharded"])
def test_replicated_tables_keep_the_order_and_version_of_one_server(topology: Topology) -> None:
    single = _tables(_script(SINGLE))
    replicated = {topology.logical_table(name): shape for name, shape in _tables(_script(topology)).items()}
    assert replicated.keys() == single.keys() and len(single) >= 14
    for table, shape in single.items():
        twin = replicated[table]
        assert twin.engine == "Replicated" + shape.engine
        path = CLUSTER_WIDE_PATH if table == "schema_migrations" else SHARD_PATH
        assert twin.engine_args[:2] == (f"'{path}'", "'{replica}'")
        assert twin.engine_args[2:] == shape.engine_args  # the version column: replays still replace their row
        assert twin.order_by == shape.order_by


def test_replicated_tables_deduplicate_retried_batches_through_keeper() -> None:
    for statement in _script(REPLICATED):
        assert "non_replicated_deduplication_window" not in statement
    assert sum("replicated_deduplication_window = 1000" in s for s in _script(REPLICATED)) >= 13


def test_sharded_tables_sit_behind_distributed_tables_of_the_same_names() -> None:
    statements = _script(SHARDED)
    local = _tables(statements)
    distributed = {m.group("name"): m for m in map(DISTRIBUTED.match, statements) if m}
    assert local.pop("schema_migrations").name == "`sightline`.schema_migrations"  # replicated, never sharded
    assert {f"sightline.{t}" for t in map(SHARDED.logical_table, local)} == distributed.keys()
    for name, match in distributed.items():
        stored = match.group("table")
        assert match.group("local") == f"sightline.{stored}" and stored == name.split(".")[1] + "_local"
        shape = local[stored]
        key = match.group("key")
        columns = re.fullmatch(r"cityHash64\((.+)\)", key)
        assert columns, key
        # one row identity, one shard: the key only reads columns of the ORDER BY (a replay lands beside its row)
        assert set(c.strip() for c in columns.group(1).split(",")) <= set(shape.order_by)
        if {"tenant_id", "interview_id"} <= set(shape.order_by):
            assert key == INTERVIEW_SHARDING_KEY  # an interview's rows share a shard: joins by interview stay local


def test_views_read_the_distributed_names_and_alters_reach_the_right_tables() -> None:
    statements = _script(SHARDED)
    views = [s for s in statements if s.startswith("CREATE VIEW")]
    assert views and not any("_local" in v for v in views)
    adds = [s for s in statements if "ADD COLUMN IF NOT EXISTS producer" in s]
    assert [a.split()[2] for a in adds] == ["sightline.stage_status_local", "sightline.stage_status"]
    ttl = [s for s in statements if "MODIFY TTL" in s]
    assert ttl and all(s.split()[2].endswith("_local") for s in ttl)  # a Distributed table has no TTL


def test_mutations_target_every_shard() -> None:
    assert SINGLE.mutation_target(DB, "profiles") == "sightline.profiles"
    assert REPLICATED.mutation_target(DB, "profiles") == "sightline.profiles"  # replicas follow on their own
    assert SHARDED.mutation_target(DB, "profiles") == "sightline.profiles_local ON CLUSTER 'prod'"


def test_statements_it_cannot_place_are_refused() -> None:
    with pytest.raises(DdlError):
        render("INSERT INTO sightline.x VALUES (1)", DB, REPLICATED)
    with pytest.raises(DdlError):
        TableShape.parse("CREATE TABLE IF NOT EXISTS sightline.x (a UInt8) ENGINE = Memory")


def test_a_cluster_topology_needs_a_cluster_and_a_server() -> None:
    with pytest.raises(ValueError, match=r"need clickhouse\.cluster"):
        ClickHouseSettings(dsn="http://ch:8123", replicated=True)
    with pytest.raises(ValueError, match="embedded engine has no cluster"):
        ClickHouseSettings(dsn="chdb:///tmp/x", cluster="prod")
    server = ClickHouseSettings(dsn="http://ch:8123", cluster="c", sharded=True)
    assert Topology.of(server) == Topology("c", replicated=False, sharded=True)


def test_migrate_print_shows_the_cluster_ddl() -> None:
    result = CliRunner().invoke(cli, ["db", "migrate", "--print", "--cluster", "{cluster}", "--replicated"])
    assert result.exit_code == 0, result.output
    assert "-- 0002_analytics" in result.output
    assert "CREATE TABLE IF NOT EXISTS sightline.profiles ON CLUSTER '{cluster}'" in result.output
    assert "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}'" in result.output
    refused = CliRunner().invoke(cli, ["db", "migrate", "--print", "--sharded"])
    assert refused.exit_code == 2 and "need a cluster" in refused.output


@pytest.fixture(scope="module")
def parser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DirectWarehouse]:
    warehouse = DirectWarehouse(ClickHouseSettings(dsn=f"chdb://{tmp_path_factory.mktemp('parse') / 'ch'}"))
    yield warehouse
    warehouse.close()


@pytest.mark.parametrize("topology", [REPLICATED, SHARDED], ids=["replicated", "sharded"])
def test_clickhouse_parses_every_cluster_statement(parser: DirectWarehouse, topology: Topology) -> None:
    for statement in _script(topology):
        parser.query_rows(f"EXPLAIN AST {statement}")  # raises on a syntax error
