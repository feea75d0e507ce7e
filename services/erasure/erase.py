"""Erase a candidate (or named interviews) from every store, and say so in a receipt.

* **Objects**: everything under ``<tenant>/<interview>/`` in every bucket (media, frames, audio, timelines,
  key frames, fusion state and ledger, reports) and fusion's pending marker.
* **Data keys**: the interview's keys are destroyed, so any sealed copy left anywhere (a replica, a backup,
  a record on a topic) can no longer be read (crypto-shredding).
* **ClickHouse**: the rows of the interviews, and of the candidate, in every table that has them (found from
  ``system.columns``, so tables added later are covered); dead letters and refused rows that carry them in
  their payload. Deleted with synchronous mutations: the parts are rewritten without them.
* **Receipt**: counts per bucket and table, keys destroyed, what happened on each topic; the candidate and
  interviews only as digests. Stored in ``erasure_receipts``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.common.clickhouse import Warehouse, sql_string
from services.common.cluster_ddl import topology_of
from services.common.contracts import TOPICS, CandidateErasureRequested
from services.common.objectstore import ObjectStore, staging_prefix
from services.fusion.ledger import pending_key

log = logging.getLogger(__name__)

RECEIPTS_TABLE = "erasure_receipts"
#: Tables erasure never touches: the audit trail itself and the migration ledger.
KEPT_TABLES = frozenset({RECEIPTS_TABLE, "schema_migrations", "access_log"})
#: Topics whose records the pipeline seals with the interview's data key (services.common.sealing).
SEALED = "crypto-shredded"


def digest(tenant_id: str, identifier: str) -> str:
    """What a receipt keeps of a candidate or interview: enough to check "was X erased?", not to name X."""
    return hashlib.sha256(f"{tenant_id}/{identifier}".encode()).hexdigest()


@dataclass
class ErasureReceipt:
    erasure_id: str
    tenant_id: str
    reason: str
    scope: str
    subject_digest: str
    interview_digests: list[str]
    requested_by: str
    requested_at: datetime
    completed_at: datetime
    objects_deleted: dict[str, int] = field(default_factory=dict)
    keys_destroyed: int = 0
    rows_deleted: dict[str, int] = field(default_factory=dict)
    topics: dict[str, str] = field(default_factory=dict)

    COLUMNS = (
        "erasure_id", "tenant_id", "reason", "scope", "subject_digest", "interview_digests", "requested_by",
        "requested_at", "completed_at", "objects_deleted", "keys_destroyed", "rows_deleted", "topics",
    )  # fmt: skip

    def row(self) -> list[Any]:
        return [getattr(self, name) for name in self.COLUMNS]


@dataclass(frozen=True)
class _Table:
    name: str
    columns: frozenset[str]


class Eraser:
    """Performs erasures against one warehouse and one object store (the sink's, or the CLI's)."""

    def __init__(self, warehouse: Warehouse, store: ObjectStore, *, sealed_topics: Iterable[str] = ()) -> None:
        self.warehouse, self.store = warehouse, store
        self.db = warehouse.database
        self.topology = topology_of(warehouse)
        self.sealed_topics = frozenset(sealed_topics)

    # ---- what belongs to the candidate --------------------------------------------------------------------

    def tables(self) -> list[_Table]:
        _, rows = self.warehouse.query_rows(
            "SELECT c.table, groupArray(c.name) FROM system.columns AS c "
            "WHERE c.database = {db:String} AND c.table IN "
            "(SELECT name FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree%') "
            "GROUP BY c.table ORDER BY c.table",
            {"db": self.db},
        )
        logical = ((self.topology.logical_table(str(t)), cols) for t, cols in rows)
        return [_Table(t, frozenset(cols)) for t, cols in logical if t not in KEPT_TABLES]

    def interviews_of(self, tenant_id: str, candidate_ref: str, tables: Sequence[_Table]) -> set[str]:
        found: set[str] = set()
        for table in tables:
            if {"tenant_id", "interview_id", "candidate_ref"} <= table.columns:
                _, rows = self.warehouse.query_rows(
                    f"SELECT DISTINCT interview_id FROM {self.db}.{table.name} "
                    "WHERE tenant_id = {t:String} AND candidate_ref = {c:String} AND interview_id != ''",
                    {"t": tenant_id, "c": candidate_ref},
                )
                found.update(str(r[0]) for r in rows)
        return found

    # ---- erasing ------------------------------------------------------------------------------------------

    def erase(self, request: CandidateErasureRequested) -> ErasureReceipt:
        tenant = request.tenant_id
        tables = self.tables()
        interviews = set(request.interview_ids or ())
        if request.candidate_ref is not None:
            interviews |= self.interviews_of(tenant, request.candidate_ref, tables)
        ordered = sorted(interviews)
        subject = request.candidate_ref if request.candidate_ref is not None else ",".join(ordered)
        receipt = ErasureReceipt(
            erasure_id=str(request.event_id),
            tenant_id=tenant,
            reason=request.reason,
            scope=request.scope,
            subject_digest=digest(tenant, subject),
            interview_digests=[digest(tenant, i) for i in ordered],
            requested_by=request.requested_by,
            requested_at=request.requested_at,
            completed_at=request.requested_at,
        )
        receipt.objects_deleted = self._erase_objects(tenant, ordered)
        if self.store.keyring is not None:
            receipt.keys_destroyed = sum(self.store.keyring.destroy(tenant, i) for i in ordered)
        receipt.rows_deleted = self._erase_rows(tenant, ordered, request.candidate_ref, tables)
        receipt.topics = self._topics()
        receipt.completed_at = datetime.now(UTC)
        self.warehouse.insert(
            f"{self.db}.{RECEIPTS_TABLE}", [receipt.row()], ErasureReceipt.COLUMNS, f"erasure:{receipt.erasure_id}"
        )
        log.info(
            "erased",
            extra={"tenant_id": tenant, "erasure_id": receipt.erasure_id, "interviews": len(ordered)},
        )
        return receipt

    def _erase_objects(self, tenant: str, interviews: Sequence[str]) -> dict[str, int]:
        deleted: dict[str, int] = {}
        data_buckets = [b for b in self.store.buckets() if b != self.store.settings.keys_bucket]
        for bucket in data_buckets:
            deleted[bucket] = sum(
                self.store.delete_prefix(bucket, prefix)
                for i in interviews
                for prefix in (f"{tenant}/{i}/", staging_prefix(tenant, i))
            )
        work = self.store.settings.work_bucket
        for interview in interviews:
            marker = pending_key(tenant, interview, None)
            deleted[work] += self.store.delete_prefix(work, marker + "/")
            if self.store.exists(work, marker):
                self.store.delete(work, marker)
                deleted[work] += 1
        return deleted

    def _erase_rows(
        self, tenant: str, interviews: Sequence[str], candidate: str | None, tables: Sequence[_Table]
    ) -> dict[str, int]:
        deleted: dict[str, int] = {}
        for table in tables:
            where = _match(table.columns, tenant, interviews, candidate)
            if where is None:
                continue
            _, rows = self.warehouse.query_rows(f"SELECT count() FROM {self.db}.{table.name} WHERE {where}")
            count = int(rows[0][0])
            if count:
                self.warehouse.command(
                    f"ALTER TABLE {self.topology.mutation_target(self.db, table.name)} DELETE WHERE {where} "
                    "SETTINGS mutations_sync = 2"
                )
            deleted[table.name] = count
        return deleted

    def _topics(self) -> dict[str, str]:
        """Per topic, how its copies of the candidate's records become unreadable."""
        return {
            name: SEALED if name in self.sealed_topics else f"expires with the topic's retention ({spec.retention})"
            for name, spec in sorted(TOPICS.items())
        }


