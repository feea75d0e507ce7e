"""Which decoded frames to keep.

The default rate is 10 frames per second. Nods and head shakes are oscillations of roughly
1.5-3 Hz; sampling at least twice the highest of them (Nyquist, 6 Hz) keeps them recoverable, and
the margin up to 10 fps keeps their phase and amplitude usable for the vision stage, while most
recordings (25-30 fps) are still thinned about threefold.

Selection works on presentation timestamps, never on frame indices: browser recordings have a
variable frame rate (irregular gaps, dropped frames), and counting frames would drift in time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

DEFAULT_SAMPLE_FPS = 10.0
#: Frames up to this fraction of the sampling period early still count for a slot (timestamps jitter).
EARLY_TOLERANCE = 0.25


def slot_of(pts_s: float, fps: float) -> int:
    """The sampling slot a frame at ``pts_s`` falls in: slots are ``1/fps`` long, a frame a little early counts
    for the next one (timestamps jitter)."""
    return math.floor(pts_s * fps + EARLY_TOLERANCE)


class FrameSampler:
    """Keeps at most one frame per slot of ``1/fps`` seconds: the first frame at or after each slot's
    time (with a little tolerance for jitter). Feed timestamps in presentation order."""

    def __init__(self, fps: float = DEFAULT_SAMPLE_FPS) -> None:
        if not fps > 0:
            raise ValueError(f"sample rate must be positive, got {fps}")
        self.fps = fps
        self.period = 1.0 / fps
        self._next_slot = 0

    def accept(self, pts_s: float) -> bool:
        """True when the frame at ``pts_s`` should be kept."""
        if not math.isfinite(pts_s):
            return False
        slot = slot_of(pts_s, self.fps)
        if slot < self._next_slot:
            return False
        self._next_slot = slot + 1
        return True


def select(timestamps: Iterable[float], fps: float = DEFAULT_SAMPLE_FPS) -> list[int]:
    """Positions of the timestamps a `FrameSampler` keeps."""
    sampler = FrameSampler(fps)
    return [i for i, t in enumerate(timestamps) if sampler.accept(t)]


__all__ = ["DEFAULT_SAMPLE_FPS", "FrameSampler", "select", "slot_of"]
