"""Gestures measured the same whatever the recording's frame rate, the face's size and the key-frame interval.

A still head must not nod or shake, whichever way its frames were searched: landmark positions that step when the
search switches between whole frames and tracked windows read as head movements (a still face once "nodded" at
every key frame). Scripted nods and shakes must be counted within one, at every size and interval. Each sample is
960x540 (the frames stage keeps 640x360) with the face about 60, 100 or 200 pixels wide, at the lowest and highest
common webcam rates (15 and 30 frames per second; `make eval` adds 25); each is analysed at every supported
key-frame interval, 0 searching every frame whole.

Eye contact and look-aways likewise, on a slice: a candidate who turns their head away now and then, framed near on
the left third and far on the right third, must be judged facing the camera between the look-aways and turned away
through them. The whole look-away grid (every frame rate, face size and framing, at every key-frame interval) is in
`make eval` (tests/eval/vision_grid.py).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from services.samples import SampleSpec, generate_interview
from services.samples.ground_truth import GroundTruth
from services.samples.spec import EventMix
from services.vision.analyzer import FrameAnalyzer
from services.vision.settings import KEYFRAME_INTERVALS_S, VisionSettings
from tests.vision_harness import Analysed, Packs, analyse_samples, chunk_packs, gaze_score, nod_peaks, shake_middles

FRAME_RATES = (15.0, 30.0)
FACE_WIDTHS = (60.0, 100.0, 200.0)
DURATION_S = {"still": 20.0, "gestures": 20.0, "gaze": 16.0}
#: The look-away slice: (frame rate, face width, framing) of a near face on the left third and a far one on the
#: right third, analysed at the default key-frame interval.
GAZE_SLICE = ((15.0, 200.0, 0.33), (15.0, 60.0, 0.67))
Grid = dict[tuple[float, float, float, EventMix], Analysed]
#: Each fixture generates and analyses its grid inside the first test that asks for it (minutes on two cores).
pytestmark = pytest.mark.timeout(1200)


def _spec(fps: float, face: float, events: EventMix, face_x: float = 0.5) -> SampleSpec:
    return SampleSpec(
        seed=11,
        duration=DURATION_S[events],
        fps=fps,
        width=960,
        height=540,
        audio=False,
        events=events,
        face_px=face,
        face_x=face_x,
    )


def _packs(out: Path, name: str, spec: SampleSpec) -> tuple[GroundTruth, Packs]:
    result = generate_interview(spec, out, name=name)
    return result.truth, chunk_packs(result.media_path, result.truth.duration_s)


def _measure(out: Path, mixes: tuple[EventMix, ...]) -> Grid:
    samples = {
        (fps, face, events): _packs(out, f"{events}-{fps:g}fps-{face:g}px", _spec(fps, face, events))
        for fps, face, events in itertools.product(FRAME_RATES, FACE_WIDTHS, mixes)
    }
    analyzer = FrameAnalyzer(VisionSettings())
    measured: Grid = {}
    for interval in KEYFRAME_INTERVALS_S:
        settings = VisionSettings(keyframe_interval_s=interval)
        results, _ = analyse_samples(analyzer, {str(k): v for k, v in samples.items()}, settings)
        for key in samples:
            measured[(interval, *key)] = results[str(key)]
    return measured


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Grid:
    return _measure(tmp_path_factory.mktemp("vision-grid"), ("still", "gestures"))


@pytest.fixture(scope="module")
def gaze_slice(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[float, float, float], Analysed]:
    out = tmp_path_factory.mktemp("vision-gaze-slice")
    samples = {
        str(case): _packs(out, f"gaze-{case[0]:g}fps-{case[1]:g}px-x{case[2]:g}", _spec(*case[:2], "gaze", case[2]))
        for case in GAZE_SLICE
    }
    results, _ = analyse_samples(FrameAnalyzer(VisionSettings()), samples, VisionSettings())
    return {case: results[str(case)] for case in GAZE_SLICE}


def _cases(events: EventMix) -> list[tuple[float, float, float, EventMix]]:
    return [(i, f, w, events) for i, f, w in itertools.product(KEYFRAME_INTERVALS_S, FRAME_RATES, FACE_WIDTHS)]


@pytest.mark.parametrize("case", _cases("still"), ids=lambda c: f"{c[0]:g}s-{c[1]:g}fps-{c[2]:g}px")
def test_a_still_head_neither_nods_nor_shakes(grid: Grid, case: tuple[float, float, float, EventMix]) -> None:
    sample = grid[case]
    assert not sample.truth.events.nods and not sample.truth.events.shakes
    assert sample.nod_times == [] and sample.shake_times == [], (sample.nod_times, sample.shake_times)
    present = sum(e.summary.face_present_ratio * e.summary.frames_analysed for e in sample.events)
    assert present >= 0.98 * sum(e.summary.frames_analysed for e in sample.events)  # the face was measured


@pytest.mark.parametrize("case", _cases("gestures"), ids=lambda c: f"{c[0]:g}s-{c[1]:g}fps-{c[2]:g}px")
def test_scripted_nods_and_shakes_are_counted_within_one(
    grid: Grid, case: tuple[float, float, float, EventMix]
) -> None:
    sample = grid[case]
    events = sample.truth.events
    assert events.nods and events.shakes
    assert abs(len(sample.nod_times) - len(nod_peaks(sample.truth))) <= 1, (sample.nod_times, nod_peaks(sample.truth))
    assert abs(len(sample.shake_times) - len(shake_middles(sample.truth))) <= 1
    for nod in events.nods:  # each scripted nod, and no nod anywhere else
        found = [t for t in sample.nod_times if nod.start - 0.2 <= t <= nod.end + 0.2]
        assert abs(len(found) - nod.count) <= 1, (nod, found)
    assert all(any(n.start - 0.2 <= t <= n.end + 0.2 for n in events.nods) for t in sample.nod_times)
    assert all(any(s.start - 0.2 <= t <= s.end + 0.2 for s in events.shakes) for t in sample.shake_times)


@pytest.mark.parametrize("case", GAZE_SLICE, ids=lambda c: f"{c[0]:g}fps-{c[1]:g}px-x{c[2]:g}")
def test_eye_contact_and_look_aways_meet_their_floors_off_centre_near_and_far(
    gaze_slice: dict[tuple[float, float, float], Analysed], case: tuple[float, float, float]
) -> None:
    """Eye contact on at least 90 % of the frames where the candidate faces the camera, at least 80 % of the
    scripted look-away seconds found, and what is reported as looking away lies within the look-aways."""
    score = gaze_score(gaze_slice[case])
    assert score.clear and score.facing >= 0.9 * score.clear, score
    assert score.found_s >= 0.8 * score.held_s, score
    assert score.stray_s <= 0.2 * score.reported_s + 1e-9, score
