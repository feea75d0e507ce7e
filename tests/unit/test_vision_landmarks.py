"""The face mesh (services/vision/landmarks.py) and its measures (face_measures.py): landmarks on a real photograph,
blinks counted on generated interviews against their script, unsupported when the face is too small, nothing
without consent, and the expression-like measures left out without emotion inference."""

from __future__ import annotations

import asyncio

import cv2
import numpy as np
import pytest
from skimage import data

from services.common.contracts import FrameChunkReady
from services.common.handler import MessageMeta, Rejected
from services.common.objectstore import ObjectStore
from services.common.settings import Settings
from services.frames.pack import PACK_FORMAT
from services.samples import SampleSpec, generate_interview
from services.vision.analyzer import FrameAnalyzer, FrameJob, FrameResult
from services.vision.face_measures import EXPRESSION_MEASURES, chunk_mesh
from services.vision.features import ChunkWindow, chunk_features
from services.vision.landmarks import MARGIN, FaceMesh, MeshRunner, crop_transform
from services.vision.settings import VisionSettings
from services.vision.stage import VisionStage
from tests.integration.stage_fixtures import example
from tests.vision_harness import PERMITTED, analyse_samples, chunk_packs

FORBIDDEN = PERMITTED.model_copy(update={"performed": False, "reason": "jurisdiction_prohibits"})


@pytest.fixture(scope="module")
def analyzer() -> FrameAnalyzer:
    return FrameAnalyzer(VisionSettings())


@pytest.fixture(scope="module")
def astronaut(analyzer: FrameAnalyzer) -> FrameResult:
    """The real photograph, measured once (expressions included)."""
    return _measure(analyzer, data.astronaut()[:, :, ::-1], expression=True)


def _measure(analyzer: FrameAnalyzer, image: np.ndarray, expression: bool = False) -> FrameResult:
    return analyzer.analyse([FrameJob(np.ascontiguousarray(image), expression)])[0]


