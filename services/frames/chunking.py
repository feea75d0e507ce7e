"""Chunk boundaries over the media timeline.

Chunks are half-open ranges ``[i*chunk_s, (i+1)*chunk_s)``; the last one ends at the duration and may
be shorter. The count is known from the probed duration before decoding starts, so every chunk event
carries the manifest (``total_chunks``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_CHUNK_S = 4.0
#: A remainder shorter than this is folded into the previous chunk instead of becoming its own chunk.
MIN_REMAINDER_S = 1e-6


@dataclass(frozen=True)
class Chunk:
    index: int
    start_s: float
    end_s: float


def chunk_count(duration_s: float, chunk_s: float = DEFAULT_CHUNK_S) -> int:
    """``ceil(duration / chunk_s)``, at least 1, ignoring a float-noise remainder."""
    if not duration_s > 0:
        raise ValueError(f"duration must be positive, got {duration_s}")
    if not chunk_s > 0:
        raise ValueError(f"chunk length must be positive, got {chunk_s}")
    return max(1, math.ceil(duration_s / chunk_s - MIN_REMAINDER_S / chunk_s))


def plan_chunks(duration_s: float, chunk_s: float = DEFAULT_CHUNK_S) -> list[Chunk]:
    """Contiguous chunks covering ``[0, duration_s)`` without gaps or overlaps."""
    total = chunk_count(duration_s, chunk_s)
    return [Chunk(i, i * chunk_s, duration_s if i == total - 1 else (i + 1) * chunk_s) for i in range(total)]


def chunk_index(pts_s: float, chunk_s: float, total: int) -> int:
    """The chunk a timestamp belongs to; times past the end fall into the last chunk, negative into the first."""
    return min(max(0, math.floor(pts_s / chunk_s)), total - 1)


__all__ = ["DEFAULT_CHUNK_S", "Chunk", "chunk_count", "chunk_index", "plan_chunks"]
