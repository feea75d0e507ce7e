"""The migrations' DDL rendered for where the tables live: one server, a replicated cluster, or shards.

Migrations are written once, for a single server (what the embedded engine runs). On a cluster
(``clickhouse.cluster``) every statement runs ``ON CLUSTER`` so each host gets it; with
``clickhouse.replicated`` the ``*MergeTree`` engines become ``Replicated*MergeTree`` (replicas of a shard
share parts through ClickHouse Keeper, same ORDER BY and version column, so a replayed row still replaces
its own); with ``clickhouse.sharded`` each table is created as ``<name>_local`` on every shard and a
``Distributed`` table takes the usual name, so everything that reads or inserts keeps its table names.

Sharding key: rows of one interview go to one shard (``cityHash64(tenant_id, interview_id)`` for every
table ordered by interview), so replacement, FINAL and the views' joins on (tenant, interview) stay within
a shard; other tables shard on their whole identity. ``schema_migrations`` is replicated across the whole
cluster (one Keeper path for all shards) and never sharded, so any host knows what was applied.

Column changes (``ALTER ... COLUMN``) go to the local and the Distributed table; other ALTERs (TTL,
mutations) to the local one only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from services.common.clickhouse import sql_string

LOCAL_SUFFIX = "_local"
#: Tables replicated across every shard rather than sharded: the migrations' own bookkeeping.
CLUSTER_WIDE_TABLES = frozenset({"schema_migrations"})
#: Keeper paths; ``{shard}``, ``{replica}``, ``{database}`` and ``{table}`` are the server's macros.
SHARD_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
CLUSTER_WIDE_PATH = "/clickhouse/tables/all/{database}/{table}"
INTERVIEW_SHARDING_KEY = "cityHash64(tenant_id, interview_id)"

_HEAD = re.compile(
    r"^(?P<verb>CREATE (?:TABLE|VIEW|DATABASE) IF NOT EXISTS|ALTER TABLE)\s+(?P<name>\S+?)(?=\s|\(|$)", re.S
)
_ENGINE = re.compile(r"ENGINE\s*=\s*(?P<kind>\w*)MergeTree\b(?:\((?P<args>[^)]*)\))?")
_ORDER_BY = re.compile(r"\bORDER BY\s+(?:\((?P<many>[^)]*)\)|(?P<one>\w+))")


class DdlError(ValueError):
    """A statement this renderer cannot place on a cluster."""


class ClusterConfig(Protocol):
    cluster: str
    replicated: bool
    sharded: bool


@dataclass(frozen=True)
class Topology:
    """Where tables live; the default is one server (or the embedded engine)."""

    cluster: str = ""
    replicated: bool = False
    sharded: bool = False

    @classmethod
    def of(cls, settings: ClusterConfig) -> Topology:
        return cls(settings.cluster, settings.replicated, settings.sharded)

    @property
    def on_cluster(self) -> str:
        return f" ON CLUSTER {sql_string(self.cluster)}" if self.cluster else ""

    def storage_table(self, table: str) -> str:
        """The table that holds the rows of ``table`` (what mutations such as DELETE must target)."""
        return table + LOCAL_SUFFIX if self.sharded and table not in CLUSTER_WIDE_TABLES else table

    def logical_table(self, stored: str) -> str:
        """The name queries use for the storage table ``stored`` (inverse of :meth:`storage_table`)."""
        return stored.removesuffix(LOCAL_SUFFIX) if self.sharded else stored

    def mutation_target(self, database: str, table: str) -> str:
        """Where ``ALTER TABLE ... DELETE`` of ``table`` goes: a Distributed table takes no mutations, so on
        shards every shard's local table (replicas follow their shard on their own)."""
        return f"{database}.{self.storage_table(table)}{self.on_cluster if self.sharded else ''}"


SINGLE = Topology()


def topology_of(warehouse: object) -> Topology:
    """The configured topology of a server's warehouse; the embedded engine is always a single server."""
    settings = getattr(warehouse, "settings", None)
    return Topology.of(settings) if settings is not None else SINGLE


