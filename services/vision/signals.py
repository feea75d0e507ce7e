"""Small signal tools for the per-chunk features: turning points, runs, moving averages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class TurningPoint:
    index: int
    kind: int  # +1 a maximum, -1 a minimum


def turning_points(x: Sequence[float] | Floats, min_swing: float, tail: float | None = None) -> list[TurningPoint]:
    """Alternating maxima and minima of ``x`` that the signal leaves again by at least ``min_swing``
    (a zig-zag filter). The first extreme is reported only when it is not the first sample (the swing
    into it is unknown there). The last one, which the signal may not have left far enough yet because
    the samples end, is reported when it is not the last sample and the signal has come back from it by
    ``tail * min_swing``: a peak just before the end of a chunk is then counted once, by that chunk."""
    values = np.asarray(x, dtype=np.float64)
    out: list[TurningPoint] = []
    if len(values) < 2:
        return out
    hi = lo = 0
    direction = 0
    candidate = 0
    for i in range(1, len(values)):
        v = values[i]
        if direction == 0:
            if v > values[hi]:
                hi = i
            if v < values[lo]:
                lo = i
            if values[hi] - values[lo] >= min_swing:
                first, direction = (lo, 1) if hi > lo else (hi, -1)
                if first > 0:
                    out.append(TurningPoint(first, -direction))
                candidate = hi if direction == 1 else lo
        elif direction == 1:
            if v > values[candidate]:
                candidate = i
            elif values[candidate] - v >= min_swing:
                out.append(TurningPoint(candidate, 1))
                direction, candidate = -1, i
        else:
            if v < values[candidate]:
                candidate = i
            elif v - values[candidate] >= min_swing:
                out.append(TurningPoint(candidate, -1))
                direction, candidate = 1, i
    last = len(values) - 1
    turned_back = abs(values[last] - values[candidate]) >= (tail or 0.0) * min_swing
    if tail is not None and direction != 0 and candidate < last and turned_back:
        out.append(TurningPoint(candidate, direction))
    return out


def runs(mask: Sequence[bool] | npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Half-open index ranges ``[i, j)`` where ``mask`` is true."""
    out: list[tuple[int, int]] = []
    start: int | None = None
    for i, flag in enumerate(mask):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            out.append((start, i))
            start = None
    if start is not None:
        out.append((start, len(mask)))
    return out


def moving_average(x: npt.NDArray[np.float32], window: int) -> npt.NDArray[np.float32]:
    """Centred moving average along the first axis; the window shrinks at the edges."""
    if window <= 1 or len(x) == 0:
        return x
    kernel = np.ones(window, dtype=np.float64)
    half = window // 2
    padded_ones = np.convolve(np.ones(len(x)), kernel, mode="full")[half : half + len(x)]
    columns = x.reshape(len(x), -1).astype(np.float64)
    smoothed = np.stack(
        [np.convolve(columns[:, c], kernel, mode="full")[half : half + len(x)] for c in range(columns.shape[1])], 1
    )
    return np.asarray((smoothed / padded_ones[:, None]).reshape(x.shape), dtype=np.float32)


__all__ = ["TurningPoint", "moving_average", "runs", "turning_points"]
