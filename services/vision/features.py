"""From per-frame results to the features of one chunk: episodes, nods and shakes, expression
aggregates, motion, posture, image quality and the per-second rows.

A frame at time ``t`` stands for ``[t, t + period)``; episodes are runs of such frames, clipped to the
chunk. Nods are counted on the vertical position of the nose tip in face heights (a nod moves it down
and back), shakes on its horizontal position in face widths; both need turning points that are left
again within ``gesture_max_half_period_s``, so slow leaning and single look-aways are not counted, and a nod
needs more up-and-down than sideways movement, so the bob of a head shake is not one.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from services.common.contracts import (
    EmotionInference,
    Episodes,
    GazeSample,
    HeadPose,
    SecondBehaviour,
    TimeRange,
    VisionSummary,
)
from services.common.contracts.events import ImageQuality
from services.frames.geometry import Image
from services.vision.analyzer import FrameResult, shrink
from services.vision.expression import CLASSES
from services.vision.face_measures import ChunkMesh, chunk_mesh
from services.vision.settings import VisionSettings
from services.vision.signals import TurningPoint, moving_average, runs, turning_points

HAPPINESS = CLASSES.index("happiness")
FROWN = [CLASSES.index(c) for c in ("anger", "disgust", "sadness")]
#: Share of a swing after which a turning point at the very end of a chunk already counts.
TAIL_SWING = 0.5
#: Width of the grey frames compared for motion energy.
MOTION_WIDTH = 160


@dataclass(frozen=True)
class ChunkWindow:
    start_s: float
    end_s: float
    period_s: float


@dataclass(frozen=True)
class ChunkFeatures:
    columns: dict[str, list[object]]
    summary: VisionSummary
    seconds: list[SecondBehaviour]
    gaze: list[GazeSample]


def motion_energy(frames: Sequence[Image], results: Sequence[FrameResult]) -> list[float | None]:
    """Mean absolute difference to the previous frame (0-1) in the body region below the face."""
    out: list[float | None] = [None]
    previous: npt.NDArray[np.uint8] | None = None
    for i, frame in enumerate(frames):
        grey = np.asarray(cv2.cvtColor(shrink(frame, MOTION_WIDTH / frame.shape[1]), cv2.COLOR_BGR2GRAY), np.uint8)
        if previous is not None:
            y0, x0, x1 = _body_region(results[i], grey.shape[1], grey.shape[0])
            diff = cv2.absdiff(grey[y0:, x0:x1], previous[y0:, x0:x1])
            out.append(float(diff.mean()) / 255.0 if diff.size else 0.0)
        previous = grey
    return out[: len(frames)]


def _body_region(result: FrameResult, width: int, height: int) -> tuple[int, int, int]:
    """Top row and column range of the region below the face (the lower two thirds without a face)."""
    if result.box is None:
        return height // 3, 0, width
    x0, _, x1, y1 = result.box
    face_w = x1 - x0
    cx = (x0 + x1) / 2
    left = max(0, int((cx - 1.5 * face_w) * width))
    right = min(width, int((cx + 1.5 * face_w) * width) + 1)
    return min(height - 1, int(y1 * height)), left, max(left + 1, right)


def chunk_features(
    window: ChunkWindow,
    timestamps: Sequence[float],
    results: Sequence[FrameResult],
    motion: Sequence[float | None],
    emotion: EmotionInference,
    settings: VisionSettings,
) -> ChunkFeatures:
    n = len(results)
    period = window.period_s
    t = np.asarray(timestamps, dtype=np.float64)
    has_face = np.array([r.box is not None for r in results], dtype=bool)
    # A face the mesh followed where the detector lost it (services/vision/follow.py) is in the picture, turned
    # away or hidden: it counts for presence and eye contact (on its yaw), never as absent.
    seen = np.array([r.face_seen for r in results], dtype=bool)
    followed = seen & ~has_face
    faces = np.array([r.faces for r in results], dtype=np.int64)
    yaw = np.array([r.pose.yaw_deg if r.pose else np.nan for r in results])
    pitch = np.array([r.pose.pitch_deg if r.pose else np.nan for r in results])
    roll = np.array([r.pose.roll_deg if r.pose else np.nan for r in results])
    sight_yaw = np.array([_sight_yaw(r) for r in results])
    sight_pitch = np.array([r.pose.sight_pitch_deg if r.pose else np.nan for r in results])
    facing = _facing(sight_yaw, sight_pitch, settings)
    facing &= seen
    away = seen & ~facing

    def ranges(mask: npt.NDArray[np.bool_], min_s: float = 0.0) -> list[TimeRange]:
        out = []
        for i, j in runs(mask):
            start, end = max(window.start_s, t[i]), min(window.end_s, t[j - 1] + period)
            # A run touching the chunk's edge may continue in the neighbouring chunk: aggregation joins it
            # and applies the minimum duration then.
            at_edge = i == 0 or j == n
            if end > start and (at_edge or end - start >= min_s - 1e-9):
                out.append(TimeRange(start_s=float(start), end_s=float(end)))
        return out

    look_away = ranges(away, settings.look_away_min_s)
    with np.errstate(invalid="ignore"):
        turned = np.abs(sight_yaw) > settings.eye_contact_max_yaw_deg
    nod_times, shake_times = _gestures(t, results, has_face, turned, settings)

    expression = None
    smile = None
    distribution = None
    smile_episodes: list[TimeRange] = []
    frown_s = volatility = smile_mean = None
    dominant: list[str | None] = [None] * n
    performed = emotion.performed
    if performed:
        face_idx = [i for i in range(n) if results[i].expression is not None]
        probs = [p for p in (results[i].expression for i in face_idx) if p is not None]
        raw = np.stack(probs) if probs else np.zeros((0, len(CLASSES)))
        smoothed = moving_average(np.asarray(raw, np.float32), settings.expression_smoothing)
        expression = np.full((n, len(CLASSES)), np.nan, dtype=np.float32)
        expression[face_idx] = smoothed
        smile = expression[:, HAPPINESS]
        frowning = np.nan_to_num(expression[:, FROWN].sum(1)) > settings.frown_threshold
        smile_episodes = ranges(np.nan_to_num(smile) > settings.smile_threshold)
        frown_s = float(frowning.sum() * period)
        if face_idx:
            smile_mean = float(np.mean(smoothed[:, HAPPINESS]))
            winners = smoothed.argmax(1)
            distribution = {c: float(np.mean(winners == k)) for k, c in enumerate(CLASSES)}
            for i, k in zip(face_idx, winners, strict=True):
                dominant[i] = CLASSES[int(k)]
            if len(face_idx) > 1:
                volatility = float(np.mean(np.abs(np.diff(smoothed, axis=0)).sum(1) / 2))

    mesh = _mesh(window, t, results, settings, performed)
    motion_values = np.array([np.nan if m is None else m for m in motion], dtype=np.float64)
    sharp = np.array([r.sharpness for r in results])
    bright = np.array([r.brightness for r in results])
    quality = ImageQuality(
        brightness_mean=float(np.clip(bright.mean(), 0, 1)),
        sharpness_mean=float(sharp.mean()),
        blurry_ratio=float(np.mean(sharp < settings.blur_threshold)),
        dark_ratio=float(np.mean(bright < settings.dark_threshold)),
    )
    summary = VisionSummary(
        frames_analysed=n,
        face_present_ratio=float(seen.mean()) if n else 0.0,
        mean_head_pose=_mean_pose(yaw, pitch, roll),
        eye_contact_ratio=float(facing[seen].mean()) if seen.any() else None,
        nod_count=len(nod_times),
        shake_count=len(shake_times),
        episodes=Episodes(
            look_away=look_away,
            smile=smile_episodes,
            face_absent=ranges((faces == 0) & ~followed),
            second_face=ranges(faces >= 2),
        ),
        expression_distribution=distribution,
        emotion_inference=emotion,
        motion_energy=float(np.nanmean(motion_values)) if np.any(~np.isnan(motion_values)) else 0.0,
        posture_stability=_posture_stability(results, settings.posture_drift_scale),
        nod_times_s=nod_times,
        shake_times_s=shake_times,
        look_away_count=sum(1 for r in look_away if r.start_s > window.start_s),
        smile_intensity_mean=smile_mean,
        frown_s=frown_s,
        expression_volatility=volatility,
        image_quality=quality,
        face_landmarks=None if mesh is None else mesh.summary,
    )
    columns = _columns(
        t,
        results,
        (yaw, pitch, roll, sight_yaw, sight_pitch),
        seen,
        facing,
        away,
        motion_values,
        expression,
        _frowning(expression, settings),
    )
    if mesh is not None:
        columns.update(mesh.columns)
    seconds = _seconds(t, faces, has_face, seen, (yaw, pitch, roll), facing, smile, dominant, motion_values)
    gaze = [
        GazeSample(t_s=float(ts), yaw_deg=_opt(float(y)), pitch_deg=_opt(float(p)))
        for ts, y, p in zip(t, sight_yaw, sight_pitch, strict=True)
    ]
    return ChunkFeatures(columns, summary, seconds, gaze)


def _mesh(
    window: ChunkWindow,
    t: npt.NDArray[np.float64],
    results: Sequence[FrameResult],
    settings: VisionSettings,
    expression: bool,
) -> ChunkMesh | None:
    if not settings.face_mesh:
        return None
    meshes = [r.mesh for r in results]
    small = [r.mesh_too_small for r in results]
    return chunk_mesh(
        window.start_s, window.end_s, window.period_s, t, meshes, small, settings.blink_closed_ratio, expression
    )


def _sight_yaw(result: FrameResult) -> float:
    """The head's yaw against the line of sight: the detected face's, else the followed face's, else NaN."""
    if result.pose is not None:
        return result.pose.sight_yaw_deg
    return result.followed.sight_yaw_deg if result.followed is not None else math.nan


