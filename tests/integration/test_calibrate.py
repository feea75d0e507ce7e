"""`sightline calibrate` on a generated population stored through the sink's row mapping in real ClickHouse.

The population: one job, a five-competency model with equal weights, and a 6-month performance rating that
depends on two known competencies (charlie and echo) plus noise. Half the interviews were re-scored after
the decision (profile version 2 with unrelated scores): calibration must learn from the version decided on.
A second job has too few outcomes to calibrate.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from scipy.stats import spearmanr

from services.calibrate.calibration import calibrate
from services.calibrate.outcomes import load_observations
from services.common.clickhouse import DirectWarehouse
from services.common.competency import CompetencyModelLibrary, load_competency_model
from services.common.contracts import (
    CandidateOutcome,
    EventBase,
    ProfileReady,
    RescoreRequested,
    ReviewDecision,
    decode_as,
    deterministic_event_id,
    topic_for,
)
from services.common.migrations import migrate
from services.common.settings import ClickHouseSettings, Settings
from services.sink.rows import COLUMNS, rows_for
from tests.integration.kafka_helpers import create_topics, isolated, read_all, read_topic
from tests.integration.stage_fixtures import example

ROOT = Path(__file__).resolve().parents[2]
TENANT = "acme-eu"
JOB, SMALL_JOB = "REQ-CAL", "REQ-SMALL"
COMPETENCIES = ("alpha", "bravo", "charlie", "delta", "echo")
DRIVERS = {"charlie", "echo"}
BEHAVIOURS = ("communication", "emotional_stability")  # two of the behaviour dimensions fusion emits
N, N_SMALL = 240, 12
DAY0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


@dataclass(frozen=True)
class Population:
    dsn: str
    models: Path
    decided_scores: dict[str, dict[str, float]]  # interview -> scores of the version decided on
    ratings: dict[str, float]


def _model_file(directory: Path) -> Path:
    base = load_competency_model(ROOT / "competency-models" / "software-engineer.yaml")
    template = base.competencies[0]
    data = base.model_dump(mode="json")
    data.update(
        id="test-role",
        version="1.0",
        competencies=[
            template.model_copy(update={"id": c, "weight": 20.0}).model_dump(mode="json") for c in COMPETENCIES
        ],
        questions=[{**q, "competencies": [COMPETENCIES[i % 5]]} for i, q in enumerate(data["questions"])],
    )
    path = directory / "test-role.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _profile(interview: str, job: str, version: int, scores: dict[str, float], at: datetime) -> ProfileReady:
    data: dict[str, Any] = copy.deepcopy(example("profile-ready"))
    data.update(
        event_id=str(deterministic_event_id("cal-test", interview, "profile", str(version))),
        profile_id=str(deterministic_event_id("cal-test", interview, "profile-id", str(version))),
        interview_id=interview,
        profile_version=version,
        occurred_at=at.isoformat(),
        label="pending",
        overall=round(sum(scores.values()) / len(scores), 1),
    )
    data["context"]["job"].update(job_id=job, competency_model={"id": "test-role", "version": "1.0"})
    data["context"]["interview_started_at"] = (at - timedelta(hours=1)).isoformat()
    data["dimensions"] = [
        {"dimension": d, "kind": "behaviour" if d in BEHAVIOURS else "competency", "score": s, "confidence": 0.8,
         "evidence": []}
        for d, s in scores.items()
    ]  # fmt: skip
    return ProfileReady.model_validate(data)


def _decision(interview: str, at: datetime) -> ReviewDecision:
    return ReviewDecision(
        event_id=deterministic_event_id("cal-test", interview, "decision"),
        occurred_at=at,
        tenant_id=TENANT,
        interview_id=interview,
        decision_id=f"rd-{interview}",
        profile_version=1,
        suggested_label="pending",
        action="confirm",
        reviewer_id="rev-1",
        reviewer_role="recruiter",
        decided_at=at,
    )


def _outcome(interview: str, job: str, rating: float, at: datetime) -> CandidateOutcome:
    return CandidateOutcome.model_validate(
        {
            "event_id": str(deterministic_event_id("cal-test", interview, "outcome")),
            "event_type": "candidate-outcome",
            "occurred_at": at.isoformat(),
            "tenant_id": TENANT,
            "interview_id": interview,
            "candidate_ref": f"cand_{interview.lower()}",
            "job_id": job,
            "stage": "hired",
            "ratings": [{"measure": "performance", "value": rating, "scale_min": 1, "scale_max": 5, "at_months": 6,
                         "rated_at": at.isoformat()}],
            "recorded_at": at.isoformat(),
        }
    )  # fmt: skip


def _store(warehouse: DirectWarehouse, events: list[EventBase]) -> None:
    """Through the sink's own row mapping into the real tables."""
    by_table: dict[str, list[list[Any]]] = {}
    for event in events:
        for row in rows_for(event):
            by_table.setdefault(row.table, []).append(row.ordered())
    for table, rows in by_table.items():
        warehouse.insert(f"sightline.{table}", rows, COLUMNS[table], dedup_token=f"cal-test-{table}")


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Population:
    rng = np.random.default_rng(7)
    root = tmp_path_factory.mktemp("calibrate")
    models = root / "models"
    models.mkdir()
    _model_file(models)
    events: list[EventBase] = []
    decided: dict[str, dict[str, float]] = {}
    ratings: dict[str, float] = {}
    for i in range(N + N_SMALL):
        interview, job = (f"IV-{i:04d}", JOB) if i < N else (f"IV-S{i:03d}", SMALL_JOB)
        at = DAY0 + timedelta(days=i % 200, hours=i % 7)
        scores = {d: round(float(rng.uniform(20, 90)), 1) for d in (*COMPETENCIES, *BEHAVIOURS)}
        z = {d: (scores[d] - 55) / 20 for d in DRIVERS}
        rating = float(np.clip(3 + 0.6 * sum(z.values()) + rng.normal(0, 0.6), 1, 5))
        events += [_profile(interview, job, 1, scores, at), _decision(interview, at + timedelta(hours=20))]
        if i % 2:  # re-scored after the decision with unrelated scores: must not be learnt from
            rescored = {d: round(float(rng.uniform(20, 90)), 1) for d in scores}
            events.append(_profile(interview, job, 2, rescored, at + timedelta(days=3)))
        events.append(_outcome(interview, job, round(rating, 2), at + timedelta(days=190)))
        decided[interview], ratings[interview] = scores, round(rating, 2)
    settings = ClickHouseSettings(dsn=f"chdb://{root / 'ch'}")
    warehouse = DirectWarehouse(settings)
    migrate(warehouse)
    _store(warehouse, events)
    warehouse.close()
    return Population(settings.dsn, models, decided, ratings)


