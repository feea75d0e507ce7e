"""The plan as a pure function of the peak and the measured costs (services/plan/measured.py).

``interviews`` recordings of ``minutes`` each arrive evenly over ``hours`` (0: all at once). Each stage gets
the cores that finish its work ``drain_minutes`` after the last arrival at the planned utilisation, rounded
up to whole replicas of the chart's size; a stage never gets more replicas than partitions of its input
topic can feed, so the plan names the partitions it needs. The last profile arrives when the slowest stage
has worked through everything, plus the time one interview takes through the pipeline on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from services.common.contracts import TOPICS

from .measured import MEASURED, MeasuredCosts


@dataclass(frozen=True)
class StagePlan:
    stage: str
    core_s_per_minute: float
    cores_needed: float
    replicas: int
    cores_per_replica: float
    partitions_now: int
    partitions_needed: int
    memory_mib_per_replica: int
    busy_hours: float  # from the first arrival until the stage has done all its work

    @property
    def memory_mib(self) -> int:
        return self.replicas * self.memory_mib_per_replica


@dataclass(frozen=True)
class Plan:
    interviews: int
    minutes: float
    hours: float
    drain_minutes: float
    utilisation: float
    stages: list[StagePlan]
    kafka_records: int
    kafka_bytes: int
    s3_bytes: int
    clickhouse_rows: int
    clickhouse_bytes: int
    last_profile_hours: float
    source: str

    @property
    def interview_minutes(self) -> float:
        return self.interviews * self.minutes

    @property
    def cores(self) -> float:
        return sum(s.replicas * s.cores_per_replica for s in self.stages)

    @property
    def memory_mib(self) -> int:
        return sum(s.memory_mib for s in self.stages)

    @property
    def kafka_mb_per_s(self) -> float:
        """Average write rate over the time the pipeline works (reads are a few times this: several consumers)."""
        return self.kafka_bytes / 1e6 / (self.last_profile_hours * 3600)


def input_partitions(stage: str) -> int:
    """The most partitions among the topics the stage consumes (its replicas beyond that idle)."""
    return max(spec.partitions for spec in TOPICS.values() if stage in spec.consumers)


def plan(
    interviews: int,
    minutes: float,
    hours: float,
    *,
    drain_minutes: float = 30.0,
    utilisation: float = 0.7,
    media_mb_per_minute: float | None = None,
    costs: MeasuredCosts = MEASURED,
) -> Plan:
    """The plan; ``media_mb_per_minute`` replaces the measured recordings' size (their bitrate) when known."""
    if interviews < 1 or minutes <= 0 or hours < 0 or drain_minutes <= 0 or not 0 < utilisation <= 1:
        raise ValueError("need interviews >= 1, minutes > 0, hours >= 0, drain minutes > 0, 0 < utilisation <= 1")
    work_minutes = interviews * minutes
    window_s = hours * 3600 + drain_minutes * 60
    stages = []
    for stage, core_s in costs.core_s_per_minute.items():
        per_replica = costs.replica_cores[stage]
        needed = work_minutes * core_s / (window_s * utilisation)
        replicas = max(1, math.ceil(needed / per_replica))
        partitions = input_partitions(stage)
        busy_s = max(hours * 3600, work_minutes * core_s / (replicas * per_replica * utilisation))
        stages.append(
            StagePlan(
                stage=stage,
                core_s_per_minute=core_s,
                cores_needed=needed,
                replicas=replicas,
                cores_per_replica=per_replica,
                partitions_now=partitions,
                partitions_needed=max(partitions, replicas),
                memory_mib_per_replica=_memory_request(costs.peak_rss_mib[stage]),
                busy_hours=busy_s / 3600,
            )
        )
    one_interview_s = minutes * costs.latency_s_per_minute
    media = costs.s3_media_bytes_per_minute if media_mb_per_minute is None else media_mb_per_minute * 1e6
    rows = round(work_minutes * costs.clickhouse_rows_per_minute)
    return Plan(
        interviews=interviews,
        minutes=minutes,
        hours=hours,
        drain_minutes=drain_minutes,
        utilisation=utilisation,
        stages=stages,
        kafka_records=round(work_minutes * costs.kafka_records_per_minute),
        kafka_bytes=round(work_minutes * costs.kafka_bytes_per_minute),
        s3_bytes=round(work_minutes * (media + costs.s3_derived_bytes_per_minute)),
        clickhouse_rows=rows,
        clickhouse_bytes=round(rows * costs.clickhouse_bytes_per_row),
        last_profile_hours=max(s.busy_hours for s in stages) + one_interview_s / 3600,
        source=costs.source,
    )


#: A replica's memory request over its measured peak: batches vary with the recording (frame size, answer length).
MEMORY_HEADROOM = 1.25


def _memory_request(peak_mib: float) -> int:
    """The peak with headroom, in whole 64 MiB."""
    return math.ceil(peak_mib * MEMORY_HEADROOM / 64) * 64
