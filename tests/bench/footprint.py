"""What a benchmark run's interviews left behind: Kafka records and bytes per topic, object-store bytes per
bucket, ClickHouse rows per table. The capacity plan (services/plan) divides them by interview-minutes."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from services.common.clickhouse import DirectWarehouse
from services.common.contracts import TOPICS
from services.common.objectstore import ObjectStore
from services.common.settings import Settings
from tests.integration.kafka_helpers import read_all


async def kafka_footprint(settings: Settings) -> dict[str, dict[str, int]]:
    """Records and bytes (key + value + headers) on every topic of the run's topic prefix."""
    found: dict[str, dict[str, int]] = {}
    for topic in sorted(TOPICS):
        records = await read_all(settings.kafka, topic, quiet_s=1.0, timeout_s=30.0)
        if records:
            size = sum(
                len(r.key or b"") + len(r.value) + sum(len(k) + len(v) for k, v in r.headers.items()) for r in records
            )
            found[topic] = {"records": len(records), "bytes": size}
    return found


def object_footprint(settings: Settings, interviews: Collection[str]) -> dict[str, dict[str, int]]:
    """Objects and bytes, per bucket, under the interviews' keys (``<tenant>/<interview>/...``)."""
    store = ObjectStore(settings.s3)
    found: dict[str, dict[str, int]] = {}
    for bucket in store.buckets():
        if not store.client.bucket_exists(bucket):
            continue
        sizes = [
            obj.size or 0
            for obj in store.client.list_objects(bucket, recursive=True)
            if any(f"/{interview}/" in (obj.object_name or "") for interview in interviews)
        ]
        found[bucket] = {"objects": len(sizes), "bytes": sum(sizes)}
    return found


def clickhouse_footprint(settings: Settings, interviews: Collection[str]) -> dict[str, Any]:
    """Rows per table for the interviews (tables with an interview_id), with the database's bytes per row."""
    warehouse = DirectWarehouse(settings.clickhouse)
    try:
        db = warehouse.database
        _, tables = warehouse.query_rows(
            "SELECT DISTINCT c.table FROM system.columns AS c JOIN system.tables AS t "
            "ON t.database = c.database AND t.name = c.table "
            "WHERE c.database = {db:String} AND c.name = 'interview_id' AND t.engine LIKE '%MergeTree'",
            {"db": db},
        )
        rows: dict[str, int] = {}
        for (table,) in tables:
            _, counted = warehouse.query_rows(
                f"SELECT count() FROM {db}.`{table}` WHERE interview_id IN {{ids:Array(String)}}",
                {"ids": list(interviews)},
            )
            if int(counted[0][0]):
                rows[str(table)] = int(counted[0][0])
        _, parts = warehouse.query_rows(
            "SELECT sum(rows), sum(bytes_on_disk) FROM system.parts WHERE database = {db:String} AND active",
            {"db": db},
        )
        total_rows, total_bytes = (int(v or 0) for v in parts[0])
        return {"rows": rows, "bytes_per_row": round(total_bytes / total_rows, 1) if total_rows else None}
    finally:
        warehouse.close()
