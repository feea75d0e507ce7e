"""MediaPipe's 468-point face mesh on the candidate's face, and the measures five points cannot give.

The face detector's box and five points place the crop the mesh network expects (MediaPipe's own recipe): a
square of ``MARGIN`` times the box's longer side around its centre, rotated so the eye line is level, scaled to
192x192 RGB in [0, 1]. All faces of a batch of frames go through the network in one invoke (`interpreter` with a
batch of the next power of two), and the points are mapped back to the frame. The network's face-presence score
rejects crops that hold no face. Below ``MIN_FACE_PX`` (the face box's height in frame pixels) the mesh is not
run: eyelids and lips are then a pixel or two and their distances are noise, so the measures are reported as not
supported by the recording rather than as values.

Measures per frame, all ratios so that they do not depend on the face's size in the picture:

- eye openness: the eye aspect ratio (mean lid gap over eye width) of both eyes;
- mouth opening: the inner-lip gap over the face's height (forehead to chin);
- brow height: the brow's distance above the upper eyelid over the face's height (it drops when the brows are
  lowered, as in a frown; judged against the candidate's own level, see `services.vision.blinks`);
- mouth width and corner lift: the corners' distance over the face's width, and how far the corners sit above
  the lips' middle, in face heights (a smile widens the mouth and lifts the corners).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from services.frames.geometry import Image
from services.vision.litert_models import FACE_MESH, interpreter

if TYPE_CHECKING:
    from ai_edge_litert.interpreter import Interpreter

#: Side of the square crop around the face, in face-box sides (MediaPipe's face-mesh region of interest).
MARGIN = 1.5
#: The mesh network's input side, pixels.
MESH_SIDE = 192
#: Face-box height (frame pixels) below which the mesh is not run.
MIN_FACE_PX = 40.0
#: Face-presence probability below which the crop holds no face.
MIN_PRESENCE = 0.5
#: Largest batch passed to the network at once (batches are rounded up to a power of two up to this).
MAX_BATCH = 16

# Indices into the 468 points (MediaPipe's canonical face mesh; "right" is the subject's right, image left).
RIGHT_EYE = (33, 160, 158, 133, 153, 144)  # outer corner, two upper lid, inner corner, two lower lid
LEFT_EYE = (263, 387, 385, 362, 380, 373)
INNER_LIPS = (13, 14)  # upper, lower
MOUTH_CORNERS = (61, 291)
FOREHEAD, CHIN = 10, 152
CHEEKS = (234, 454)
BROWS = ((105, 159), (334, 386))  # (brow middle, upper eyelid middle) per side
NOSE_TIP = 1


@dataclass(frozen=True)
class FaceMesh:
    """The mesh of one face (frame pixels) and its measures."""

    points: npt.NDArray[np.float32]  # (468, 2), frame pixels
    presence: float
    eye_openness: float
    mouth_opening: float
    brow_height: float
    mouth_width: float
    mouth_corner_lift: float


def crop_transform(box: npt.NDArray[np.float32], eyes: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """The 2x3 affine map from frame pixels to the mesh crop of a face at ``box`` (x0, y0, x1, y1) whose eyes
    (image-left first, as the detector gives them) are at ``eyes``."""
    cx, cy = (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0
    side = MARGIN * max(float(box[2] - box[0]), float(box[3] - box[1]))
    dx, dy = float(eyes[1][0] - eyes[0][0]), float(eyes[1][1] - eyes[0][1])
    angle = math.degrees(math.atan2(dy, dx))
    m = cv2.getRotationMatrix2D((float(cx), float(cy)), angle, MESH_SIDE / side)
    m[:, 2] += (MESH_SIDE / 2.0 - cx, MESH_SIDE / 2.0 - cy)
    return np.asarray(m, np.float64)


def mesh_crop(image: Image, transform: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    """The 192x192 RGB [0, 1] crop the network reads (``image`` is BGR)."""
    crop = cv2.warpAffine(image, transform, (MESH_SIDE, MESH_SIDE), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    rgb = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
    return np.asarray(rgb, np.float32) / 255.0


def _distance(p: npt.NDArray[np.float32], a: int, b: int) -> float:
    return float(np.hypot(*(p[a] - p[b])))


def eye_openness(points: npt.NDArray[np.float32]) -> float:
    """Mean eye aspect ratio of both eyes: lid gaps over eye width."""
    ratios = []
    for outer, up1, up2, inner, low1, low2 in (RIGHT_EYE, LEFT_EYE):
        width = max(_distance(points, outer, inner), 1e-6)
        ratios.append((_distance(points, up1, low2) + _distance(points, up2, low1)) / (2.0 * width))
    return float(np.mean(ratios))


def measures(points: npt.NDArray[np.float32], presence: float) -> FaceMesh:
    face_h = max(_distance(points, FOREHEAD, CHIN), 1e-6)
    face_w = max(_distance(points, *CHEEKS), 1e-6)
    # "Up" in the face's own frame: from chin to forehead, so a tilted head reads the same.
    up = (points[FOREHEAD] - points[CHIN]) / face_h
    lips_mid = (points[INNER_LIPS[0]] + points[INNER_LIPS[1]]) / 2.0
    corners = (points[MOUTH_CORNERS[0]] + points[MOUTH_CORNERS[1]]) / 2.0
    return FaceMesh(
        points=points,
        presence=presence,
        eye_openness=eye_openness(points),
        mouth_opening=_distance(points, *INNER_LIPS) / face_h,
        brow_height=float(np.mean([_distance(points, b, e) for b, e in BROWS])) / face_h,
        mouth_width=_distance(points, *MOUTH_CORNERS) / face_w,
        mouth_corner_lift=float(np.dot(corners - lips_mid, up)) / face_h,
    )


def supported(box: npt.NDArray[np.float32]) -> bool:
    """Whether a face at ``box`` (frame pixels) is large enough for the mesh."""
    return float(box[3] - box[1]) >= MIN_FACE_PX


class MeshRunner:
    """Runs the face mesh on many faces at once. Interpreters are not shared between threads: each batch thread
    gets its own, one per batch size."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _interpreter(self, batch: int) -> Interpreter:
        cache: dict[int, Interpreter] | None = getattr(self._local, "interpreters", None)
        if cache is None:
            cache = self._local.interpreters = {}
        if batch not in cache:
            cache[batch] = interpreter(FACE_MESH, batch=batch)
        return cache[batch]

    def run(
        self, faces: Sequence[tuple[Image, npt.NDArray[np.float32], npt.NDArray[np.float32]]]
    ) -> list[FaceMesh | None]:
        """The mesh of each (BGR frame, box, five points) in frame pixels; None where the crop holds no face."""
        out: list[FaceMesh | None] = []
        for start in range(0, len(faces), MAX_BATCH):
            out.extend(self._run_batch(faces[start : start + MAX_BATCH]))
        return out

    def _run_batch(
        self, faces: Sequence[tuple[Image, npt.NDArray[np.float32], npt.NDArray[np.float32]]]
    ) -> list[FaceMesh | None]:
        if not faces:
            return []
        size = 1 << (len(faces) - 1).bit_length()
        transforms = [crop_transform(box, points[:2]) for _, box, points in faces]
        batch = np.zeros((size, MESH_SIDE, MESH_SIDE, 3), np.float32)
        for k, ((image, _, _), m) in enumerate(zip(faces, transforms, strict=True)):
            batch[k] = mesh_crop(image, m)
        it = self._interpreter(size)
        it.set_tensor(it.get_input_details()[0]["index"], batch)
        it.invoke()
        outputs = [it.get_tensor(o["index"]) for o in it.get_output_details()]
        raw = next(o for o in outputs if o.size == size * 468 * 3).reshape(size, 468, 3)
        logits = next(o for o in outputs if o.size == size).reshape(size)
        result: list[FaceMesh | None] = []
        for k, m in enumerate(transforms):
            presence = float(1.0 / (1.0 + math.exp(-float(logits[k]))))
            if presence < MIN_PRESENCE:
                result.append(None)
                continue
            back = cv2.invertAffineTransform(m)
            xy = raw[k, :, :2].astype(np.float64) @ back[:, :2].T + back[:, 2]
            result.append(measures(np.asarray(xy, np.float32), presence))
        return result


__all__ = [
    "MIN_FACE_PX",
    "FaceMesh",
    "MeshRunner",
    "crop_transform",
    "eye_openness",
    "measures",
    "mesh_crop",
    "supported",
]
