"""The face mesh's measures over a chunk and over an interview: eyes closed, blinks, mouth opening, brow height,
mouth width and corner lift.

Eyes count as closed in a frame whose eye openness (eye aspect ratio) falls below ``blink_closed_ratio`` of the
candidate's open level, the median over the chunk's measured frames (eyes are open most of the time; the ratio,
not an absolute value, holds across faces, whose open eyes differ). A run of closed frames of ``BLINK_S`` is a
blink, a longer one eyes closed. Runs are reported as pieces clipped to the chunk; the interview joins pieces that
touch across chunks before it counts them, so a blink across a chunk boundary counts once.

Brow height, mouth width and corner lift read expression (a lowered brow is a frown, a wide lifted mouth a
smile): like the expression network's measures they are left out where emotion inference is not performed.
Over the interview they are judged against the candidate's own level (the median over the interview), since
faces differ in where their brows and mouth corners rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from services.common.contracts import FaceLandmarks, TimeRange, VisionFeatures
from services.vision.signals import runs

if TYPE_CHECKING:
    from services.vision.landmarks import FaceMesh

#: Shortest and longest closure (seconds) that is a blink; longer closures are eyes closed.
BLINK_S = (0.05, 0.5)
#: Timeline columns of the mesh's per-frame measures (`FaceMesh` attribute names).
MEASURE_COLUMNS = ("eye_openness", "mouth_opening", "brow_height", "mouth_width", "mouth_corner_lift")
#: The measures that read expression (left out without emotion inference).
EXPRESSION_MEASURES = ("brow_height", "mouth_width", "mouth_corner_lift")
#: Share of face frames too small for the mesh above which a chunk's landmark measures are not supported.
UNSUPPORTED_SHARE = 0.5


@dataclass(frozen=True)
class ChunkMesh:
    summary: FaceLandmarks
    columns: dict[str, list[object]]


def _values(meshes: Sequence[FaceMesh | None], name: str) -> npt.NDArray[np.float64]:
    return np.array([np.nan if m is None else float(getattr(m, name)) for m in meshes], np.float64)


def _mean(values: npt.NDArray[np.float64], mask: npt.NDArray[np.bool_] | None = None) -> float | None:
    picked = values[~np.isnan(values) & (True if mask is None else mask)]
    return float(picked.mean()) if picked.size else None


def eyes_closed(openness: npt.NDArray[np.float64], closed_ratio: float) -> npt.NDArray[np.bool_]:
    """Frames whose eye openness is below ``closed_ratio`` of the open level (the median of measured frames)."""
    seen = ~np.isnan(openness)
    if not seen.any():
        return np.zeros(len(openness), bool)
    level = float(np.median(openness[seen]))
    with np.errstate(invalid="ignore"):
        return np.asarray(seen & (openness < closed_ratio * level), bool)


def is_blink(duration_s: float) -> bool:
    return BLINK_S[0] - 1e-9 <= duration_s <= BLINK_S[1] + 1e-9


def chunk_mesh(
    start_s: float,
    end_s: float,
    period_s: float,
    timestamps: npt.NDArray[np.float64],
    meshes: Sequence[FaceMesh | None],
    too_small: Sequence[bool],
    closed_ratio: float,
    expression: bool,
) -> ChunkMesh:
    """The chunk's landmark summary and timeline columns. ``expression``: emotion inference was performed."""
    n = len(meshes)
    measured = np.array([m is not None for m in meshes], bool)
    small = int(sum(too_small))
    supported = small <= UNSUPPORTED_SHARE * (small + int(measured.sum())) or small == 0
    openness = _values(meshes, "eye_openness")
    closed = eyes_closed(openness, closed_ratio)
    pieces: list[TimeRange] = []
    blinks = 0
    for i, j in runs(closed):
        a, b = max(start_s, float(timestamps[i])), min(end_s, float(timestamps[j - 1]) + period_s)
        if b <= a:
            continue
        pieces.append(TimeRange(start_s=a, end_s=b))
        # A run at the chunk's edge may go on in the neighbouring chunk: the interview counts it.
        if i > 0 and j < n and is_blink(b - a):
            blinks += 1
    means = {name: _mean(_values(meshes, name)) for name in MEASURE_COLUMNS}
    summary = FaceLandmarks(
        frames_measured=int(measured.sum()),
        frames_too_small=small,
        supported=supported,
        measured_s=float(measured.sum()) * period_s,
        eyes_closed=pieces if supported else [],
        blink_count=blinks if supported else 0,
        eye_openness_mean=_mean(openness, ~closed) if supported else None,
        mouth_opening_mean=means["mouth_opening"] if supported else None,
        brow_height_mean=means["brow_height"] if supported and expression else None,
        mouth_width_mean=means["mouth_width"] if supported and expression else None,
        mouth_corner_lift_mean=means["mouth_corner_lift"] if supported and expression else None,
    )
    columns: dict[str, list[object]] = {
        name: [None if np.isnan(v) else float(v) for v in _values(meshes, name)]
        for name in MEASURE_COLUMNS
        if expression or name not in EXPRESSION_MEASURES
    }
    columns["eyes_closed"] = [bool(c) if m else None for c, m in zip(closed, measured, strict=True)]
    columns["mesh_too_small"] = [bool(s) for s in too_small]
    return ChunkMesh(summary, columns)


