"""Per-frame analysis of a batch of frames: faces, the candidate's face, landmarks, head pose,
expression probabilities and image quality.

A job either searches its frame whole, on the frame scaled down to ``detect_max_side`` (frames of equal size share
one detector pass; frames of different interviews may differ in size, so a batch is split by size), or measures
the face in a window (`FrameJob.window`, placed by `services.vision.window` and chosen by
`services.vision.tracking`): a square around where the face is expected, at the scale that gives the face about
the detector's working size. A window whose face is not found, or found cut by the window's edge or at a size far
from the expected one, gives a result without a face, and the tracker searches the whole frame. Pose, expression
crops and sharpness use the full-resolution frame either way. Expression runs only on the face crops of frames
whose interview permits it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt
import torch

from services.common.cpus import available_cores
from services.frames.geometry import Image
from services.vision.expression import CLASSES, ExpressionNet, face_crop, load_expression, probabilities
from services.vision.landmarks import FaceMesh, MeshRunner, supported
from services.vision.pose import Pose, head_pose
from services.vision.registry import EXPRESSION, FACE_DETECTOR
from services.vision.retinaface import Detections, RetinaFaceNet, detect, load_retinaface
from services.vision.settings import VisionSettings
from services.vision.window import Placement, cut, enlarged, place

log = logging.getLogger(__name__)

#: A candidate's face below this height (pixels at the whole search's scale) sends its frame to the finer search
#: too: a second face about 0.6 of its size would be under 20 pixels, which the detector does not find.
SMALL_FACE_PX = 32.0
#: Torch's CPU threads as the process started (OMP_NUM_THREADS, else one per core), at most the cores the
#: container's CPU quota allows.
DEFAULT_THREADS = min(torch.get_num_threads(), available_cores())


Box = tuple[float, float, float, float]
Search = Literal["whole", "window"]


@dataclass(frozen=True)
class FrameJob:
    image: Image
    expression: bool
    #: The window the candidate's face is measured in; None searches the whole frame.
    window: Placement | None = None
    #: A whole search that only proposes where the candidate's face may be (from ``face_proposal_score``): a
    #: window measures it before it counts. Small faces score low in a frame scaled for a whole search.
    propose: bool = False


@dataclass(frozen=True)
class _Found:
    """The faces detected in one frame, in pixels of the full-resolution frame."""

    faces: int
    search: Search
    box: npt.NDArray[np.float32] | None = None
    landmarks: npt.NDArray[np.float32] | None = None
    score: float | None = None

    def located(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """The face's box and five points (a found face has both)."""
        assert self.box is not None and self.landmarks is not None
        return self.box, self.landmarks


