"""`sightline plan`: the arithmetic on known costs, its monotonicity, and the two peak scenarios of
docs/operations.md on the measured costs."""

from __future__ import annotations

import json
from dataclasses import replace
from types import MappingProxyType

import pytest
from click.testing import CliRunner

from services.cli import cli
from services.plan.calculator import input_partitions, plan
from services.plan.measured import MEASURED, MeasuredCosts

STAGES = ("ingest", "frames", "vision", "speech", "fusion", "sink")
# Round figures whose plan can be worked out by hand.
ROUND = MeasuredCosts(
    core_s_per_minute=MappingProxyType(dict(zip(STAGES, (0.1, 2.0, 4.0, 6.0, 0.5, 0.5), strict=True))),
    peak_rss_mib=MappingProxyType(dict.fromkeys(STAGES, 1000.0)),
    replica_cores=MappingProxyType(dict(zip(STAGES, (1.0, 1.0, 2.0, 2.0, 1.0, 1.0), strict=True))),
    latency_s_per_minute=12.0,
    kafka_records_per_minute=50.0,
    kafka_bytes_per_minute=100_000.0,
    s3_media_bytes_per_minute=4_000_000.0,
    s3_derived_bytes_per_minute=6_000_000.0,
    clickhouse_rows_per_minute=100.0,
    clickhouse_bytes_per_row=50.0,
    source="round figures",
)


def test_the_plan_of_round_figures_worked_by_hand() -> None:
    # 1,000 interviews x 15 min = 15,000 interview-minutes; 2 h of arrivals + 1 h to drain = 10,800 s at 0.5
    result = plan(1000, 15, 2, drain_minutes=60, utilisation=0.5, costs=ROUND)
    speech = next(s for s in result.stages if s.stage == "speech")
    assert speech.cores_needed == pytest.approx(15_000 * 6.0 / (10_800 * 0.5))  # 16.7 cores
    assert speech.replicas == 9  # of 2 cores
    assert speech.partitions_now == 12 and speech.partitions_needed == 12
    assert speech.memory_mib_per_replica == 1280  # 1000 MiB + 25 %, in whole 64 MiB
    assert speech.busy_hours == pytest.approx(15_000 * 6.0 / (9 * 2 * 0.5) / 3600)  # 2.78 h
    vision = next(s for s in result.stages if s.stage == "vision")
    assert vision.replicas == 6 and vision.partitions_needed == 24
    assert result.last_profile_hours == pytest.approx(speech.busy_hours + 15 * 12.0 / 3600)
    assert (result.kafka_records, result.kafka_bytes) == (750_000, 1_500_000_000)
    assert (result.s3_bytes, result.clickhouse_rows, result.clickhouse_bytes) == (
        150_000_000_000,
        1_500_000,
        75_000_000,
    )
    bigger_media = plan(1000, 15, 2, drain_minutes=60, utilisation=0.5, media_mb_per_minute=9.0, costs=ROUND)
    assert bigger_media.s3_bytes == 15_000 * (9_000_000 + 6_000_000)


def test_a_stage_needing_more_replicas_than_partitions_says_how_many() -> None:
    result = plan(20_000, 30, 0, drain_minutes=60, costs=ROUND)
    speech = next(s for s in result.stages if s.stage == "speech")
    assert speech.replicas > input_partitions("speech") == speech.partitions_now
    assert speech.partitions_needed == speech.replicas


@pytest.mark.parametrize("field", ["interviews", "minutes"])
def test_more_work_never_needs_less(field: str) -> None:
    base = {"interviews": 500, "minutes": 15.0}
    previous = None
    for factor in (1, 2, 3, 5, 8):
        args = {**base, field: base[field] * factor}
        result = plan(int(args["interviews"]), args["minutes"], 6)
        replicas = [s.replicas for s in result.stages]
        totals = (result.cores, result.memory_mib, result.s3_bytes, result.clickhouse_rows, result.kafka_bytes)
        if previous is not None:
            assert all(a >= b for a, b in zip(replicas, previous[0], strict=True))
            assert all(a > b for a, b in zip(totals[2:], previous[1][2:], strict=True))
            assert totals[0] >= previous[1][0] and totals[1] >= previous[1][1]
        previous = (replicas, totals)


def test_more_time_never_needs_more_cores_and_costlier_stages_need_more() -> None:
    cores = [plan(2000, 15, hours).cores for hours in (0, 1, 4, 12, 72)]
    assert cores == sorted(cores, reverse=True) and cores[0] > cores[-1]
    dearer = replace(MEASURED, core_s_per_minute=MappingProxyType({**MEASURED.core_s_per_minute, "vision": 10.0}))
    assert plan(2000, 15, 4, costs=dearer).cores > plan(2000, 15, 4).cores


def test_the_peak_scenarios_on_the_measured_costs() -> None:
    for interviews, minutes, hours, drain in ((5000, 15, 72, 30), (1000, 15, 0, 60)):
        result = plan(interviews, minutes, hours, drain_minutes=drain)
        work = interviews * minutes
        for stage in result.stages:
            capacity = stage.replicas * stage.cores_per_replica * result.utilisation
            assert capacity * (hours * 3600 + drain * 60) >= work * stage.core_s_per_minute  # done in time
            assert stage.partitions_needed >= stage.replicas
        one = minutes * MEASURED.latency_s_per_minute / 3600
        assert hours <= result.last_profile_hours <= hours + drain / 60 + one
        stored = MEASURED.s3_media_bytes_per_minute + MEASURED.s3_derived_bytes_per_minute
        assert result.s3_bytes == round(work * stored)


def test_impossible_peaks_are_refused() -> None:
    for args in ((0, 15, 1), (10, 0, 1), (10, 15, -1)):
        with pytest.raises(ValueError):
            plan(*args)


def test_the_command_prints_the_plan_and_its_json() -> None:
    runner = CliRunner()
    shown = runner.invoke(cli, ["plan", "--interviews", "1000", "--minutes", "15", "--hours", "0"])
    assert shown.exit_code == 0, shown.output
    for stage in STAGES:
        assert stage in shown.output
    assert "Last profile:" in shown.output and MEASURED.source[:20] in shown.output
    as_json = runner.invoke(cli, ["plan", "--interviews", "1000", "--minutes", "15", "--hours", "0", "--json"])
    data = json.loads(as_json.output)
    assert data["interviews"] == 1000 and [s["stage"] for s in data["stages"]] == list(STAGES)
    assert data["cores"] == pytest.approx(plan(1000, 15, 0).cores)
    refused = runner.invoke(cli, ["plan", "--interviews", "0", "--minutes", "15", "--hours", "1"])
    assert refused.exit_code == 2 and "--interviews" in refused.output
