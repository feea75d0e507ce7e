"""A short fault campaign (the seeded schedule of `make chaos`, cut down): two short interviews through every
stage as separate processes, two replicas of ingest and frames, while a replica is SIGKILLed, another hangs
past the session timeout and the process owning the embedded database is killed. The checked history must
hold: one current profile per interview from complete parts (or with the missing parts named), no duplicate
row in any table read without FINAL, every consumed offset processed, dead-lettered or refused.

The broker and the object store are shared with the other tests here: their faults run in `make chaos`.
"""

from __future__ import annotations

from pathlib import Path

from services.common.settings import Settings
from tests.chaos.campaign import Config, run_on
from tests.chaos.faults import Kind
from tests.chaos.fleet import STAGES
from tests.integration.kafka_helpers import pipeline_settings

CONFIG = Config(
    seed=22,
    interviews=2,
    replicas=1,
    replicas_of=(("ingest", 2), ("frames", 2)),  # more replicas of the model stages would only add start-up time
    faults=3,
    fault_window_s=(2.0, 15.0),
    timeout_s=600.0,
    tag="chaos-short",
    kinds=(Kind.KILL, Kind.HANG, Kind.DB_OWNER),
)


def test_short_campaign_leaves_a_clean_history(stack_settings: Settings, tmp_path: Path) -> None:
    settings = pipeline_settings(stack_settings, tmp_path)
    result = run_on(CONFIG, settings, say=lambda message: print(message, flush=True))

    print({k: result[k] for k in ("faults_by_kind", "interviews", "duplicate_rows", "recovery", "rebalances")})
    print("offsets:", result["offsets"]["outcomes"])
    assert [f["kind"] for f in result["faults"]] and len(result["faults"]) == CONFIG.faults
    assert set(result["faults_by_kind"]) == {k.value for k in CONFIG.kinds}
    interviews = result["interviews"]
    assert interviews["lost"] == [] and interviews["not_one_current"] == [], interviews
    assert interviews["complete"] + interviews["partial_named"] == CONFIG.interviews, interviews
    assert interviews["partial_silent"] == [], interviews
    assert result["duplicates"] and result["duplicate_rows"] == 0, {t: n for t, n in result["duplicates"].items() if n}
    outcomes = result["offsets"]["outcomes"]
    assert outcomes.get("processed", 0) > 0 and "unaccounted" not in outcomes, result["offsets"]
    # Every replica's join counts as a rebalance, and the hung replica's eviction and return add more.
    rebalances = result["rebalances"]["by_consumer"]
    assert all(rebalances.get(stage, 0) >= CONFIG.replicas_for(stage) for stage in STAGES), rebalances
    assert result["passed"], result["checks"]
