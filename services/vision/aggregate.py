"""Per-question visual behaviour from the vision-features events of one interview (a pure function).

Chunks are independent, so an episode that crosses a chunk boundary arrives in two pieces: pieces
that touch are joined first, then the look-away minimum duration is applied, then everything is
clipped to each question's window. Counts of nods and shakes come from their times; ratios are
weighted by the frames of the per-second rows that fall in the window. Duplicate events of a chunk
(replays) count once.

Eye contact and look-aways are judged here, over the whole interview, from every frame's head pose against the
line of sight (`VisionFeatures.gaze`, see services/vision/pose.py): a frame faces the camera when its yaw and pitch
are within `GazeRule`'s angles of the candidate's own resting pose, the median over the interview (kept within a
bounded offset of the line of sight). A frame whose face the detector lost but the face mesh followed
(services/vision/follow.py: a head turned far aside) carries a yaw without a pitch and is judged on its yaw, so a
turned head is a look-away, not an absence. Neither where
the face sits in the picture nor the camera's height enters: a candidate framed on the left third, or filmed from
a laptop's lid while looking at the screen, rests at their own pose and is judged from it. Events without gaze
samples (older producers) keep the chunks' own judgement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from services.common.contracts import TimeRange, VisionFeatures
from services.vision.body_aggregate import InterviewBody, body_behaviour
from services.vision.face_measures import LandmarkBehaviour, closure_pieces, landmark_behaviour
from services.vision.litert_models import BODY_MODELS
from services.vision.signals import runs

#: model_versions keys of the hand and pose models (their presence: the chunk's body was analysed).
BODY_MODEL_NAMES = frozenset(m.name for m in BODY_MODELS)
#: Pieces closer than this (seconds) are one episode (a frame period of slack at chunk boundaries).
JOIN_GAP_S = 0.15


@dataclass(frozen=True)
class GazeRule:
    """How far from the candidate's resting pose the head may turn (yaw) or tilt (pitch) and still face the camera,
    the shortest time turned away that is a look-away, and how far from the line of sight a resting pose may be."""

    max_yaw_deg: float = 15.0
    max_pitch_deg: float = 20.0
    min_look_away_s: float = 1.0
    #: How far the resting pose may sit from the line of sight: a screen beside the lens or a camera above the
    #: screen moves it by this much at most. A candidate who spends most of the interview turned further away
    #: (reading from another screen) has not made that their eye contact.
    max_rest_yaw_deg: float = 15.0
    max_rest_pitch_deg: float = 25.0


@dataclass(frozen=True)
class Gaze:
    """Every analysed frame's judgement over the interview: ``facing`` is None where no face was seen."""

    times: list[float]
    facing: list[bool | None]
    rest_yaw_deg: float
    rest_pitch_deg: float
    look_aways: list[Period]

    def eye_contact(self, start_s: float, end_s: float) -> tuple[int, int]:
        """(frames facing the camera, frames with a face) in ``[start_s, end_s)``."""
        seen = [f for t, f in zip(self.times, self.facing, strict=True) if start_s <= t < end_s and f is not None]
        return sum(seen), len(seen)


def gaze(events: Iterable[VisionFeatures], rule: GazeRule = GazeRule()) -> Gaze | None:
    """Eye contact per frame against the candidate's resting pose; None when a chunk carries no gaze samples."""
    chunks = unique_chunks(events)
    if not chunks or any(not c.gaze for c in chunks):
        return None
    samples = sorted((g for c in chunks for g in c.gaze), key=lambda g: g.t_s)
    times = np.array([g.t_s for g in samples])
    yaw = np.array([np.nan if g.yaw_deg is None else g.yaw_deg for g in samples])
    pitch = np.array([np.nan if g.pitch_deg is None else g.pitch_deg for g in samples])
    # A yaw without a pitch: a face the mesh followed where the detector lost it, judged on its yaw.
    seen = ~np.isnan(yaw)
    if not seen.any():
        return Gaze([float(t) for t in times], [None] * len(samples), 0.0, 0.0, [])
    # The resting pose: the median over the interview, then again over the frames near it, so the turned-away
    # frames (a minority) do not pull it.
    rest_yaw = _clamp(float(np.median(yaw[seen])), rule.max_rest_yaw_deg)
    near = seen & (np.abs(yaw - rest_yaw) <= rule.max_yaw_deg)
    if near.any():
        rest_yaw = _clamp(float(np.median(yaw[near])), rule.max_rest_yaw_deg)
    pitched = (near if near.any() else seen) & ~np.isnan(pitch)
    rest_pitch = _clamp(float(np.median(pitch[pitched])), rule.max_rest_pitch_deg) if pitched.any() else 0.0
    with np.errstate(invalid="ignore"):
        tilted = np.abs(pitch - rest_pitch) > rule.max_pitch_deg
        facing = (np.abs(yaw - rest_yaw) <= rule.max_yaw_deg) & ~tilted
    period = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    away = [Period(start_s=float(times[i]), end_s=float(times[j - 1] + period)) for i, j in runs(seen & ~facing)]
    flags: list[bool | None] = [bool(f) if s else None for f, s in zip(facing, seen, strict=True)]
    return Gaze([float(t) for t in times], flags, rest_yaw, rest_pitch, join(away, min_s=rule.min_look_away_s))


