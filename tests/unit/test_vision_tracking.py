"""How a chunk's frames are split between whole-frame searches and windows around the face
(`services.vision.tracking`), driven through a stand-in for the batcher that answers from a scripted scene.

The scene says, per frame, how many faces there are and where the candidate's is. A whole search reports
both; a window reports the candidate's face only when the window holds it, as the analyzer does. The real
analyzer's window search is checked against frames in test_vision_truth."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest

from services.vision.analyzer import Box, FrameJob, FrameResult
from services.vision.tracking import (
    analyse_chunk,
    disputed,
    follows,
    key_every,
    key_frames,
    search_version,
    union,
)

FACE: Box = (0.40, 0.30, 0.60, 0.60)


@dataclass
class Scene:
    """Faces per frame and the candidate's box (None: nobody there); every submission is recorded."""

    faces: list[int]
    boxes: list[Box | None]
    rounds: list[list[tuple[int, str, bool]]] = field(default_factory=list)

    def frames(self) -> list[np.ndarray]:
        return [np.full((4, 4, 3), i, np.uint8) for i in range(len(self.faces))]

    async def submit(self, jobs: Sequence[FrameJob]) -> list[FrameResult]:
        await asyncio.sleep(0)
        indices = [int(job.image[0, 0, 0]) for job in jobs]
        kinds = ["whole" if job.roi is None else "window" for job in jobs]
        self.rounds.append([(i, k, job.expression) for i, k, job in zip(indices, kinds, jobs, strict=True)])
        return [self._result(i, job) for i, job in zip(indices, jobs, strict=True)]

    def _result(self, i: int, job: FrameJob) -> FrameResult:
        box = self.boxes[i]
        if job.roi is None:
            return _result(self.faces[i], box, "whole")
        if box is None or not _inside(box, job.roi):
            return _result(0, None, "window")
        return _result(1, box, "window")  # a window sees the candidate only


def _inside(box: Box, roi: Box) -> bool:
    """Whether ``box`` lies within the window the analyzer would search around ``roi`` (twice its size)."""
    cx, cy = (roi[0] + roi[2]) / 2, (roi[1] + roi[3]) / 2
    half = max(roi[2] - roi[0], roi[3] - roi[1])
    return cx - half <= box[0] and box[2] <= cx + half and cy - half <= box[1] and box[3] <= cy + half


def _result(faces: int, box: Box | None, search: str) -> FrameResult:
    return FrameResult(
        faces=faces,
        box=box,
        score=None if box is None else 0.99,
        landmarks=None,
        pose=None,
        expression=None,
        brightness=0.5,
        sharpness=100.0,
        search=search,  # type: ignore[arg-type]
    )


def _run(scene: Scene, every: int = 5, expression: bool = True) -> list[FrameResult]:
    return asyncio.run(analyse_chunk(scene.submit, scene.frames(), expression, every))


def test_key_frame_spacing_follows_the_interval_in_frames() -> None:
    assert key_every(0.5, 0.1) == 5
    assert key_every(0.5, 0.2) == 2
    assert key_every(0.05, 0.1) == 1  # closer than frames: every frame is a key frame
    assert key_every(0.0, 0.1) == 1  # 0 turns tracking off
    assert key_frames(12, 5) == [0, 5, 10, 11]  # the last frame always closes the chunk
    assert key_frames(11, 5) == [0, 5, 10]
    assert key_frames(1, 5) == [0]
    assert key_frames(0, 5) == []
    assert search_version(5, 0.5) == "track-1-0.5s" and search_version(1, 0.0) == "whole-1"


def test_a_still_face_is_searched_whole_on_key_frames_and_in_one_window_between() -> None:
    scene = Scene([1] * 12, [FACE] * 12)
    results = _run(scene)
    assert scene.rounds[0] == [(i, "whole", True) for i in (0, 5, 10, 11)]
    assert scene.rounds[1] == [(i, "window", True) for i in (1, 2, 3, 4, 6, 7, 8, 9)]
    assert len(scene.rounds) == 2  # nothing disputed, nothing lost
    assert [r.search for r in results] == ["whole" if i in (0, 5, 10, 11) else "window" for i in range(12)]
    assert all(r.faces == 1 and r.box == FACE for r in results)


def test_a_second_face_is_found_at_the_frame_it_arrives() -> None:
    faces = [1] * 7 + [2] * 5  # a second person from frame 7 on, between key frames 5 and 10
    scene = Scene(faces, [FACE] * 12)
    results = _run(scene)
    assert [i for i, _, _ in scene.rounds[1]] == [6, 7, 8, 9]  # the disputed stretch, searched whole
    assert [r.faces for r in results] == faces
    # the undisputed stretches follow the face, and count what their key frames counted
    assert [i for i, kind, _ in scene.rounds[2] if kind == "window"] == [1, 2, 3, 4]


def test_a_face_leaving_and_coming_back_is_searched_whole_around_the_gap() -> None:
    boxes: list[Box | None] = [FACE] * 3 + [None] * 4 + [FACE] * 5
    scene = Scene([1 if b else 0 for b in boxes], boxes)
    results = _run(scene)
    assert [r.faces for r in results] == [1] * 3 + [0] * 4 + [1] * 5
    assert [r.box for r in results] == boxes
    searched_whole = {i for batch in scene.rounds for i, kind, _ in batch if kind == "whole"}
    assert set(range(1, 10)) <= searched_whole  # both stretches touching the gap: no window can say "gone"


def test_a_face_that_moves_out_of_its_window_is_searched_whole_after_all() -> None:
    moved: Box = (0.05, 0.30, 0.25, 0.60)  # far left of the key frames' face for two frames
    boxes: list[Box | None] = [FACE, FACE, moved, moved, FACE, FACE]
    scene = Scene([1] * 6, boxes)
    results = _run(scene, every=5)
    assert scene.rounds[-1] == [(2, "whole", True), (3, "whole", True)]
    assert [r.box for r in results] == boxes
    assert [r.search for r in results] == ["whole", "window", "whole", "whole", "window", "whole"]


def test_windows_span_both_key_frames_faces_and_disputes_are_left_to_whole_searches() -> None:
    left: Box = (0.30, 0.30, 0.50, 0.60)
    whole = {
        0: _result(1, left, "whole"),
        5: _result(1, FACE, "whole"),
        10: _result(2, FACE, "whole"),
        11: _result(2, FACE, "whole"),
    }
    keys = [0, 5, 10, 11]
    assert disputed(keys, whole) == [6, 7, 8, 9]
    plan = follows(keys, whole)
    assert [f.index for f in plan] == [1, 2, 3, 4]
    assert all(f.roi == union(left, FACE) == (0.30, 0.30, 0.60, 0.60) and f.faces == 1 for f in plan)


def test_without_tracking_every_frame_is_searched_whole_in_one_round() -> None:
    scene = Scene([1] * 8, [FACE] * 8)
    results = _run(scene, every=1, expression=False)
    assert scene.rounds == [[(i, "whole", False) for i in range(8)]]
    assert all(r.search == "whole" for r in results)


@pytest.mark.parametrize("n", [1, 2])
def test_chunks_of_a_frame_or_two_are_all_key_frames(n: int) -> None:
    scene = Scene([1] * n, [FACE] * n)
    assert len(_run(scene)) == n
    assert scene.rounds == [[(i, "whole", True) for i in range(n)]]
