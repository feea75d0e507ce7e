"""A candidate in a dark room or against a bright window: the face is found in at least 90 % of the frames where it
is visible and judged as the still head it is, or the profile says the lighting made the measures unreliable, never
silent wrong numbers. The dim picture is flagged from the vision stage's own brightness measure.

A slice (a still head, 100 pixels wide, centred); `make eval` holds lighting against framing and the behaviours.
"""

from __future__ import annotations

import pytest

from services.fusion.scoring import POOR_LIGHTING_SHARE, dark_share
from services.samples import SampleSpec, generate_interview
from services.samples.lighting import Lighting
from services.vision.aggregate import gaze
from services.vision.analyzer import FrameAnalyzer
from services.vision.settings import VisionSettings
from tests.vision_harness import Analysed, analyse_samples, chunk_packs

POOR: tuple[Lighting, ...] = ("dim", "backlit")


@pytest.fixture(scope="module")
def lit(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Analysed]:
    out = tmp_path_factory.mktemp("lighting")
    samples = {}
    for lighting in POOR:
        spec = SampleSpec(
            seed=5, duration=10, fps=15, width=960, height=540, audio=False, events="still", face_px=100,
            lighting=lighting,
        )  # fmt: skip
        result = generate_interview(spec, out, name=lighting)
        samples[lighting] = (result.truth, chunk_packs(result.media_path, result.truth.duration_s))
    measured, _ = analyse_samples(FrameAnalyzer(VisionSettings()), samples, VisionSettings())
    return measured


@pytest.mark.parametrize("lighting", POOR)
def test_the_face_is_found_in_poor_light_or_the_lighting_is_flagged(lit: dict[str, Analysed], lighting: str) -> None:
    sample = lit[lighting]
    assert not sample.truth.events.no_face  # the face is in view throughout
    frames = sum(e.summary.frames_analysed for e in sample.events)
    present = sum(e.summary.face_present_ratio * e.summary.frames_analysed for e in sample.events)
    flagged = dark_share(sample.events) >= POOR_LIGHTING_SHARE
    assert present >= 0.9 * frames or flagged, (present / frames, dark_share(sample.events))
    judged = gaze(sample.events)
    assert judged is not None
    facing = [f for f in judged.facing if f is not None]
    assert flagged or (facing and sum(facing) >= 0.9 * len(facing))  # a still head facing the camera


def test_a_dark_room_is_flagged_from_the_pictures_brightness(lit: dict[str, Analysed]) -> None:
    assert dark_share(lit["dim"].events) >= POOR_LIGHTING_SHARE
    assert dark_share(lit["backlit"].events) < POOR_LIGHTING_SHARE  # bright around the candidate's dark face
