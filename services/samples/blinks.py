"""Scripted blinks: when the candidate's eyes close, and the face picture with the eyelids shut.

Blinks are scheduled over the whole recording independently of the head-motion events (people blink while they
nod or turn): a rate per sample between ``RATE_PER_MIN`` bounds, gaps drawn around it (never shorter than
``MIN_GAP_S``), each closure ``DURATION_S`` long. The closed-eye picture repaints both eyes from the surrounding
skin (as `face_assets.neutralize_mouth` repaints the smile) and draws the shut lids' lash line, so a landmark
model sees a closed eye, not a dark smudge.
"""

from __future__ import annotations

import bisect
import random

import cv2
import numpy as np
from numpy.typing import NDArray

from services.samples.ground_truth import TimeRange

U8 = NDArray[np.uint8]

#: Blinks per minute, drawn per sample between these bounds (people at rest blink about 10-20 times a minute).
RATE_PER_MIN = (10.0, 20.0)
#: Closure length of one blink, seconds (drawn per blink).
DURATION_S = (0.1, 0.3)
#: Shortest time from one blink's end to the next one's start.
MIN_GAP_S = 0.8
#: Eye centres (x, y) and half-sizes of the open eye in the full astronaut image (same frame as face_assets).
EYES = (((203, 102), (13, 7)), ((246, 105), (13, 7)))


def schedule_blinks(duration_s: float, seed: int) -> list[TimeRange]:
    """Blink closures over ``[0, duration_s)``: a seeded, irregular train at a per-sample rate."""
    rng = random.Random(seed * 7919 + 11)
    rate = rng.uniform(*RATE_PER_MIN)
    mean_gap = 60.0 / rate
    out: list[TimeRange] = []
    t = rng.uniform(0.3, mean_gap)
    while True:
        length = rng.uniform(*DURATION_S)
        if t + length > duration_s - 0.2:
            return out
        out.append(TimeRange(start=round(t, 3), end=round(t + length, 3)))
        # Gaps vary a lot between blinks (exponential around the mean), with a floor.
        t += length + max(MIN_GAP_S, rng.expovariate(1.0 / mean_gap))


class BlinkTrack:
    """Whether the eyes are shut at a time (blinks sorted by start, as `schedule_blinks` gives them)."""

    def __init__(self, blinks: list[TimeRange]) -> None:
        self._blinks = blinks
        self._starts = [b.start for b in blinks]

    def closed(self, t: float) -> bool:
        i = bisect.bisect_right(self._starts, t) - 1
        return i >= 0 and self._blinks[i].contains(t)


def close_eyes(img: U8) -> U8:
    """The astronaut image with both eyes shut: eye openings repainted from the skin around them, a lash line
    where the lids meet."""
    out = img.copy()
    mask = np.zeros(img.shape[:2], np.uint8)
    for (cx, cy), (ax, ay) in EYES:
        cv2.ellipse(mask, (cx, cy), (ax, ay), 0, 0, 360, 255, -1)
    out = np.asarray(cv2.inpaint(out, mask, 9, cv2.INPAINT_TELEA), np.uint8)
    lid = np.zeros(img.shape[:2], np.uint8)
    for (cx, cy), (ax, ay) in EYES:
        cv2.ellipse(lid, (cx, cy), (ax - 1, ay - 1), 0, 0, 360, 255, -1, cv2.LINE_AA)
    # The shut upper lid is a little darker than the skin around it; the lashes a thin curve where the lids meet.
    shade = (lid.astype(np.float32) / 255.0 * 0.12)[..., None]
    out = np.asarray(out.astype(np.float32) * (1.0 - shade), np.uint8)
    for (cx, cy), (ax, _) in EYES:
        cv2.ellipse(out, (cx, cy + 1), (ax - 1, 3), 0, 0, 180, (38, 44, 62), 1, cv2.LINE_AA)
    blurred = cv2.GaussianBlur(out, (3, 3), 0)
    return np.where(mask[..., None] > 0, blurred, out).astype(np.uint8)


__all__ = ["DURATION_S", "RATE_PER_MIN", "BlinkTrack", "close_eyes", "schedule_blinks"]