@dataclass(frozen=True)
class TableShape:
    """What a CREATE TABLE says about its storage: the parts replication must keep unchanged."""

    name: str
    engine: str
    engine_args: tuple[str, ...]
    order_by: tuple[str, ...]

    @classmethod
    def parse(cls, statement: str) -> TableShape:
        head, engine, order = _HEAD.match(statement), _ENGINE.search(statement), _ORDER_BY.search(statement)
        if not head or not head.group("verb").startswith("CREATE TABLE") or not engine or not order:
            raise DdlError(f"not a CREATE TABLE with a MergeTree engine and an ORDER BY: {statement[:80]}")
        args = tuple(a.strip() for a in (engine.group("args") or "").split(",") if a.strip())
        keys = order.group("many") or order.group("one")
        return cls(
            head.group("name"),
            engine.group("kind") + "MergeTree",
            args,
            tuple(k.strip() for k in keys.split(",") if k.strip()),
        )

    @property
    def table(self) -> str:
        return self.name.rsplit(".", 1)[-1].strip("`")

    @property
    def sharding_key(self) -> str:
        if "interview_id" in self.order_by and "tenant_id" in self.order_by:
            return INTERVIEW_SHARDING_KEY
        return f"cityHash64({', '.join(self.order_by)})"


def render(statement: str, database: str, topology: Topology = SINGLE) -> list[str]:
    """``statement`` (written for one server) as the statements to run on ``topology``."""
    if not topology.cluster:
        return [statement]
    head = _HEAD.match(statement)
    if not head:
        raise DdlError(f"cannot place this statement on a cluster: {statement[:80]}")
    verb, name = head.group("verb"), head.group("name")
    table = name.rsplit(".", 1)[-1].strip("`")
    if verb.startswith("CREATE TABLE"):
        return _create_table(statement, database, topology)
    if verb == "ALTER TABLE" and topology.sharded and table not in CLUSTER_WIDE_TABLES:
        local = _with_name(statement, name, _local(name), topology.on_cluster)
        if re.search(r"\bCOLUMN\b", statement[head.end() :]):
            return [local, _with_name(statement, name, name, topology.on_cluster)]
        return [local]
    return [_with_name(statement, name, name, topology.on_cluster)]


def _create_table(statement: str, database: str, topology: Topology) -> list[str]:
    shape = TableShape.parse(statement)
    cluster_wide = shape.table in CLUSTER_WIDE_TABLES
    created = statement
    if topology.replicated:
        path = CLUSTER_WIDE_PATH if cluster_wide else SHARD_PATH
        args = ", ".join([sql_string(path), "'{replica}'", *shape.engine_args])
        created = _ENGINE.sub(lambda _: f"ENGINE = Replicated{shape.engine}({args})", created, count=1)
        created = created.replace("non_replicated_deduplication_window", "replicated_deduplication_window")
    if not topology.sharded or cluster_wide:
        return [_with_name(created, shape.name, shape.name, topology.on_cluster)]
    local = _local(shape.name)
    distributed = (
        f"CREATE TABLE IF NOT EXISTS {shape.name}{topology.on_cluster} AS {local} ENGINE = Distributed("
        f"{sql_string(topology.cluster)}, {sql_string(database)}, {sql_string(shape.table + LOCAL_SUFFIX)}, "
        f"{shape.sharding_key})"
    )
    return [_with_name(created, shape.name, local, topology.on_cluster), distributed]


def _local(name: str) -> str:
    if name.endswith("`"):
        return name[:-1] + LOCAL_SUFFIX + "`"
    return name + LOCAL_SUFFIX


def _with_name(statement: str, old: str, new: str, on_cluster: str) -> str:
    head = _HEAD.match(statement)
    assert head is not None and head.group("name") == old
    return f"{head.group('verb')} {new}{on_cluster}{statement[head.end() :]}"
