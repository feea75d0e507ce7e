"""The window a face is measured in: a square around it, cut from the frame scaled so the face has about
``MEASURE_FACE_PX`` pixels.

Every frame's landmarks, box, head pose and expression crop come from such a window, whichever search found the
face (a whole-frame search or one around where it was expected): signals derived from landmarks then do not jump
when the search switches between the two, and a small face is measured at the detector's working size rather than
at the few pixels a whole frame scaled to ``detect_max_side`` leaves it (a 60-pixel face in a 960-pixel frame is 16
pixels there, where a landmark's pixel of noise is a tenth of the face and reads as a nod).

A window's scale comes from a ladder (quarter octaves from the whole search's scale up to ``MAX_UPSCALE``), its
side is ``ROI_EXPAND`` times the face rounded up to the detector's coarsest stride (``WINDOW_GRID``), and its corners
lie on that grid of the scaled frame. `services.vision.tracking` keeps one placement while the face stays well
inside it, so a face that stays put is measured in the very same pixels frame after frame: windows that shift by a
pixel from frame to frame make the landmarks jitter by about a hundredth of the face's height.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from services.frames.geometry import Image
from services.vision.retinaface import BGR_MEAN

#: Side of the window around an expected face, in face sizes (its box's longer side).
ROI_EXPAND = 2.0
#: The detector's coarsest stride: windows start and end on multiples of it.
WINDOW_GRID = 32
#: The face's side, in window pixels, that the scale aims at: RetinaFace's landmarks are steady from about here.
MEASURE_FACE_PX = 48.0
#: The most a window enlarges the frame's pixels (beyond that it only magnifies the blur).
MAX_UPSCALE = 2.0
#: Scales per octave of the ladder: a face whose size wavers a little keeps its scale.
SCALE_STEPS = 4
#: A face found in a window must be this far inside the window's edges (pixels), else it may be cut off.
ROI_EDGE_PX = 1.0
#: A face found in a window must be within this factor of the expected size, else it is someone else.
ROI_SIZE_RATIO = 2.0
#: A placement is kept for a face whose box stays this far (share of the side) inside the window's edges...
KEEP_MARGIN = 0.1
#: ...and within this factor of the size it was placed for.
KEEP_SIZE_RATIO = 1.25

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Placement:
    """Where a window lies: the frame scaled by ``scale``, and a ``side``-pixel square of it from (x0, y0)."""

    width: int  # the frame's size, pixels
    height: int
    scale: float  # window pixels per frame pixel
    x0: int  # top-left corner in the scaled frame, on the grid
    y0: int
    side: int
    expected_side: float  # the face's longer side it was placed for, window pixels

    @property
    def origin(self) -> npt.NDArray[np.float32]:
        return np.array([self.x0, self.y0], np.float32)

    def in_window(self, box: Box) -> npt.NDArray[np.float32]:
        """``box`` (fractions of the frame) in window pixels."""
        size = np.array([self.width, self.height, self.width, self.height], np.float32)
        return np.asarray(np.asarray(box, np.float32) * size * self.scale - np.tile(self.origin, 2), np.float32)

    def keeps(self, box: Box) -> bool:
        """Whether a face expected at ``box`` (fractions of the frame) is still well measured in this window: well
        inside it and about the size it was placed for."""
        b = self.in_window(box)
        margin = KEEP_MARGIN * self.side
        inside = min(b[0], b[1]) >= margin and max(b[2], b[3]) <= self.side - margin
        size = max(float(b[2] - b[0]), float(b[3] - b[1]))
        return bool(inside) and self.expected_side / KEEP_SIZE_RATIO <= size <= self.expected_side * KEEP_SIZE_RATIO

    def holds(self, box: npt.NDArray[np.float32]) -> bool:
        """Whether a face found at ``box`` (window pixels) is whole and about the expected size."""
        inside = min(box[0], box[1]) >= ROI_EDGE_PX and max(box[2], box[3]) <= self.side - ROI_EDGE_PX
        size = max(box[2] - box[0], box[3] - box[1])
        return bool(inside) and self.expected_side / ROI_SIZE_RATIO <= size <= self.expected_side * ROI_SIZE_RATIO

    def to_frame(self, points: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Points (x, y pairs, in window pixels) in frame pixels."""
        flat = points.reshape(-1, 2)
        return np.asarray(((flat + self.origin) / self.scale).reshape(points.shape), np.float32)