def _clamp(value: float, limit: float) -> float:
    return max(-limit, min(limit, value))


class Window(BaseModel):
    model_config = ConfigDict(frozen=True)

    question_id: str
    start_s: float
    end_s: float


class Period(BaseModel):
    model_config = ConfigDict(frozen=True)

    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class QuestionBehaviour(BaseModel):
    model_config = ConfigDict(frozen=True)

    question_id: str
    start_s: float
    end_s: float
    frames_analysed: int
    face_present_ratio: float | None = Field(description="Null when no frame fell in the window.")
    eye_contact_ratio: float | None
    nod_count: int
    shake_count: int
    look_aways: list[Period]
    smiles: list[Period] = Field(description="Empty when expressions were not inferred.")
    smile_s: float | None
    frown_s: float | None = Field(description="Approximate: chunk totals shared by the window's share of each chunk.")
    face_absent: list[Period]
    second_face: list[Period]
    motion_energy: float | None
    # face mesh (services/vision/face_measures.py)
    landmarks: LandmarkBehaviour | None = Field(
        None, description="Blinks, mouth opening, brow lowering in the window; null when the mesh did not run."
    )

    @property
    def look_away_count(self) -> int:
        return len(self.look_aways)

    @property
    def smile_count(self) -> int:
        return len(self.smiles)


class InterviewBehaviour(BaseModel):
    model_config = ConfigDict(frozen=True)

    chunks_received: int
    chunks_expected: int
    emotion_inference_performed: bool
    look_aways: list[Period]
    rest_pose: tuple[float, float] | None = Field(
        None,
        description="The candidate's resting (yaw, pitch) against the line of sight over the interview, degrees, "
        "from which eye contact was judged; null when the events carried no gaze samples.",
    )
    smiles: list[Period]
    face_absent: list[Period]
    second_face: list[Period]
    questions: list[QuestionBehaviour]
    # --- hands and upper body (services/vision/body_aggregate.py) ---
    body: InterviewBody | None = Field(
        None, description="Hands and posture from the palm, hand and pose models; null for events without samples."
    )
    # face mesh (services/vision/face_measures.py)
    landmarks: LandmarkBehaviour | None = Field(
        None, description="Blinks, mouth opening, brow lowering over the interview; null when the mesh did not run."
    )


def join(pieces: Iterable[TimeRange | Period], gap_s: float = JOIN_GAP_S, min_s: float = 0.0) -> list[Period]:
    """Pieces merged where they touch or overlap (within ``gap_s``); results shorter than ``min_s`` are dropped."""
    merged: list[list[float]] = []
    for piece in sorted(pieces, key=lambda p: p.start_s):
        if merged and piece.start_s <= merged[-1][1] + gap_s:
            merged[-1][1] = max(merged[-1][1], piece.end_s)
        else:
            merged.append([piece.start_s, piece.end_s])
    return [Period(start_s=a, end_s=b) for a, b in merged if b - a >= min_s - 1e-9]


def clip(periods: Sequence[Period], start_s: float, end_s: float) -> list[Period]:
    out = []
    for p in periods:
        a, b = max(p.start_s, start_s), min(p.end_s, end_s)
        if b > a:
            out.append(Period(start_s=a, end_s=b))
    return out


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def unique_chunks(events: Iterable[VisionFeatures]) -> list[VisionFeatures]:
    by_index: dict[int, VisionFeatures] = {}
    for e in events:
        by_index.setdefault(e.chunk_index, e)
    return [by_index[k] for k in sorted(by_index)]


