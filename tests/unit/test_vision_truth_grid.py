"""Gestures measured the same whatever the recording's frame rate, the face's size and the key-frame interval.

A still head must not nod or shake, whichever way its frames were searched: landmark positions that step when the
search switches between whole frames and tracked windows read as head movements (a still face once "nodded" at
every key frame). Scripted nods and shakes must be counted within one, at every size and interval. Each sample is
960x540 (the frames stage keeps 640x360) with the face about 60, 100 or 200 pixels wide, at 15, 25 and 30 frames
per second; each is analysed at every supported key-frame interval, 0 searching every frame whole.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from services.samples import SampleSpec, generate_interview
from services.samples.spec import EventMix
from services.vision.analyzer import FrameAnalyzer
from services.vision.settings import KEYFRAME_INTERVALS_S, VisionSettings
from tests.vision_harness import Analysed, Packs, analyse_samples, chunk_packs, nod_peaks, shake_middles

FRAME_RATES = (15.0, 25.0, 30.0)
FACE_WIDTHS = (60.0, 100.0, 200.0)
DURATION_S = 20.0
Grid = dict[tuple[float, float, float, EventMix], Analysed]


def _sample(out: Path, fps: float, face: float, events: EventMix) -> tuple[str, SampleSpec]:
    spec = SampleSpec(
        seed=11, duration=DURATION_S, fps=fps, width=960, height=540, audio=False, events=events, face_px=face
    )
    return f"{events}-{fps:g}fps-{face:g}px", spec


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Grid:
    out = tmp_path_factory.mktemp("vision-grid")
    samples: dict[str, tuple[float, float, EventMix, Packs]] = {}
    truths = {}
    for fps, face, events in itertools.product(FRAME_RATES, FACE_WIDTHS, ("still", "gestures")):
        name, spec = _sample(out, fps, face, events)  # type: ignore[arg-type]
        result = generate_interview(spec, out, name=name)
        truths[name] = result.truth
        samples[name] = (fps, face, events, chunk_packs(result.media_path, result.truth.duration_s))  # type: ignore[assignment]
    analyzer = FrameAnalyzer(VisionSettings())
    measured: Grid = {}
    for interval in KEYFRAME_INTERVALS_S:
        settings = VisionSettings(keyframe_interval_s=interval)
        results, _ = analyse_samples(analyzer, {n: (truths[n], s[3]) for n, s in samples.items()}, settings)
        for name, (fps, face, events, _) in samples.items():
            measured[(interval, fps, face, events)] = results[name]
    return measured


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
