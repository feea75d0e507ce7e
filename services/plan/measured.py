"""Costs per interview-minute, measured by the pipeline benchmark (`make bench PARTS=pipeline`,
tests/bench/bench_pipeline.py): every stage as its own process on one machine, the interviews published
together, CPU of each stage process counted from the first event to the last profile (model loading
excluded), peak resident memory per process, and what the run's interviews left on Kafka, in the object store
and in ClickHouse (tests/bench/footprint.py). Replace these figures with your own run's JSON on your hardware.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class MeasuredCosts:
    core_s_per_minute: Mapping[str, float]  # CPU seconds per interview-minute, per stage
    peak_rss_mib: Mapping[str, float]  # one replica's peak resident memory
    replica_cores: Mapping[str, float]  # cores a replica requests (the chart's defaults)
    latency_s_per_minute: float  # event to profile for one interview, per interview-minute
    kafka_records_per_minute: float
    kafka_bytes_per_minute: float
    s3_media_bytes_per_minute: float  # the recordings (raw bucket): follows their bitrate
    s3_derived_bytes_per_minute: float  # frames, audio, timelines, reports, data keys
    clickhouse_rows_per_minute: float
    clickhouse_bytes_per_row: float
    source: str


MEASURED = MeasuredCosts(
    # CPU: the upper end of three pipeline runs on a quiet 2-core machine (docs/operations.md, "Measured
    # per-replica throughput"). The run below, on the same machine shared with five other test runs (load
    # average 18-34), measured speech 7.4, vision 6.3, frames 3.0, sink 3.0, fusion 1.7, ingest 0.9: contention
    # and idle polling over a 9.5-minute wall inflate CPU time, most for the idle stages.
    core_s_per_minute=MappingProxyType(
        {"ingest": 0.1, "frames": 1.8, "vision": 3.6, "speech": 5.3, "fusion": 0.3, "sink": 0.5}
    ),
    # The rest: `make bench PARTS=pipeline`, 2026-12-07, 2 generated interviews of 2 minutes (640x480 at 15
    # frames/s, sampled at 10), bench-results/bench-pipeline.json: peak RSS per stage process (VmHWM) ...
    peak_rss_mib=MappingProxyType(
        {"ingest": 208.0, "frames": 246.0, "vision": 1757.0, "speech": 1517.0, "fusion": 215.0, "sink": 587.0}
    ),
    replica_cores=MappingProxyType(  # deploy/helm/sightline/values.yaml, services.*.resources.requests.cpu
        {"ingest": 0.25, "frames": 1.0, "vision": 2.0, "speech": 2.0, "fusion": 0.25, "sink": 0.25}
    ),
    # event to profile of the quiet runs (31 s for two 2-minute interviews at once); this run: 286 s per minute
    latency_s_per_minute=15.5,
    # ... 590 records and 983 KB over 8 topics (stage-status 444 records, vision-features 459 KB) ...
    kafka_records_per_minute=147.5,
    kafka_bytes_per_minute=245_739.0,
    # ... 6.25 MB of recordings (synthetic, about 0.2 Mbit/s), 101 MB of frame chunks, audio and timelines, 0.77 MB
    # of reports ...
    s3_media_bytes_per_minute=1_563_639.0,
    s3_derived_bytes_per_minute=25_476_930.0,
    # ... 774 rows (stage_status 444, behaviour_timeline 240, vision_chunks 60), 282 bytes per row on disk.
    clickhouse_rows_per_minute=193.5,
    clickhouse_bytes_per_row=282.2,
    source=(
        "CPU from quiet runs of `make bench PARTS=pipeline` (docs/operations.md); memory, Kafka, S3 and ClickHouse"
        " from the run of 2026-12-07 on a shared 2-core machine (services/plan/measured.py)"
    ),
)
