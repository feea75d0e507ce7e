"""What splitting a recording's video into frame ranges costs in decoding, in CPU-seconds (not wall time:
the figures must hold on a loaded machine).

    PYTHONPATH=. .venv/bin/python -m tests.frames_range_overhead recording.mp4 [--range-s 60 --range-s 120]

Decodes the video once sequentially, then range by range as frames replicas do (seek to the keyframe one
sampling period before the range, stop at the first sampled frame after it), and prints the CPU-seconds and
decoded frames of each. Packing and JPEG encoding are left out: a range encodes exactly the frames of a
sequential pass (tests/unit/test_frames_ranges.py proves it), so only decoding differs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from services.frames.chunking import DEFAULT_CHUNK_S, chunk_index, plan_chunks
from services.frames.decode import DecodeStats, VideoFrame, decode_media
from services.frames.ranges import plan_ranges, seek_s
from services.frames.sampling import DEFAULT_SAMPLE_FPS


def _duration(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        return float(container.duration or 0) / 1_000_000


def sequential(path: Path) -> tuple[float, DecodeStats]:
    stats = DecodeStats()
    started = time.process_time()
    with path.open("rb") as fh:
        for _ in decode_media(fh, video=True, audio=False, stats=stats):
            pass
    return time.process_time() - started, stats


def split(path: Path, duration_s: float, range_s: float) -> tuple[float, DecodeStats, int]:
    chunks = plan_chunks(duration_s, DEFAULT_CHUNK_S)
    ranges = plan_ranges(chunks, range_s, DEFAULT_CHUNK_S)
    stats = DecodeStats()
    started = time.process_time()
    for r in ranges:
        with path.open("rb") as fh:
            to = seek_s(r.start_s, DEFAULT_SAMPLE_FPS) or None
            for out in decode_media(fh, video=True, audio=False, stats=stats, seek_s=to):
                if isinstance(out, VideoFrame) and chunk_index(out.pts_s, DEFAULT_CHUNK_S, len(chunks)) >= r.chunk_end:
                    break
    return time.process_time() - started, stats, len(ranges)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recording", type=Path)
    parser.add_argument("--range-s", type=float, action="append", default=None)
    args = parser.parse_args(argv)
    duration = _duration(args.recording)
    base_cpu, base = sequential(args.recording)
    print(f"{args.recording.name}: {duration:.0f} s")
    print(f"sequential: {base_cpu:.2f} CPU-s, {base.video_frames} frames decoded, {base.sampled_frames} sampled")
    for range_s in args.range_s or [60.0, 120.0]:
        cpu, stats, count = split(args.recording, duration, range_s)
        extra = stats.video_frames - base.video_frames
        print(
            f"ranges of {range_s:g} s ({count}): {cpu:.2f} CPU-s ({(cpu / base_cpu - 1) * 100:+.1f} %), "
            f"{stats.video_frames} frames decoded ({extra:+d}, {extra / max(1, count - 1):.0f} per seek), "
            f"{stats.seek_fallbacks} seek fallbacks"
        )


if __name__ == "__main__":
    main()
