"""MediaPipe's landmark networks (face mesh, iris, hands, body pose), run with ai-edge-litert.

The .tflite files are unpacked from the mediapipe wheel on PyPI by scripts/install-mediapipe-models.sh (the
package itself pins numpy<2, so it is never installed). Each entry carries the file's sha256, the licence, the
input the network expects and what it returns; `interpreter` checks the file against its sha256 before use, so
a changed or truncated file fails loudly instead of giving wrong landmarks.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from services.vision.registry import WeightsUnavailable

if TYPE_CHECKING:
    from ai_edge_litert.interpreter import Interpreter

#: Where `make setup` unpacks the models; images set SIGHTLINE_MEDIAPIPE_MODELS_DIR to their own copy.
DEFAULT_DIR = Path(__file__).resolve().parents[2] / ".local" / "models" / "mediapipe"
DIR_ENV = "SIGHTLINE_MEDIAPIPE_MODELS_DIR"
SOURCE = "mediapipe==0.10.21 wheel (PyPI), mediapipe/modules/"


@dataclass(frozen=True)
class LiteModel:
    name: str
    version: str
    file: str
    sha256: str
    input_size: str
    preprocessing: str
    outputs: str
    licence: str = "Apache-2.0"

    def path(self, directory: Path | None = None) -> Path:
        root = directory or models_dir()
        path = root / self.file
        if not path.is_file():
            raise WeightsUnavailable(
                f"{self.name}: {path} is missing; `make setup` unpacks it (scripts/install-mediapipe-models.sh)"
            )
        return path


def models_dir() -> Path:
    return Path(os.environ.get(DIR_ENV) or DEFAULT_DIR)


FACE_MESH = LiteModel(
    name="face_mesh",
    version="mediapipe-face-landmark-0.10.21",
    file="face_landmark.tflite",
    sha256="1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
    input_size="192x192 RGB crop of the face (box enlarged by a margin, upright)",
    preprocessing="RGB scaled to [0, 1], NHWC float32",
    outputs="468 landmarks (x, y in crop pixels, z relative depth) and a face-presence logit",
)
IRIS = LiteModel(
    name="iris",
    version="mediapipe-iris-landmark-0.10.21",
    file="iris_landmark.tflite",
    sha256="d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f",
    input_size="64x64 RGB crop around one eye (a left eye is mirrored to look like a right eye)",
    preprocessing="RGB scaled to [0, 1], NHWC float32",
    outputs="71 eye contour + brow points and 5 iris points (x, y, z in crop pixels)",
)
PALM_DETECTOR = LiteModel(
    name="palm_detector",
    version="mediapipe-palm-detection-lite-0.10.21",
    file="palm_detection_lite.tflite",
    sha256="e9a4aaddf90dda56a87235303cf00e4c2d3fb28725f68fd88772997dac905c18",
    input_size="192x192 RGB, the frame letterboxed",
    preprocessing="RGB scaled to [0, 1], NHWC float32",
    outputs="2016 anchors: box and 7 palm keypoints (18 values) and a score logit each",
)
HAND_LANDMARKS = LiteModel(
    name="hand_landmarks",
    version="mediapipe-hand-landmark-lite-0.10.21",
    file="hand_landmark_lite.tflite",
    sha256="048edd3645c9bf7397d19a9f6e3a42957d6e414c9bea6598030a2e9b624156e6",
    input_size="224x224 RGB crop around a detected palm, rotated upright",
    preprocessing="RGB scaled to [0, 1], NHWC float32",
    outputs="21 hand landmarks (x, y, z in crop pixels), hand presence, handedness, world landmarks",
)
POSE_DETECTOR = LiteModel(
    name="pose_detector",
    version="mediapipe-pose-detection-0.10.21",
    file="pose_detection.tflite",
    sha256="9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
    input_size="224x224 RGB, the frame letterboxed",
    preprocessing="RGB scaled to [-1, 1], NHWC float32",
    outputs="2254 anchors: box and 4 keypoints (12 values) and a score logit each",
)
POSE_LANDMARKS = LiteModel(
    name="pose_landmarks",
    version="mediapipe-pose-landmark-full-0.10.21",
    file="pose_landmark_full.tflite",
    sha256="e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
    input_size="256x256 RGB crop around a detected person, rotated upright",
    preprocessing="RGB scaled to [0, 1], NHWC float32",
    outputs="33 body landmarks (x, y, z, visibility, presence), presence score, segmentation, heatmap",
)

#: The models behind the hand and posture measures (services/vision/body.py).
BODY_MODELS = (PALM_DETECTOR, HAND_LANDMARKS, POSE_DETECTOR, POSE_LANDMARKS)

LITE_MODELS: dict[str, LiteModel] = {
    m.name: m for m in (FACE_MESH, IRIS, PALM_DETECTOR, HAND_LANDMARKS, POSE_DETECTOR, POSE_LANDMARKS)
}


@cache
def _verified(path: Path, sha256: str) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise WeightsUnavailable(f"{path} has sha256 {digest}, expected {sha256}: re-run `make setup`")


def interpreter(model: LiteModel, *, batch: int = 1, threads: int = 1, directory: Path | None = None) -> Interpreter:
    """A ready interpreter for `model` whose first input takes `batch` images at once (one invoke per batch)."""
    from ai_edge_litert.interpreter import Interpreter

    path = model.path(directory)
    _verified(path, model.sha256)
    it = Interpreter(model_path=str(path), num_threads=threads)
    if batch != 1:
        shape = list(it.get_input_details()[0]["shape"])
        it.resize_tensor_input(it.get_input_details()[0]["index"], [batch, *shape[1:]])
    it.allocate_tensors()
    return it


__all__ = [
    "BODY_MODELS",
    "FACE_MESH",
    "HAND_LANDMARKS",
    "IRIS",
    "LITE_MODELS",
    "PALM_DETECTOR",
    "POSE_DETECTOR",
    "POSE_LANDMARKS",
    "LiteModel",
    "interpreter",
    "models_dir",
]
