"""Hands and upper body on real photographs: MediaPipe's palm, hand and pose models with this project's own pre- and
post-processing (services/vision/ssd.py), and the interview measures built on them.

Photos: scikit-image's astronaut (public domain; shoulders, no hands in view) and an open hand from OpenCV's
documentation (scripts/install-test-photos.sh). Scripted hand-to-face touches paste that hand into astronaut frames;
their truth is the script, and the face box is the photo's known one (services/samples/face_assets.FACE_BOX).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from services.common.contracts import BodySample
from services.frames.geometry import Image
from services.samples.face_assets import FACE_BOX, skimage_rgb
from services.samples.hands import paste_hand, photo
from services.vision.analyzer import FrameResult
from services.vision.body import body_samples, sampled
from services.vision.body_aggregate import body_behaviour
from services.vision.hands import find_hands
from services.vision.posture import LEFT_SHOULDER, RIGHT_SHOULDER, find_bodies

MODELS = {"pose_detector": "x", "pose_landmarks": "x", "palm_detector": "x", "hand_landmarks": "x"}


@pytest.fixture(scope="module")
def astronaut() -> Image:
    return np.ascontiguousarray(cv2.cvtColor(skimage_rgb("astronaut"), cv2.COLOR_RGB2BGR))


def turned(image: Image, degrees: float) -> Image:
    """``image`` rotated about its centre, counter-clockwise on screen for positive ``degrees``."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return np.asarray(cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE), np.uint8)


def test_shoulders_are_found_and_a_known_tilt_moves_the_shoulder_line_its_way(astronaut: Image) -> None:
    upright, left_up, right_up = find_bodies([astronaut, turned(astronaut, 15), turned(astronaut, -15)])
    assert upright is not None and left_up is not None and right_up is not None
    assert upright.visible(LEFT_SHOULDER) and upright.visible(RIGHT_SHOULDER)
    # The person's left shoulder is on the image's right, below the face, either side of its middle.
    x0, y0, w, h = FACE_BOX
    left, right = upright.landmarks[LEFT_SHOULDER], upright.landmarks[RIGHT_SHOULDER]
    assert right[0] < x0 + w / 2 < left[0] and min(left[1], right[1]) > y0 + h
    assert upright.shoulder_tilt_deg is not None and abs(upright.shoulder_tilt_deg) < 10
    # Turning the picture counter-clockwise raises the image's right side: the tilt falls by about the turn.
    assert left_up.shoulder_tilt_deg is not None and right_up.shoulder_tilt_deg is not None
    assert -22 <= left_up.shoulder_tilt_deg - upright.shoulder_tilt_deg <= -8
    assert 8 <= right_up.shoulder_tilt_deg - upright.shoulder_tilt_deg <= 22


def test_a_real_hand_is_found_with_its_fingers_where_they_are_and_a_face_shows_none(astronaut: Image) -> None:
    hand = photo()
    x0, y0, w, h = FACE_BOX
    face_only = np.ascontiguousarray(astronaut[y0 - 40 : y0 + h + 30, x0 - 30 : x0 + w + 30])
    on_hand, on_astronaut, on_face = find_hands([hand, astronaut, face_only])
    assert len(on_hand) == 1 and on_hand[0].presence > 0.9
    points = on_hand[0].landmarks
    # The photo's hand lies with its wrist at the left edge and the fingers pointing right.
    wrist, fingertips = points[0], points[[8, 12, 16, 20]]
    assert wrist[0] < 60 and (fingertips[:, 0] > 380).all()
    assert on_astronaut == [] and on_face == []


def test_a_frame_without_a_body_leaves_posture_unsupported_not_zero() -> None:
    empty = np.full((480, 640, 3), 128, np.uint8)
    assert find_bodies([empty]) == [None]
    samples = body_samples([empty] * 3, [0.0, 0.5, 1.0], [_no_face()] * 3, 2.0)
    assert [s.body for s in samples] == [False, False, False]
    measures = body_behaviour(samples, [("q1", 0.0, 2.0)], MODELS).questions["q1"]
    assert measures.samples == 3 and measures.body_visible_ratio == 0.0
    assert measures.shoulder_tilt_deg is None and measures.posture_shifts is None
    assert measures.lean_forward_ratio is None and measures.slouch_ratio is None
    # No hands and no face: touching is unsupported too, not "never".
    assert measures.hands_visible_ratio == 0.0 and measures.hand_face_touches is None


