"""The geometry around MediaPipe's single-shot detectors (palm, body) and their landmark networks.

A detector sees the frame letterboxed into a square; each of its anchors (a grid per stride, two or more anchors
per cell, all of unit size: MediaPipe's ``fixed_anchor_size``) predicts a box centre and size and a few keypoints
as offsets in input pixels, and a score logit. Overlapping detections are merged by score-weighted averaging
(MediaPipe's "weighted" non-maximum suppression, steadier than keeping the best box alone). A landmark network
then sees a square crop around a detection, rotated so that two of its keypoints stand upright; `Crop` maps the
crop's pixels back to the frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from services.frames.geometry import Image

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class AnchorSpec:
    input_size: int
    strides: tuple[int, ...]
    keypoints: int


def _groups(spec: AnchorSpec) -> list[tuple[int, int]]:
    """(grid cells per side, anchors per cell) of each run of layers sharing a stride (one output head each)."""
    out: list[tuple[int, int]] = []
    for stride in dict.fromkeys(spec.strides):
        out.append((math.ceil(spec.input_size / stride), 2 * spec.strides.count(stride)))
    return out


def anchors(spec: AnchorSpec) -> F32:
    """(N, 2) anchor centres as fractions of the input: per stride group, row by row, two anchors per layer."""
    out: list[tuple[float, float]] = []
    for cells, per_cell in _groups(spec):
        for y in range(cells):
            for x in range(cells):
                out.extend([((x + 0.5) / cells, (y + 0.5) / cells)] * per_cell)
    return np.asarray(out, np.float32)


@dataclass(frozen=True)
class Detection:
    """A detection in frame pixels: box (x0, y0, x1, y1), keypoints (K, 2), score 0-1."""

    box: F32
    keypoints: F32
    score: float


@dataclass(frozen=True)
class Letterbox:
    """How a frame was fitted into the detector's square input: scale and padding, in input pixels."""

    scale: float
    pad_x: float
    pad_y: float

    def to_frame(self, points: F32) -> F32:
        return np.asarray((points - np.array([self.pad_x, self.pad_y], np.float32)) / self.scale, np.float32)


def letterbox(image: Image, size: int) -> tuple[npt.NDArray[np.uint8], Letterbox]:
    """The image (BGR) as RGB fitted into a size x size square, centred, black bars around."""
    height, width = image.shape[:2]
    scale = size / max(width, height)
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    out = np.zeros((size, size, 3), np.uint8)
    x, y = (size - w) // 2, (size - h) // 2
    out[y : y + h, x : x + w] = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)
    return out, Letterbox(scale, float(x), float(y))


def decode(
    raw_boxes: F32, raw_scores: F32, anchor_xy: F32, spec: AnchorSpec, fit: Letterbox, min_score: float
) -> list[Detection]:
    """One image's detections in frame pixels, merged (see the module's docstring), best first."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores.reshape(-1).astype(np.float64), -100.0, 100.0)))
    keep = np.flatnonzero(scores >= min_score)
    if keep.size == 0:
        return []
    size = float(spec.input_size)
    # Offsets are in input pixels (MediaPipe's x/y/w/h_scale equal the input size for these detectors).
    raw = raw_boxes[keep].astype(np.float32)
    centre = raw[:, :2] + anchor_xy[keep] * size
    half = raw[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    points = raw[:, 4 : 4 + 2 * spec.keypoints].reshape(-1, spec.keypoints, 2) + anchor_xy[keep][:, None, :] * size
    merged = _weighted_nms(boxes, points, scores[keep].astype(np.float32), 0.3)
    return [Detection(fit.to_frame(b.reshape(2, 2)).reshape(4), fit.to_frame(k), s) for b, k, s in merged]


def _weighted_nms(boxes: F32, points: F32, scores: F32, min_iou: float) -> list[tuple[F32, F32, float]]:
    order = list(np.argsort(-scores))
    out: list[tuple[F32, F32, float]] = []
    while order:
        best = order[0]
        overlap = _iou(boxes[best], boxes[order])
        group = [order[k] for k in range(len(order)) if overlap[k] > min_iou]
        order = [order[k] for k in range(len(order)) if overlap[k] <= min_iou]
        weights = scores[group][:, None]
        box = np.asarray((boxes[group] * weights).sum(0) / weights.sum(), np.float32)
        pts = np.asarray((points[group] * weights[:, :, None]).sum(0) / weights.sum(), np.float32)
        out.append((box, pts, float(scores[best])))
    return out


def _iou(box: F32, others: F32) -> F32:
    x0 = np.maximum(box[0], others[:, 0])
    y0 = np.maximum(box[1], others[:, 1])
    x1 = np.minimum(box[2], others[:, 2])
    y1 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return np.asarray(inter / np.maximum(area + areas - inter, 1e-6), np.float32)


@dataclass(frozen=True)
class Crop:
    """A square, rotated region of the frame and the affine map from frame pixels to the crop's pixels."""

    to_crop: npt.NDArray[np.float64]  # (2, 3)

    def to_frame(self, points: F32) -> F32:
        inverse = cv2.invertAffineTransform(self.to_crop)
        return np.asarray(points @ inverse[:, :2].T + inverse[:, 2], np.float32)


def upright_crop(centre: F32, side: float, start: F32, end: F32, output: int) -> Crop:
    """A crop of ``side`` pixels around ``centre`` rotated so that the vector ``start`` -> ``end`` points up."""
    angle = math.pi / 2 - math.atan2(-(float(end[1]) - float(start[1])), float(end[0]) - float(start[0]))
    degrees = math.degrees(angle)
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), degrees, output / max(side, 1e-3))
    matrix[0, 2] += output / 2 - float(centre[0])
    matrix[1, 2] += output / 2 - float(centre[1])
    return Crop(np.asarray(matrix, np.float64))


def cut(image: Image, crop: Crop, output: int) -> npt.NDArray[np.uint8]:
    """The crop's pixels as RGB (the frame is BGR); outside the frame is black, as the networks were fed."""
    pixels = cv2.warpAffine(image, crop.to_crop, (output, output), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    return np.asarray(cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB), np.uint8)


__all__ = [
    "AnchorSpec",
    "Crop",
    "Detection",
    "Letterbox",
    "anchors",
    "cut",
    "decode",
    "letterbox",
    "upright_crop",
]
