"""How a chunk's frames are split between whole-frame searches and the windows faces are measured in
(`services.vision.tracking`), driven through a stand-in for the batcher that answers from a scripted scene.

The scene says, per frame, how many faces there are and where the candidate's is. A whole search reports
both; a window reports the candidate's face only when the window holds it, as the analyzer does. Windows are
placed by the real `services.vision.window.place`. The real analyzer's windows are checked against frames in
test_vision_truth."""

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
    expected_faces,
    key_every,
    key_frames,
    placements,
    search_version,
    union,
)
from services.vision.window import Placement, place

FACE: Box = (0.40, 0.30, 0.60, 0.60)
WIDTH, HEIGHT = 640, 480
#: A 640x480 frame is searched whole at 256 pixels wide.
WHOLE_SCALE = 0.4


def _place(box: Box, width: int, height: int) -> Placement | None:
    return place(box, width, height, WHOLE_SCALE)


@dataclass
class Scene:
    """Faces per frame and the candidate's box (None: nobody there); every submission is recorded as (frame,
    "whole" / "propose" / "window", expression)."""

    faces: list[int]
    boxes: list[Box | None]
    rounds: list[list[tuple[int, str, bool]]] = field(default_factory=list)
    windows: dict[int, Placement] = field(default_factory=dict)

    def frames(self) -> list[np.ndarray]:
        return [np.full((HEIGHT, WIDTH, 3), i, np.uint8) for i in range(len(self.faces))]

    async def submit(self, jobs: Sequence[FrameJob]) -> list[FrameResult]:
        await asyncio.sleep(0)
        indices = [int(job.image[0, 0, 0]) for job in jobs]
        kinds = ["window" if job.window else "propose" if job.propose else "whole" for job in jobs]
        self.rounds.append([(i, k, job.expression) for i, k, job in zip(indices, kinds, jobs, strict=True)])
        self.windows.update((i, job.window) for i, job in zip(indices, jobs, strict=True) if job.window)
        return [self._result(i, job) for i, job in zip(indices, jobs, strict=True)]

    def _result(self, i: int, job: FrameJob) -> FrameResult:
        box = self.boxes[i]
        if job.window is None:
            return _result(self.faces[i], box, "whole")
        if box is None or not job.window.holds(job.window.in_window(box)):
            return _result(0, None, "window")
        return _result(1, box, "window")  # a window sees the candidate only


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
    return asyncio.run(analyse_chunk(scene.submit, scene.frames(), expression, every, _place))


def test_key_frame_spacing_follows_the_interval_in_frames() -> None:
    assert key_every(0.5, 0.1) == 5
    assert key_every(0.5, 0.2) == 2
    assert key_every(0.05, 0.1) == 1  # closer than frames: every frame is a key frame
    assert key_every(0.0, 0.1) == 1  # 0 turns tracking off
    assert key_frames(12, 5) == [0, 5, 10, 11]  # the last frame always closes the chunk
    assert key_frames(11, 5) == [0, 5, 10]
    assert key_frames(1, 5) == [0]
    assert key_frames(0, 5) == []
    assert search_version(5, 0.5) == "track-2-0.5s" and search_version(1, 0.0) == "whole-2"


def test_a_still_face_is_found_on_key_frames_and_measured_in_one_window_on_every_frame() -> None:
    scene = Scene([1] * 12, [FACE] * 12)
    results = _run(scene)
    assert scene.rounds[0] == [(i, "propose", False) for i in (0, 5, 10, 11)]  # key frames only propose faces
    assert scene.rounds[1] == [(i, "window", True) for i in range(12)]  # every face is measured in a window...
    assert len(set(scene.windows.values())) == 1  # ...the same one: a still face is measured in the same pixels
    assert len(scene.rounds) == 2  # nothing disputed, nothing lost
    assert [r.search for r in results] == ["whole" if i in (0, 5, 10, 11) else "window" for i in range(12)]
    assert all(r.faces == 1 and r.box == FACE for r in results)


def test_a_second_face_is_found_at_the_frame_it_arrives() -> None:
    faces = [1] * 7 + [2] * 5  # a second person from frame 7 on, between key frames 5 and 10
    scene = Scene(faces, [FACE] * 12)
    results = _run(scene)
    assert scene.rounds[1] == [(i, "propose", False) for i in (6, 7, 8, 9)]  # the disputed stretch, searched whole
    assert [r.faces for r in results] == faces  # each frame counts what its own or its key frames' search found
    assert [i for i, kind, _ in scene.rounds[2] if kind == "window"] == list(range(12))


