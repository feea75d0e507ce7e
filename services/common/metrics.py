"""Prometheus metrics shared by every stage (one registry per process)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
#: Interview completed to profile stored: minutes normally, hours when a peak's backlog drains. 3600 is the
#: SLO's bound (deploy/prometheus/alerts.yml), so it must stay a bucket edge.
PROFILE_LATENCY_BUCKETS = (60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200, 10800, 14400, 28800, 86400)


@dataclass(frozen=True)
class StageMetrics:
    registry: CollectorRegistry
    messages_in: Counter
    messages_out: Counter
    messages_failed: Counter
    messages_retried: Counter
    dead_lettered: Counter
    processing_seconds: Histogram
    in_flight: Gauge
    paused: Gauge
    commits: Counter
    rebalances: Counter
    profile_latency: Histogram


def create_metrics(registry: CollectorRegistry | None = None) -> StageMetrics:
    reg = registry or CollectorRegistry(auto_describe=True)
    return StageMetrics(
        registry=reg,
        messages_in=Counter(
            "sightline_messages_in", "Messages taken from the input topic.", ["stage", "topic"], registry=reg
        ),
        messages_out=Counter(
            "sightline_messages_out", "Messages produced and acknowledged.", ["stage", "topic"], registry=reg
        ),
        messages_failed=Counter(
            "sightline_messages_failed", "Messages that ended in a recorded failure.", ["stage", "code"], registry=reg
        ),
        messages_retried=Counter(
            "sightline_messages_retried", "Retry attempts after a failure.", ["stage"], registry=reg
        ),
        dead_lettered=Counter(
            "sightline_messages_dead_lettered", "Messages sent to the dead-letter topic.", ["stage"], registry=reg
        ),
        processing_seconds=Histogram(
            "sightline_processing_seconds",
            "Time to process one message, outputs acknowledged.",
            ["stage"],
            buckets=_BUCKETS,
            registry=reg,
        ),
        in_flight=Gauge("sightline_in_flight", "Messages being processed now.", ["stage"], registry=reg),
        paused=Gauge(
            "sightline_partitions_paused", "1 while fetching is paused for back-pressure.", ["stage"], registry=reg
        ),
        commits=Counter("sightline_offset_commits", "Offset commits made.", ["stage"], registry=reg),
        rebalances=Counter(
            "sightline_rebalances",
            "Consumer-group rebalances this replica went through (partitions assigned, the first join included).",
            ["stage"],
            registry=reg,
        ),
        profile_latency=Histogram(
            "sightline_profile_latency_seconds",
            "From the interview-completed event to its first profile stored by the sink.",
            buckets=PROFILE_LATENCY_BUCKETS,
            registry=reg,
        ),
    )
