"""Frame ranges: a long recording's video split over several frames replicas.

A range is a run of whole chunks of the chunk grid (`services.frames.chunking`), so the chunks the ranges
produce together are exactly those of one sequential pass: same indices, same ``total_chunks``. A range
decoder seeks to the keyframe at or before `seek_s` (one sampling period before its start, so the frame
sampler sees the frame before the boundary and keeps the same frames a sequential pass keeps), drops what
falls before its first chunk, and stops after the first sampled frame past its last chunk (a key frame
target near the end of the range may be nearest to that frame).

Key frames of the report are each produced by exactly one range: the one whose chunks hold the target time.

Not covered (docs/operations.md, "Long recordings"): a resolution change mid-stream gives one frame size per
range, and a keyframe that is the only frame between a pause and the range start is held even if a
sequential pass had kept the frame just before it in the same sampling slot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from services.frames.chunking import Chunk, chunk_index

#: Video longer than this is split into ranges (`FramesSettings.split_above_s` explains the choice).
DEFAULT_SPLIT_ABOVE_S = 600.0
#: Length of one range (`FramesSettings.range_s`).
DEFAULT_RANGE_S = 120.0
#: A key frame target: question id, label (start, middle, end) and media time.
Target = tuple[str, str, float]


@dataclass(frozen=True)
class FrameRange:
    """Chunks ``[chunk_start, chunk_end)`` of the grid, covering media time ``[start_s, end_s)``."""

    index: int
    chunk_start: int
    chunk_end: int
    start_s: float
    end_s: float


def chunks_per_range(range_s: float, chunk_s: float) -> int:
    """Whole chunks in one range of about ``range_s`` seconds (at least one)."""
    if not range_s > 0 or not chunk_s > 0:
        raise ValueError(f"range and chunk lengths must be positive, got {range_s} and {chunk_s}")
    return max(1, round(range_s / chunk_s))


def plan_ranges(chunks: Sequence[Chunk], range_s: float, chunk_s: float) -> list[FrameRange]:
    """Contiguous ranges of whole chunks covering every chunk once, in order."""
    if not chunks:
        raise ValueError("there are no chunks to split")
    per = chunks_per_range(range_s, chunk_s)
    count = math.ceil(len(chunks) / per)
    ranges = []
    for i in range(count):
        first, end = i * per, min(len(chunks), (i + 1) * per)
        ranges.append(FrameRange(i, first, end, chunks[first].start_s, chunks[end - 1].end_s))
    return ranges


def should_split(duration_s: float, split_above_s: float, chunk_total: int, range_s: float, chunk_s: float) -> bool:
    """True when the video is longer than the threshold and makes at least two ranges."""
    return duration_s > split_above_s and chunk_total > chunks_per_range(range_s, chunk_s)


def seek_s(start_s: float, sample_fps: float) -> float:
    """Where a range decoder seeks to: one sampling period before its start, so the frame just before the
    boundary is decoded and the sampler decides on the first frame of the range as a sequential pass does."""
    return max(0.0, start_s - 1.0 / sample_fps)


def keyframe_targets(
    questions: Sequence[tuple[str, float, float]], duration_s: float, sample_fps: float
) -> list[Target]:
    """Start, middle and end times of each question window inside the recording (``(id, start, end)``)."""
    period = 1.0 / sample_fps
    targets: list[Target] = []
    for question_id, q_start, q_end in questions:
        start, end = max(0.0, q_start), min(q_end, duration_s)
        if end > start:
            targets += [(question_id, "start", start), (question_id, "middle", (start + end) / 2)]
            targets.append((question_id, "end", max(start, end - period)))
    return targets


def owned_targets(
    targets: Sequence[Target], chunk_start: int, chunk_end: int, chunk_s: float, total_chunks: int
) -> list[Target]:
    """The targets whose time falls in chunks ``[chunk_start, chunk_end)``: each target has one owner."""
    return [t for t in targets if chunk_start <= chunk_index(t[2], chunk_s, total_chunks) < chunk_end]


__all__ = [
    "DEFAULT_RANGE_S",
    "DEFAULT_SPLIT_ABOVE_S",
    "FrameRange",
    "Target",
    "chunks_per_range",
    "keyframe_targets",
    "owned_targets",
    "plan_ranges",
    "seek_s",
    "should_split",
]