def _match(columns: frozenset[str], tenant: str, interviews: Sequence[str], candidate: str | None) -> str | None:
    """The WHERE clause selecting the rows of these interviews and this candidate in a table with ``columns``;
    None for a table that cannot hold them."""
    if "tenant_id" not in columns and "row_json" not in columns:
        return None
    ids = "[" + ",".join(sql_string(i) for i in interviews) + "]"
    tenant_is = f"tenant_id = {sql_string(tenant)}"
    terms: list[str] = []
    if "interview_id" in columns and interviews:
        terms.append(f"({tenant_is} AND has({ids}, interview_id))")
    if "candidate_ref" in columns and candidate is not None:
        terms.append(f"({tenant_is} AND candidate_ref = {sql_string(candidate)})")
    # A dead letter or refused row may carry the interview only inside its payload (a record that did not
    # parse far enough to fill the columns): search the payloads of such rows for the ids as JSON strings.
    needles = [f'"{i}"' for i in interviews] + ([f'"{candidate}"'] if candidate is not None else [])
    unnamed = " AND interview_id = ''" if "interview_id" in columns else ""
    scoped = f" AND tenant_id IN ({sql_string(tenant)}, '')" if "tenant_id" in columns else ""
    for text_column in ("payload_b64", "row_json", "letter_json"):
        if text_column not in columns or not needles:
            continue
        text = f"tryBase64Decode({text_column})" if text_column == "payload_b64" else text_column
        found = " OR ".join(f"position({text}, {sql_string(n)}) > 0" for n in needles)
        terms.append(f"(({found}){unnamed}{scoped})")
    if "row_key" in columns:
        terms.extend(f"startsWith(row_key, {sql_string(f'{tenant}/{i}@')})" for i in interviews)
    return " OR ".join(terms) if terms else None


__all__ = ["KEPT_TABLES", "RECEIPTS_TABLE", "Eraser", "ErasureReceipt", "digest"]
