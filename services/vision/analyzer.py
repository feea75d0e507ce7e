"""Per-frame analysis of a batch of frames: faces, the candidate's face, landmarks, head pose,
expression probabilities and image quality.

Frames of equal size share one detector pass (frames of different interviews may differ in size, so a
batch is split by size). Detection runs on frames scaled down to ``detect_max_side``; landmarks, pose,
expression crops and sharpness use the full-resolution frame. Expression runs only on the face crops of
frames whose interview permits it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import torch

from services.common.cpus import available_cores
from services.frames.geometry import Image
from services.vision.expression import CLASSES, ExpressionNet, face_crop, load_expression, probabilities
from services.vision.pose import Pose, head_pose
from services.vision.registry import EXPRESSION, FACE_DETECTOR
from services.vision.retinaface import Detections, RetinaFaceNet, detect, load_retinaface
from services.vision.settings import VisionSettings

log = logging.getLogger(__name__)

#: Torch's CPU threads as the process started (OMP_NUM_THREADS, else one per core), at most the cores the
#: container's CPU quota allows.
DEFAULT_THREADS = min(torch.get_num_threads(), available_cores())


@dataclass(frozen=True)
class FrameJob:
    image: Image
    expression: bool


@dataclass(frozen=True)
class FrameResult:
    """What one frame shows. Coordinates are fractions of the frame's width and height."""

    faces: int
    box: tuple[float, float, float, float] | None
    score: float | None
    landmarks: npt.NDArray[np.float32] | None  # (5, 2)
    pose: Pose | None
    expression: npt.NDArray[np.float32] | None  # (7,) in CLASSES order
    brightness: float
    sharpness: float


