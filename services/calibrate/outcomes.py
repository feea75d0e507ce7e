"""What calibration learns from: each reviewed interview of a job with its outcome ratings and the dimension
scores of the profile version the reviewer decided on (the profile current at decision time, not a later
re-score), read from ClickHouse (`reviewed_profiles`, `current_candidate_outcomes`, `profile_dimensions`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.access import PERMITTED, Action
from services.common.clickhouse import Reader
from services.common.named_queries import NamedQuery


@dataclass(frozen=True)
class Observation:
    """One interview: its dimension scores (as decided on) and its outcome ratings, each scaled to 0-1."""

    interview_id: str
    competency_model: tuple[str, str]  # (id, version) that scored the profile
    decided_at: datetime
    recorded_at: datetime
    scores: dict[str, float]
    ratings: dict[str, float]  # outcome key (measure@months) -> rating scaled to 0-1 by its own scale


def outcome_key(measure: str, at_months: int | None) -> str:
    """``performance@6`` (``performance`` when the rating is not tied to a month)."""
    return measure if at_months is None else f"{measure}@{at_months}"


#: Each reviewed interview of the job with its outcome ratings and the dimension scores decided on.
OBSERVATIONS = NamedQuery(
    "calibrate.observations",
    """
SELECT r.interview_id, r.competency_model_id, r.competency_model_version, r.decided_at, o.recorded_at,
       o.rating.measure, o.rating.value, o.rating.scale_min, o.rating.scale_max, o.rating.at_months,
       d.dimensions, d.scores
FROM {db}.reviewed_profiles AS r
INNER JOIN {db}.current_candidate_outcomes AS o ON o.tenant_id = r.tenant_id AND o.interview_id = r.interview_id
INNER JOIN
(
    SELECT tenant_id, interview_id, profile_version, groupArray(dimension) AS dimensions, groupArray(score) AS scores
    FROM {db}.profile_dimensions FINAL
    WHERE tenant_id = {tenant:String}
    GROUP BY tenant_id, interview_id, profile_version
) AS d ON d.tenant_id = r.tenant_id AND d.interview_id = r.interview_id AND d.profile_version = r.profile_version
WHERE r.tenant_id = {tenant:String} AND r.job_id = {job:String} AND length(o.rating.value) > 0
ORDER BY r.interview_id
""",
    PERMITTED[Action.CALIBRATE],
)


def _scaled(value: float, low: float, high: float) -> float:
    return (value - low) / (high - low)


def _observation(row: Sequence[Any]) -> Observation:
    interview, model_id, model_version, decided, recorded, measures, values, lows, highs, months, dims, scores = row
    ratings = {
        outcome_key(m, at): _scaled(v, lo, hi)
        for m, v, lo, hi, at in zip(measures, values, lows, highs, months, strict=True)
    }
    return Observation(
        interview_id=interview,
        competency_model=(model_id, model_version),
        decided_at=decided,
        recorded_at=recorded,
        scores={d: float(s) for d, s in zip(dims, scores, strict=True)},
        ratings=ratings,
    )


def load_observations(warehouse: Reader, tenant_id: str, job_id: str) -> list[Observation]:
    """Every reviewed interview of the job that has an outcome with at least one rating."""
    _, rows = warehouse.named(OBSERVATIONS, {"tenant": tenant_id, "job": job_id})
    return [_observation(row) for row in rows]