def _facing(
    sight_yaw: npt.NDArray[np.float64], sight_pitch: npt.NDArray[np.float64], settings: VisionSettings
) -> npt.NDArray[np.bool_]:
    """Frames where the candidate faces the camera, judged from the head's pose against the line of sight (see
    services/vision/pose.py), never from where the face sits in the picture: a candidate framed on the left third
    who looks into the lens faces it as much as a centred one.

    Yaw is judged as it is: against the line of sight, zero looks into the lens wherever the face is. Pitch is
    judged against the candidate's own level over the chunk (the median over frames not turned aside), because
    people look at the screen rather than the lens and a camera above or below the screen tilts every frame alike.
    A frame with a yaw and no pitch (a followed face) is judged on its yaw.
    """
    with np.errstate(invalid="ignore"):
        level = np.abs(sight_yaw) <= settings.eye_contact_max_yaw_deg
        known = ~np.isnan(sight_pitch)
        reference = sight_pitch[level & known]
        baseline = float(np.median(reference)) if reference.size else 0.0
        tilted = known & (np.abs(sight_pitch - baseline) > settings.eye_contact_max_pitch_deg)
        return np.asarray(level & ~tilted, bool)


def _frowning(expression: npt.NDArray[np.float32] | None, settings: VisionSettings) -> list[bool] | None:
    if expression is None:
        return None
    return [bool(v) for v in np.nan_to_num(expression[:, FROWN].sum(1)) > settings.frown_threshold]