def select_device(setting: str) -> torch.device:
    if setting == "cuda" or (setting == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


class FrameAnalyzer:
    """The loaded models and the per-frame pipeline. Batches may run on several threads at once: the models
    only read their weights and the timers are locked."""

    def __init__(self, settings: VisionSettings) -> None:
        self.settings = settings
        self.device = select_device(settings.device)
        half = self.device.type == "cuda" and settings.half_precision
        self.detector: RetinaFaceNet = load_retinaface(str(FACE_DETECTOR.weights_path()), self.device)
        self.expression_net: ExpressionNet = load_expression(str(EXPRESSION.weights_path()), self.device)
        if half:
            self.detector.half()
            self.expression_net.half()
        #: Seconds spent per model since loading, summed over threads (for benchmarks and logs).
        self.timings: dict[str, float] = defaultdict(float)
        self._timings_lock = threading.Lock()
        log.info("vision models loaded", extra={"device": str(self.device), "half": half})

    def analyse(self, jobs: Sequence[FrameJob]) -> list[FrameResult]:
        by_size: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, job in enumerate(jobs):
            by_size[job.image.shape[:2]].append(i)
        detections: dict[int, Detections] = {}
        scales: dict[int, float] = {}
        for (height, width), idx in by_size.items():
            scale = min(1.0, self.settings.detect_max_side / max(height, width))
            small = [shrink(jobs[i].image, scale) for i in idx]
            t0 = time.perf_counter()
            batch = torch.from_numpy(np.stack(small)).to(self.device)
            for i, det in zip(idx, detect(self.detector, batch, self.settings.min_face_score), strict=True):
                detections[i] = det
                scales[i] = scale
            self._add_time("face_detector", t0)
        results: list[FrameResult | None] = [None] * len(jobs)
        crops: list[npt.NDArray[np.uint8]] = []
        crop_owner: list[int] = []
        t0 = time.perf_counter()
        for i, job in enumerate(jobs):
            height, width = job.image.shape[:2]
            grey = np.asarray(cv2.cvtColor(job.image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
            det = detections[i]
            faces, chosen = self._candidate(det, scales[i], width, height)
            box = landmarks = None
            score = None
            pose = None
            if chosen is not None:
                box = det.boxes[chosen] / scales[i]
                landmarks = det.landmarks[chosen] / scales[i]
                score = float(det.scores[chosen])
                pose = head_pose(landmarks, width, height)
                if job.expression:
                    crops.append(face_crop(grey, box))
                    crop_owner.append(i)
            sharp = _sharpness(grey, box)
            brightness = cv2.mean(grey)[0] / 255.0  # a tenth of the cost of numpy's mean over a frame
            results[i] = FrameResult(
                faces=faces,
                box=None if box is None else _normalise_box(box, width, height),
                score=score,
                landmarks=None if landmarks is None else landmarks / np.array([width, height], np.float32),
                pose=pose,
                expression=None,
                brightness=brightness,
                sharpness=sharp,
            )
        self._add_time("pose_quality", t0)
        if crops:
            t0 = time.perf_counter()
            probs = probabilities(self.expression_net, np.stack(crops), self.device)
            self._add_time("expression", t0)
            for owner, p in zip(crop_owner, probs, strict=True):
                current = results[owner]
                assert current is not None
                results[owner] = _with_expression(current, p)
        return [r for r in results if r is not None]

    def _add_time(self, name: str, since: float) -> None:
        with self._timings_lock:
            self.timings[name] += time.perf_counter() - since

    def _candidate(self, det: Detections, scale: float, width: int, height: int) -> tuple[int, int | None]:
        """(faces counted, index of the candidate's face): the largest face, favouring the centre."""
        if len(det.scores) == 0:
            return 0, None
        boxes = det.boxes / scale
        heights = boxes[:, 3] - boxes[:, 1]
        areas = (boxes[:, 2] - boxes[:, 0]) * heights
        centre_x = (boxes[:, 0] + boxes[:, 2]) / 2 / width
        centre_y = (boxes[:, 1] + boxes[:, 3]) / 2 / height
        off_centre = np.hypot(centre_x - 0.5, centre_y - 0.5)
        chosen = int(np.argmax(areas * (1.0 - np.clip(off_centre, 0.0, 0.7))))
        # Tiny faces (a photo on the wall, a face in the background far away) do not count as a second person.
        counted = int(np.sum(heights >= self.settings.second_face_min_size * heights[chosen]))
        return counted, chosen


def shrink(image: Image, scale: float) -> Image:
    """``image`` resized by ``scale``. Halving with pixel averaging is OpenCV's fast path, a fraction of the cost
    of averaging at any other factor, so the image is halved while it stays at least twice the target size and
    the factor left (below 2) is bilinear."""
    height, width = image.shape[:2]
    size = (max(2, round(width * scale)), max(2, round(height * scale)))
    out = image
    while out.shape[1] >= 2 * size[0] and out.shape[0] >= 2 * size[1]:
        half = (out.shape[1] // 2, out.shape[0] // 2)
        out = np.asarray(cv2.resize(out, half, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    if out.shape[1::-1] != size:
        out = np.asarray(cv2.resize(out, size, interpolation=cv2.INTER_LINEAR), dtype=np.uint8)
    return out


def _with_expression(result: FrameResult, probs: npt.NDArray[np.float32]) -> FrameResult:
    return FrameResult(
        faces=result.faces,
        box=result.box,
        score=result.score,
        landmarks=result.landmarks,
        pose=result.pose,
        expression=probs,
        brightness=result.brightness,
        sharpness=result.sharpness,
    )


def _normalise_box(box: npt.NDArray[np.float32], width: int, height: int) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return (x0 / width, y0 / height, x1 / width, y1 / height)


def _sharpness(grey: npt.NDArray[np.uint8], box: npt.NDArray[np.float32] | None) -> float:
    """Variance of the Laplacian over the face (the whole frame without one)."""
    region = grey
    if box is not None:
        h, w = grey.shape[:2]
        x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
        x1, y1 = min(w, int(box[2])), min(h, int(box[3]))
        if x1 - x0 >= 8 and y1 - y0 >= 8:
            region = grey[y0:y1, x0:x1]
    return float(cv2.Laplacian(region, cv2.CV_32F).var())


__all__ = ["CLASSES", "DEFAULT_THREADS", "FrameAnalyzer", "FrameJob", "FrameResult", "select_device", "shrink"]
