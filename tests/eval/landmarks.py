"""The face mesh's accuracy over generated recordings: blinks (count and rate against the script) by face size,
framing and frame rate, and mouth opening on the smiling (teeth showing) against the neutral (closed lips) face.
Ground truth is the generator's script; a blink counts as visible where an analysed frame falls inside it and the
candidate is in the picture. The previous rule (five points) measured no blinks at all: its row reads n/a.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.samples import SampleSpec, generate_interview
from services.samples.ground_truth import GroundTruth
from services.samples.spec import Variant
from services.vision.analyzer import FrameAnalyzer
from services.vision.settings import VisionSettings
from tests.eval import vision_grid
from tests.vision_harness import Analysed, analyse_samples, chunk_packs

DURATION_S = 30.0


@dataclass(frozen=True)
class Case(vision_grid.Case):
    """A recording of the vision grid's kind, 30 s long, with the smiling or the neutral face."""

    variant: Variant = "smiling"

    @property
    def name(self) -> str:
        return f"{super().name}-{self.variant}"

    def spec(self, seed: int) -> SampleSpec:
        return super().spec(seed).model_copy(update={"duration": DURATION_S, "variant": self.variant})


CASES = (
    *(Case(30.0, px, 0.5, "gestures") for px in (60.0, 100.0, 200.0)),
    *(Case(30.0, 100.0, x, "gestures") for x in (0.33, 0.67)),
    Case(15.0, 100.0, 0.5, "gestures"),
    Case(30.0, 100.0, 0.5, "mixed", "neutral"),
    Case(30.0, 100.0, 0.5, "mixed", "smiling"),
)


def _visible(truth: GroundTruth, stamps: list[float]) -> tuple[int, int, float]:
    """(scripted blinks while the candidate is in the picture, those an analysed frame falls in, minutes in the
    picture)."""
    away = [(g.leave_start, g.back_end) for g in truth.events.no_face]
    present = [b for b in truth.events.blinks if not any(a < b.end and b.start < e for a, e in away)]
    seen = sum(1 for b in present if any(b.start <= t < b.end for t in stamps))
    minutes = (truth.duration_s - sum(e - a for a, e in away)) / 60.0
    return len(present), seen, minutes


def row(case: Case, sample: Analysed, stamps: list[float]) -> dict[str, Any]:
    marks = sample.behaviour().landmarks
    scripted, seen, minutes = _visible(sample.truth, stamps)
    out: dict[str, Any] = {"case": case.name, "face_px": case.face_px, "face_x": case.face_x, "fps": case.fps}
    if marks is None or not marks.supported or marks.blink_rate_per_min is None:
        return {**out, "supported": False, "blinks_truth": seen, "blinks_found": None, "rate_error": None}
    # The rate is held to every scripted blink (one between two analysed frames is missed by sampling), the count
    # to those an analysed frame shows.
    truth_rate = scripted / minutes if minutes > 0 else 0.0
    return {
        **out,
        "supported": True,
        "blinks_scripted": scripted,
        "blinks_truth": seen,
        "blinks_found": len(marks.blink_times_s),
        "count_error": len(marks.blink_times_s) - seen,
        "rate_truth_per_min": round(truth_rate, 1),
        "rate_found_per_min": round(marks.blink_rate_per_min, 1),
        "rate_error": round(abs(marks.blink_rate_per_min - truth_rate) / truth_rate, 3) if truth_rate else None,
        "variant": case.variant,
        "mouth_opening": None if marks.mouth_opening_mean is None else round(marks.mouth_opening_mean, 4),
    }


def run(out_dir: Path, seed: int = 3) -> list[dict[str, Any]]:
    analyzer = FrameAnalyzer(VisionSettings())
    rows = []
    for k, case in enumerate(CASES):
        generated = generate_interview(case.spec(seed + k), out_dir, name=case.name)
        packs = chunk_packs(generated.media_path, generated.truth.duration_s)
        measured, _ = analyse_samples(analyzer, {case.name: (generated.truth, packs)}, VisionSettings())
        rows.append(row(case, measured[case.name], [t for _, ts, _ in packs for t in ts]))
    return rows


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The table: blink rate error and count error over the supported cases, mouth opening by variant, next to
    the previous rule (five points: no blink or mouth measure)."""
    measured = [r for r in rows if r["supported"] and r["rate_error"] is not None]
    mouth = {
        v: [r["mouth_opening"] for r in rows if r.get("variant") == v and r["supported"]]
        for v in ("smiling", "neutral")
    }
    return [
        {
            "rule": "face mesh (468 points)",
            "cases": len(rows),
            "unsupported (face too small)": sum(1 for r in rows if not r["supported"]),
            "blink rate error (mean)": round(statistics.fmean(r["rate_error"] for r in measured), 3)
            if measured
            else None,
            "blink count error (max abs)": max((abs(r["count_error"]) for r in measured), default=None),
            "mouth opening smiling / neutral": "/".join(
                f"{statistics.fmean(v):.3f}" if v else "n/a" for v in mouth.values()
            ),
        },
        {
            "rule": "five points (previous)",
            "cases": len(rows),
            "unsupported (face too small)": None,
            "blink rate error (mean)": None,
            "blink count error (max abs)": None,
            "mouth opening smiling / neutral": None,
        },
    ]


__all__ = ["CASES", "Case", "row", "run", "summary"]