def _cli(population: Population, *args: str, **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SIGHTLINE_CLICKHOUSE__DSN": population.dsn, **env_extra}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "calibrate", "--tenant", TENANT, "--models-dir", str(population.models),
         *args],
        env=env, capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip


def _snapshot(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(directory.iterdir())}


def test_the_two_driving_dimensions_rank_highest_and_the_others_stay_near_zero(population: Population) -> None:
    warehouse = DirectWarehouse(ClickHouseSettings(dsn=population.dsn))
    try:
        observations = load_observations(warehouse, TENANT, JOB)
    finally:
        warehouse.close()
    assert len(observations) == N
    result = calibrate(observations, CompetencyModelLibrary.from_directory(population.models), TENANT, JOB)
    assert result.outcome == "performance@6" and result.n == N
    by_dimension = {c.dimension: c for c in result.correlations}
    assert {c.dimension for c in result.correlations[:2]} == DRIVERS
    for dimension, c in by_dimension.items():
        # The scores of the version decided on (version 2 of half of them would weaken every rho).
        interviews = [i for i in population.decided_scores if not i.startswith("IV-S")]
        expected = spearmanr([population.decided_scores[i][dimension] for i in interviews],
                             [population.ratings[i] for i in interviews]).statistic  # fmt: skip
        assert c.rho == pytest.approx(expected, abs=1e-4) and c.n == N
        assert c.low <= c.rho <= c.high
        if dimension in DRIVERS:
            assert c.rho > 0.4 and c.low > 0.25
        else:
            assert abs(c.rho) < 0.2, dimension  # near zero (one in twenty intervals misses zero by chance)
    proposed = result.proposal.proposed
    assert sum(proposed.values()) == pytest.approx(1.0) and min(proposed.values()) >= 0
    assert set(sorted(proposed, key=lambda d: -proposed[d])[:2]) == DRIVERS
    assert all(proposed[d] < 0.1 for d in proposed if d not in DRIVERS), proposed
    assert result.proposal.evidence_share == pytest.approx(N / (N + 100))
    assert set(proposed) == set(COMPETENCIES)  # behaviour dimensions are reported, not weighted