@dataclass(frozen=True)
class Followed:
    """A face the face mesh followed in a frame where the detector lost it (`services.vision.follow`)."""

    #: Box of the mesh's crop (fractions of the frame): the last detected box's size, centred on the mesh.
    box: tuple[float, float, float, float]
    #: The head's yaw against the line of sight, degrees (`Pose.sight_yaw_deg`); its pitch is not measured.
    sight_yaw_deg: float
    presence: float


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
    #: How the face was searched for: in the whole frame, or in a window around where it was expected.
    search: Search = "whole"
    #: The face mesh and its measures; None without a face, below the mesh's size, or rejected by it.
    mesh: FaceMesh | None = None
    #: A face was found but was too small for the mesh (the landmark measures are not supported there).
    mesh_too_small: bool = False
    #: Without a detected face: the face the mesh followed from a neighbouring frame (turned away, not absent).
    followed: Followed | None = None

    @property
    def face_seen(self) -> bool:
        """Whether the candidate's face is in the frame: detected, or followed by the mesh."""
        return self.box is not None or self.followed is not None


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
        self.mesh = MeshRunner()
        if half:
            self.detector.half()
            self.expression_net.half()
        #: Seconds spent per model since loading, summed over threads (for benchmarks and logs).
        self.timings: dict[str, float] = defaultdict(float)
        self._timings_lock = threading.Lock()
        log.info("vision models loaded", extra={"device": str(self.device), "half": half})

    def analyse(self, jobs: Sequence[FrameJob]) -> list[FrameResult]:
        found = self._detect_in_windows([i for i, job in enumerate(jobs) if job.window is not None], jobs)
        found.update(self._detect_whole([i for i in range(len(jobs)) if i not in found], jobs))
        results: list[FrameResult | None] = [None] * len(jobs)
        crops: list[npt.NDArray[np.uint8]] = []
        crop_owner: list[int] = []
        mesh_faces: list[int] = []
        mesh_on = self.settings.face_mesh
        t0 = time.perf_counter()
        for i, job in enumerate(jobs):
            height, width = job.image.shape[:2]
            grey = np.asarray(cv2.cvtColor(job.image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
            face = found[i]
            box, landmarks, pose = face.box, face.landmarks, None
            if box is not None and landmarks is not None:
                pose = head_pose(landmarks, width, height)
                if job.expression:
                    crops.append(face_crop(grey, box))
                    crop_owner.append(i)
                if mesh_on and supported(box):
                    mesh_faces.append(i)
            sharp = _sharpness(grey, box)
            brightness = cv2.mean(grey)[0] / 255.0  # a tenth of the cost of numpy's mean over a frame
            results[i] = FrameResult(
                faces=face.faces,
                box=None if box is None else _normalise_box(box, width, height),
                score=face.score,
                landmarks=None if landmarks is None else _normalise_points(landmarks, width, height),
                pose=pose,
                expression=None,
                brightness=brightness,
                sharpness=sharp,
                search=face.search,
                mesh_too_small=mesh_on and box is not None and not supported(box),
            )
        self._add_time("pose_quality", t0)
        if mesh_faces:
            t0 = time.perf_counter()
            meshes = self.mesh.run([(jobs[i].image, *found[i].located()) for i in mesh_faces])
            self._add_time("face_mesh", t0)
            for owner, mesh in zip(mesh_faces, meshes, strict=True):
                current = results[owner]
                assert current is not None
                results[owner] = dataclasses.replace(current, mesh=mesh)
        if crops:
            t0 = time.perf_counter()
            probs = probabilities(self.expression_net, np.stack(crops), self.device)
            self._add_time("expression", t0)
            for owner, p in zip(crop_owner, probs, strict=True):
                current = results[owner]
                assert current is not None
                results[owner] = dataclasses.replace(current, expression=p)
        return [r for r in results if r is not None]

    def _scale(self, width: int, height: int) -> float:
        """The factor frames of this size are scaled by for a whole-frame search."""
        return min(1.0, self.settings.detect_max_side / float(max(width, height)))

    def _detect_whole(self, idx: list[int], jobs: Sequence[FrameJob]) -> dict[int, _Found]:
        by_size: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i in idx:
            by_size[jobs[i].image.shape[:2]].append(i)
        found: dict[int, _Found] = {}
        for (height, width), same in by_size.items():
            scale = self._scale(width, height)
            found.update(self._search(same, jobs, scale, width, height))
            finer = min(1.0, self.settings.detect_retry_max_side / float(max(width, height)))
            closer = [i for i in same if _too_small_to_judge(found[i], scale)]
            if closer and finer > scale:
                # A small face scores below the floor at the working size, and a second face smaller still is
                # not seen at all: frames without a face, or with a small one, look closer.
                found.update(
                    {i: f for i, f in self._search(closer, jobs, finer, width, height).items() if f.box is not None}
                )
        return found

    def _search(
        self, idx: list[int], jobs: Sequence[FrameJob], scale: float, width: int, height: int
    ) -> dict[int, _Found]:
        """One detector pass over frames of one size scaled by ``scale``."""
        small = [shrink(jobs[i].image, scale) for i in idx]
        t0 = time.perf_counter()
        batch = torch.from_numpy(np.stack(small)).to(self.device)
        lowest = min(self.settings.face_proposal_score, self.settings.min_face_score)
        found: dict[int, _Found] = {}
        for i, det in zip(idx, detect(self.detector, batch, lowest), strict=True):
            counted, chosen = self._candidate(det, scale, width, height, jobs[i].propose)
            if chosen is None:
                found[i] = _Found(0, "whole")
            else:
                box, points = det.boxes[chosen] / scale, det.landmarks[chosen] / scale
                found[i] = _Found(counted, "whole", box, points, float(det.scores[chosen]))
        self._add_time("face_detector", t0)
        return found

    def placement(self, box: Box, width: int, height: int) -> Placement | None:
        """The window a face at ``box`` (fractions of a ``width`` x ``height`` frame) is measured in; None: the
        whole frame (a face so close that its window would be as large as the frame)."""
        return place(box, width, height, self._scale(width, height))

    def _detect_in_windows(self, idx: list[int], jobs: Sequence[FrameJob]) -> dict[int, _Found]:
        """The candidate's face searched in each job's window (see the module's docstring)."""
        pixels: dict[int, Image] = {}
        by_size: dict[int, list[int]] = defaultdict(list)
        for i in idx:
            window = jobs[i].window
            assert window is not None
            image = jobs[i].image
            pixels[i] = enlarged(image, window) if window.scale > 1.0 else cut(shrink(image, window.scale), window)
            by_size[window.side].append(i)
        found: dict[int, _Found] = {}
        for side, same in by_size.items():
            t0 = time.perf_counter()
            batch = torch.from_numpy(np.stack([pixels[i] for i in same])).to(self.device)
            for i, det in zip(same, detect(self.detector, batch, self.settings.min_face_score), strict=True):
                window = jobs[i].window
                assert window is not None
                counted, chosen = self._candidate(det, 1.0, side, side, False)
                if chosen is None or not window.holds(det.boxes[chosen]):
                    found[i] = _Found(0, "window")
                    continue
                box, points = window.to_frame(det.boxes[chosen]), window.to_frame(det.landmarks[chosen])
                found[i] = _Found(counted, "window", box, points, float(det.scores[chosen]))
            self._add_time("face_tracker", t0)
        return found

    def _add_time(self, name: str, since: float) -> None:
        with self._timings_lock:
            self.timings[name] += time.perf_counter() - since

    def _candidate(
        self, det: Detections, scale: float, width: int, height: int, propose: bool
    ) -> tuple[int, int | None]:
        """(faces counted, index of the candidate's face): the largest face, favouring the centre, among those
        scoring ``min_face_score`` (``face_proposal_score`` when only proposing one)."""
        floor = self.settings.face_proposal_score if propose else self.settings.min_face_score
        eligible = det.scores >= floor
        if not eligible.any():
            return 0, None
        boxes = det.boxes / scale
        heights = boxes[:, 3] - boxes[:, 1]
        areas = (boxes[:, 2] - boxes[:, 0]) * heights
        centre_x = (boxes[:, 0] + boxes[:, 2]) / 2 / width
        centre_y = (boxes[:, 1] + boxes[:, 3]) / 2 / height
        off_centre = np.hypot(centre_x - 0.5, centre_y - 0.5)
        chosen = int(np.argmax(np.where(eligible, areas * (1.0 - np.clip(off_centre, 0.0, 0.7)), -1.0)))
        # Tiny faces (a photo on the wall, a face in the background far away) do not count as a second person;
        # other faces count from min_face_score, as in every search.
        counts = (det.scores >= self.settings.min_face_score) | (np.arange(len(det.scores)) == chosen)
        counted = int(np.sum(counts & (heights >= self.settings.second_face_min_size * heights[chosen])))
        return counted, chosen


def _too_small_to_judge(found: _Found, scale: float) -> bool:
    """Whether a whole search at ``scale`` could have missed faces: it found none, or only one so small at that
    scale that a second person a step behind (about 0.6 of its size) falls under what the detector sees."""
    if found.box is None:
        return True
    return float(found.box[3] - found.box[1]) * scale < SMALL_FACE_PX


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


def _normalise_box(box: npt.NDArray[np.float32], width: int, height: int) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return (x0 / width, y0 / height, x1 / width, y1 / height)


def _normalise_points(points: npt.NDArray[np.float32], width: int, height: int) -> npt.NDArray[np.float32]:
    return np.asarray(points / np.array([width, height], np.float32), np.float32)


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


__all__ = [
    "CLASSES",
    "DEFAULT_THREADS",
    "Box",
    "Followed",
    "FrameAnalyzer",
    "FrameJob",
    "FrameResult",
    "select_device",
    "shrink",
]
