"""The audit's data from ClickHouse: one applicant per candidate and job in the window, with the latest profile,
its dimension scores and raw measures, the current review decision (when `review_decisions` exists) and the
candidate's self-identification (`candidate_demographics`, which only the auditor role may read)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from services.access import PERMITTED, Action
from services.common.clickhouse import Reader
from services.common.named_queries import TENANT_ROWS, NamedQuery

from .bias import Applicant

DECISIONS_TABLE = "review_decisions"
#: Raw measures shown beside the dimension scores: per interview, the mean over its chunks or answers.
RAW_MEASURES = {
    "vision_chunks": ("eye_contact_ratio",),
    "answers": ("wpm", "filler_rate", "pause_ratio"),
}
#: The audited window: the tenant's interviews started between two days, of one job ('' for every job).
WINDOW = (
    f"{TENANT_ROWS} AND toDate(interview_started_at) BETWEEN {{first_day:Date}} AND {{last_day:Date}} "
    "AND ({job:String} = '' OR job_id = {job:String})"
)
AUDITORS = PERMITTED[Action.AUDIT]

#: Each candidate's latest profile for each job among the interviews of the window: the applicants.
PROFILES = NamedQuery(
    "audit.profiles",
    "SELECT interview_id, candidate_ref, job_id, profile_version, overall, label "
    f"FROM {{db}}.latest_profiles WHERE {WINDOW} "
    "ORDER BY interview_started_at DESC, profile_version DESC LIMIT 1 BY candidate_ref, job_id",
    AUDITORS,
)
DIMENSIONS = NamedQuery(
    "audit.dimensions",
    f"SELECT interview_id, profile_version, dimension, score FROM {{db}}.profile_dimensions FINAL WHERE {WINDOW}",
    AUDITORS,
)
RAW_MEASURE_QUERIES = {
    table: NamedQuery(
        f"audit.raw-measures.{table}",
        f"SELECT interview_id, {', '.join(f'avg({m}) AS {m}' for m in measures)} FROM {{db}}.{table} FINAL "
        f"WHERE {WINDOW} GROUP BY interview_id",
        AUDITORS,
    )
    for table, measures in RAW_MEASURES.items()
}
DEMOGRAPHICS = NamedQuery(
    "audit.demographics",
    "SELECT tenant_id, candidate_ref, sex, race_ethnicity FROM {db}.candidate_demographics FINAL "
    f"WHERE {TENANT_ROWS} ORDER BY tenant_id, candidate_ref",
    AUDITORS,
)
#: Whether review decisions are recorded at all (a schema question: no tenant's rows).
DECISIONS_EXIST = NamedQuery("audit.decisions-exist", f"EXISTS TABLE {{db}}.{DECISIONS_TABLE}", AUDITORS, False)
#: The current decision of each interview: the latest by decided_at.
DECISIONS = NamedQuery(
    "audit.decisions",
    f"SELECT interview_id, argMax(final_label, decided_at) FROM {{db}}.{DECISIONS_TABLE} WHERE {TENANT_ROWS} "
    "GROUP BY interview_id",
    AUDITORS,
)
QUERIES = (PROFILES, DIMENSIONS, *RAW_MEASURE_QUERIES.values(), DEMOGRAPHICS, DECISIONS_EXIST, DECISIONS)


def load_applicants(
    reader: Reader, tenant_id: str, job_id: str | None, data_from: date, data_to: date
) -> tuple[list[Applicant], bool]:
    """The applicants of the window, and whether review decisions are recorded at all (the table exists)."""
    tenant = {"tenant": tenant_id}
    window = {**tenant, "job": job_id or "", "first_day": data_from.isoformat(), "last_day": data_to.isoformat()}
    # Demographics first: a role that may not read them is refused before anything else is read.
    selfid = {ref: (sex, race) for _, ref, sex, race in reader.named(DEMOGRAPHICS, tenant)[1]}
    profiles = reader.named(PROFILES, window)[1]
    versions = {row[0]: row[3] for row in profiles}
    measures: dict[str, dict[str, float]] = {iv: {} for iv in versions}
    for interview_id, version, dimension, score in reader.named(DIMENSIONS, window)[1]:
        if versions.get(interview_id) == version:
            measures[interview_id][dimension] = float(score)
    for table, names in RAW_MEASURES.items():
        for interview_id, *values in reader.named(RAW_MEASURE_QUERIES[table], window)[1]:
            if interview_id in measures:
                measures[interview_id].update(_present(names, values))
    recorded = int(reader.named(DECISIONS_EXIST)[1][0][0]) > 0
    decisions = dict(reader.named(DECISIONS, tenant)[1]) if recorded else {}
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


__all__ = ["DECISIONS_TABLE", "QUERIES", "load_applicants"]