def aggregate(
    events: Iterable[VisionFeatures], windows: Sequence[Window] | None = None, rule: GazeRule = GazeRule()
) -> InterviewBehaviour:
    """Behaviour per question window (the interview's questions when ``windows`` is None)."""
    chunks = unique_chunks(events)
    judged = gaze(chunks, rule)
    if windows is None:
        questions = chunks[0].context.questions if chunks else []
        windows = [Window(question_id=q.question_id, start_s=q.start_s, end_s=q.end_s) for q in questions]
    summaries = [c.summary for c in chunks]
    if judged is not None:
        look = judged.look_aways
    else:
        look = join((r for s in summaries for r in s.episodes.look_away), min_s=rule.min_look_away_s)
    smiles = join(r for s in summaries for r in s.episodes.smile)
    absent = join(r for s in summaries for r in s.episodes.face_absent)
    second = join(r for s in summaries for r in s.episodes.second_face)
    nods = sorted(t for s in summaries for t in s.nod_times_s)
    shakes = sorted(t for s in summaries for t in s.shake_times_s)
    performed = any(s.emotion_inference.performed for s in summaries)
    rows = [row for c in chunks for row in c.seconds]
    closures = [(p.start_s, p.end_s) for p in join(closure_pieces(chunks))]
    out = []
    for w in windows:
        frames = faces = contact = motion = 0.0
        for row in rows:
            share = _overlap(row.second, row.second + 1, w.start_s, w.end_s)
            if share <= 0:
                continue
            n = row.frames * share
            frames += n
            faces += n * row.face_present_ratio
            if row.eye_contact_ratio is not None:
                contact += n * row.face_present_ratio * row.eye_contact_ratio
            motion += n * row.motion_energy
        eye_contact = contact / faces if faces else None
        if judged is not None:
            facing, seen = judged.eye_contact(w.start_s, w.end_s)
            eye_contact = facing / seen if seen else None
        window_smiles = clip(smiles, w.start_s, w.end_s)
        frown = None
        if performed:
            frown = sum(
                (c.summary.frown_s or 0.0) * _overlap(c.start_s, c.end_s, w.start_s, w.end_s) / (c.end_s - c.start_s)
                for c in chunks
            )
        out.append(
            QuestionBehaviour(
                question_id=w.question_id,
                start_s=w.start_s,
                end_s=w.end_s,
                frames_analysed=round(frames),
                face_present_ratio=faces / frames if frames else None,
                eye_contact_ratio=eye_contact,
                nod_count=sum(1 for t in nods if w.start_s <= t < w.end_s),
                shake_count=sum(1 for t in shakes if w.start_s <= t < w.end_s),
                look_aways=clip(look, w.start_s, w.end_s),
                smiles=window_smiles,
                smile_s=sum(p.duration_s for p in window_smiles) if performed else None,
                frown_s=frown,
                face_absent=clip(absent, w.start_s, w.end_s),
                second_face=clip(second, w.start_s, w.end_s),
                motion_energy=motion / frames if frames else None,
                landmarks=landmark_behaviour(chunks, closures, w.start_s, w.end_s),
            )
        )
    body_models = {k: v for c in chunks for k, v in c.model_versions.items() if k in BODY_MODEL_NAMES}
    body = body_behaviour(
        [b for c in chunks for b in c.body], [(w.question_id, w.start_s, w.end_s) for w in windows], body_models
    )
    return InterviewBehaviour(
        chunks_received=len(chunks),
        chunks_expected=chunks[0].total_chunks if chunks else 0,
        emotion_inference_performed=performed,
        look_aways=look,
        rest_pose=None if judged is None else (judged.rest_yaw_deg, judged.rest_pitch_deg),
        smiles=smiles,
        face_absent=absent,
        second_face=second,
        questions=out,
        body=body,
        landmarks=landmark_behaviour(chunks, closures, 0.0, chunks[-1].end_s) if chunks else None,
    )


__all__ = [
    "Gaze",
    "GazeRule",
    "InterviewBehaviour",
    "Period",
    "QuestionBehaviour",
    "Window",
    "aggregate",
    "clip",
    "gaze",
    "join",
]
