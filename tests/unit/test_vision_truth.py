"""The vision models and chunk features against the ground truth of generated interviews.

Each sample goes through the real frames code (decode, sampling, chunking, JPEG pack written and read
back) and then through the same analyzer, batcher and feature functions the stage runs, chunk by chunk;
the per-question behaviour comes from `aggregate` over the resulting vision-features events.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from services.common.contracts import EmotionInference, EmotionInferenceReason
from services.samples import SampleSpec, generate_interview
from services.samples.ground_truth import GroundTruth
from services.vision.aggregate import Window
from services.vision.analyzer import FrameAnalyzer, FrameJob
from services.vision.features import chunk_features
from services.vision.settings import VisionSettings
from tests.vision_harness import Analysed as Measured
from tests.vision_harness import analyse_samples, chunk_packs, coverage, nod_peaks, shake_middles

FPS = 10.0
SPECS = {
    # seed 7: a left look-away, 4 nods, 3 shakes; seed 4: a right look-away, 4 nods, 2 shakes
    "smiling": SampleSpec(seed=7, duration=32, fps=FPS, audio=False, variant="smiling"),
    "neutral": SampleSpec(seed=4, duration=32, fps=FPS, audio=False, variant="neutral"),
}
FORBIDDEN = EmotionInference(performed=False, reason=EmotionInferenceReason.JURISDICTION_PROHIBITS)


@dataclass(frozen=True)
class Analysed(Measured):
    stills: list[np.ndarray]  # a few frames of the candidate at rest, facing the camera
    nodding: list[np.ndarray]  # the frames of the first scripted nod


@pytest.fixture(scope="module")
def analyzer() -> FrameAnalyzer:
    return FrameAnalyzer(VisionSettings())


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory, analyzer: FrameAnalyzer) -> dict[str, Analysed]:
    out_dir = tmp_path_factory.mktemp("vision-samples")
    samples = {}
    for name, spec in SPECS.items():
        result = generate_interview(spec, out_dir, name=name)
        samples[name] = (result.truth, chunk_packs(result.media_path, result.truth.duration_s))
    measured, batch_sizes = analyse_samples(analyzer, samples, VisionSettings())
    assert max(batch_sizes) > 40  # frames of several chunks shared a pass
    analysed = {}
    for name, (truth, packs) in samples.items():
        nod = truth.events.nods[0]
        nodding = [f for _, ts, fs in packs for t, f in zip(ts, fs, strict=True) if nod.start <= t < nod.end]
        m = measured[name]
        analysed[name] = Analysed(m.truth, m.chunks, m.events, packs[0][2][:4], nodding)
    return analysed


def _windows(truth: GroundTruth, length: float = 8.0) -> list[Window]:
    edges = np.arange(0.0, truth.duration_s + 1e-9, length)
    return [Window(question_id=f"w{i}", start_s=float(a), end_s=float(a + length)) for i, a in enumerate(edges)]


@pytest.mark.parametrize("name", list(SPECS))
def test_nods_and_shakes_per_window_within_one(analysed: dict[str, Analysed], name: str) -> None:
    sample = analysed[name]
    events = sample.truth.events
    peaks, middles = nod_peaks(sample.truth), shake_middles(sample.truth)
    windows = [
        *_windows(sample.truth),
        *(Window(question_id=q.question_id, start_s=q.start, end_s=q.end) for q in sample.truth.questions),
    ]
    behaviour = sample.behaviour(windows)
    for w, q in zip(windows, behaviour.questions, strict=True):
        expected_nods = sum(1 for t in peaks if w.start_s <= t < w.end_s)
        expected_shakes = sum(1 for t in middles if w.start_s <= t < w.end_s)
        assert abs(q.nod_count - expected_nods) <= 1, (w, q.nod_count, expected_nods)
        assert abs(q.shake_count - expected_shakes) <= 1, (w, q.shake_count, expected_shakes)
    total_nods = sum(len(e.summary.nod_times_s) for e in sample.events)
    assert abs(total_nods - len(peaks)) <= 1
    # every counted nod lies inside a scripted nod
    assert all(
        any(n.start - 0.2 <= t <= n.end + 0.2 for n in events.nods)
        for e in sample.events
        for t in e.summary.nod_times_s
    )


@pytest.mark.parametrize("name", list(SPECS))
def test_look_aways_found(analysed: dict[str, Analysed], name: str) -> None:
    sample = analysed[name]
    behaviour = sample.behaviour()
    truth = sample.truth.events.look_aways
    assert truth
    for look in truth:
        assert coverage(behaviour.look_aways, look.start + look.turn_s, look.end - look.turn_s) >= 0.9
    for found in behaviour.look_aways:  # nothing else is reported as looking away
        assert any(found.start_s < t.end + 0.3 and t.start - 0.3 < found.end_s for t in truth), found


@pytest.mark.parametrize("name", list(SPECS))
def test_face_absent_and_second_face_found(analysed: dict[str, Analysed], name: str) -> None:
    sample = analysed[name]
    behaviour = sample.behaviour()
    events = sample.truth.events
    assert events.no_face and events.second_face
    for gone in events.no_face:
        assert coverage(behaviour.face_absent, gone.start, gone.end) >= 0.9
    for extra in events.second_face:
        assert coverage(behaviour.second_face, extra.start, extra.end) >= 0.9
    for found in behaviour.face_absent:
        assert any(found.start_s < g.back_end and g.leave_start < found.end_s for g in events.no_face), found
    for found in behaviour.second_face:
        assert any(found.start_s < s.exit_end and s.enter_start < found.end_s for s in events.second_face), found


def test_smiling_scores_higher_than_neutral(analysed: dict[str, Analysed]) -> None:
    def mean_smile(sample: Analysed) -> float:
        values = [e.summary.smile_intensity_mean for e in sample.events if e.summary.smile_intensity_mean is not None]
        return float(np.mean(values))

    smiling, neutral = mean_smile(analysed["smiling"]), mean_smile(analysed["neutral"])
    assert smiling > neutral + 0.1, (smiling, neutral)
    smile_s = sum(q.smile_s or 0.0 for q in analysed["smiling"].behaviour().questions)
    neutral_s = sum(q.smile_s or 0.0 for q in analysed["neutral"].behaviour().questions)
    assert smile_s > neutral_s


def test_look_away_direction_follows_the_truth(analysed: dict[str, Analysed]) -> None:
    """During a scripted look-away the head sits and turns toward the side the truth names: the face moves that
    way in the picture and its yaw against the line of sight is positive toward the image's left."""
    for name in SPECS:
        sample = analysed[name]
        for look in sample.truth.events.look_aways:
            held = [r for r in sample.frames_in(look.start + look.turn_s, look.end - look.turn_s) if r.box]
            rest = [r for r in sample.frames_in(look.start - 1.5, look.start - 0.2) if r.box]
            assert held and rest
            shift = float(np.median([(r.box[0] + r.box[2]) / 2 for r in held]))
            shift -= float(np.median([(r.box[0] + r.box[2]) / 2 for r in rest]))
            assert (shift < 0) == (look.direction == "left"), (name, shift)
            sight = float(np.median([r.pose.sight_yaw_deg for r in held if r.pose is not None]))
            assert (sight > 0) == (look.direction == "left") and abs(sight) > 20.0, (name, sight)


