"""Head-pose yaw on a face turned in 3-D: the sample renderer turns the astronaut's head about the vertical
axis (`turn_head`: the nose moves against the eyes, one cheek narrows), and the real detector and 5-point pose
read the frames. The contract's yaw is positive toward the image's left, the candidate's right.

The astronaut herself faces a few degrees to the image's left, so turns to the right of up to about 20 degrees
read near zero; the turns checked are wider."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from services.samples import SampleSpec
from services.samples.motion import Pose
from services.samples.render_video import SceneRenderer
from services.samples.script import build_scenario
from services.samples.spec import Variant
from services.vision.analyzer import FrameAnalyzer, FrameJob
from services.vision.settings import VisionSettings

#: Head turns in degrees; positive: toward the image's right, i.e. the candidate looks to their left.
TURNS = (-45.0, -30.0, 0.0, 30.0, 45.0)
#: Resting poses each turn is drawn from: the head off-centre either way, exposure up and down.
BASES = [Pose(dx=dx, gain=gain) for dx in (-0.03, 0.0, 0.03) for gain in (0.97, 1.03)]


@pytest.fixture(scope="module")
def analyzer() -> FrameAnalyzer:
    return FrameAnalyzer(VisionSettings())


@pytest.mark.parametrize(("seed", "variant"), [(7, "smiling"), (4, "neutral")])
def test_yaw_sign_and_growth_on_a_head_turned_in_3d(analyzer: FrameAnalyzer, seed: int, variant: Variant) -> None:
    spec = SampleSpec(seed=seed, duration=10, fps=10, audio=False, variant=variant)
    renderer = SceneRenderer(spec, build_scenario(spec).truth)
    frames = [
        renderer.render_pose(dataclasses.replace(base, turn_deg=turn), index)
        for turn in TURNS
        for index, base in enumerate(BASES)
    ]
    results = analyzer.analyse([FrameJob(frame, False) for frame in frames])
    assert all(r.faces == 1 and r.pose is not None for r in results)
    yaws = np.array([r.pose.yaw_deg for r in results if r.pose is not None]).reshape(len(TURNS), len(BASES))
    median = np.median(yaws, axis=1)
    # The candidate looking to their left (the image's right) has a negative yaw, to their right a positive one,
    # in every frame.
    for turn, row in zip(TURNS, yaws, strict=True):
        if turn:
            assert (np.sign(row) == -np.sign(turn)).all(), (turn, row)
    # The further the turn, the larger the yaw.
    assert (np.diff(median) < -3.0).all(), dict(zip(TURNS, median, strict=True))