def _gestures(
    t: npt.NDArray[np.float64],
    results: Sequence[FrameResult],
    has_face: npt.NDArray[np.bool_],
    turned: npt.NDArray[np.bool_],
    s: VisionSettings,
) -> tuple[list[float], list[float]]:
    nods: list[float] = []
    shakes: list[float] = []
    held = np.zeros(len(t), dtype=bool)
    for i, j in runs(turned):
        held[i:j] = t[j - 1] - t[i] >= s.look_away_min_s
    for i, j in runs(has_face):
        if j - i < 3:
            continue
        idx = range(i, j)
        boxes = [results[k].box for k in idx]
        noses = [results[k].landmarks for k in idx]
        # Positions are divided by the run's median face size, not each frame's: box jitter would add noise.
        size = np.median(np.array(boxes, dtype=np.float64), axis=0)
        face_w, face_h = max(size[2] - size[0], 1e-6), max(size[3] - size[1], 1e-6)
        nose = np.array([n[2] for n in noses], dtype=np.float64)  # type: ignore[index]
        vertical, horizontal = nose[:, 1] / face_h, nose[:, 0] / face_w
        times = t[i:j]
        for point in turning_points(vertical, s.nod_min_swing, TAIL_SWING):
            if point.kind != 1:
                continue
            a, b = _excursion(vertical, point.index, s.nod_min_swing)
            if times[b] - times[a] > s.gesture_max_half_period_s:
                continue
            # On a head turned aside the five landmarks lose their footing (the far eye and mouth corner are
            # foreshortened or hidden) and the nose tip jitters up and down by a nod's swing: nods are read on
            # a head facing the camera. Shakes swing through frontal and are read anyway.
            if turned[i + a : i + b + 1].any():
                continue
            # A head shake bobs the nose up and down a little each time it passes the middle: a swing is a nod
            # only where the head moved more up and down than sideways around it.
            near = np.abs(times - times[point.index]) <= s.gesture_max_half_period_s / 2
            if np.ptp(horizontal[near]) <= np.ptp(vertical[near]):
                nods.append(float(times[point.index]))
        extremes = turning_points(horizontal, s.shake_min_swing, TAIL_SWING)
        train: list[int] = []
        ends: list[TurningPoint | None] = [*extremes, None]
        for end in ends:
            if end is not None and (not train or times[end.index] - times[train[-1]] <= s.gesture_max_half_period_s):
                train.append(end.index)
                continue
            for k in range(0, len(train) - 1, 2):
                # A look-away turns the head out and back like one swing of a shake, but holds the turn: a swing
                # reaching into a held turn is the look-away's.
                if held[i + train[k] : i + train[k + 1] + 1].any():
                    continue
                shakes.append(float((times[train[k]] + times[train[k + 1]]) / 2))
            train = [] if end is None else [end.index]
    return sorted(nods), sorted(shakes)


