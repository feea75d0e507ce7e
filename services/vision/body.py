"""Hands and upper body in a chunk's frames, sampled at a bounded rate: the `BodySample`s of a vision-features event.

The palm, hand and pose networks cost tens of milliseconds a frame on a CPU, and hands and shoulders move slowly
next to the face tracking's frame rate, so only frames ``1 / hz`` apart are analysed. A hand is placed against the
candidate's face box from the face analysis of the same frame, else from the nearest frame within ``FACE_NEAR_S``
that found it: a hand in front of the face often hides it from the face detector at the very moment it touches it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from services.common.contracts import BodySample, HandPlace
from services.frames.geometry import Image
from services.vision import lite_runner
from services.vision.analyzer import FrameResult
from services.vision.hands import find_hands
from services.vision.litert_models import BODY_MODELS
from services.vision.posture import LEFT_SHOULDER, RIGHT_SHOULDER, Body, find_bodies

#: How far in time a face box may be borrowed from for a sample whose own frame found none.
FACE_NEAR_S = 1.0
#: The face box is enlarged by this share of its width on each side before hand landmarks are tested against it
#: (fingers resting on the chin or cheek sit on the box's edge).
TOUCH_MARGIN = 0.1
#: Landmarks of one hand inside the enlarged face box for the hand to touch the face: a fingertip alone brushing
#: the box's corner is not a touch.
TOUCH_MIN_POINTS = 3

Box = tuple[float, float, float, float]


def versions() -> dict[str, str]:
    """The models behind `BodySample`s, for the event's model_versions."""
    return {m.name: m.version for m in BODY_MODELS}


def check_body_models() -> None:
    """Loads the four models once: a missing or changed file fails when the stage starts, not mid-interview."""
    for model in BODY_MODELS:
        lite_runner.check(model)


def sampled(timestamps: Sequence[float], hz: float) -> list[int]:
    """Indices of frames at least ``1 / hz`` seconds apart (the first frame included); none when ``hz`` is 0."""
    if hz <= 0:
        return []
    out: list[int] = []
    for i, t in enumerate(timestamps):
        if not out or t - timestamps[out[-1]] >= 1.0 / hz - 1e-6:
            out.append(i)
    return out


def body_samples(
    frames: Sequence[Image], timestamps: Sequence[float], results: Sequence[FrameResult], hz: float
) -> list[BodySample]:
    idx = sampled(timestamps, hz)
    if not idx:
        return []
    picked = [frames[i] for i in idx]
    hands, bodies = find_hands(picked), find_bodies(picked)
    out: list[BodySample] = []
    previous: tuple[float, list[npt.NDArray[np.float32]]] | None = None
    for k, i in enumerate(idx):
        height, width = frames[i].shape[:2]
        scale = np.array([width, height], np.float32)
        points = [h.landmarks / scale for h in hands[k]]
        face = _face_near(i, timestamps, results)
        motion = None
        if face is not None and points and previous is not None and previous[1]:
            motion = _speed(previous[1], points, timestamps[i] - previous[0], face[2] - face[0], width / height)
        out.append(_sample(timestamps[i], points, face, motion, bodies[k], width, height))
        previous = (timestamps[i], points)
    return out


def _face_near(i: int, timestamps: Sequence[float], results: Sequence[FrameResult]) -> Box | None:
    best: tuple[float, Box] | None = None
    for j, r in enumerate(results):
        gap = abs(timestamps[j] - timestamps[i])
        if r.box is not None and gap <= FACE_NEAR_S and (best is None or gap < best[0]):
            best = (gap, r.box)
    return None if best is None else best[1]


def _speed(
    before: list[npt.NDArray[np.float32]], after: list[npt.NDArray[np.float32]], dt: float, face_w: float, aspect: float
) -> float | None:
    """Mean landmark speed (face widths per second) of each hand against the nearest hand of the sample before."""
    if dt <= 0 or face_w <= 0:
        return None
    # Fractions of width and height differ in length on a non-square frame: compare in widths.
    stretch = np.array([1.0, 1.0 / aspect], np.float32)
    speeds = []
    for hand in after:
        moved = min(float(np.mean(np.linalg.norm((hand - other) * stretch, axis=1))) for other in before)
        speeds.append(moved / face_w / dt)
    return float(np.mean(speeds))


def touches(points: npt.NDArray[np.float32], face: Box) -> bool:
    """Whether a hand's landmarks (fractions of the frame) lie on the face box enlarged by ``TOUCH_MARGIN``."""
    x0, y0, x1, y1 = face
    mx, my = TOUCH_MARGIN * (x1 - x0), TOUCH_MARGIN * (y1 - y0)
    inside = (
        (points[:, 0] >= x0 - mx) & (points[:, 0] <= x1 + mx) & (points[:, 1] >= y0 - my) & (points[:, 1] <= y1 + my)
    )
    return int(inside.sum()) >= TOUCH_MIN_POINTS


def _sample(
    t: float,
    hands: list[npt.NDArray[np.float32]],
    face: Box | None,
    motion: float | None,
    body: Body | None,
    width: int,
    height: int,
) -> BodySample:
    places: list[HandPlace] = []
    touch = None
    if face is not None and hands:
        x0, y0, x1, y1 = face
        face_w = max((x1 - x0) * width, 1e-6)
        for points in hands:
            middle = points.mean(axis=0)
            places.append(
                HandPlace(
                    dx=_bounded((middle[0] - (x0 + x1) / 2) * width / face_w, 100),
                    dy=_bounded((middle[1] - (y0 + y1) / 2) * height / face_w, 100),
                )
            )
        touch = any(touches(points, face) for points in hands)
    tilt = width_share = centre = head = None
    if body is not None and body.shoulder_width is not None:
        tilt, head = body.shoulder_tilt_deg, body.head_height
        width_share = min(1.0, body.shoulder_width / width)
        left, right = body.landmarks[LEFT_SHOULDER], body.landmarks[RIGHT_SHOULDER]
        middle = (left + right) / 2
        centre = [_bounded(float(middle[0]) / width, 2, -1), _bounded(float(middle[1]) / height, 2, -1)]
    return BodySample(
        t_s=t,
        hands=len(hands),
        hand_places=places,
        hand_face_touch=touch,
        hand_motion=None if motion is None else min(motion, 1000.0),
        body=body is not None,
        shoulder_tilt_deg=tilt,
        shoulder_width=width_share,
        shoulder_centre=centre,
        head_height=None if head is None else _bounded(head, 10),
    )


def _bounded(value: float, high: float, low: float | None = None) -> float:
    return float(min(high, max(-high if low is None else low, value)))


__all__ = ["body_samples", "check_body_models", "sampled", "touches", "versions"]