def window_side(face_side: float) -> int:
    """Side of the window around a face of ``face_side`` pixels: ``ROI_EXPAND`` times it, rounded up to the grid."""
    return WINDOW_GRID * max(1, math.ceil(ROI_EXPAND * max(face_side, 1.0) / WINDOW_GRID))


def measure_scale(face_side_px: float, whole_scale: float) -> float:
    """The ladder's scale that gives a face of ``face_side_px`` frame pixels about ``MEASURE_FACE_PX``: never below
    the whole search's, never above ``MAX_UPSCALE``."""
    top = max(0, math.floor(SCALE_STEPS * math.log2(MAX_UPSCALE / whole_scale) + 1e-9))
    wanted = SCALE_STEPS * math.log2(MEASURE_FACE_PX / max(face_side_px * whole_scale, 1e-6))
    step = min(max(0, round(wanted)), top)
    return float(whole_scale * 2.0 ** (step / SCALE_STEPS))


def place(box: Box, width: int, height: int, whole_scale: float) -> Placement | None:
    """The window to measure a face at ``box`` (fractions of a ``width`` x ``height`` frame) in; None when it would be
    as large as the scaled frame (a face close to the camera is measured in the whole frame: same cost, no edges)."""
    px = np.asarray(box, np.float64) * np.array([width, height, width, height])
    face = max(px[2] - px[0], px[3] - px[1], 1.0)
    scale = measure_scale(face, whole_scale)
    side = window_side(face * scale)
    if side * side >= width * height * scale * scale:
        return None
    x0 = WINDOW_GRID * round(((px[0] + px[2]) / 2 * scale - side / 2) / WINDOW_GRID)
    y0 = WINDOW_GRID * round(((px[1] + px[3]) / 2 * scale - side / 2) / WINDOW_GRID)
    return Placement(width, height, scale, int(x0), int(y0), side, float(face * scale))


def cut(scaled: Image, placement: Placement) -> Image:
    """The window's pixels from the frame already scaled by ``placement.scale`` (see `enlarged` for scales above 1);
    where the window reaches past the frame it holds the detector's mean colour (a zero input, as the network's own
    padding)."""
    height, width = scaled.shape[:2]
    x0, y0, size = placement.x0, placement.y0, placement.side
    xa, ya, xb, yb = max(0, x0), max(0, y0), min(width, x0 + size), min(height, y0 + size)
    if (xa, ya, xb, yb) == (x0, y0, x0 + size, y0 + size):
        return np.ascontiguousarray(scaled[ya:yb, xa:xb])
    pixels = np.empty((size, size, 3), np.uint8)
    pixels[:] = BGR_MEAN
    if xa < xb and ya < yb:
        pixels[ya - y0 : yb - y0, xa - x0 : xb - x0] = scaled[ya:yb, xa:xb]
    return pixels


def enlarged(image: Image, placement: Placement) -> Image:
    """The window's pixels for a placement that enlarges the frame: only the window is resampled (the pixels
    `cut` would take from the whole frame enlarged with OpenCV's bilinear resize, at a fraction of its cost)."""
    s = placement.scale
    # OpenCV's resize maps pixel centres: x_window = s * (x_frame + 0.5) - 0.5 - x0.
    matrix = np.array([[s, 0.0, 0.5 * s - 0.5 - placement.x0], [0.0, s, 0.5 * s - 0.5 - placement.y0]])
    size = (placement.side, placement.side)
    out = cv2.warpAffine(
        image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=BGR_MEAN
    )
    return np.asarray(out, np.uint8)


__all__ = [
    "MAX_UPSCALE",
    "MEASURE_FACE_PX",
    "ROI_EDGE_PX",
    "ROI_EXPAND",
    "ROI_SIZE_RATIO",
    "WINDOW_GRID",
    "Placement",
    "cut",
    "enlarged",
    "measure_scale",
    "place",
    "window_side",
]