def _excursion(x: npt.NDArray[np.float64], peak: int, swing: float) -> tuple[int, int]:
    """The first and last index around ``peak`` between which the signal stays within half a swing of it."""
    level = x[peak] - swing / 2
    a = peak
    while a > 0 and x[a - 1] > level:
        a -= 1
    b = peak
    while b < len(x) - 1 and x[b + 1] > level:
        b += 1
    return a, b


def _mean_pose(
    yaw: npt.NDArray[np.float64], pitch: npt.NDArray[np.float64], roll: npt.NDArray[np.float64]
) -> HeadPose | None:
    if not np.any(~np.isnan(yaw)):
        return None
    return HeadPose(
        yaw_deg=float(np.nanmean(yaw)), pitch_deg=float(np.nanmean(pitch)), roll_deg=float(np.nanmean(roll))
    )


def _posture_stability(results: Sequence[FrameResult], scale: float) -> float | None:
    """1 minus the RMS drift of the face centre (in face widths) relative to ``scale``, floored at 0."""
    boxes = np.array([r.box for r in results if r.box is not None], dtype=np.float64)
    if len(boxes) < 2:
        return None
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    width = float(np.mean(boxes[:, 2] - boxes[:, 0]))
    drift = float(np.sqrt(np.mean(np.sum((centres - centres.mean(0)) ** 2, 1)))) / max(width, 1e-6)
    return float(max(0.0, 1.0 - drift / scale))


