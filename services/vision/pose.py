"""Head pose from the five facial landmarks (eyes, nose tip, mouth corners).

A generic adult face in millimetres (x to the image's right, y up, z toward the camera) is fitted to
the landmarks with OpenCV's PnP solver, a pinhole camera whose focal length is the image width and
whose principal point is the image centre (webcams are near that). The rotation is reported in the
contract's convention: positive yaw turns the face to the image's left, which is the candidate's right (a
candidate looking to their left has a negative yaw); positive pitch looks up; positive roll tilts clockwise in
the image.

Whether a candidate faces the camera is a question about the line of sight, not the optical axis: someone sitting
on the left third of the picture who looks into the lens has their head turned toward it, and reads a camera-axis
yaw of about ten degrees. `Pose.sight_yaw_deg` / `sight_pitch_deg` are the same rotation measured against the ray
from the camera to the face (the PnP translation), so they are near zero for a face looking into the lens wherever
it sits in the frame and whatever the camera's height, and eye contact can be judged without the box's position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

#: Model points in landmark order: eye on the image's left, eye on the image's right, nose tip, mouth corners.
FACE_MODEL_MM = np.array(
    [
        [-32.0, 33.0, -27.0],
        [32.0, 33.0, -27.0],
        [0.0, 0.0, 0.0],
        [-26.0, -30.0, -22.0],
        [26.0, -30.0, -22.0],
    ],
    dtype=np.float64,
)


@dataclass(frozen=True)
class Pose:
    """Head rotation in degrees: yaw positive toward the image's left, pitch up, roll clockwise."""

    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    #: The head's yaw and pitch against the line of sight (camera to face), same signs: 0 looks into the lens.
    sight_yaw_deg: float = 0.0
    sight_pitch_deg: float = 0.0


def camera_matrix(width: int, height: int) -> npt.NDArray[np.float64]:
    f = float(width)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def _to_camera_axes() -> npt.NDArray[np.float64]:
    # OpenCV's camera looks along +z with y down; the model has y up and z toward the camera.
    return np.diag([1.0, -1.0, -1.0])


def head_pose(landmarks: npt.NDArray[np.float32], width: int, height: int) -> Pose | None:
    """Pose of a face from its 5 landmarks in pixels; None when the solver fails."""
    image_points = np.ascontiguousarray(landmarks, dtype=np.float64).reshape(5, 2)
    model = FACE_MODEL_MM @ _to_camera_axes()
    # Five nearly coplanar points make closed-form solvers flip between mirror solutions; iterating
    # from a frontal pose at the distance implied by the eye spacing keeps the solution continuous.
    eye_px = max(1.0, float(np.linalg.norm(image_points[1] - image_points[0])))
    distance = float(width) * 64.0 / eye_px
    centre = (image_points[2] - np.array([width / 2.0, height / 2.0])) * distance / float(width)
    guess = np.zeros((3, 1))
    tvec = np.array([[centre[0]], [centre[1]], [distance]])
    ok, rvec, found = cv2.solvePnP(
        model, image_points, camera_matrix(width, height), None, guess, tvec, True, cv2.SOLVEPNP_ITERATIVE
    )
    if not ok:
        return None
    rot = np.asarray(cv2.Rodrigues(rvec)[0], dtype=np.float64)
    yaw, pitch, roll = _angles(rot)
    # The rotation that turns the optical axis onto the ray toward the face, undone: the head's pose as seen
    # along that ray.
    sight_yaw, sight_pitch, _ = _angles(_onto_ray(np.asarray(found, dtype=np.float64).reshape(3)).T @ rot)
    return Pose(yaw_deg=yaw, pitch_deg=pitch, roll_deg=roll, sight_yaw_deg=sight_yaw, sight_pitch_deg=sight_pitch)


def _onto_ray(direction: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The rotation (camera axes) taking the optical axis +z onto ``direction``: yaw about y, then pitch about x,
    no roll, so a face on the ray looking back along it has zero yaw and pitch."""
    x, y, z = direction / max(1e-9, float(np.linalg.norm(direction)))
    about_y = math.atan2(x, z)
    about_x = math.atan2(-y, math.hypot(x, z))
    ry = np.array([[math.cos(about_y), 0, math.sin(about_y)], [0, 1, 0], [-math.sin(about_y), 0, math.cos(about_y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(about_x), -math.sin(about_x)], [0, math.sin(about_x), math.cos(about_x)]])
    return np.asarray(ry @ rx, dtype=np.float64)


def _angles(rot: npt.NDArray[np.float64]) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in the contract's convention of a rotation in OpenCV camera axes."""
    # Express the rotation in the model's own axes (x right, y up, z toward the camera).
    r = _to_camera_axes() @ rot @ _to_camera_axes()
    # r = Rz(roll) @ Ry(yaw) @ Rx(pitch) in that frame.
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, -r[2, 0]))))
    pitch = math.degrees(math.atan2(r[2, 1], r[2, 2]))
    roll = math.degrees(math.atan2(r[1, 0], r[0, 0]))
    # Rotation about +y (up) turns the nose toward +x, the image's right: the contract's yaw is the opposite.
    # Rotation about +x tips the nose down (looks down): the contract's pitch is the opposite.
    # Rotation about +z (toward the camera) is counter-clockwise in the image: the contract's roll is the opposite.
    return -yaw, -pitch, -roll


def project(pose: Pose, distance_mm: float, width: int, height: int) -> npt.NDArray[np.float32]:
    """Where the model's landmarks land for a given pose (for tests and calibration)."""
    yaw, pitch, roll = math.radians(-pose.yaw_deg), math.radians(-pose.pitch_deg), math.radians(-pose.roll_deg)
    rx = np.array([[1, 0, 0], [0, math.cos(pitch), -math.sin(pitch)], [0, math.sin(pitch), math.cos(pitch)]])
    ry = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]])
    rz = np.array([[math.cos(roll), -math.sin(roll), 0], [math.sin(roll), math.cos(roll), 0], [0, 0, 1]])
    axes = _to_camera_axes()
    rot = axes @ (rz @ ry @ rx) @ axes
    model = FACE_MODEL_MM @ axes
    points, _ = cv2.projectPoints(
        model, cv2.Rodrigues(rot)[0], np.array([0.0, 0.0, distance_mm]), camera_matrix(width, height), None
    )
    return np.asarray(points.reshape(5, 2), dtype=np.float32)


__all__ = ["FACE_MODEL_MM", "Pose", "camera_matrix", "head_pose", "project"]