class LandmarkBehaviour(BaseModel):
    """The face mesh's measures over an interview, or a question's window of it."""

    model_config = ConfigDict(frozen=True)

    supported: bool = Field(description="False when the face was too small in the picture for the mesh.")
    measured_s: float = Field(description="Seconds with the face measured by the mesh.")
    blink_times_s: list[float] = Field(description="Start of each blink (closure of 0.05-0.5 s).")
    eyes_closed: list[tuple[float, float]] = Field(description="Closures longer than a blink, (start, end) s.")
    blink_rate_per_min: float | None = Field(description="Blinks per measured minute; null without a measure.")
    mouth_opening_mean: float | None = Field(description="Mean inner-lip gap over face height.")
    brow_lowering: float | None = Field(
        description="How far the brows sat below the candidate's own level over the interview, in face heights "
        "(0: at their level or above); null without emotion inference."
    )
    mouth_width_change: float | None = Field(
        description="Mouth width against the candidate's own level over the interview, share of face width "
        "(+: wider, as in a smile); null without emotion inference."
    )


def _share(chunk: VisionFeatures, start_s: float, end_s: float) -> float:
    overlap = max(0.0, min(chunk.end_s, end_s) - max(chunk.start_s, start_s))
    return overlap / max(chunk.end_s - chunk.start_s, 1e-9)


def _rest(marks: Sequence[FaceLandmarks], name: str) -> float | None:
    values = [v for m in marks if (v := getattr(m, name)) is not None]
    return float(np.median(values)) if values else None


def closure_pieces(chunks: Sequence[VisionFeatures]) -> list[TimeRange]:
    """Every chunk's eye-closure pieces (joined across chunks by the caller)."""
    return [r for c in chunks if c.summary.face_landmarks is not None for r in c.summary.face_landmarks.eyes_closed]


def landmark_behaviour(
    chunks: Sequence[VisionFeatures], closures: Sequence[tuple[float, float]], start_s: float, end_s: float
) -> LandmarkBehaviour | None:
    """The landmark measures in ``[start_s, end_s)`` from the interview's chunks (one per index) and its eye
    closures (pieces joined across chunks); None when the mesh never ran. Levels are the interview's."""
    marks = [c.summary.face_landmarks for c in chunks if c.summary.face_landmarks is not None]
    if not marks:
        return None
    usable = [m for m in marks if m.supported]
    rest_brow, rest_width = _rest(usable, "brow_height_mean"), _rest(usable, "mouth_width_mean")
    inside = [
        (m, _share(c, start_s, end_s) * m.frames_measured)
        for c in chunks
        if (m := c.summary.face_landmarks) is not None and m.supported and _share(c, start_s, end_s) > 0
    ]
    measured_s = sum(m.measured_s * w / max(m.frames_measured, 1) for m, w in inside)

    def weighted(name: str, against: Callable[[float], float] = float) -> float | None:
        """The window's mean of a chunk measure, each chunk weighted by its measured frames in the window."""
        pairs = [(against(float(v)), w) for m, w in inside if (v := getattr(m, name)) is not None and w > 0]
        total = sum(w for _, w in pairs)
        return sum(v * w for v, w in pairs) / total if total else None

    brow = width = None
    if rest_brow is not None:
        brow = weighted("brow_height_mean", lambda v: max(0.0, rest_brow - v))
    if rest_width is not None:
        width = weighted("mouth_width_mean", lambda v: v - rest_width)

    in_window = [(a, b) for a, b in closures if start_s <= a < end_s]
    blinks = [a for a, b in in_window if is_blink(b - a)]
    return LandmarkBehaviour(
        supported=bool(usable),
        measured_s=measured_s,
        blink_times_s=blinks,
        eyes_closed=[(a, b) for a, b in in_window if b - a > BLINK_S[1] + 1e-9],
        blink_rate_per_min=len(blinks) / (measured_s / 60.0) if measured_s > 0 else None,
        mouth_opening_mean=weighted("mouth_opening_mean"),
        brow_lowering=brow,
        mouth_width_change=width,
    )


__all__ = [
    "BLINK_S",
    "ChunkMesh",
    "LandmarkBehaviour",
    "chunk_mesh",
    "closure_pieces",
    "eyes_closed",
    "is_blink",
    "landmark_behaviour",
]