def _opt(v: float) -> float | None:
    return None if math.isnan(v) else float(v)


def _columns(
    t: npt.NDArray[np.float64],
    results: Sequence[FrameResult],
    angles: tuple[npt.NDArray[np.float64], ...],
    seen: npt.NDArray[np.bool_],
    facing: npt.NDArray[np.bool_],
    away: npt.NDArray[np.bool_],
    motion: npt.NDArray[np.float64],
    expression: npt.NDArray[np.float32] | None,
    frowning: list[bool] | None,
) -> dict[str, list[object]]:
    has = [r.box is not None for r in results]
    cols: dict[str, list[object]] = {
        "pts_s": [float(v) for v in t],
        "faces": [r.faces for r in results],
        "face_followed": [r.followed is not None for r in results],
        "face_search": [r.search for r in results],
        "face_score": [r.score for r in results],
        "box": [list(r.box) if r.box else None for r in results],
        "landmarks": [
            [float(v) for v in r.landmarks.reshape(-1)] if r.landmarks is not None else None for r in results
        ],
        **{
            name: [_opt(v) for v in values]
            for name, values in zip(
                ("yaw_deg", "pitch_deg", "roll_deg", "sight_yaw_deg", "sight_pitch_deg"), angles, strict=True
            )
        },
        "eye_contact": [bool(f) if h else None for f, h in zip(facing, seen, strict=True)],
        "looking_away": [bool(a) if h else None for a, h in zip(away, seen, strict=True)],
        "motion_energy": [_opt(v) for v in motion],
        "brightness": [r.brightness for r in results],
        "sharpness": [r.sharpness for r in results],
    }
    if expression is not None and frowning is not None:
        cols["smile_intensity"] = [_opt(float(v)) for v in expression[:, HAPPINESS]]
        cols["frowning"] = [f if h else None for f, h in zip(frowning, has, strict=True)]
        for k, name in enumerate(CLASSES):
            cols[f"p_{name}"] = [_opt(float(v)) for v in expression[:, k]]
    return cols


def _seconds(
    t: npt.NDArray[np.float64],
    faces: npt.NDArray[np.int64],
    has_face: npt.NDArray[np.bool_],
    seen: npt.NDArray[np.bool_],
    angles: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]],
    facing: npt.NDArray[np.bool_],
    smile: npt.NDArray[np.float32] | None,
    dominant: list[str | None],
    motion: npt.NDArray[np.float64],
) -> list[SecondBehaviour]:
    """Per media second. Presence and eye contact count followed faces; pose and expression need a detected one."""
    yaw, pitch, roll = angles
    rows = []
    whole = np.floor(t + 1e-9).astype(np.int64)
    for second in sorted(set(whole.tolist())):
        sel = whole == second
        face_sel = sel & has_face
        seen_sel = sel & seen
        pose = _mean_pose(yaw[face_sel], pitch[face_sel], roll[face_sel]) if face_sel.any() else None
        smile_value = None
        if smile is not None and face_sel.any():
            smile_value = float(np.clip(np.nanmean(smile[face_sel]), 0, 1))
        labels = [label for i in np.flatnonzero(face_sel) if (label := dominant[i]) is not None]
        m = motion[sel]
        rows.append(
            SecondBehaviour(
                second=int(second),
                frames=int(sel.sum()),
                face_present_ratio=float(seen_sel.sum() / sel.sum()),
                faces_max=int(faces[sel].max()),
                head_pose=pose,
                eye_contact_ratio=float(facing[seen_sel].mean()) if seen_sel.any() else None,
                smile_intensity=smile_value,
                dominant_expression=Counter(sorted(labels)).most_common(1)[0][0] if labels else None,
                motion_energy=float(np.nanmean(m)) if np.any(~np.isnan(m)) else 0.0,
            )
        )
    return rows


__all__ = ["ChunkFeatures", "ChunkWindow", "chunk_features", "motion_energy"]
