"""The audit's data from ClickHouse: one applicant per candidate and job in the window, with the latest profile,
its dimension scores and raw measures, the current review decision (when `review_decisions` exists) and the
candidate's self-identification (`candidate_demographics`, which only the auditor role may read)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from services.common.clickhouse import sql_string as quote

from .bias import Applicant

#: Runs read-only SQL, returning (column names, rows); the CLI's checks the caller's role first.
RunSql = Callable[[str], tuple[list[str], list[list[Any]]]]

DECISIONS_TABLE = "review_decisions"
#: Raw measures shown beside the dimension scores: per interview, the mean over its chunks or answers.
RAW_MEASURES = {
    "vision_chunks": ("eye_contact_ratio",),
    "answers": ("wpm", "filler_rate", "pause_ratio"),
}


def _window(tenant_id: str, job_id: str | None, data_from: date, data_to: date) -> str:
    where = [
        f"tenant_id = {quote(tenant_id)}",
        f"toDate(interview_started_at) BETWEEN toDate({quote(data_from.isoformat())}) "
        f"AND toDate({quote(data_to.isoformat())})",
    ]
    if job_id is not None:
        where.append(f"job_id = {quote(job_id)}")
    return " AND ".join(where)


def profiles_sql(db: str, tenant_id: str, job_id: str | None, data_from: date, data_to: date) -> str:
    """Each candidate's latest profile for each job among the interviews of the window: the applicants."""
    return (
        "SELECT interview_id, candidate_ref, job_id, profile_version, overall, label "
        f"FROM {db}.latest_profiles WHERE {_window(tenant_id, job_id, data_from, data_to)} "
        "ORDER BY interview_started_at DESC, profile_version DESC LIMIT 1 BY candidate_ref, job_id"
    )


def dimensions_sql(db: str, tenant_id: str, job_id: str | None, data_from: date, data_to: date) -> str:
    return (
        "SELECT interview_id, profile_version, dimension, score "
        f"FROM {db}.profile_dimensions FINAL WHERE {_window(tenant_id, job_id, data_from, data_to)}"
    )


def raw_measures_sql(db: str, table: str, tenant_id: str, job_id: str | None, data_from: date, data_to: date) -> str:
    means = ", ".join(f"avg({m}) AS {m}" for m in RAW_MEASURES[table])
    return (
        f"SELECT interview_id, {means} FROM {db}.{table} FINAL "
        f"WHERE {_window(tenant_id, job_id, data_from, data_to)} GROUP BY interview_id"
    )


def demographics_sql(db: str, tenant_id: str) -> str:
    return (
        "SELECT candidate_ref, sex, race_ethnicity "
        f"FROM {db}.candidate_demographics FINAL WHERE tenant_id = {quote(tenant_id)}"
    )


def decisions_exist_sql(db: str) -> str:
    return f"SELECT count() FROM system.tables WHERE database = {quote(db)} AND name = {quote(DECISIONS_TABLE)}"


def decisions_sql(db: str, tenant_id: str) -> str:
    """The current decision of each interview: the latest by decided_at."""
    return (
        "SELECT interview_id, argMax(final_label, decided_at) "
        f"FROM {db}.{DECISIONS_TABLE} WHERE tenant_id = {quote(tenant_id)} GROUP BY interview_id"
    )


def _rows(run: RunSql, sql: str) -> list[list[Any]]:
    return run(sql)[1]


def load_applicants(
    run: RunSql, db: str, tenant_id: str, job_id: str | None, data_from: date, data_to: date
) -> tuple[list[Applicant], bool]:
    """The applicants of the window, and whether review decisions are recorded at all (the table exists)."""
    window = (tenant_id, job_id, data_from, data_to)
    # Demographics first: a role that may not read them is refused before anything else is read.
    selfid = {ref: (sex, race) for ref, sex, race in _rows(run, demographics_sql(db, tenant_id))}
    profiles = _rows(run, profiles_sql(db, *window))
    versions = {row[0]: row[3] for row in profiles}
    measures: dict[str, dict[str, float]] = {iv: {} for iv in versions}
    for interview_id, version, dimension, score in _rows(run, dimensions_sql(db, *window)):
        if versions.get(interview_id) == version:
            measures[interview_id][dimension] = float(score)
    for table, names in RAW_MEASURES.items():
        for interview_id, *values in _rows(run, raw_measures_sql(db, table, *window)):
            if interview_id in measures:
                measures[interview_id].update(_present(names, values))
    recorded = int(_rows(run, decisions_exist_sql(db))[0][0]) > 0
    decisions = dict(_rows(run, decisions_sql(db, tenant_id))) if recorded else {}
    applicants = []
    for interview_id, candidate_ref, job, _version, overall, label in profiles:
        sex, race = selfid.get(candidate_ref, (None, None))
        applicants.append(
            Applicant(
                candidate_ref=candidate_ref,
                interview_id=interview_id,
                job_id=job,
                sex=sex,
                race_ethnicity=race,
                overall=None if overall is None else float(overall),
                suggested_label=label,
                human_label=decisions.get(interview_id),
                measures=measures[interview_id],
            )
        )
    return applicants, recorded


def _present(names: Sequence[str], values: Sequence[Any]) -> dict[str, float]:
    """Measures with a value (a chunk without a face has no eye contact; avg of nothing is NaN or NULL)."""
    return {n: float(v) for n, v in zip(names, values, strict=True) if v is not None and v == v}


__all__ = ["DECISIONS_TABLE", "RunSql", "load_applicants"]
