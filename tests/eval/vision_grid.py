"""Vision's accuracy over generated recordings that vary as real ones do: frame rate, face size, framing and what
the candidate does (a still head, nods and shakes, look-aways, a mixed interview with a second face and absences).
The look-aways' floors (`floors`) are held over every rate, size, framing and key-frame interval here; the unit
tests keep a slice.
Ground truth is the generator's script. Every sample is analysed as the stage analyses it (tests/vision_harness.py)
at the default key-frame interval and with every frame searched whole (0), the reference the tracking is held to.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from services.samples import SampleSpec, generate_interview
from services.samples.ground_truth import GroundTruth
from services.samples.spec import EventMix
from services.vision.aggregate import Period, gaze
from services.vision.analyzer import FrameAnalyzer
from services.vision.settings import VisionSettings
from tests.vision_harness import (
    FRONTAL_MARGIN_S,
    Analysed,
    Packs,
    analyse_samples,
    chunk_packs,
    gaze_score,
    nod_peaks,
    shake_middles,
)

FRAME_RATES = (15.0, 25.0, 30.0)
FACE_WIDTHS = (60.0, 100.0, 200.0)
#: Where the face sits: centred, and on the left and right thirds as webcams often frame people.
FRAMINGS = (0.5, 0.33, 0.67)
MIXES: tuple[EventMix, ...] = ("still", "gestures", "gaze", "mixed")
INTERVALS_S = (0.5, 0.0, 1.0)
#: The floors over the look-away samples: eye contact on frontal frames, share of scripted look-away seconds found.
EYE_CONTACT_FLOOR = 0.9
LOOK_AWAY_FLOOR = 0.8
#: The samples whose scripts say how many nods and shakes there are (a look-away script holds none either).
GESTURE_MIXES = ("still", "gestures", "mixed")
DURATION_S = {"still": 20.0, "gestures": 24.0, "gaze": 24.0, "mixed": 32.0}
Spans = list[tuple[float, float]]


@dataclass(frozen=True)
class Case:
    fps: float
    face_px: float
    face_x: float
    mix: EventMix

    @property
    def name(self) -> str:
        return f"{self.mix}-{self.fps:g}fps-{self.face_px:g}px-x{self.face_x:g}"

    def spec(self, seed: int) -> SampleSpec:
        return SampleSpec(
            seed=seed,
            duration=DURATION_S[self.mix],
            fps=self.fps,
            width=960,
            height=540,
            audio=False,
            events=self.mix,
            face_px=self.face_px,
            face_x=self.face_x,
        )


def _overlap(a: Spans, b: Spans) -> float:
    return sum(max(0.0, min(x1, y1) - max(x0, y0)) for x0, x1 in a for y0, y1 in b)


def _length(spans: Spans) -> float:
    return sum(max(0.0, e - s) for s, e in spans)


def _spans(periods: Iterable[Period]) -> Spans:
    return [(p.start_s, p.end_s) for p in periods]


def episode_scores(found: Spans, held: Spans, allowed: Spans) -> tuple[float | None, float | None]:
    """(recall, precision) in time: the share of ``held`` (where the state fully holds) found, and the share of
    found time within ``allowed`` (``held`` with its transitions). None where there is nothing to divide by."""
    recall = _overlap(found, held) / _length(held) if _length(held) > 0 else None
    precision = _overlap(found, allowed) / _length(found) if _length(found) > 0 else None
    return recall, precision


def _frontal_agreement(sample: Analysed, truth: GroundTruth) -> float | None:
    """Share of the frames with a face, away from any scripted look-away, nod, shake or exit, judged as eye contact
    (over the interview, as fusion judges it)."""
    ev = truth.events
    busy = [(e.start - FRONTAL_MARGIN_S, e.end + FRONTAL_MARGIN_S) for e in (*ev.look_aways, *ev.nods, *ev.shakes)]
    busy += [(e.leave_start - FRONTAL_MARGIN_S, e.back_end + FRONTAL_MARGIN_S) for e in ev.no_face]
    judged = gaze(sample.events)
    assert judged is not None
    flags = [
        flag
        for t, flag in zip(judged.times, judged.facing, strict=True)
        if flag is not None and not any(a <= t < b for a, b in busy)
    ]
    return float(np.mean(flags)) if flags else None


def score(sample: Analysed) -> dict[str, Any]:
    """Every measure of one analysed sample against its script."""
    truth = sample.truth
    ev = truth.events
    behaviour = sample.behaviour()
    out: dict[str, Any] = {
        "nod_error": len(sample.nod_times) - len(nod_peaks(truth)),
        "shake_error": len(sample.shake_times) - len(shake_middles(truth)),
        "eye_contact_frontal": _frontal_agreement(sample, truth),
    }
    looks_held = [(e.start + e.turn_s, e.end - e.turn_s) for e in ev.look_aways]
    looks_allowed = [(e.start - 0.3, e.end + 0.3) for e in ev.look_aways]
    out["look_away_recall"], out["look_away_precision"] = episode_scores(
        _spans(behaviour.look_aways), looks_held, looks_allowed
    )
    out["face_absent_recall"], out["face_absent_precision"] = episode_scores(
        _spans(behaviour.face_absent),
        [(e.start, e.end) for e in ev.no_face],
        [(e.leave_start, e.back_end) for e in ev.no_face],
    )
    out["second_face_recall"], out["second_face_precision"] = episode_scores(
        _spans(behaviour.second_face),
        [(e.start, e.end) for e in ev.second_face],
        [(e.enter_start, e.exit_end) for e in ev.second_face],
    )
    frames = sum(e.summary.frames_analysed for e in sample.events)
    present = sum(e.summary.face_present_ratio * e.summary.frames_analysed for e in sample.events)
    out["face_present"] = round(present / frames, 3) if frames else None
    if ev.look_aways:
        out.update(dataclasses.asdict(gaze_score(sample)))
    return out


def cases() -> list[Case]:
    return [Case(*c) for c in itertools.product(FRAME_RATES, FACE_WIDTHS, FRAMINGS, MIXES)]


def floors(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per key-frame interval, over the look-away samples: eye contact on the frames where the candidate faces the
    camera and the share of scripted look-away seconds found, pooled (as the unit tests' slice asserts them), the
    worst sample of each, and whether the floors hold."""
    out = []
    for interval, group in itertools.groupby(
        sorted((r for r in rows if r["mix"] == "gaze"), key=lambda r: r["keyframe_interval_s"]),
        key=lambda r: r["keyframe_interval_s"],
    ):
        items = list(group)
        facing = sum(r["facing"] for r in items) / max(1, sum(r["clear"] for r in items))
        found = sum(r["found_s"] for r in items) / max(1e-9, sum(r["held_s"] for r in items))
        out.append(
            {
                "keyframe_interval_s": interval,
                "samples": len(items),
                "eye_contact_frontal": round(facing, 3),
                "worst_sample_eye_contact": round(min(r["facing"] / max(1, r["clear"]) for r in items), 3),
                "look_away_seconds_found": round(found, 3),
                "worst_sample_look_away": round(min(r["found_s"] / max(1e-9, r["held_s"]) for r in items), 3),
                "floors_hold": facing >= EYE_CONTACT_FLOOR and found >= LOOK_AWAY_FLOOR,
            }
        )
    return out


