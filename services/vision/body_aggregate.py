"""Hands and posture over an interview and per question, from the `BodySample`s of its vision-features events.

All samples of the interview are judged together (so an episode crossing a chunk boundary is one episode, and
the candidate's own baseline posture is the interview's):

- **Hand-to-face touches**: runs of samples in which a hand's landmarks lie on the face box, lasting at least
  ``TOUCH_MIN_S`` (a sample stands for the time to the next one; a touch between two samples is not seen, so the
  sampling rate bounds the shortest touch counted reliably: 1 s at the default rate).
- **Gesturing**: the share of samples with a hand in view whose hand landmarks moved at least ``GESTURE_MIN_SPEED``
  face widths per second since the sample before.
- **Shoulder tilt**: the mean absolute angle of the shoulder line (and the signed mean), samples with both
  shoulders visible.
- **Lean**: shoulder width against the candidate's own median over the interview (the camera does not move in an
  interview: shoulders wider than usual are closer to it). Leaning forward: at least ``LEAN_RATIO`` wider; back:
  that much narrower.
- **Posture shifts**: moments where the median shoulder posture over the ``SHIFT_WINDOW_S`` before differs from the
  one after by at least ``SHIFT_MOVE`` shoulder widths of position, ``SHIFT_TILT_DEG`` of tilt or ``LEAN_RATIO`` of
  width; a run of such moments is one shift.
- **Slouch (proxy)**: the share of samples whose nose sits at least ``SLOUCH_DROP`` lower above the shoulders (in
  shoulder widths) than the candidate's median: the head sinking towards the shoulders, as in a slouch. A proxy:
  a chin lowered to read notes looks the same.

A measure is null when the samples could not support it (no samples, no hands ever near a known face, shoulders
never visible): no body in view is not an upright, still body.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from services.common.contracts import BodySample
from services.vision.signals import runs

TOUCH_MIN_S = 0.5
GESTURE_MIN_SPEED = 0.5
LEAN_RATIO = 0.1
SHIFT_WINDOW_S = 2.0
SHIFT_MOVE = 0.25
SHIFT_TILT_DEG = 6.0
SLOUCH_DROP = 0.1
#: Samples with both shoulders visible needed before a baseline (lean, slouch) means anything.
MIN_BASELINE_SAMPLES = 5


class Episode(BaseModel):
    model_config = ConfigDict(frozen=True)

    start_s: float
    end_s: float


class BodyMeasures(BaseModel):
    """Hands and posture over a span of the interview; null: not supported by what the samples showed."""

    model_config = ConfigDict(frozen=True)

    samples: int = Field(description="Sampled frames in the span.")
    hands_visible_ratio: float | None = Field(description="Share of samples with a hand in view.")
    hand_face_touches: int | None = Field(description="Hand-to-face touches starting in the span.")
    hand_face_touch_s: float | None = Field(description="Seconds of hand-to-face touching in the span.")
    gesturing_ratio: float | None = Field(description="Share of hand-visible samples with moving hands.")
    hand_motion: float | None = Field(description="Mean hand landmark speed, face widths per second.")
    body_visible_ratio: float | None = Field(description="Share of samples with both shoulders visible.")
    shoulder_tilt_deg: float | None = Field(description="Mean absolute shoulder-line tilt, degrees.")
    shoulder_tilt_signed_deg: float | None = Field(description="Mean signed tilt; positive: image's right lower.")
    lean_forward_ratio: float | None = Field(description="Share of shoulder samples leaning towards the camera.")
    lean_back_ratio: float | None = Field(description="Share of shoulder samples leaning away from the camera.")
    posture_shifts: int | None = Field(description="Posture shifts in the span.")
    slouch_ratio: float | None = Field(description="Proxy: share of shoulder samples with the head sunk.")


class InterviewBody(BaseModel):
    model_config = ConfigDict(frozen=True)

    measured: bool = Field(description="Whether hands and posture were analysed at all (the models ran).")
    models: dict[str, str] = Field(description="Palm, hand and pose model versions that made the measures.")
    touches: list[Episode]
    shift_times_s: list[float]
    whole: BodyMeasures
    questions: dict[str, BodyMeasures]


class _Judged:
    """Per-sample judgements over the interview, in time order."""

    def __init__(self, samples: Sequence[BodySample]) -> None:
        self.t = np.array([s.t_s for s in samples], np.float64)
        self.period = float(np.median(np.diff(self.t))) if len(self.t) > 1 else 0.0
        self.hands = np.array([s.hands > 0 for s in samples], bool)
        self.touch = np.array([s.hand_face_touch is True for s in samples], bool)
        self.touch_known = np.array([s.hand_face_touch is not None for s in samples], bool)
        self.motion = np.array([np.nan if s.hand_motion is None else s.hand_motion for s in samples], np.float64)
        self.tilt = np.array([np.nan if s.shoulder_tilt_deg is None else s.shoulder_tilt_deg for s in samples])
        self.width = np.array([np.nan if s.shoulder_width is None else s.shoulder_width for s in samples])
        centre = [s.shoulder_centre if s.shoulder_centre else [np.nan, np.nan] for s in samples]
        self.centre = np.array(centre, np.float64).reshape(-1, 2)
        self.head = np.array([np.nan if s.head_height is None else s.head_height for s in samples])
        self.shoulders = ~np.isnan(self.width)
        enough = int(self.shoulders.sum()) >= MIN_BASELINE_SAMPLES
        self.base_width = float(np.nanmedian(self.width)) if enough else None
        heads = self.head[~np.isnan(self.head)]
        self.base_head = float(np.median(heads)) if heads.size >= MIN_BASELINE_SAMPLES else None
        self.touches = self._touches()
        self.shifts = self._shifts()

    def _touches(self) -> list[Episode]:
        out = []
        for i, j in runs(self.touch):
            start, end = float(self.t[i]), float(self.t[j - 1] + self.period)
            if end - start >= TOUCH_MIN_S - 1e-9:
                out.append(Episode(start_s=start, end_s=end))
        return out

    def _shifts(self) -> list[float]:
        if self.base_width is None:
            return []
        moved = np.zeros(len(self.t), bool)
        for k, now in enumerate(self.t):
            before = self.shoulders & (self.t >= now - SHIFT_WINDOW_S) & (self.t < now)
            after = self.shoulders & (self.t >= now) & (self.t < now + SHIFT_WINDOW_S)
            if before.sum() < 2 or after.sum() < 2:
                continue
            shift = np.linalg.norm(np.median(self.centre[after], 0) - np.median(self.centre[before], 0))
            tilt = abs(np.median(self.tilt[after]) - np.median(self.tilt[before]))
            width = abs(np.median(self.width[after]) / np.median(self.width[before]) - 1)
            moved[k] = shift / self.base_width >= SHIFT_MOVE or tilt >= SHIFT_TILT_DEG or width >= LEAN_RATIO
        return [float(self.t[(i + j - 1) // 2]) for i, j in runs(moved)]

    def measures(self, start_s: float, end_s: float) -> BodyMeasures:
        sel = (self.t >= start_s) & (self.t < end_s)
        n = int(sel.sum())
        hands, shoulders = sel & self.hands, sel & self.shoulders
        known = sel & self.touch_known
        moving = hands & ~np.isnan(self.motion)
        touches = [e for e in self.touches if start_s <= e.start_s < end_s]
        lean = slouch = None
        if self.base_width is not None and shoulders.any():
            ratio = self.width[shoulders] / self.base_width
            lean = (float(np.mean(ratio >= 1 + LEAN_RATIO)), float(np.mean(ratio <= 1 - LEAN_RATIO)))
        heads = shoulders & ~np.isnan(self.head)
        if self.base_head is not None and heads.any():
            slouch = float(np.mean(self.head[heads] <= self.base_head - SLOUCH_DROP))
        return BodyMeasures(
            samples=n,
            hands_visible_ratio=float(hands.sum() / n) if n else None,
            hand_face_touches=len(touches) if known.any() else None,
            hand_face_touch_s=_overlap_s(self.touches, start_s, end_s) if known.any() else None,
            gesturing_ratio=float(np.mean(self.motion[moving] >= GESTURE_MIN_SPEED)) if moving.any() else None,
            hand_motion=float(np.mean(self.motion[moving])) if moving.any() else None,
            body_visible_ratio=float(shoulders.sum() / n) if n else None,
            shoulder_tilt_deg=float(np.mean(np.abs(self.tilt[shoulders]))) if shoulders.any() else None,
            shoulder_tilt_signed_deg=float(np.mean(self.tilt[shoulders])) if shoulders.any() else None,
            lean_forward_ratio=None if lean is None else lean[0],
            lean_back_ratio=None if lean is None else lean[1],
            posture_shifts=sum(1 for t in self.shifts if start_s <= t < end_s) if shoulders.any() else None,
            slouch_ratio=slouch,
        )


def _overlap_s(episodes: Sequence[Episode], start_s: float, end_s: float) -> float:
    return float(sum(max(0.0, min(e.end_s, end_s) - max(e.start_s, start_s)) for e in episodes))


def body_behaviour(
    samples: Sequence[BodySample], windows: Sequence[tuple[str, float, float]], models: dict[str, str]
) -> InterviewBody:
    """Hands and posture over the interview's samples (any order, duplicates by time counted once) and per
    (question id, start, end) window; ``models`` are the versions the events named (empty: not analysed)."""
    unique = sorted({s.t_s: s for s in samples}.values(), key=lambda s: s.t_s)
    judged = _Judged(unique)
    end = float(judged.t[-1] + judged.period) if len(judged.t) else 0.0
    return InterviewBody(
        measured=bool(models),
        models=models,
        touches=judged.touches,
        shift_times_s=judged.shifts,
        whole=judged.measures(0.0, end + 1e-6),
        questions={q: judged.measures(a, b) for q, a, b in windows},
    )


__all__ = ["BodyMeasures", "Episode", "InterviewBody", "body_behaviour"]
