"""Decoder levers of the frames stage, each against today's decoding (`services.frames.decode.decode_media`) on the
same file: CPU-seconds per media-minute of the video path, and whether the SAMPLED FRAMES stay the same.

Levers:
* decoder threads: ``thread_type`` AUTO (today: frame and slice threads, one per core) against one thread and
  against slice threads only;
* ``skip_frame = "NONREF"``: the decoder drops frames no other frame refers to (the B-frames of the generator's
  and many recorders' H.264), which are most of the frames a 10-fps sampler of 30-fps video throws away. Pulled
  for every packet it also drops non-reference frames the sampler wanted, and the next frame is kept instead;
  ``skip_unwanted``: pulled only for a packet whose frame the sampler is sure to reject, because a frame
  demuxed earlier lies in the same sampling slot at an earlier time (whatever the decode order, that frame
  or one before it takes the slot), so the kept frames stay today's;
* scaling in the decoder's output path: ``frame.reformat(width, height, format="bgr24")`` with swscale's bilinear
  or area filter, instead of converting at full size and shrinking with ``cv2.resize(INTER_AREA)``
  (`services.frames.geometry.prepare`).

A lever is acceptable without an accuracy study only if every sampled frame has today's timestamp and its pixels
differ by rounding only (``max_abs_diff`` of a few levels); ``changed_frames`` counts the frames whose timestamp
or pixels differ beyond that.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from services.frames.decode import VideoFrame, decode_media
from services.frames.geometry import DEFAULT_MAX_SIDE, Image, fit_size, prepare
from services.frames.sampling import DEFAULT_SAMPLE_FPS, EARLY_TOLERANCE, FrameSampler

#: Pixel differences up to this many levels (of 255) are rounding: two correct area filters over the same
#: source differ by a level or two.
ROUNDING_LEVELS = 2


@dataclass(frozen=True)
class Lever:
    name: str
    thread_type: str = "AUTO"
    thread_count: int = 0  # 0: one per core
    skip_nonref: bool = False
    skip_unwanted: bool = False
    scale: str | None = None  # swscale interpolation in the decoder's output path; None: cv2 after, as today


LEVERS = (
    Lever("harness"),  # no lever pulled: must match today's frames exactly, or the comparisons mean nothing
    Lever("threads_1", thread_type="NONE", thread_count=1),
    Lever("threads_slice", thread_type="SLICE"),
    Lever("skip_nonref", skip_nonref=True),
    Lever("skip_unwanted", skip_unwanted=True),
    Lever("reformat_bilinear", scale="BILINEAR"),
    Lever("reformat_area", scale="AREA"),
    Lever("skip_nonref_reformat_area", skip_nonref=True, scale="AREA"),
)


def today(path: Path, seconds: float) -> Iterator[VideoFrame]:
    """The frames stage's sampled frames of the first ``seconds`` (video only)."""
    with path.open("rb") as fh:
        for item in decode_media(fh, video=True, audio=False):
            if isinstance(item, VideoFrame):
                if item.pts_s >= seconds:
                    return
                yield item


def with_lever(path: Path, seconds: float, lever: Lever) -> Iterator[VideoFrame]:
    """decode_media's video path (unrotated recordings, read through a Python file object as the stage reads its
    ranged reader) with one lever pulled."""
    with path.open("rb") as fh, av.open(fh, mode="r") as container:
        stream = container.streams.video[0]
        stream.thread_type = lever.thread_type
        if lever.thread_count:
            stream.codec_context.thread_count = lever.thread_count
        if lever.skip_nonref:
            stream.codec_context.skip_frame = "NONREF"
        origin = container.start_time / 1_000_000 if container.start_time is not None else 0.0
        size = fit_size(stream.codec_context.width, stream.codec_context.height, DEFAULT_MAX_SIDE)
        sampler = FrameSampler(DEFAULT_SAMPLE_FPS)
        earliest_in_slot: dict[int, float] = {}
        for packet in container.demux(stream):
            if lever.skip_unwanted and packet.pts is not None:
                at = float(packet.pts * packet.time_base) - origin
                slot = math.floor(at * DEFAULT_SAMPLE_FPS + EARLY_TOLERANCE)
                unwanted = earliest_in_slot.get(slot, math.inf) < at
                earliest_in_slot[slot] = min(earliest_in_slot.get(slot, math.inf), at)
                # Only non-reference frames are ever skipped: reference frames decode whatever this says.
                stream.codec_context.skip_frame = "NONREF" if unwanted else "DEFAULT"
            for frame in packet.decode():
                if frame.time is None:
                    continue
                pts_s = float(frame.time) - origin
                if pts_s >= seconds:
                    return
                if not sampler.accept(pts_s):
                    continue
                if lever.scale is None:
                    image: Image = prepare(np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8), 0)
                else:
                    scaled = frame.reformat(size[0], size[1], format="bgr24", interpolation=lever.scale)
                    image = np.asarray(scaled.to_ndarray(), dtype=np.uint8)
                yield VideoFrame(max(0.0, pts_s), image)


