"""What splitting a recording's video into frame ranges costs in decoding, in CPU-seconds (not wall time:
the figures must hold on a loaded machine).

    PYTHONPATH=. .venv/bin/python -m tests.frames_range_overhead recording.mp4 [--range-s 60 --range-s 120] [--stage]

Decodes the video once sequentially, then range by range as frames replicas do (seek to the keyframe one
sampling period before the range, stop at the first sampled frame after it), and prints the CPU-seconds and
decoded frames of each, and what the seeks alone cost (open, seek, decode up to the range's start). Packing
and JPEG encoding differ in nothing (a range encodes exactly the frames of a sequential pass,
tests/unit/test_frames_ranges.py proves it); ``--stage`` runs the whole stage both ways to show it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from services.common.contracts import FrameChunkReady, FrameRangeRequested
from services.frames.chunking import DEFAULT_CHUNK_S, chunk_index, plan_chunks
from services.frames.decode import DecodeStats, VideoFrame, decode_media
from services.frames.ranges import plan_ranges, seek_s
from services.frames.sampling import DEFAULT_SAMPLE_FPS
from services.frames.stage import FramesConfig, FramesStage
from tests.frames_media import DirStore, media_event


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


def seek_cost(path: Path, duration_s: float, range_s: float) -> tuple[float, int]:
    """CPU-seconds and frames a split spends beyond a sequential pass: per range after the first, opening the
    file, seeking, and decoding from the keyframe up to the range's start (what a sequential pass had decoded
    already)."""
    chunks = plan_chunks(duration_s, DEFAULT_CHUNK_S)
    ranges = plan_ranges(chunks, range_s, DEFAULT_CHUNK_S)[1:]
    stats = DecodeStats()
    started = time.process_time()
    for r in ranges:
        with path.open("rb") as fh:
            for out in decode_media(fh, video=True, audio=False, stats=stats, seek_s=seek_s(r.start_s, 10.0)):
                if isinstance(out, VideoFrame) and out.pts_s >= r.start_s:
                    break
    return time.process_time() - started, stats.video_frames


def stage_cpu(path: Path, duration_s: float, config: FramesConfig) -> tuple[float, str]:
    """CPU-seconds of the frames stage on the recording's video (a directory as object store): the media event,
    then its ranges one after the other, as replicas would run them."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        event = media_event(path, root, duration_s)
        stage = FramesStage(DirStore(root), "work", config)  # type: ignore[arg-type]
        started = time.process_time()
        outputs = stage.process(event)
        ranges = [e for e in outputs if isinstance(e, FrameRangeRequested)]
        for frame_range in ranges:
            outputs += stage.process_range(frame_range)
        cpu = time.process_time() - started
    chunks = sum(isinstance(e, FrameChunkReady) for e in outputs)
    return cpu, f"{chunks} chunks, {len(ranges)} ranges"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recording", type=Path)
    parser.add_argument("--range-s", type=float, action="append", default=None)
    parser.add_argument("--stage", action="store_true", help="also the whole stage (packs, JPEG, key frames)")
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
        cost, frames = seek_cost(args.recording, duration, range_s)
        print(
            f"  open + seek + decode up to each start: {cost:.2f} CPU-s for {count - 1} seeks "
            f"({cost / max(1, count - 1):.3f} per seek, {frames} frames), "
            f"{cost / base_cpu * 100:.1f} % of a sequential decode"
        )
    if args.stage:
        for label, config in (
            ("stage, one pass", FramesConfig()),
            *((f"stage, ranges of {r:g} s", FramesConfig(split_above_s=0.0, range_s=r)) for r in args.range_s or []),
        ):
            cpu, work = stage_cpu(args.recording, duration, config)
            print(f"{label}: {cpu:.2f} CPU-s ({cpu / duration * 60:.1f} per interview-minute; {work})")


if __name__ == "__main__":
    main()
