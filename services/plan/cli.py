"""`sightline plan`: the capacity plan of a peak, as a table (or JSON)."""

from __future__ import annotations

import json
from dataclasses import asdict

import click
from rich.table import Table

from services.common.console import make_console

from .calculator import Plan, plan


@click.command("plan")
@click.option("--interviews", type=click.IntRange(min=1), required=True, help="Interviews in the peak.")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), required=True, help="Minutes each.")
@click.option(
    "--hours", type=click.FloatRange(min=0), required=True, help="Hours over which they arrive (0: all at once)."
)
@click.option(
    "--drain-minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Time after the last arrival by which every profile should be out.",
)
@click.option(
    "--utilisation",
    type=click.FloatRange(min=0, max=1, min_open=True),
    default=0.7,
    show_default=True,
    help="Share of each replica's cores the plan uses (the rest absorbs retries and rebalances).",
)
@click.option(
    "--media-mb-per-minute",
    type=click.FloatRange(min=0),
    default=None,
    help="Size of a minute of your recordings in MB (default: the measured samples'); 1 Mbit/s is 7.5 MB/min.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan_cmd(
    interviews: int,
    minutes: float,
    hours: float,
    drain_minutes: float,
    utilisation: float,
    media_mb_per_minute: float | None,
    as_json: bool,
) -> None:
    """Replicas, cores, memory and partitions per stage, Kafka, S3 and ClickHouse volumes, and when the last
    profile arrives, for INTERVIEWS recordings of MINUTES arriving over HOURS (CPU stages, measured costs)."""
    result = plan(
        interviews,
        minutes,
        hours,
        drain_minutes=drain_minutes,
        utilisation=utilisation,
        media_mb_per_minute=media_mb_per_minute,
    )
    if as_json:
        click.echo(json.dumps({**asdict(result), "cores": result.cores, "memory_mib": result.memory_mib}, indent=2))
        return
    print_plan(result)


def print_plan(result: Plan) -> None:
    console = make_console()
    arrival = f"over {result.hours:g} h" if result.hours else "at once"
    console.print(
        f"{result.interviews:,} interviews x {result.minutes:g} min arriving {arrival}, done {result.drain_minutes:g}"
        f" min after the last arrival, at {result.utilisation:.0%} utilisation"
    )
    table = Table(
        "stage", "core-s / interview-min", "cores needed", "replicas x cores", "partitions (now -> needed)",
        "memory / replica", "memory total", "busy until",
    )  # fmt: skip
    for s in result.stages:
        raised = f" -> {s.partitions_needed}" if s.partitions_needed > s.partitions_now else ""
        table.add_row(
            s.stage,
            f"{s.core_s_per_minute:g}",
            f"{s.cores_needed:.1f}",
            f"{s.replicas} x {s.cores_per_replica:g}",
            f"{s.partitions_now}{raised}",
            f"{s.memory_mib_per_replica} MiB",
            f"{s.memory_mib / 1024:.1f} GiB",
            f"{s.busy_hours:.2f} h",
        )
    table.add_row("total", "", "", f"{result.cores:g} cores", "", "", f"{result.memory_mib / 1024:.1f} GiB", "")
    console.print(table)
    console.print(
        f"GPUs: none planned (CPU costs; no GPU run has been measured).\n"
        f"Kafka: {result.kafka_records:,} records, {result.kafka_bytes / 1e9:.2f} GB written, "
        f"{result.kafka_mb_per_s:.2f} MB/s on average while the pipeline works (before replication).\n"
        f"S3: {result.s3_bytes / 1e9:.1f} GB (media, frames, reports; before versioning copies).\n"
        f"ClickHouse: {result.clickhouse_rows:,} rows, about {result.clickhouse_bytes / 1e9:.2f} GB compressed.\n"
        f"Last profile: {result.last_profile_hours:.2f} h after the first arrival.\n"
        f"Costs: {result.source}"
    )