def run(out_dir: Path, seed: int = 11, selected: Sequence[Case] | None = None) -> list[dict[str, Any]]:
    """One row per case and key-frame interval: the case, the interval and its scores."""
    chosen = list(selected or cases())
    samples: dict[str, tuple[GroundTruth, Packs]] = {}
    for case in chosen:
        result = generate_interview(case.spec(seed), out_dir, name=case.name)
        samples[case.name] = (result.truth, chunk_packs(result.media_path, result.truth.duration_s))
    analyzer = FrameAnalyzer(VisionSettings())
    rows = []
    for interval in INTERVALS_S:
        measured, _ = analyse_samples(analyzer, samples, VisionSettings(keyframe_interval_s=interval))
        for case in chosen:
            rows.append({**case.__dict__, "keyframe_interval_s": interval, **score(measured[case.name])})
    return rows


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return round(float(np.mean(kept)), 3) if kept else None


def summarise(rows: Sequence[dict[str, Any]], by: str) -> list[dict[str, Any]]:
    """Per key-frame interval and value of ``by`` (face_px, face_x, fps): mean absolute count errors, mean recall,
    precision and eye-contact agreement."""
    out = []
    for (interval, value), group in itertools.groupby(
        sorted(rows, key=lambda r: (r["keyframe_interval_s"], r[by])), key=lambda r: (r["keyframe_interval_s"], r[by])
    ):
        items = list(group)
        out.append(
            {
                "keyframe_interval_s": interval,
                by: value,
                "nod_abs_error": _mean(
                    abs(r["nod_error"]) for r in items if r["mix"] in ("gestures", "mixed", "still")
                ),
                "shake_abs_error": _mean(
                    abs(r["shake_error"]) for r in items if r["mix"] in ("gestures", "mixed", "still")
                ),
                "look_away_recall": _mean(r["look_away_recall"] for r in items),
                "look_away_precision": _mean(r["look_away_precision"] for r in items),
                "eye_contact_frontal": _mean(r["eye_contact_frontal"] for r in items),
                "face_absent_recall": _mean(r["face_absent_recall"] for r in items),
                "face_absent_precision": _mean(r["face_absent_precision"] for r in items),
                "second_face_recall": _mean(r["second_face_recall"] for r in items),
                "second_face_precision": _mean(r["second_face_precision"] for r in items),
            }
        )
    return out


__all__ = ["Case", "cases", "episode_scores", "floors", "run", "score", "summarise"]