def test_head_pose_signs_on_rendered_frames(analysed: dict[str, Analysed], analyzer: FrameAnalyzer) -> None:
    """Real frames turned by known image operations: a clockwise rotation raises roll, an anticlockwise one
    lowers it, a mirror image negates it. Pitch is checked on projected landmarks in test_vision_units, yaw
    there, on heads turned in 3-D in test_vision_pose3d and on the samples' look-aways (turns in 3-D) above; the
    frontal astronaut's yaw of a few degrees is within the detector's left-right asymmetry."""
    stills = analysed["smiling"].stills
    height, width = stills[0].shape[:2]

    def rotated(frame: np.ndarray, clockwise_deg: float) -> np.ndarray:
        # OpenCV's angle is anticlockwise
        matrix = cv2.getRotationMatrix2D((width / 2, height * 0.43), -clockwise_deg, 1.0)
        return np.asarray(cv2.warpAffine(frame, matrix, (width, height)), np.uint8)

    frames = [
        *stills,
        *(rotated(f, 15.0) for f in stills),
        *(rotated(f, -15.0) for f in stills),
        *(np.ascontiguousarray(f[:, ::-1]) for f in stills),
    ]
    poses = [r.pose for r in analyzer.analyse([FrameJob(f, False) for f in frames])]
    n = len(stills)
    for i in range(n):
        base, right, left, mirror = poses[i], poses[n + i], poses[2 * n + i], poses[3 * n + i]
        assert base is not None and right is not None and left is not None and mirror is not None
        assert 7.0 <= right.roll_deg - base.roll_deg <= 23.0
        assert -23.0 <= left.roll_deg - base.roll_deg <= -7.0
        assert mirror.roll_deg == pytest.approx(-base.roll_deg, abs=2.5)


