"""End to end on the media interview platforms send: one long interview at 720p30 and one at 1080p30 (H.264,
48 kHz AAC; `tests.bench.realistic_media`), each alone on the stack, all six stages as processes
(`tests.bench.stage_processes`), with the physical floor of each heavy stage measured in the same run
(`tests.bench.floors`) and the frames stage's decoder levers (`tests.bench.decoder_levers`).

Per resolution: times real time, event-to-profile latency, per stage CPU-seconds per interview-minute next to
its floor and their ratio, peak RSS per stage. Optionally the same interview at a second, longer length, to
check that every stage's peak RSS stays flat as interviews grow.

Environment (defaults are the issue's scenario):
``SIGHTLINE_BENCH_REALISTIC_MINUTES`` (15), ``_RESOLUTIONS`` (``720p,1080p``), ``_SEGMENT_MINUTES`` (5: the
distinct rendered part that is looped to the length), ``_FLOOR_SECONDS`` (60: media the vision and speech floors
and the decoder levers run on; the ffmpeg floor decodes the whole file), ``_LEVERS`` (1; 0 skips the decoder
levers), ``_MEMORY_MINUTES`` (0; e.g. 60 runs that length too and reports the peak RSS ratio per stage).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.table import Table

from services.common.console import make_console
from services.common.settings import Settings
from tests.bench import decoder_levers, floors, realistic_media
from tests.bench.stage_processes import busy_seconds, limits, run_interviews, spans

MINUTES = float(os.environ.get("SIGHTLINE_BENCH_REALISTIC_MINUTES", "15"))
RESOLUTIONS = [r for r in os.environ.get("SIGHTLINE_BENCH_REALISTIC_RESOLUTIONS", "720p,1080p").split(",") if r]
SEGMENT_MINUTES = float(os.environ.get("SIGHTLINE_BENCH_REALISTIC_SEGMENT_MINUTES", "5"))
FLOOR_SECONDS = float(os.environ.get("SIGHTLINE_BENCH_REALISTIC_FLOOR_SECONDS", "60"))
LEVERS = os.environ.get("SIGHTLINE_BENCH_REALISTIC_LEVERS", "1") != "0"
MEMORY_MINUTES = float(os.environ.get("SIGHTLINE_BENCH_REALISTIC_MEMORY_MINUTES", "0"))
#: Times real time the issue asks for, per resolution.
TARGETS = {"720p": 10.0, "1080p": 6.0}
HEADLINE = tuple(
    f"{r}.{key}" for r in RESOLUTIONS for key in ("times_real_time", "event_to_profile_s", "limited_by")
) + tuple(f"{r}.rss_ratio_long_vs_short.max" for r in RESOLUTIONS)


def device_env(device: str) -> dict[str, str]:
    """Where vision and speech run: pinned, so a CPU run on a machine with a GPU still measures the CPU."""
    return {"SIGHTLINE_VISION__DEVICE": device, "SIGHTLINE_SPEECH__DEVICE": device}


def stage_floors(media: Path, env: dict[str, str]) -> dict[str, Any]:
    return {
        "frames": floors.ffmpeg_floor(media),
        "vision": floors.child_floor("vision", media, FLOOR_SECONDS, env),
        "speech": floors.child_floor("speech", media, FLOOR_SECONDS, env),
    }


def floor_table(
    cpu_per_minute: dict[str, float], measured: dict[str, Any], peak_rss_mb: dict[str, float | None]
) -> list[dict[str, Any]]:
    """stage | CPU-s per interview-minute | floor | ratio | peak RSS; the frames floor is ffmpeg decoding and
    sampling."""
    floor_of = {
        "frames": measured["frames"]["decode_sampled"]["cpu_s_per_media_minute"],
        "vision": measured["vision"]["cpu_s_per_media_minute"],
        "speech": measured["speech"]["cpu_s_per_media_minute"],
    }
    rows = []
    for stage, cpu in cpu_per_minute.items():
        floor = floor_of.get(stage)
        ratio = round(cpu / floor, 2) if floor else None
        rows.append(
            {
                "stage": stage,
                "cpu_s_per_interview_minute": cpu,
                "floor": floor,
                "ratio": ratio,
                "peak_rss_mb": peak_rss_mb.get(stage),
            }
        )
    return rows


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    table = Table("stage", "CPU-s per interview-minute", "floor", "ratio", "peak RSS MiB", title=title)
    for row in rows:
        floor = "—" if row["floor"] is None else f"{row['floor']:.2f}"
        ratio = "—" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        rss = "—" if row["peak_rss_mb"] is None else f"{row['peak_rss_mb']:.0f}"
        table.add_row(row["stage"], f"{row['cpu_s_per_interview_minute']:.2f}", floor, ratio, rss)
    make_console(stderr=True).print(table)


async def one_interview(stack: Settings, resolution: str, minutes: float, device: str) -> tuple[dict[str, Any], Path]:
    """One interview of ``minutes`` at ``resolution`` alone through the stages: what it cost, and its file."""
    interview = realistic_media.long_interview(resolution, minutes, SEGMENT_MINUTES)
    event = realistic_media.event(interview, f"realistic-{resolution}-{minutes:g}min")
    done = await run_interviews(stack, [event], [realistic_media.CACHE_DIR], device_env(device))
    if len(done.profiles) != 1:
        raise RuntimeError(f"no profile for the {resolution} interview: see the stage logs under {stack.stack.home}")
    interview_minutes = (event.interview_ended_at - event.interview_started_at).total_seconds() / 60
    measured = {
        "media": {
            "file": interview.media_path.name,
            "minutes": round(interview_minutes, 2),
            "segment_minutes": min(SEGMENT_MINUTES, minutes),
            "size_mb": round(interview.media_path.stat().st_size / 1e6, 1),
        },
        "times_real_time": round(interview_minutes * 60 / done.wall_s, 2),
        "event_to_profile_s": next(iter(done.latencies_s.values())),
        "cpu_s_per_interview_minute": {k: round(v / interview_minutes, 2) for k, v in done.cpu_s.items()},
        "peak_rss_mb": done.peak_rss_mb,
        "stage_busy_s": busy_seconds(done.statuses),
        "stage_span_s": spans(done.statuses, done.published),
        **limits(done.cpu_s, done.wall_s),
    }
    return measured, interview.media_path


def rss_ratio(long: dict[str, float | None], short: dict[str, float | None]) -> dict[str, float | None]:
    ratios = {k: round(v / s, 2) if v and (s := short.get(k)) else None for k, v in long.items()}
    known = [r for r in ratios.values() if r is not None]
    return {**ratios, "max": max(known, default=None)}


async def run_scenarios(stack: Settings, device: str) -> dict[str, Any]:
    env = {**os.environ, **device_env(device)}
    results: dict[str, Any] = {
        "device": device,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "cores": os.cpu_count(),
    }
    for resolution in RESOLUTIONS:
        run, media = await one_interview(stack, resolution, MINUTES, device)
        measured = stage_floors(media, env)
        run["floors"] = measured
        run["table"] = floor_table(run["cpu_s_per_interview_minute"], measured, run["peak_rss_mb"])
        run["target_times_real_time"] = TARGETS.get(resolution)
        print_table(f"{resolution}30, {MINUTES:g} min, {device}: CPU-s per interview-minute vs floor", run["table"])
        if LEVERS:
            run["decoder_levers"] = decoder_levers.measure(media, FLOOR_SECONDS)
        if MEMORY_MINUTES:
            long, _ = await one_interview(stack, resolution, MEMORY_MINUTES, device)
            run[f"long_{MEMORY_MINUTES:g}min"] = long
            run["rss_ratio_long_vs_short"] = rss_ratio(long["peak_rss_mb"], run["peak_rss_mb"])
        results[resolution] = run
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


async def run(stack: Settings) -> dict[str, Any]:
    return await run_scenarios(stack, "cpu")
