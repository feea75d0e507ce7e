"""The candidate's face followed with the face mesh where the face detector loses it.

A face detector finds a head turned far aside less often than a frontal one, and a small or backlit profile least
of all: without help, a look-away would read as the candidate leaving the picture (face absent) and would not
count against eye contact. The face mesh is a tracker as MediaPipe uses it: run on the region where the face
was a frame earlier, its face-presence score says whether a face is still there, and its points where. So each
run of frames without a face is walked from the face found just before it (forwards) and from the one just after
it (backwards): the mesh runs on the crop of the last face's box, centred where the last mesh found the face,
and the walk stops at the first frame whose crop holds no face (presence below the mesh's floor). A candidate who
leaves stops the walk at once (an empty region scores near 0, a head turned 50 degrees near 1 on the recordings
measured): the frames left are absent, and the cost is bounded by the frames followed plus two per run.

A followed face gives the head's yaw against the line of sight (`services.vision.pose`, on the mesh's eye
centres, nose tip and mouth corners), which agrees with the detector's within a few degrees on the frames where
both exist, and the look-away rule judges it as any other frame. Its pitch is not reported: the mesh's nose tip
sits elsewhere than the detector's and five points read pitch from exactly that, tens of degrees apart.
Runs that touch a chunk's edge are followed only from the side that has a face (chunks are analysed apart).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.frames.geometry import Image
from services.vision.analyzer import Followed, FrameResult
from services.vision.landmarks import MOUTH_CORNERS, NOSE_TIP, MeshRunner, supported
from services.vision.pose import head_pose
from services.vision.signals import runs

#: In the vision-features event's model_versions (key ``face_follow``) where faces were followed.
FOLLOW_VERSION = "mesh-follow-1"
#: Frames in a row where the mesh may miss the face before a walk stops: a head turning away blurs, and the mesh
#: loses it for a frame or two on the way (at 10 frames/s, 0.3 s).
MAX_MISSES = 3
#: Mesh points whose middle is each eye's centre (the detector's eye point), image-left eye first: the corners.
EYE_CORNERS = ((33, 133), (263, 362))


@dataclass(frozen=True)
class _Seed:
    """Where the next frame's crop goes, in frame pixels: a box and the five points that level it, and the middle
    of the mesh found in the crop before (None before the first)."""

    box: npt.NDArray[np.float32]
    points: npt.NDArray[np.float32]
    mesh_centre: npt.NDArray[np.float32] | None = None


def five_points(points: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The detector's five points (eye centres, nose tip, mouth corners, image-left first) of a face's mesh."""
    eyes = [points[list(corners)].mean(axis=0) for corners in EYE_CORNERS]
    return np.asarray([*eyes, points[NOSE_TIP], points[MOUTH_CORNERS[0]], points[MOUTH_CORNERS[1]]], np.float32)


def _seed(result: FrameResult, width: int, height: int) -> _Seed | None:
    if result.box is None or result.landmarks is None:
        return None
    scale = np.array([width, height], np.float32)
    box = np.asarray(result.box, np.float32) * np.tile(scale, 2)
    return _Seed(box, np.asarray(result.landmarks * scale, np.float32)) if supported(box) else None


def _moved(seed: _Seed, mesh: npt.NDArray[np.float32]) -> _Seed:
    """The seed moved as the mesh moved since the frame before. Only the crop's place follows the mesh, its size
    and level stay the detected face's: a turned face's mesh spans and tilts differently, and a crop reshaped to
    it drifts off the face within a few frames."""
    centre = np.asarray((mesh.min(axis=0) + mesh.max(axis=0)) / 2, np.float32)
    shift = np.zeros(2, np.float32) if seed.mesh_centre is None else centre - seed.mesh_centre
    return _Seed(seed.box + np.tile(shift, 2), seed.points + shift, centre)


def follow_lost_faces(frames: Sequence[Image], results: Sequence[FrameResult], runner: MeshRunner) -> list[FrameResult]:
    """``results`` with `FrameResult.followed` set on the frames without a face whose face the mesh followed."""
    out = list(results)
    for i, j in runs(np.array([r.box is None for r in results], dtype=bool)):
        if i > 0:
            _walk(frames, out, i - 1, range(i, j), runner)
        if j < len(results):
            _walk(frames, out, j, range(j - 1, i - 1, -1), runner)
    return out


def _walk(frames: Sequence[Image], out: list[FrameResult], start: int, order: range, runner: MeshRunner) -> None:
    """Follows the face detected at ``start`` through the frames ``order`` (in place), until the mesh misses it
    more than ``MAX_MISSES`` frames in a row or reaches a frame already followed. Frames it missed between two it
    found take the later one's face: the head was there on both sides."""
    height, width = frames[start].shape[:2]
    seed = _seed(out[start], width, height)
    missed: list[int] = []
    for k in order:
        if seed is None or len(missed) > MAX_MISSES or out[k].followed is not None:
            return
        mesh = runner.run([(frames[k], seed.box, seed.points)])[0]
        pose = None if mesh is None else head_pose(five_points(mesh.points), width, height)
        if mesh is None or pose is None:
            missed.append(k)
            continue
        seed = _moved(seed, mesh.points)
        x0, y0, x1, y1 = (float(v) for v in seed.box)
        followed = Followed((x0 / width, y0 / height, x1 / width, y1 / height), pose.sight_yaw_deg, mesh.presence)
        for m in [*missed, k]:
            out[m] = dataclasses.replace(out[m], followed=followed)
        missed = []


__all__ = ["EYE_CORNERS", "FOLLOW_VERSION", "five_points", "follow_lost_faces"]
