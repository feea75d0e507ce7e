"""Hands in sampled frames: MediaPipe's palm detector, then its 21-point hand landmarks on each palm found.

The palm detector (192x192, letterboxed frame) gives a palm box and seven keypoints; the hand is cut from the frame
as a square around the palm, enlarged 2.6 times and shifted towards the fingers by half a palm, rotated so that the
wrist-to-middle-finger line points up (MediaPipe's own hand region), and the landmark network returns 21 points
and a hand-presence probability. Hands whose presence is below ``MIN_PRESENCE`` are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.frames.geometry import Image
from services.vision import lite_runner
from services.vision.litert_models import HAND_LANDMARKS, PALM_DETECTOR
from services.vision.ssd import AnchorSpec, anchors, cut, decode, letterbox, upright_crop

PALMS = AnchorSpec(input_size=192, strides=(8, 16, 16, 16), keypoints=7)
_PALM_ANCHORS = anchors(PALMS)
MIN_PALM_SCORE = 0.5
MIN_PRESENCE = 0.5
#: Palms per frame: a candidate has two hands; more are other people's or false detections.
MAX_HANDS = 2
HAND_INPUT = 224
WRIST, MIDDLE_FINGER_BASE = 0, 2  # palm keypoints


@dataclass(frozen=True)
class Hand:
    """A hand in one frame: 21 landmarks (x, y in frame pixels; MediaPipe's order, 0 = wrist) and presence."""

    landmarks: npt.NDArray[np.float32]
    presence: float


def _unit(images: Sequence[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
    return np.stack(images).astype(np.float32) / 255.0


def find_hands(frames: Sequence[Image]) -> list[list[Hand]]:
    """The hands in each frame (BGR): the palm detector over all frames, then the landmarks over all palms."""
    if not frames:
        return []
    fitted = [letterbox(f, PALMS.input_size) for f in frames]
    out = lite_runner.run(PALM_DETECTOR, _unit([pixels for pixels, _ in fitted]))
    boxes, scores = out["Identity"], out["Identity_1"].reshape(len(frames), -1)
    crops, owners, regions = [], [], []
    for i, (frame, (_, fit)) in enumerate(zip(frames, fitted, strict=True)):
        for palm in decode(boxes[i], scores[i], _PALM_ANCHORS, PALMS, fit, MIN_PALM_SCORE)[:MAX_HANDS]:
            x0, y0, x1, y1 = palm.box
            side = 2.6 * max(x1 - x0, y1 - y0)
            wrist, base = palm.keypoints[WRIST], palm.keypoints[MIDDLE_FINGER_BASE]
            # Half a palm towards the fingers: the direction from the wrist to the middle finger's base.
            direction = (base - wrist) / max(float(np.linalg.norm(base - wrist)), 1e-6)
            centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2], np.float32) + direction * 0.5 * max(x1 - x0, y1 - y0)
            region = upright_crop(centre, side, wrist, base, HAND_INPUT)
            crops.append(cut(frame, region, HAND_INPUT))
            owners.append(i)
            regions.append(region)
    hands: list[list[Hand]] = [[] for _ in frames]
    if not crops:
        return hands
    result = lite_runner.run(HAND_LANDMARKS, _unit(crops))
    for k, (owner, region) in enumerate(zip(owners, regions, strict=True)):
        presence = float(result["Identity_1"][k, 0])
        if presence < MIN_PRESENCE:
            continue
        points = result["Identity"][k].reshape(21, 3)[:, :2]
        hands[owner].append(Hand(region.to_frame(points), presence))
    return hands


__all__ = ["MAX_HANDS", "Hand", "find_hands"]
