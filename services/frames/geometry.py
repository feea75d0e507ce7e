"""Upright, bounded frames.

The probe reports the display rotation (clockwise degrees) of the stored video; frames are rotated by
it so every stage downstream sees them as the viewer does. Then they are scaled down (never up) so the
longer side is at most ``max_side`` pixels, keeping the aspect ratio and even dimensions.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

DEFAULT_MAX_SIDE = 640

Image = npt.NDArray[np.uint8]

_ROTATE: dict[int, int] = {
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}


def upright_size(width: int, height: int, rotation_deg: int) -> tuple[int, int]:
    """(width, height) after rotating by ``rotation_deg``."""
    _check_rotation(rotation_deg)
    return (height, width) if rotation_deg in (90, 270) else (width, height)


def fit_size(width: int, height: int, max_side: int = DEFAULT_MAX_SIDE) -> tuple[int, int]:
    """Size scaled down so the longer side is at most ``max_side``; even, at least 2 pixels per side."""
    if width < 1 or height < 1:
        raise ValueError(f"invalid size {width}x{height}")
    if max_side < 2:
        raise ValueError(f"max_side must be at least 2, got {max_side}")
    longer = max(width, height)
    if longer <= max_side:
        return width, height
    scale = max_side / longer
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def rotate_upright(image: Image, rotation_deg: int) -> Image:
    """Rotate clockwise by the display rotation."""
    _check_rotation(rotation_deg)
    if rotation_deg == 0:
        return image
    rotated: Any = cv2.rotate(image, _ROTATE[rotation_deg])
    return np.ascontiguousarray(rotated, dtype=np.uint8)


def prepare(image: Image, rotation_deg: int, max_side: int = DEFAULT_MAX_SIDE) -> Image:
    """Upright and scaled-down copy of a decoded frame (H x W x C)."""
    upright = rotate_upright(image, rotation_deg)
    height, width = upright.shape[:2]
    target = fit_size(width, height, max_side)
    if target == (width, height):
        return upright
    resized: Any = cv2.resize(upright, target, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(resized, dtype=np.uint8)


def _check_rotation(rotation_deg: int) -> None:
    if rotation_deg not in (0, 90, 180, 270):
        raise ValueError(f"rotation must be 0, 90, 180 or 270 degrees, got {rotation_deg}")


__all__ = ["DEFAULT_MAX_SIDE", "Image", "fit_size", "prepare", "rotate_upright", "upright_size"]
