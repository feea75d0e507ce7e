"""The window a tracked frame is searched in: a square of the frame as scaled for detection, around the face.

Its side is ``ROI_EXPAND`` times the expected face's, and its corners lie on the network's coarsest grid
(``WINDOW_GRID`` pixels of the scaled frame). On that grid a window sees the very pixels and anchors the whole
frame does, so the face found in it is the one a whole search finds, up to what the network sees past the
window's edges (landmarks about 2 full-resolution pixels apart), and a face that stays put is searched in the
same window frame after frame: windows that shift by a pixel or two from frame to frame make the landmarks
jitter by about a hundredth of the face's height, which reads as small nods.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.frames.geometry import Image
from services.vision.retinaface import BGR_MEAN

#: Side of the window searched around an expected face, in face sizes (its box's longer side).
ROI_EXPAND = 2.0
#: The detector's coarsest stride: windows start and end on multiples of it.
WINDOW_GRID = 32
#: A face found in a window must be this far inside the window's edges (pixels), else it may be cut off.
ROI_EDGE_PX = 1.0
#: A face found in a window must be within this factor of the expected size, else it is someone else.
ROI_SIZE_RATIO = 2.0


@dataclass(frozen=True)
class Window:
    """A square of a frame scaled for detection, around an expected face."""

    pixels: Image
    origin: npt.NDArray[np.float32]  # (x, y) of its top-left corner in the scaled frame
    scale: float  # scaled pixels per frame pixel
    expected_side: float  # the expected face's longer side, in scaled pixels

    def holds(self, box: npt.NDArray[np.float32]) -> bool:
        """Whether a face found at ``box`` (window pixels) is whole and about the expected size."""
        side = self.pixels.shape[0]
        inside = min(box[0], box[1]) >= ROI_EDGE_PX and max(box[2], box[3]) <= side - ROI_EDGE_PX
        size = max(box[2] - box[0], box[3] - box[1])
        return bool(inside) and self.expected_side / ROI_SIZE_RATIO <= size <= self.expected_side * ROI_SIZE_RATIO


def _face_side(box: npt.NDArray[np.float32]) -> float:
    return max(float(box[2] - box[0]), float(box[3] - box[1]), 1.0)


def window_side(box: npt.NDArray[np.float32]) -> int:
    """Side of the window searched around ``box``: ``ROI_EXPAND`` times its longer side, rounded up to the grid."""
    return WINDOW_GRID * max(1, math.ceil(ROI_EXPAND * _face_side(box) / WINDOW_GRID))


def window_around(small: Image, box: npt.NDArray[np.float32], scale: float) -> Window:
    """The window of ``small`` (a frame scaled by ``scale``) around ``box`` (in its pixels): ``ROI_EXPAND`` times the
    box's longer side, rounded up to and placed on the ``WINDOW_GRID``; where it reaches past the frame it holds the
    detector's mean colour (a zero input, as the network's own padding)."""
    height, width = small.shape[:2]
    face = _face_side(box)
    size = window_side(box)
    x0 = WINDOW_GRID * round(((box[0] + box[2]) / 2 - size / 2) / WINDOW_GRID)
    y0 = WINDOW_GRID * round(((box[1] + box[3]) / 2 - size / 2) / WINDOW_GRID)
    xa, ya, xb, yb = max(0, x0), max(0, y0), min(width, x0 + size), min(height, y0 + size)
    if (xa, ya, xb, yb) == (x0, y0, x0 + size, y0 + size):
        pixels = np.ascontiguousarray(small[ya:yb, xa:xb])
    else:
        pixels = np.empty((size, size, 3), np.uint8)
        pixels[:] = BGR_MEAN
        if xa < xb and ya < yb:
            pixels[ya - y0 : yb - y0, xa - x0 : xb - x0] = small[ya:yb, xa:xb]
    return Window(pixels, np.array([x0, y0], np.float32), scale, face)


__all__ = ["ROI_EDGE_PX", "ROI_EXPAND", "ROI_SIZE_RATIO", "WINDOW_GRID", "Window", "window_around", "window_side"]
