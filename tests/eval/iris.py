"""Whether MediaPipe's iris model (installed beside the face mesh, not run by the stage) could add to the eye-contact
judgement on the generated recordings: the iris centre's offset within the eye, against the candidate's own
baseline, on the frames the script says face the camera and on the held look-aways, next to head pose's judgement.

The eye crop is MediaPipe's: a square of ``EYE_CROP`` eye widths around the eye corners' middle, level with them,
64x64 RGB in [0, 1], the image-right eye mirrored. The offset is the iris centre's distance from the eye's middle
in eye widths, along the eye line (``dx``) and across it (``dy``). An iris rule would call the eyes turned past
``TURNED_EYE_WIDTHS`` from the baseline (about 15 degrees of eye rotation for a 24 mm eyeball and a 30 mm eye).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from services.samples import SampleSpec, generate_interview
from services.samples.ground_truth import GroundTruth
from services.vision.aggregate import GazeRule
from services.vision.analyzer import FrameAnalyzer, FrameResult
from services.vision.follow import EYE_CORNERS
from services.vision.litert_models import IRIS, interpreter
from services.vision.settings import VisionSettings
from tests.eval.variety_grid import BASE
from tests.vision_harness import FRONTAL_MARGIN_S, analyse_samples, chunk_packs

EYE_CROP = 2.3
IRIS_SIDE = 64
TURNED_EYE_WIDTHS = 0.1
CASES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("720p mixed, normal light", {}),
    ("720p mixed, backlit", {"lighting": "backlit"}),
)


def iris_offset(image: npt.NDArray[np.uint8], points: npt.NDArray[np.float32]) -> npt.NDArray[np.float64] | None:
    """(dx, dy) of the irises in eye widths from the eyes' middles, both eyes averaged; None for eyes under 3 px."""
    it = interpreter(IRIS)
    offsets = []
    for k, (a, b) in enumerate(EYE_CORNERS):
        left, right = points[a].astype(np.float64), points[b].astype(np.float64)
        if k == 1:
            left, right = right, left  # the mirrored eye: its corners swap sides
        middle, axis = (left + right) / 2, right - left
        width = float(np.linalg.norm(axis))
        if width < 3:
            return None
        side = EYE_CROP * width
        m = cv2.getRotationMatrix2D(
            (float(middle[0]), float(middle[1])), math.degrees(math.atan2(axis[1], axis[0])), IRIS_SIDE / side
        )
        m[:, 2] += (IRIS_SIDE / 2 - middle[0], IRIS_SIDE / 2 - middle[1])
        crop = cv2.warpAffine(image, m, (IRIS_SIDE, IRIS_SIDE), flags=cv2.INTER_LINEAR)
        if k == 1:
            crop = np.ascontiguousarray(crop[:, ::-1])
        pixels = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32)[None] / 255.0
        it.set_tensor(it.get_input_details()[0]["index"], pixels)
        it.invoke()
        out = next(o for o in it.get_output_details() if o["name"] == "output_iris")
        x, y = it.get_tensor(out["index"]).reshape(5, 3)[0, :2]
        if k == 1:
            x = IRIS_SIDE - x
        offsets.append(((x - IRIS_SIDE / 2) * side / IRIS_SIDE / width, (y - IRIS_SIDE / 2) * side / IRIS_SIDE / width))
    return np.mean(np.asarray(offsets), axis=0)


def _share(flags: npt.NDArray[np.bool_]) -> float | None:
    return round(float(np.mean(flags)), 3) if flags.size else None


def _score(truth: GroundTruth, frames: list[tuple[float, npt.NDArray[np.uint8], FrameResult]]) -> dict[str, Any]:
    ev = truth.events
    busy = [(e.start - FRONTAL_MARGIN_S, e.end + FRONTAL_MARGIN_S) for e in (*ev.look_aways, *ev.nods, *ev.shakes)]
    busy += [(e.leave_start - FRONTAL_MARGIN_S, e.back_end + FRONTAL_MARGIN_S) for e in ev.no_face]
    held = [(e.start + e.turn_s, e.end - e.turn_s) for e in ev.look_aways]
    kinds, yaws, offsets = [], [], []
    for t, image, r in frames:
        offset = None if r.mesh is None or r.pose is None else iris_offset(image, r.mesh.points)
        if offset is None or r.pose is None:
            continue
        away, other = any(a <= t < b for a, b in held), any(a <= t < b for a, b in busy)
        kinds.append("away" if away else "busy" if other else "frontal")
        yaws.append(r.pose.sight_yaw_deg)
        offsets.append(offset)
    yaw, iris, kind = np.array(yaws), np.array(offsets), np.array(kinds)
    # As the eye-contact rule: the head against the candidate's resting yaw; the iris against its own baseline
    # over the frames the head faces the camera.
    head_facing = np.abs(yaw - np.median(yaw)) <= GazeRule().max_yaw_deg
    moved = iris - np.median(iris[head_facing], axis=0)
    both_facing = head_facing & (np.abs(moved).max(axis=1) <= TURNED_EYE_WIDTHS)
    out: dict[str, Any] = {}
    for name in ("frontal", "away"):
        sel = kind == name
        out[f"{name}_frames"] = int(sel.sum())
        out[f"{name}_facing_head"] = _share(head_facing[sel])
        out[f"{name}_facing_head_and_iris"] = _share(both_facing[sel])
        dx = moved[sel, 0]
        out[f"{name}_iris_dx_p10_p50_p90"] = (
            [round(float(v), 3) for v in np.percentile(dx, (10, 50, 90))] if dx.size else None
        )
    return out


def run(out_dir: Path) -> list[dict[str, Any]]:
    """One row per recording: frames the script says face the camera and held look-away frames with a mesh, the share
    judged facing by head pose alone and by head pose and iris, and the iris offset from the baseline."""
    samples = {}
    for k, (name, changes) in enumerate(CASES):
        result = generate_interview(SampleSpec(**{**BASE, **changes}), out_dir, name=f"iris-{k}")
        samples[name] = (result.truth, chunk_packs(result.media_path, result.truth.duration_s))
    measured, _ = analyse_samples(FrameAnalyzer(VisionSettings()), samples, VisionSettings())
    rows = []
    for name, (truth, packs) in samples.items():
        results = [r for _, _, rs, _ in measured[name].chunks for r in rs]
        frames = [(t, f) for _, ts, fs in packs for t, f in zip(ts, fs, strict=True)]
        rows.append({"case": name, **_score(truth, [(t, f, r) for (t, f), r in zip(frames, results, strict=True)])})
    return rows


__all__ = ["CASES", "iris_offset", "run"]
