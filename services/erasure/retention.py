"""Retention per tenant and jurisdiction: which interviews have outlived it.

`jurisdiction_retention` is the one place a jurisdiction's retention and request deadline are decided: the typed
settings (`SIGHTLINE_RETENTION__*`), bounded by the statutory rule sets (`services.common.jurisdictions`: a
retention cap, the deadline for a candidate's request), which configuration may shorten but never lengthen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.access import PERMITTED, Action
from services.common.clickhouse import Reader
from services.common.contracts import is_eu_jurisdiction, jurisdiction_country
from services.common.jurisdictions import DEFAULT_RULES, rules_for
from services.common.named_queries import TENANT_ROWS, NamedQuery
from services.erasure.settings import RetentionSettings


@dataclass(frozen=True)
class RetentionRule:
    jurisdiction: str
    retention_days: int
    request_deadline_days: int


def jurisdiction_retention(jurisdiction: str, settings: RetentionSettings) -> RetentionRule:
    """The rule of the most specific configured match: the subdivision (US-IL), its country (US), the EU for a
    member state, else the default."""
    table = settings.jurisdiction_days
    candidates = [jurisdiction, jurisdiction_country(jurisdiction)]
    if is_eu_jurisdiction(jurisdiction):
        candidates.append("EU")
    days = next((table[c] for c in candidates if c in table), settings.default_days)
    statutory = rules_for(jurisdiction)
    if statutory.max_retention_days is not None:
        days = min(days, statutory.max_retention_days)
    return RetentionRule(jurisdiction, days, min(settings.request_deadline_days, statutory.deletion_deadline_days))


def interview_retention_days(tenant_id: str, jurisdiction: str, settings: RetentionSettings) -> int:
    """A tenant may keep interviews for less than its jurisdiction allows, never for more."""
    days = jurisdiction_retention(jurisdiction, settings).retention_days
    return min(days, settings.tenant_days.get(tenant_id, days))


@dataclass(frozen=True)
class ExpiredInterview:
    tenant_id: str
    interview_id: str
    jurisdiction: str
    started_at: datetime
    retention_days: int


#: Interviews started before a cutoff (the shortest retention anywhere); each is then checked against its own.
STARTED_BEFORE = NamedQuery(
    "erasure.started-before",
    "SELECT tenant_id, interview_id, any(jurisdiction), min(interview_started_at) FROM {db}.interviews "
    f"WHERE interview_started_at < parseDateTime64BestEffort({{cutoff:String}}, 3, 'UTC') AND {TENANT_ROWS} "
    "GROUP BY tenant_id, interview_id ORDER BY min(interview_started_at)",
    PERMITTED[Action.ERASE],
)


def expired_interviews(
    reader: Reader, settings: RetentionSettings, *, now: datetime | None = None, tenant_id: str | None = None
) -> list[ExpiredInterview]:
    """Interviews whose retention ended before ``now``, oldest first: of ``tenant_id``, else of every tenant
    the reader reads."""
    now = now or datetime.now(UTC)
    caps = [r.max_retention_days for r in DEFAULT_RULES.values() if r.max_retention_days is not None]
    shortest = min([settings.default_days, *settings.jurisdiction_days.values(), *settings.tenant_days.values(), *caps])
    cutoff = now - timedelta(days=shortest)
    params: dict[str, Any] = {"cutoff": cutoff.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")}  # JSON-safe
    if tenant_id is not None:
        params["tenant"] = tenant_id
    _, rows = reader.named(STARTED_BEFORE, params)
    return _expired(rows, settings, now)


def _expired(rows: Sequence[Sequence[object]], settings: RetentionSettings, now: datetime) -> list[ExpiredInterview]:
    out = []
    for tenant, interview, jurisdiction, started in rows:
        # A direct client returns datetimes; the chDB owner's endpoint (JSON) returns their text.
        started = started if isinstance(started, datetime) else datetime.fromisoformat(str(started))
        started = started if started.tzinfo else started.replace(tzinfo=UTC)
        days = interview_retention_days(str(tenant), str(jurisdiction), settings)
        if started + timedelta(days=days) <= now:
            out.append(ExpiredInterview(str(tenant), str(interview), str(jurisdiction), started, days))
    return out