def test_a_window_around_the_face_finds_what_the_whole_frame_search_finds(
    analysed: dict[str, Analysed], analyzer: FrameAnalyzer
) -> None:
    """The tracked frames' landmarks and pose agree with a whole-frame search of the same frames; a window
    around the wrong place reports no face, which sends the frame back to a whole search."""
    sample = analysed["neutral"]
    frames = [*sample.stills, *sample.nodding]
    height, width = frames[0].shape[:2]
    whole = analyzer.analyse([FrameJob(f, True) for f in frames])
    assert all(r.box is not None and r.search == "whole" for r in whole)
    windows = [analyzer.placement(r.box, width, height) for r in whole if r.box is not None]
    assert all(w is not None and w.scale >= 256 / 640 for w in windows)  # never coarser than the whole search
    windowed = analyzer.analyse([FrameJob(f, True, w) for f, w in zip(frames, windows, strict=True)])
    scale = np.array([width, height], np.float32)
    for w, t in zip(whole, windowed, strict=True):
        assert t.search == "window" and t.box is not None and t.faces == 1
        assert w.landmarks is not None and t.landmarks is not None and w.pose is not None and t.pose is not None
        assert np.abs((t.landmarks - w.landmarks) * scale).max() <= 4.0  # full-resolution pixels
        # The 5-point pose moves a few degrees with landmarks 2-3 px apart (yaw most: the face is frontal).
        assert abs(t.pose.roll_deg - w.pose.roll_deg) <= 3.0
        assert abs(t.pose.yaw_deg - w.pose.yaw_deg) <= 8.0 and abs(t.pose.pitch_deg - w.pose.pitch_deg) <= 8.0
        # Expressions are classified on both, but not compared: the classifier swings by up to a third between
        # crops 4 px apart on this rendered face, whichever search placed them.
        assert t.expression is not None and w.expression is not None
    assert analyzer.placement((0.05, 0.05, 0.95, 0.95), width, height) is None  # a close-up is measured whole
    empty_corner = analyzer.placement((0.0, 0.0, 0.12, 0.16), width, height)
    lost = analyzer.analyse([FrameJob(f, True, empty_corner) for f in frames[:2]])
    assert all(r.box is None and r.faces == 0 and r.expression is None for r in lost)


def test_without_permission_no_expression_is_computed_or_kept(analysed: dict[str, Analysed]) -> None:
    settings = VisionSettings()
    window, stamps, results, _ = analysed["smiling"].chunks[1]
    stripped = [dataclasses.replace(r, expression=None) for r in results]
    features = chunk_features(window, stamps, stripped, [None] * len(stripped), FORBIDDEN, settings)
    summary = features.summary
    assert summary.expression_distribution is None and summary.smile_intensity_mean is None
    assert summary.frown_s is None and summary.expression_volatility is None and summary.episodes.smile == []
    assert all(row.smile_intensity is None and row.dominant_expression is None for row in features.seconds)
    assert not any(name.startswith("p_") or name in ("smile_intensity", "frowning") for name in features.columns)
    assert summary.face_present_ratio > 0.5  # face analysis itself still ran


def test_seconds_rows_cover_the_chunk(analysed: dict[str, Analysed]) -> None:
    for window, stamps, _, features in analysed["neutral"].chunks:
        seconds = [row.second for row in features.seconds]
        assert seconds == list(range(int(window.start_s), int(np.ceil(window.end_s))))
        assert sum(row.frames for row in features.seconds) == len(stamps)