def test_a_face_leaving_and_coming_back_is_searched_whole_around_the_gap() -> None:
    boxes: list[Box | None] = [FACE] * 3 + [None] * 4 + [FACE] * 5
    scene = Scene([1 if b else 0 for b in boxes], boxes)
    results = _run(scene)
    assert [r.faces for r in results] == [1] * 3 + [0] * 4 + [1] * 5
    assert [r.box for r in results] == boxes
    searched_whole = {i for batch in scene.rounds for i, kind, _ in batch if kind == "propose"}
    assert set(range(1, 10)) <= searched_whole  # both stretches touching the gap: no window can say "gone"
    assert [i for i, kind, _ in scene.rounds[-1]] == [0, 1, 2, 7, 8, 9, 10, 11]  # faces measured in windows


def test_a_face_that_moves_out_of_its_window_is_searched_whole_after_all() -> None:
    moved: Box = (0.05, 0.30, 0.25, 0.60)  # far left of the key frames' face for two frames
    boxes: list[Box | None] = [FACE, FACE, moved, moved, FACE, FACE]
    scene = Scene([1] * 6, boxes)
    results = _run(scene, every=5)
    assert scene.rounds[-1] == [(2, "whole", True), (3, "whole", True)]  # a search that counts, with expression
    assert [r.box for r in results] == boxes
    assert [r.search for r in results] == ["whole", "window", "whole", "whole", "window", "whole"]


def test_expected_faces_span_both_key_frames_faces_and_disputes_are_left_to_whole_searches() -> None:
    left: Box = (0.30, 0.30, 0.50, 0.60)
    whole = {
        0: _result(1, left, "whole"),
        5: _result(1, FACE, "whole"),
        10: _result(2, FACE, "whole"),
        11: _result(2, FACE, "whole"),
    }
    keys = [0, 5, 10, 11]
    assert disputed(keys, whole) == [6, 7, 8, 9]
    expected = expected_faces(12, keys, whole)
    assert list(expected) == [0, 1, 2, 3, 4, 5, 10, 11]  # 6-9 wait for their own whole searches
    assert all(expected[i].box == union(left, FACE) == (0.30, 0.30, 0.60, 0.60) for i in range(1, 5))
    assert all(expected[i].faces == 1 and expected[i].search == "window" for i in range(1, 5))
    assert expected[0].box == left and expected[10].faces == 2 and expected[10].search == "whole"


def test_a_window_is_kept_while_the_face_stays_well_inside_it() -> None:
    drift = [(0.40 + d, 0.30, 0.60 + d, 0.60) for d in (0.0, 0.005, 0.01, 0.005, 0.0)]
    expected = expected_faces(5, [0, 1, 2, 3, 4], {i: _result(1, b, "whole") for i, b in enumerate(drift)})
    assert len(set(placements(expected, WIDTH, HEIGHT, _place).values())) == 1
    moved = [*drift, (0.10, 0.30, 0.30, 0.60), (0.10, 0.30, 0.30, 0.60)]
    expected = expected_faces(7, list(range(7)), {i: _result(1, b, "whole") for i, b in enumerate(moved)})
    windows = placements(expected, WIDTH, HEIGHT, _place)
    assert windows[4] == windows[0] != windows[5] == windows[6]  # placed anew once, where the face went
    farther = [(0.45, 0.35, 0.55, 0.50)] * 2  # a face of half the size: measured at a larger scale
    expected = expected_faces(2, [0, 1], {i: _result(1, b, "whole") for i, b in enumerate(farther)})
    assert placements(expected, WIDTH, HEIGHT, _place)[0].scale > windows[0].scale


def test_without_tracking_every_frame_is_searched_whole_and_measured_in_its_window() -> None:
    scene = Scene([1] * 8, [FACE] * 8)
    results = _run(scene, every=1, expression=False)
    assert scene.rounds == [[(i, "propose", False) for i in range(8)], [(i, "window", False) for i in range(8)]]
    assert all(r.search == "whole" for r in results)


def test_a_face_too_close_for_a_window_is_measured_whole() -> None:
    close: Box = (0.05, 0.02, 0.95, 0.98)
    assert _place(close, WIDTH, HEIGHT) is None
    scene = Scene([1] * 6, [close] * 6)
    results = _run(scene)
    assert scene.rounds[-1] == [(i, "whole", True) for i in range(6)]
    assert all(r.box == close and r.search == "whole" for r in results)


@pytest.mark.parametrize("n", [1, 2])
def test_chunks_of_a_frame_or_two_are_all_key_frames(n: int) -> None:
    scene = Scene([1] * n, [FACE] * n)
    assert len(_run(scene)) == n
    assert scene.rounds == [[(i, "propose", False) for i in range(n)], [(i, "window", True) for i in range(n)]]
