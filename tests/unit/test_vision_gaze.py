"""Eye contact and look-aways judged over the interview from the head's pose against the line of sight
(`services.vision.aggregate.gaze`), and the line-of-sight pose itself (`services.vision.pose`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import pytest

from services.common.contracts import GazeSample, VisionFeatures
from services.vision.aggregate import GazeRule, Window, aggregate, gaze
from services.vision.pose import FACE_MODEL_MM, _to_camera_axes, camera_matrix, head_pose
from tests.fusion_data import _example

FPS = 10


def _events(yaw_of: Sequence[float | None], pitch: float = 0.0, chunk_s: float = 4.0) -> list[VisionFeatures]:
    """Chunks of one interview whose frames (10 a second) have the given yaws against the line of sight."""
    base = _example("vision-features")
    per_chunk = int(chunk_s * FPS)
    total = math.ceil(len(yaw_of) / per_chunk)
    events = []
    for index in range(total):
        frames = range(index * per_chunk, min(len(yaw_of), (index + 1) * per_chunk))
        samples = [
            GazeSample(t_s=k / FPS, yaw_deg=yaw_of[k], pitch_deg=None if yaw_of[k] is None else pitch) for k in frames
        ]
        data = dict(
            base,
            event_id=f"{base['event_id'][:-2]}{index:02d}",
            chunk_index=index,
            total_chunks=total,
            start_s=index * chunk_s,
            end_s=(index + 1) * chunk_s,
            gaze=[s.model_dump(mode="json") for s in samples],
        )
        events.append(VisionFeatures.model_validate(data))
    return events


def _interview(rest: float, turned: float, looks: list[tuple[float, float]], seconds: float = 20.0) -> list[float]:
    return [turned if any(a <= k / FPS < b for a, b in looks) else rest for k in range(int(seconds * FPS))]


@pytest.mark.parametrize("rest", [-12.0, 0.0, 9.0])
def test_look_aways_are_judged_from_the_candidates_resting_pose_across_chunks(rest: float) -> None:
    # A candidate who rests at `rest` degrees (framed off-centre with the screen beside the lens, say) and turns
    # 30 degrees away twice, once across a chunk boundary (4 s), once only briefly.
    yaws = _interview(rest, rest - 30.0, [(2.5, 5.5), (9.0, 9.5), (12.0, 14.0)])
    judged = gaze(_events(yaws))
    assert judged is not None and judged.rest_yaw_deg == pytest.approx(rest)
    spans = [(p.start_s, p.end_s) for p in judged.look_aways]
    assert spans == [pytest.approx((2.5, 5.5)), pytest.approx((12.0, 14.0))]  # the half-second glance is not one
    facing, seen = judged.eye_contact(0.0, 20.0)
    assert seen == 200 and facing == 200 - 30 - 5 - 20


def test_aggregate_reports_the_judgement_per_window_and_the_resting_pose() -> None:
    yaws = _interview(6.0, -30.0, [(3.0, 6.0)], seconds=12.0)
    behaviour = aggregate(
        _events(yaws),
        [Window(question_id="a", start_s=0.0, end_s=6.0), Window(question_id="b", start_s=6.0, end_s=12.0)],
    )
    assert behaviour.rest_pose == pytest.approx((6.0, 0.0))
    first, second = behaviour.questions
    assert first.eye_contact_ratio == pytest.approx(0.5) and second.eye_contact_ratio == pytest.approx(1.0)
    assert [(p.start_s, p.end_s) for p in first.look_aways] == [pytest.approx((3.0, 6.0))]


def test_a_candidate_turned_away_most_of_the_time_does_not_make_that_eye_contact() -> None:
    # Reading from a screen 40 degrees aside for 70 % of the interview: the resting pose may sit at most
    # max_rest_yaw_deg from the line of sight, so the reading is not taken for it and those frames stay turned away.
    assert GazeRule().max_rest_yaw_deg < 40.0 - GazeRule().max_yaw_deg
    yaws = _interview(0.0, 40.0, [(0.0, 14.0)])
    judged = gaze(_events(yaws))
    assert judged is not None and judged.rest_yaw_deg == pytest.approx(0.0)
    facing, seen = judged.eye_contact(0.0, 20.0)
    assert facing == 60 and seen == 200


def test_frames_without_a_face_are_neither_facing_nor_away_and_old_events_keep_the_chunks_judgement() -> None:
    yaws: list[float | None] = [0.0] * 40 + [None] * 20 + [0.0] * 20
    judged = gaze(_events(yaws))
    assert judged is not None and judged.look_aways == [] and judged.eye_contact(0.0, 8.0) == (60, 60)
    old = [e.model_copy(update={"gaze": []}) for e in _events(yaws)]
    assert gaze(old) is None
    assert aggregate(old).rest_pose is None


def _project(yaw_deg: float, position_mm: tuple[float, float, float], width: int, height: int) -> np.ndarray:
    """The five landmarks of the model face at ``position_mm`` (camera axes, y down), turned ``yaw_deg`` away from
    facing the lens along its line of sight (positive: toward the image's left)."""
    x, _, z = position_mm
    toward = math.atan2(x, z)  # the rotation about the vertical that faces the lens from there
    angle = toward + math.radians(yaw_deg)
    rot = np.array([[math.cos(angle), 0, math.sin(angle)], [0, 1, 0], [-math.sin(angle), 0, math.cos(angle)]])
    model = FACE_MODEL_MM @ _to_camera_axes()
    points, _ = cv2.projectPoints(
        model, cv2.Rodrigues(rot)[0], np.array(position_mm, dtype=np.float64), camera_matrix(width, height), None
    )
    return np.asarray(points.reshape(5, 2), dtype=np.float32)


@pytest.mark.parametrize("x_mm", [-250.0, 0.0, 250.0])
@pytest.mark.parametrize("turn", [0.0, 30.0])
def test_line_of_sight_pose_does_not_depend_on_where_the_face_sits(x_mm: float, turn: float) -> None:
    # A face left of, at, or right of the image centre, looking into the lens or turned 30 degrees from it: the
    # camera-axis yaw changes with the position, the yaw against the line of sight does not.
    pose = head_pose(_project(turn, (x_mm, 0.0, 900.0), 1280, 720), 1280, 720)
    assert pose is not None
    assert pose.sight_yaw_deg == pytest.approx(turn, abs=1.0)
    assert abs(pose.sight_pitch_deg) < 1.0
    if x_mm:
        assert abs(pose.yaw_deg - pose.sight_yaw_deg) > 10.0
