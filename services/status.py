"""Where each interview is: per stage, units done of the manifest, failures and their reasons.

Read from the ``stage_status`` table the sink fills from the stage-status topic. Pure query building and
summarising here; `sightline status` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.access import PERMITTED, Action
from services.common.contracts import StageName
from services.common.named_queries import TENANT_ROWS, NamedQuery

STAGE_ORDER = [s.value for s in StageName]


#: One row per (interview, stage), the newest interviews first; ``interview`` '' for every interview.
PROGRESS = NamedQuery(
    "status.progress",
    f"""
WITH recent AS (
    SELECT tenant_id, interview_id, max(occurred_at) AS last_seen
    FROM {{db}}.stage_status FINAL
    WHERE {TENANT_ROWS} AND ({{interview:String}} = '' OR interview_id = {{interview:String}})
    GROUP BY tenant_id, interview_id
    ORDER BY last_seen DESC
    LIMIT {{limit:UInt32}}
)
SELECT
    s.tenant_id, s.interview_id, s.stage,
    splitByChar(' ', s.unit)[1]                                        AS unit_kind,
    uniqExactIf(s.unit, s.state = 'completed')                        AS done_units,
    countIf(s.state = 'completed')                                     AS completions,
    max(toUInt32OrZero(splitByChar('/', s.unit)[2]))                   AS total_units,
    uniqExactIf(s.unit, s.state = 'failed')                            AS failed_units,
    argMax(s.state, s.occurred_at)                                     AS last_state,
    argMaxIf(s.reason_code, s.occurred_at, s.state = 'failed')         AS failure_code,
    argMaxIf(s.reason_message, s.occurred_at, s.state = 'failed')      AS failure_message,
    max(s.occurred_at)                                                 AS updated_at,
    any(r.last_seen)                                                   AS last_seen
FROM {{db}}.stage_status AS s FINAL
INNER JOIN recent AS r ON r.tenant_id = s.tenant_id AND r.interview_id = s.interview_id
GROUP BY s.tenant_id, s.interview_id, s.stage, unit_kind
ORDER BY last_seen DESC, s.tenant_id, s.interview_id
""",
    PERMITTED[Action.STATUS],
)


@dataclass(frozen=True)
class StageProgress:
    stage: str
    done: int
    total: int | None  # units in the manifest, when the stage works in units
    failed: int
    last_state: str
    failure: str | None
    updated_at: datetime

    @property
    def complete(self) -> bool:
        """Every unit of the manifest handled (a replay re-running one does not undo that), or finished."""
        if self.total:
            return self.done + self.failed >= self.total
        return self.last_state == "completed"

    @property
    def text(self) -> str:
        if self.total:
            text = f"{self.done}/{self.total}"
            if self.done + self.failed >= self.total:
                text += " done" if not self.failed else f" done, {self.failed} failed"
            return text
        return self.last_state


@dataclass(frozen=True)
class InterviewProgress:
    tenant_id: str
    interview_id: str
    stages: dict[str, StageProgress]

    @property
    def failed(self) -> bool:
        return any(p.failed and not p.total for p in self.stages.values())

    @property
    def phase(self) -> str:
        """One word for the interview: failed, profiled, or the stage it is in."""
        if self.failed:
            return "failed"
        fusion = self.stages.get(StageName.FUSION.value)
        if fusion is not None and fusion.complete and _profiled(self):
            return "profiled"
        for stage in reversed(STAGE_ORDER):
            if stage in self.stages:
                return stage
        return "unknown"

    @property
    def reasons(self) -> list[str]:
        return [f"{s}: {p.failure}" for s, p in self.stages.items() if p.failure]


def _profiled(progress: InterviewProgress) -> bool:
    sink = progress.stages.get(StageName.SINK.value)
    return sink is None or sink.complete


def summarise(columns: list[str], rows: list[list[Any]]) -> list[InterviewProgress]:
    """Rows per (interview, stage, unit kind) merged into one progress per stage.

    A stage that works in units (vision's chunks, speech's segments; fusion and the sink see both kinds)
    counts units done against the sum of its manifests; whole-interview messages count only when a stage
    has no units at all.
    """
    grouped: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    for row in rows:
        r = dict(zip(columns, row, strict=True))
        grouped.setdefault((r["tenant_id"], r["interview_id"]), {}).setdefault(r["stage"], []).append(r)
    return [
        InterviewProgress(
            tenant,
            interview,
            {stage: _merge(stage, parts[stage]) for stage in sorted(parts, key=_stage_rank)},
        )
        for (tenant, interview), parts in grouped.items()
    ]


def _merge(stage: str, parts: list[dict[str, Any]]) -> StageProgress:
    units = [p for p in parts if int(p["total_units"])]
    latest = max(parts, key=lambda p: p["updated_at"])
    failed = [p for p in parts if p["failure_code"]]
    last_failure = max(failed, key=lambda p: p["updated_at"]) if failed else None
    counted = units or parts
    return StageProgress(
        stage=stage,
        done=sum(int(p["done_units"] if units else p["completions"]) for p in counted),
        total=sum(int(p["total_units"]) for p in units) or None,
        failed=sum(int(p["failed_units"]) for p in counted),
        last_state=str(latest["last_state"]),
        failure=f"{last_failure['failure_code']}: {last_failure['failure_message']}" if last_failure else None,
        updated_at=latest["updated_at"],
    )


def _stage_rank(stage: str) -> int:
    return STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER)