def _pixels(result: FrameResult, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = image.shape[:2]
    assert result.box is not None and result.landmarks is not None
    return np.array(result.box) * [w, h, w, h], result.landmarks * [w, h]


def test_mesh_on_a_real_photograph_lies_on_the_eyes_and_mouth(astronaut: FrameResult) -> None:
    image = data.astronaut()
    result = astronaut
    assert result.mesh is not None and result.mesh.presence > 0.9
    box, five = _pixels(result, image)
    points = result.mesh.points
    assert points.shape == (468, 2)
    # Every point inside the crop the network saw (the box enlarged by the margin).
    centre, half = (box[:2] + box[2:]) / 2, MARGIN * max(box[2] - box[0], box[3] - box[1]) / 2
    assert np.all(np.abs(points - centre) <= half)
    # Eye corners on either side of the detector's eye centres, within half the eyes' distance; the eye's
    # middle near them.
    eye_gap = float(np.hypot(*(five[1] - five[0])))
    for (outer, inner), eye in (((33, 133), five[0]), ((263, 362), five[1])):
        a, b = points[outer], points[inner]
        assert min(a[0], b[0]) < eye[0] < max(a[0], b[0])
        assert np.hypot(*((a + b) / 2 - eye)) < 0.15 * eye_gap
        assert abs(a[1] - eye[1]) < 0.25 * eye_gap and abs(b[1] - eye[1]) < 0.25 * eye_gap
    # The mouth: corners near the detector's, the inner lips between them.
    for corner, detected in ((61, five[3]), (291, five[4])):
        assert np.hypot(*(points[corner] - detected)) < 0.3 * eye_gap
    lips = (points[13] + points[14]) / 2
    assert five[3][0] < lips[0] < five[4][0]
    assert abs(lips[1] - (five[3][1] + five[4][1]) / 2) < 0.25 * eye_gap
    # The astronaut smiles with her teeth showing: an open mouth, open eyes.
    assert result.mesh.mouth_opening > 0.03 and result.mesh.eye_openness > 0.2


def test_a_tilted_head_gives_the_same_mesh_turned_with_it(analyzer: FrameAnalyzer, astronaut: FrameResult) -> None:
    """The crop is rotated upright from the eye line: the mesh of a tilted photograph is the upright one, turned."""
    image = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    upright = astronaut.mesh
    turn = cv2.getRotationMatrix2D((256.0, 256.0), 25.0, 1.0)
    tilted = _measure(analyzer, cv2.warpAffine(image, turn, (512, 512))).mesh
    assert upright is not None and tilted is not None
    expected = upright.points @ turn[:, :2].T + turn[:, 2]
    face = float(np.hypot(*(upright.points[10] - upright.points[152])))
    assert float(np.median(np.hypot(*(tilted.points - expected).T))) < 0.03 * face
    assert tilted.eye_openness == pytest.approx(upright.eye_openness, rel=0.15)


def test_a_crop_without_a_face_is_rejected() -> None:
    wall = np.ascontiguousarray(data.coffee()[:, :, ::-1])
    box = np.array([100, 100, 200, 200], np.float32)
    eyes = np.array([[130, 140], [170, 140], [150, 160], [135, 180], [165, 180]], np.float32)
    assert crop_transform(box, eyes[:2]).shape == (2, 3)
    assert MeshRunner().run([(wall, box, eyes)]) == [None]


def test_a_face_too_small_is_reported_unsupported_not_zero(analyzer: FrameAnalyzer) -> None:
    image = data.astronaut()[:, :, ::-1]
    # A 256x192 picture is searched at full size: the face (about 30 pixels high) is found, but is too small.
    small = cv2.resize(image, (140, 140), interpolation=cv2.INTER_AREA)
    canvas = np.full((192, 256, 3), 128, np.uint8)
    canvas[30:170, 60:200] = small
    result = _measure(analyzer, canvas)
    assert result.box is not None and result.mesh is None and result.mesh_too_small
    results = [result] * 10
    t = np.arange(10) * 0.1
    mesh = chunk_mesh(0.0, 1.0, 0.1, t, [r.mesh for r in results], [True] * 10, 0.7, True)
    summary = mesh.summary
    assert not summary.supported and summary.frames_too_small == 10 and summary.frames_measured == 0
    assert summary.mouth_opening_mean is None and summary.eye_openness_mean is None and summary.blink_count == 0
    assert mesh.columns["mesh_too_small"] == [True] * 10
    assert mesh.columns["eye_openness"] == [None] * 10


def test_without_emotion_inference_the_expression_measures_are_left_out(astronaut: FrameResult) -> None:
    results = [astronaut] * 6
    window = ChunkWindow(0.0, 0.6, 0.1)
    t = [0.1 * i for i in range(6)]
    allowed = chunk_features(window, t, results, [None] * 6, PERMITTED, VisionSettings())
    banned = chunk_features(window, t, results, [None] * 6, FORBIDDEN, VisionSettings())
    shown, hidden = allowed.summary.face_landmarks, banned.summary.face_landmarks
    assert shown is not None and hidden is not None
    assert shown.brow_height_mean is not None and shown.mouth_width_mean is not None
    assert hidden.brow_height_mean is None and hidden.mouth_width_mean is None
    assert hidden.mouth_corner_lift_mean is None
    # Blinks and mouth opening are not expression: they stay.
    assert hidden.mouth_opening_mean == pytest.approx(shown.mouth_opening_mean)
    assert hidden.frames_measured == 6
    assert not set(EXPRESSION_MEASURES) & set(banned.columns)
    assert set(EXPRESSION_MEASURES) <= set(allowed.columns)


def test_without_consent_to_face_analysis_nothing_is_measured() -> None:
    event = FrameChunkReady.model_validate(example("frame-chunk-ready"))
    context = event.context.model_copy(update={"permitted_analyses": ["transcription"]})
    event = event.model_copy(update={"context": context, "pack_format": PACK_FORMAT})
    settings = Settings()
    stage = VisionStage(ObjectStore(settings.s3), "work", settings.vision)
    meta = MessageMeta("frame-chunk-ready", 0, 0, None, None, ())
    with pytest.raises(Rejected, match="not permitted"):
        asyncio.run(stage.handle(event, meta))
    assert stage._analyzer is None  # no model was loaded, no frame read


# A smaller face on the left third of a 16:9 picture (50 pixels high once the frames stage scales it to 640) that
# nods and shakes while it blinks. A centred face and more framings are in `make eval` (tests/eval/landmarks.py).
BLINK_SPECS = {
    "left-small": SampleSpec(
        seed=5, duration=10, fps=10, audio=False, width=1280, height=720, face_x=0.3, face_px=100, events="gestures"
    ),
}


@pytest.mark.parametrize("name", list(BLINK_SPECS))
def test_blinks_counted_within_one_of_the_script(
    tmp_path_factory: pytest.TempPathFactory, analyzer: FrameAnalyzer, name: str
) -> None:
    generated = generate_interview(BLINK_SPECS[name], tmp_path_factory.mktemp("blinks"), name=name)
    truth = generated.truth
    packs = chunk_packs(generated.media_path, truth.duration_s)
    measured, _ = analyse_samples(analyzer, {name: (truth, packs)}, VisionSettings())
    behaviour = measured[name].behaviour()
    marks = behaviour.landmarks
    assert marks is not None and marks.supported
    # A blink can only be seen where an analysed frame falls inside it.
    stamps = [t for _, ts, _ in packs for t in ts]
    visible = [b for b in truth.events.blinks if any(b.start <= t < b.end for t in stamps)]
    assert len(visible) >= 3
    assert abs(len(marks.blink_times_s) - len(visible)) <= 1, (marks.blink_times_s, visible)
    for found in marks.blink_times_s:  # every blink found is a scripted one
        assert any(b.start - 0.15 <= found <= b.end + 0.05 for b in truth.events.blinks), found
    assert marks.eyes_closed == []
    minutes = marks.measured_s / 60
    assert marks.blink_rate_per_min == pytest.approx(len(marks.blink_times_s) / minutes)


def _mesh_with_openness(value: float) -> FaceMesh:
    return FaceMesh(np.zeros((468, 2), np.float32), 1.0, value, 0.05, 0.12, 0.4, 0.02)


def test_closures_split_into_blinks_and_eyes_closed() -> None:
    """At 10 frames/s: a one-frame and a three-frame dip are blinks, eight frames are eyes closed; a dip at the
    chunk's edge is left to the interview (it may go on in the next chunk)."""
    openness = [0.3] * 40
    for i in (5, 12, 13, 14, *range(20, 28), 39):
        openness[i] = 0.15
    t = np.arange(40) * 0.1
    meshes: list[FaceMesh | None] = [_mesh_with_openness(v) for v in openness]
    summary = chunk_mesh(0.0, 4.0, 0.1, t, meshes, [False] * 40, 0.7, False).summary
    spans = [(round(r.start_s, 2), round(r.end_s, 2)) for r in summary.eyes_closed]
    assert spans == [(0.5, 0.6), (1.2, 1.5), (2.0, 2.8), (3.9, 4.0)]
    assert summary.blink_count == 2
    assert summary.eye_openness_mean == pytest.approx(0.3)