def test_scripted_hand_to_face_touches_are_counted(astronaut: Image) -> None:
    hz = 2.0
    x0, y0, w, h = FACE_BOX
    face = (x0 + w / 2, y0 + h / 2)
    aside = (430.0, 300.0)  # beside the body, clear of the face
    # (seconds, where the hand is): the truth is two touches, 1.5 s and 1 s long.
    script = [(1.5, aside), (1.5, face), (1.5, aside), (1.0, face), (1.0, None)]
    frames, times, truth = [], [], []
    t = 0.0
    for seconds, place in script:
        for _ in range(round(seconds * hz)):
            frames.append(astronaut if place is None else paste_hand(astronaut, place, 190, 10 * np.sin(t * 3)))
            times.append(t)
            truth.append(place is face)
            t += 1 / hz
    results = [_face_at(FACE_BOX, 512)] * len(frames)
    samples = body_samples(frames, times, results, hz)
    assert len(samples) == len(frames)
    assert [s.hand_face_touch for s in samples] == [
        True if near else (False if s.hands else None) for s, near in zip(samples, truth, strict=True)
    ]
    judged = body_behaviour(samples, [("q1", 0.0, t)], MODELS)
    assert [(round(e.start_s, 2), round(e.end_s, 2)) for e in judged.touches] == [(1.5, 3.0), (4.5, 5.5)]
    measures = judged.questions["q1"]
    assert measures.hand_face_touches == 2 and measures.hand_face_touch_s == pytest.approx(2.5)
    assert measures.hands_visible_ratio == pytest.approx(11 / 13)
    # The hand jumps between the face and the side: those samples are gestures; a hand held in place is not.
    assert measures.gesturing_ratio is not None and 0 < measures.gesturing_ratio < 0.5


def test_samples_are_taken_at_the_bounded_rate() -> None:
    times = [i / 10 for i in range(30)]  # 10 fps, 3 s
    assert sampled(times, 2.0) == [0, 5, 10, 15, 20, 25]
    assert sampled(times, 0.0) == []


def _sample(t: float, width: float | None, tilt: float = 0.0, x: float = 0.5) -> BodySample:
    shoulders = width is not None
    return BodySample(
        t_s=t,
        hands=0,
        body=shoulders,
        shoulder_tilt_deg=tilt if shoulders else None,
        shoulder_width=width,
        shoulder_centre=[x, 0.8] if shoulders else None,
        head_height=0.5 if shoulders else None,
    )


def test_lean_and_posture_shifts_follow_the_candidates_own_baseline() -> None:
    # 10 s at 2 Hz sitting still, 4 s leaning in (shoulders 20 % wider), 10 s back, then 6 s tilted by 12 degrees.
    samples = [_sample(i / 2, 0.30) for i in range(20)]
    samples += [_sample(10 + i / 2, 0.36) for i in range(8)]
    samples += [_sample(14 + i / 2, 0.30) for i in range(20)]
    samples += [_sample(24 + i / 2, 0.30, tilt=12.0) for i in range(12)]
    judged = body_behaviour(samples, [("a", 0.0, 12.0), ("b", 12.0, 30.0)], MODELS)
    assert len(judged.shift_times_s) == 3
    assert [round(t) for t in judged.shift_times_s] == [10, 14, 24]
    a, b = judged.questions["a"], judged.questions["b"]
    assert a.lean_forward_ratio == pytest.approx(4 / 24) and a.lean_back_ratio == 0.0
    assert a.posture_shifts == 1 and b.posture_shifts == 2
    assert b.shoulder_tilt_deg == pytest.approx(12.0 * 12 / 36)


def _no_face() -> FrameResult:
    return FrameResult(0, None, None, None, None, None, 0.5, 100.0)


def _face_at(box: tuple[int, int, int, int], side: int) -> FrameResult:
    x, y, w, h = box
    return FrameResult(1, (x / side, y / side, (x + w) / side, (y + h) / side), 0.99, None, None, None, 0.5, 100.0)
