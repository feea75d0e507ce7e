"""Synthetic job-interview recordings with known ground truth, for tests, the demo and benchmarks.

``sightline sample`` (see :mod:`services.samples.cli`) and :func:`generate_interview` write ``<name>.mp4`` and
``<name>.truth.json`` (structure: :mod:`services.samples.ground_truth`). The scenario itself is a pure function
of the options (:func:`build_scenario`), testable without ffmpeg or TTS.
"""

from services.samples.generate import SampleResult, generate_interview, plan_interview
from services.samples.ground_truth import SCHEMA_VERSION, GroundTruth
from services.samples.script import Scenario, build_scenario, estimate_clip_seconds
from services.samples.spec import SampleSpec

__all__ = [
    "SCHEMA_VERSION",
    "GroundTruth",
    "SampleResult",
    "SampleSpec",
    "Scenario",
    "build_scenario",
    "estimate_clip_seconds",
    "generate_interview",
    "plan_interview",
]
