"""A real hand photograph pasted into frames, for hand and hand-to-face tests with scripted ground truth.

The photo (an open hand on a plain light background, from OpenCV's documentation; scripts/install-test-photos.sh
unpacks it) is cut out by its colour: skin is saturated, the background is not. The cut-out is rotated so that
the fingers point up, scaled to a height and pasted with a soft edge, its wrist end below the given centre.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

U8 = NDArray[np.uint8]

DEFAULT_DIR = Path(__file__).resolve().parents[2] / ".local" / "test-photos"
DIR_ENV = "SIGHTLINE_TEST_PHOTOS_DIR"
#: Saturation (0-255) above which a pixel of the photo is skin.
SKIN_SATURATION = 40


class PhotoUnavailable(RuntimeError):
    pass


def photo(name: str = "hand.jpg") -> U8:
    path = Path(os.environ.get(DIR_ENV) or DEFAULT_DIR) / name
    image = cv2.imread(str(path))
    if image is None:
        raise PhotoUnavailable(f"{path} is missing; `make setup` unpacks it (scripts/install-test-photos.sh)")
    return np.asarray(image, np.uint8)


@cache
def hand_cutout() -> U8:
    """The hand as BGRA, fingers up, cropped to the hand, alpha 0 around it."""
    image = photo()
    saturation = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)[..., 1]
    mask = ((saturation > SKIN_SATURATION) * 255).astype(np.uint8)
    mask = np.asarray(cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8)), np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(mask)
    cv2.drawContours(filled, [max(contours, key=cv2.contourArea)], -1, 255, cv2.FILLED)
    alpha = cv2.GaussianBlur(filled, (5, 5), 0)
    bgra = np.dstack([image, alpha])
    # The photo's fingers point to the right: a quarter turn counter-clockwise makes them point up.
    upright = cv2.rotate(bgra, cv2.ROTATE_90_COUNTERCLOCKWISE)
    ys, xs = np.nonzero(upright[..., 3])
    return np.ascontiguousarray(upright[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])


def paste_hand(frame: U8, centre: tuple[float, float], height: float, angle_deg: float = 0.0) -> U8:
    """``frame`` with the hand pasted, its middle at ``centre`` (pixels), ``height`` pixels tall, turned by
    ``angle_deg`` (positive: counter-clockwise on screen)."""
    hand = hand_cutout()
    scale = height / hand.shape[0]
    h, w = hand.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle_deg, scale)
    matrix[0, 2] += centre[0] - w / 2
    matrix[1, 2] += centre[1] - h / 2
    size = (frame.shape[1], frame.shape[0])
    placed = cv2.warpAffine(hand, matrix, size, flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0))
    alpha = placed[..., 3:4].astype(np.float32) / 255.0
    out = frame.astype(np.float32) * (1 - alpha) + placed[..., :3].astype(np.float32) * alpha
    return np.asarray(np.clip(out, 0, 255), np.uint8)


__all__ = ["PhotoUnavailable", "hand_cutout", "paste_hand", "photo"]