def _timed(frames: Iterator[VideoFrame]) -> tuple[list[VideoFrame], float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    kept = list(frames)
    return kept, time.process_time() - cpu, time.perf_counter() - wall


def compare(reference: list[VideoFrame], other: list[VideoFrame]) -> dict[str, Any]:
    """How the lever's sampled frames differ from today's: timestamps (a frame kept at another time is moved),
    then the pixels of the frames kept at the same time."""
    times = np.array([f.pts_s for f in other])
    by_time = {round(f.pts_s, 4): f for f in other}
    moved = shift = 0.0
    worst, beyond_rounding, pixels, pixels_beyond = 0, 0, 0, 0
    mean_diffs = []
    for f in reference:
        match = by_time.get(round(f.pts_s, 4))
        if match is None:
            moved += 1
            if times.size:
                shift = max(shift, float(np.min(np.abs(times - f.pts_s))))
            continue
        if match.image.shape != f.image.shape:
            beyond_rounding += 1
            continue
        diff = np.abs(match.image.astype(np.int16) - f.image.astype(np.int16))
        worst = max(worst, int(diff.max()))
        mean_diffs.append(float(diff.mean()))
        pixels += diff.size
        pixels_beyond += int(np.count_nonzero(diff > ROUNDING_LEVELS))
        beyond_rounding += int(diff.max() > ROUNDING_LEVELS)
    changed = int(moved) + beyond_rounding + abs(len(other) - len(reference))
    return {
        "frames": len(other),
        "frames_today": len(reference),
        "moved_frames": int(moved),
        "max_time_shift_ms": round(shift * 1000, 1),
        "max_abs_diff": worst,
        "mean_abs_diff": round(float(np.mean(mean_diffs)), 3) if mean_diffs else None,
        "share_of_values_beyond_rounding": round(pixels_beyond / pixels, 4) if pixels else None,
        "changed_frames": changed,
        "identical": changed == 0,
    }


def measure(path: Path, seconds: float, rounds: int = 2) -> dict[str, Any]:
    """Today's decoding and every lever on the first ``seconds`` of ``path``: CPU per media-minute (the least of
    ``rounds`` rounds taking turns, as the machine's speed drifts), and how the sampled frames differ."""
    list(today(path, min(seconds, 2.0)))  # imports, codec and allocator set-up outside the clock
    minutes = seconds / 60
    cpu: dict[str, list[float]] = {"today": []}
    reference: list[VideoFrame] = []
    sameness: dict[str, dict[str, Any]] = {}
    for _ in range(rounds):
        reference, cpu_s, _wall = _timed(today(path, seconds))
        cpu["today"].append(cpu_s)
        for lever in LEVERS:
            frames, cpu_l, _wall = _timed(with_lever(path, seconds, lever))
            cpu.setdefault(lever.name, []).append(cpu_l)
            sameness[lever.name] = compare(reference, frames)
    base = min(cpu["today"])
    result: dict[str, Any] = {"media_s": seconds, "today": {"cpu_s_per_media_minute": round(base / minutes, 2)}}
    for lever in LEVERS:
        best = min(cpu[lever.name])
        result[lever.name] = {
            "cpu_s_per_media_minute": round(best / minutes, 2),
            "cpu_vs_today": round(best / base, 2) if base > 0 else None,
            **sameness[lever.name],
        }
    return result


if __name__ == "__main__":
    print(json.dumps(measure(Path(sys.argv[1]), float(sys.argv[2])), indent=2))
