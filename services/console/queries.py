"""What the console reads from ClickHouse, always bound to the signed-in tenant by query parameters.

The queue is the documented "Review queue per job" query of docs/analytics.md (the "Profiles awaiting
human review" query one profile per row). Both are named queries: only the database name (a setting, checked
to be an identifier) is placed in the SQL text, every value a person typed travels as a parameter, and the
tenant is the one of the console's identity at the database (services/identity/named.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.access import PERMITTED, Action
from services.common.clickhouse import Reader
from services.common.contracts.types import ProfileLabel
from services.common.named_queries import NamedQuery

from .forms import ProfileToReview

READERS = PERMITTED[Action.REPORT]

#: docs/analytics.md, "Review queue per job", with the tenant a parameter and a limit (a unit test compares them).
QUEUE = NamedQuery(
    "console.queue",
    """
SELECT job_id, interview_id, candidate_ref, profile_version, label, overall, produced_at, review_state, awaiting_reason
FROM {db}.review_state
WHERE tenant_id = {tenant:String} AND review_state != 'reviewed'
ORDER BY job_id, produced_at, interview_id
LIMIT {limit:UInt32}
""",
    READERS,
)

PROFILE = NamedQuery(
    "console.profile",
    """
SELECT p.interview_id, p.profile_version, p.label, p.overall, p.candidate_ref, p.job_id, p.job_title,
       p.report_uri, p.produced_at, r.review_state, r.awaiting_reason
FROM (SELECT * FROM {db}.profiles FINAL
      WHERE tenant_id = {tenant:String} AND interview_id = {interview:String}) AS p
LEFT JOIN (SELECT * FROM {db}.review_state
           WHERE tenant_id = {tenant:String} AND interview_id = {interview:String}) AS r
    ON r.interview_id = p.interview_id
ORDER BY p.profile_version DESC
""",
    READERS,
)


@dataclass(frozen=True)
class QueueEntry:
    job_id: str
    interview_id: str
    candidate_ref: str
    profile_version: int
    label: str
    overall: float | None
    produced_at: str
    review_state: str
    awaiting_reason: str


@dataclass(frozen=True)
class StoredProfile:
    """One stored version of an interview's profile, with the interview's current review state."""

    tenant_id: str
    interview_id: str
    profile_version: int
    label: str
    overall: float | None
    candidate_ref: str
    job_id: str
    job_title: str
    report_uri: str
    produced_at: str
    review_state: str
    awaiting_reason: str

    def to_review(self) -> ProfileToReview:
        return ProfileToReview(self.tenant_id, self.interview_id, self.profile_version, ProfileLabel(self.label))


def awaiting_review(warehouse: Reader, tenant_id: str, limit: int) -> list[QueueEntry]:
    """The tenant's profiles waiting for a person, per job, oldest first."""
    _, rows = warehouse.named(QUEUE, {"tenant": tenant_id, "limit": limit})
    return [
        QueueEntry(
            job_id=row[0], interview_id=row[1], candidate_ref=row[2], profile_version=int(row[3]), label=row[4],
            overall=row[5], produced_at=_when(row[6]), review_state=row[7], awaiting_reason=row[8],
        )
        for row in rows
    ]  # fmt: skip


def profile_versions(warehouse: Reader, tenant_id: str, interview_id: str) -> list[StoredProfile]:
    """Every stored version of the interview's profile in this tenant, newest first; empty when the tenant
    has no such interview (whether or not another tenant has one)."""
    _, rows = warehouse.named(PROFILE, {"tenant": tenant_id, "interview": interview_id})
    return [
        StoredProfile(
            tenant_id=tenant_id, interview_id=row[0], profile_version=int(row[1]), label=row[2], overall=row[3],
            candidate_ref=row[4], job_id=row[5], job_title=row[6], report_uri=row[7], produced_at=_when(row[8]),
            review_state=row[9], awaiting_reason=row[10],
        )
        for row in rows
    ]  # fmt: skip


def _when(value: Any) -> str:
    """A timestamp as shown (UTC, to the second): a datetime directly, a string through the chDB owner."""
    text = value.isoformat(sep=" ") if isinstance(value, datetime) else str(value).replace("T", " ")
    return text[:19]
