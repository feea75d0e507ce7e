"""Vision over the variety of real recordings, one factor at a time around a common recording (720p 16:9 at
25 frames/s, the face centred at the default size, normal light, a mixed interview): resolution and aspect
(480p 4:3, 1080p, a phone's portrait 9:16 written with rotation metadata), frame rate (15, 30, variable),
framing (left and right third, near and far) and lighting (dim, backlit). Each sample is scored against its
script (`vision_grid.score`) at the default key-frame interval.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.samples import SampleSpec, generate_interview
from services.samples.ground_truth import GroundTruth
from services.vision.analyzer import FrameAnalyzer
from services.vision.settings import VisionSettings
from tests.eval.vision_grid import score
from tests.vision_harness import Packs, analyse_samples, chunk_packs

BASE: dict[str, Any] = {
    "seed": 13, "duration": 32.0, "fps": 25.0, "width": 1280, "height": 720, "audio": False, "events": "mixed",
}  # fmt: skip
#: Near and far: the face's width as a share of the picture's shorter side (the default is 0.27).
NEAR, FAR = 0.45, 0.12
#: (factor, value, changes to BASE).
CASES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("base", "720p 16:9 25 fps centred", {}),
    ("resolution", "480p 4:3", {"width": 640, "height": 480}),
    ("resolution", "1080p 16:9", {"width": 1920, "height": 1080}),
    ("aspect", "portrait 9:16 (rotated 90)", {"rotation": 90}),
    ("fps", "15", {"fps": 15.0}),
    ("fps", "30", {"fps": 30.0}),
    ("fps", "variable (25 nominal)", {"vfr": True}),
    ("framing", "left third", {"face_x": 0.33}),
    ("framing", "right third", {"face_x": 0.67}),
    ("framing", "near", {"face_px": NEAR * 720}),
    ("framing", "far", {"face_px": FAR * 720}),
    ("lighting", "dim", {"lighting": "dim"}),
    ("lighting", "backlit", {"lighting": "backlit"}),
)


def run(out_dir: Path) -> list[dict[str, Any]]:
    """One row per case: the factor, its value and every score of `vision_grid.score`."""
    samples: dict[str, tuple[GroundTruth, Packs]] = {}
    for k, (factor, value, changes) in enumerate(CASES):
        result = generate_interview(SampleSpec(**{**BASE, **changes}), out_dir, name=f"variety-{k}-{factor}")
        packs = chunk_packs(result.media_path, result.truth.duration_s, rotation_deg=result.truth.spec.rotation)
        samples[f"{factor}: {value}"] = (result.truth, packs)
    measured, _ = analyse_samples(FrameAnalyzer(VisionSettings()), samples, VisionSettings())
    return [{"case": name, **score(sample)} for name, sample in measured.items()]


__all__ = ["CASES", "run"]
