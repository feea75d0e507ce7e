"""Gestures measured the same whatever the recording's frame rate, the face's size and the key-frame interval.

A still head must not nod or shake, whichever way its frames were searched: landmark positions that step when the
search switches between whole frames and tracked windows read as head movements (a still face once "nodded" at
every key frame). Scripted nods and shakes must be counted within one, at every size and interval. Each sample is
960x540 (the frames stage keeps 640x360) with the face about 60, 100 or 200 pixels wide, at 15, 25 and 30 frames
per second; each is analysed at every supported key-frame interval, 0 searching every frame whole.

Eye contact and look-aways likewise: samples of a candidate who turns their head away now and then, at every frame
rate and face size, framed centred or on the left or right third (each rate and each size meets every framing),
must be judged facing the camera between the look-aways and turned away through them, wherever they sit.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.samples import SampleSpec, generate_interview
from services.samples.spec import EventMix
from services.vision.aggregate import gaze
from services.vision.analyzer import FrameAnalyzer
from services.vision.settings import KEYFRAME_INTERVALS_S, VisionSettings
from tests.vision_harness import Analysed, Packs, analyse_samples, chunk_packs, coverage, nod_peaks, shake_middles

FRAME_RATES = (15.0, 25.0, 30.0)
FACE_WIDTHS = (60.0, 100.0, 200.0)
DURATION_S = {"still": 20.0, "gestures": 20.0, "gaze": 24.0}
#: Where the face sits (share of the width) in the look-away samples, per frame rate and face size: a Latin
#: square, so every rate and every size is seen centred and on both thirds.
FRAMINGS = {
    (fps, face): (0.33, 0.5, 0.67)[(r + c) % 3]
    for r, fps in enumerate(FRAME_RATES)
    for c, face in enumerate(FACE_WIDTHS)
}
#: Seconds kept clear of a look-away's edges when asking whether the candidate faced the camera.
FRONTAL_MARGIN_S = 0.5
Grid = dict[tuple[float, float, float, EventMix], Analysed]
#: Each fixture generates and analyses its grid inside the first test that asks for it (minutes on two cores).
pytestmark = pytest.mark.timeout(1200)


def _sample(out: Path, fps: float, face: float, events: EventMix) -> tuple[str, SampleSpec]:
    face_x = FRAMINGS[(fps, face)] if events == "gaze" else 0.5
    spec = SampleSpec(
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
    return f"{events}-{fps:g}fps-{face:g}px-x{face_x:g}", spec


def _measure(out: Path, mixes: tuple[EventMix, ...]) -> Grid:
    samples: dict[str, tuple[float, float, EventMix, Packs]] = {}
    truths = {}
    for fps, face, events in itertools.product(FRAME_RATES, FACE_WIDTHS, mixes):
        name, spec = _sample(out, fps, face, events)
        result = generate_interview(spec, out, name=name)
        truths[name] = result.truth
        samples[name] = (fps, face, events, chunk_packs(result.media_path, result.truth.duration_s))
    analyzer = FrameAnalyzer(VisionSettings())
    measured: Grid = {}
    for interval in KEYFRAME_INTERVALS_S:
        settings = VisionSettings(keyframe_interval_s=interval)
        results, _ = analyse_samples(analyzer, {n: (truths[n], s[3]) for n, s in samples.items()}, settings)
        for name, (fps, face, events, _) in samples.items():
            measured[(interval, fps, face, events)] = results[name]
    return measured


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Grid:
    return _measure(tmp_path_factory.mktemp("vision-grid"), ("still", "gestures"))


@pytest.fixture(scope="module")
def gaze_grid(tmp_path_factory: pytest.TempPathFactory) -> Grid:
    return _measure(tmp_path_factory.mktemp("vision-gaze-grid"), ("gaze",))


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


@dataclass(frozen=True)
class GazeScore:
    """Frames judged facing among the face frames clear of the look-aways; seconds of held look-away reported;
    seconds reported outside every look-away (with its turns)."""

    facing: int
    clear: int
    found_s: float
    held_s: float
    stray_s: float
    reported_s: float


def _gaze_score(sample: Analysed) -> GazeScore:
    looks = sample.truth.events.look_aways
    assert looks
    judged = gaze(sample.events)
    assert judged is not None
    busy = [(e.start - FRONTAL_MARGIN_S, e.end + FRONTAL_MARGIN_S) for e in looks]
    clear = [f for t, f in zip(judged.times, judged.facing, strict=True) if f is not None and not _within(t, busy)]
    found = sample.behaviour().look_aways
    held = [(e.start + e.turn_s, e.end - e.turn_s) for e in looks]
    allowed = [(e.start - 0.3, e.end + 0.3) for e in looks]
    reported = sum(p.duration_s for p in found)
    return GazeScore(
        facing=sum(clear),
        clear=len(clear),
        found_s=sum(coverage(found, a, b) * (b - a) for a, b in held),
        held_s=sum(b - a for a, b in held),
        stray_s=reported - sum(coverage(found, a, b) * (b - a) for a, b in allowed),
        reported_s=reported,
    )


@pytest.mark.parametrize("case", _cases("gaze"), ids=lambda c: f"{c[0]:g}s-{c[1]:g}fps-{c[2]:g}px")
def test_each_sample_holds_eye_contact_and_finds_its_look_aways(
    gaze_grid: Grid, case: tuple[float, float, float, EventMix]
) -> None:
    """No sample may fail badly: most frontal frames face the camera, most held look-away time is found, and what
    is reported as looking away lies within the look-aways."""
    score = _gaze_score(gaze_grid[case])
    assert score.clear and score.facing >= 0.7 * score.clear, score
    assert score.found_s >= 0.6 * score.held_s, score
    assert score.stray_s <= 0.2 * score.reported_s + 1e-9, score


def test_over_the_grid_eye_contact_and_look_aways_meet_their_floors(gaze_grid: Grid) -> None:
    """The floors over every rate, size, framing and key-frame interval: eye contact on at least 90 % of the frames
    where the candidate faces the camera, at least 80 % of the scripted look-away seconds found."""
    scores = [_gaze_score(sample) for sample in gaze_grid.values()]
    facing, clear = sum(s.facing for s in scores), sum(s.clear for s in scores)
    found, held = sum(s.found_s for s in scores), sum(s.held_s for s in scores)
    assert facing >= 0.9 * clear, facing / clear
    assert found >= 0.8 * held, found / held


def _within(t: float, spans: list[tuple[float, float]]) -> bool:
    return any(a <= t < b for a, b in spans)
