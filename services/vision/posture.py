"""The upper body in sampled frames: MediaPipe's pose detector, then its 33-point body landmarks on the person found.

The detector (224x224, letterboxed frame, pixels in [-1, 1]) gives a box and four keypoints: the hips' middle and a
point whose distance from it is the body's radius. The body is cut from the frame as a square centred on the hips'
middle, 2.5 radii wide (MediaPipe's own region), rotated upright, and the landmark network (256x256) returns 33
points with a visibility and a presence probability each. In an interview the hips and legs are usually below the
frame: the detector still places them (outside the picture), and only points whose visibility reaches
``MIN_VISIBILITY`` inside the frame are used.

Measures of one frame (`Body`): the shoulder line's tilt and width and the head's place above it. Tilt is in
degrees, positive when the shoulder on the image's right side is lower (the candidate's left shoulder dropped, or
the body leaning towards it); None where a shoulder is not visible: no body is not an upright body.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.frames.geometry import Image
from services.vision import lite_runner
from services.vision.litert_models import POSE_DETECTOR, POSE_LANDMARKS
from services.vision.ssd import AnchorSpec, anchors, cut, decode, letterbox, upright_crop

BODIES = AnchorSpec(input_size=224, strides=(8, 16, 32, 32, 32), keypoints=4)
_BODY_ANCHORS = anchors(BODIES)
MIN_BODY_SCORE = 0.5
MIN_PRESENCE = 0.5
MIN_VISIBILITY = 0.5
LANDMARK_INPUT = 256
HIPS, BODY_RADIUS = 0, 1  # detector keypoints
NOSE, LEFT_EAR, RIGHT_EAR, LEFT_SHOULDER, RIGHT_SHOULDER = 0, 7, 8, 11, 12  # landmark indices (the person's sides)


@dataclass(frozen=True)
class Body:
    """The upper body in one frame, in frame pixels; None where a point was not visible in the frame."""

    presence: float
    landmarks: npt.NDArray[np.float32]  # (33, 2)
    visibility: npt.NDArray[np.float32]  # (33,)
    shoulder_tilt_deg: float | None
    shoulder_width: float | None
    #: Height of the nose above the shoulders' middle, in shoulder widths (shrinks as the head sinks forward).
    head_height: float | None

    def visible(self, index: int) -> bool:
        return bool(self.visibility[index] >= MIN_VISIBILITY)


def _sigmoid(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0))), np.float32)


def find_bodies(frames: Sequence[Image]) -> list[Body | None]:
    """The candidate's upper body in each frame (BGR): the detector over all frames, then the landmarks over all
    bodies found; None where no body was found."""
    if not frames:
        return []
    fitted = [letterbox(f, BODIES.input_size) for f in frames]
    pixels = np.stack([p for p, _ in fitted]).astype(np.float32) / 127.5 - 1.0
    out = lite_runner.run(POSE_DETECTOR, pixels)
    boxes, scores = out["Identity"], out["Identity_1"].reshape(len(frames), -1)
    crops, owners, regions = [], [], []
    for i, (frame, (_, fit)) in enumerate(zip(frames, fitted, strict=True)):
        found = decode(boxes[i], scores[i], _BODY_ANCHORS, BODIES, fit, MIN_BODY_SCORE)
        if not found:
            continue
        hips, edge = found[0].keypoints[HIPS], found[0].keypoints[BODY_RADIUS]
        side = 2.0 * float(np.linalg.norm(edge - hips)) * 1.25
        region = upright_crop(hips, side, hips, edge, LANDMARK_INPUT)
        crops.append(cut(frame, region, LANDMARK_INPUT))
        owners.append(i)
        regions.append(region)
    bodies: list[Body | None] = [None] * len(frames)
    if not crops:
        return bodies
    result = lite_runner.run(POSE_LANDMARKS, np.stack(crops).astype(np.float32) / 255.0)
    for k, (owner, region) in enumerate(zip(owners, regions, strict=True)):
        presence = float(result["Identity_1"][k, 0])
        if presence < MIN_PRESENCE:
            continue
        raw = result["Identity"][k].reshape(39, 5)[:33]
        points = region.to_frame(raw[:, :2])
        height, width = frames[owner].shape[:2]
        inside = (points[:, 0] >= 0) & (points[:, 0] < width) & (points[:, 1] >= 0) & (points[:, 1] < height)
        visibility = np.where(inside, _sigmoid(raw[:, 3]), 0.0).astype(np.float32)
        bodies[owner] = _measured(presence, points, visibility)
    return bodies


def _measured(presence: float, points: npt.NDArray[np.float32], visibility: npt.NDArray[np.float32]) -> Body:
    tilt = width = head = None
    if visibility[LEFT_SHOULDER] >= MIN_VISIBILITY and visibility[RIGHT_SHOULDER] >= MIN_VISIBILITY:
        a, b = points[RIGHT_SHOULDER], points[LEFT_SHOULDER]
        # The shoulder on the image's left first: the line's angle below the horizontal on the image's right.
        left, right = (a, b) if a[0] <= b[0] else (b, a)
        tilt = math.degrees(math.atan2(float(right[1] - left[1]), float(right[0] - left[0])))
        width = float(np.linalg.norm(right - left))
        if visibility[NOSE] >= MIN_VISIBILITY and width > 0:
            middle = (left + right) / 2
            head = float(middle[1] - points[NOSE][1]) / width
    return Body(presence, points, visibility, tilt, width, head)


__all__ = ["Body", "find_bodies"]