def test_below_the_minimum_sample_it_refuses_and_changes_nothing(population: Population) -> None:
    before = _snapshot(population.models)
    result = _cli(population, "--job", SMALL_JOB, "--apply")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"only {N_SMALL} reviewed interview(s) of job {SMALL_JOB}" in result.stderr
    assert "needs at least 30" in result.stderr
    assert _snapshot(population.models) == before


async def test_without_apply_nothing_changes_and_apply_writes_a_new_version_and_asks_for_rescoring(
    population: Population, stack_settings: Settings
) -> None:
    kafka = isolated(stack_settings).kafka
    await create_topics(kafka, [topic_for(RescoreRequested)])
    broker = {
        "SIGHTLINE_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "SIGHTLINE_KAFKA__TOPIC_PREFIX": kafka.topic_prefix,
    }
    before = _snapshot(population.models)
    dry = _cli(population, "--job", JOB)
    assert dry.returncode == 0, dry.stderr
    assert f"{N} reviewed interviews with the outcome performance@6" in dry.stdout
    assert "charlie" in dry.stdout and "no reliable relation (the interval includes zero)" in dry.stdout
    assert "Nothing was changed" in dry.stdout
    assert _snapshot(population.models) == before

    requests = await read_all(kafka, topic_for(RescoreRequested), quiet_s=0.5)
    assert requests == []  # nothing asked either
    applied = _cli(population, "--job", JOB, "--apply", **broker)
    assert applied.returncode == 0, applied.stderr
    after = _snapshot(population.models)
    assert {k: v for k, v in after.items() if k in before} == before  # the old version is kept as it was
    (new_name,) = set(after) - set(before)
    library = CompetencyModelLibrary.from_directory(population.models)
    versions = sorted(m.version for m in library if m.id == "test-role")
    assert versions[0] == "1.0" and versions[1].startswith("1.0+cal.") and len(versions) == 2
    model = library.get("test-role", versions[1])
    assert new_name == f"test-role-{versions[1]}.yaml" and new_name in applied.stdout
    provenance = model.provenance
    assert provenance is not None
    assert (provenance.n, provenance.outcome, provenance.job_id, provenance.based_on_version) == (
        N, "performance@6", JOB, "1.0",
    )  # fmt: skip
    assert provenance.decided_from.startswith("2026-01-") and "Spearman" in provenance.method
    weights = {c.id: c.weight for c in model.competencies}
    assert sum(weights.values()) == pytest.approx(100, abs=0.05)
    assert set(sorted(weights, key=lambda d: -weights[d])[:2]) == DRIVERS
    assert json.loads(json.dumps(provenance.correlations))["charlie"] > 0.4
    # Fusion is asked to score every interview of the job again with the new version (new profile versions).
    records = await read_topic(kafka, topic_for(RescoreRequested), lambda r: len(r) >= N)
    events = [decode_as(RescoreRequested, r.value) for r in records]
    assert sorted(e.interview_id for e in events) == sorted(
        i for i in population.decided_scores if i.startswith("IV-0")
    )
    assert {(e.competency_model.id, e.competency_model.version) for e in events} == {("test-role", versions[1])}
    assert f"Asked fusion to score {N} interview(s)" in applied.stdout
