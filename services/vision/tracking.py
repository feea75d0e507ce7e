"""Which frames of a chunk are searched whole for faces, and the window each face is measured in.

The whole-frame detector is most of the vision stage's cost, and in an interview the candidate's face moves
little from one frame to the next. So a chunk's frames are analysed in rounds, each one submission to the shared
batcher (other chunks' frames share the passes):

1. Key frames, every ``every``-th frame and the last, are searched whole: how many faces, and where the
   candidate's is.
2. Between two key frames that disagree (a different number of faces, or no face in one), every frame is
   searched whole too, so a face leaving or a second face arriving is found at the frame it happens.
3. Every frame with a face is measured in a window (`services.vision.window`): frames searched whole around the
   face they found, the frames between two key frames that agree around both key frames' faces (their face
   count is the key frames'). Walking through the chunk, a window is kept while the face stays well inside it,
   so a face that stays put is measured in the same pixels frame after frame, key frames included.

Measuring every face in a window, not only the followed ones, is what keeps landmark-derived signals (nose
path, pitch, yaw, eye and mouth points) continuous: a whole-frame search sees a small face at a few pixels and
places its landmarks differently from a window, and a gesture detector reads a step at every switch between the
two as a head movement (a still head then "nods" at every key frame). It also measures a small face at the
detector's working size instead of the whole search's.

A frame whose face is not found in its window (it moved further, turned away or left) is searched whole after
all, and its face measured as that search found it. Something that appears and disappears between two key
frames, in less than the key frame interval, is not seen: the interval is a setting, and 0 searches every
frame whole (each still measured in its window).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Awaitable, Callable, Sequence

from services.frames.geometry import Image
from services.vision.analyzer import Box, FrameJob, FrameResult, Search
from services.vision.window import Placement

Submit = Callable[[Sequence[FrameJob]], Awaitable[list[FrameResult]]]
#: The window a face at a box (fractions of a width x height frame) is measured in; None: the whole frame.
Place = Callable[[Box, int, int], Placement | None]

#: Version of the search-and-measure scheme, in the chunk's model_versions: 2 measures every face in a window.
SEARCH_SCHEME = 2


def key_every(interval_s: float, period_s: float) -> int:
    """Frames from one key frame to the next (1: every frame is one)."""
    if interval_s <= 0 or period_s <= 0:
        return 1
    return max(1, round(interval_s / period_s))


def search_version(every: int, interval_s: float) -> str:
    """How a chunk's faces were searched, for its ``model_versions`` (and so the profile's provenance)."""
    return f"whole-{SEARCH_SCHEME}" if every <= 1 else f"track-{SEARCH_SCHEME}-{interval_s:g}s"


def key_frames(n: int, every: int) -> list[int]:
    """Indices of the key frames of a chunk of ``n`` frames: every ``every``-th, and the last."""
    keys = list(range(0, n, max(1, every)))
    if keys and keys[-1] != n - 1:
        keys.append(n - 1)
    return keys


def disputed(keys: Sequence[int], whole: dict[int, FrameResult]) -> list[int]:
    """Frames between consecutive key frames that disagree on the faces (count, or one without any)."""
    out: list[int] = []
    for a, b in itertools.pairwise(keys):
        if whole[a].faces != whole[b].faces or whole[a].box is None or whole[b].box is None:
            out.extend(range(a + 1, b))
    return out


def union(a: Box, b: Box) -> Box:
    """The smallest box holding ``a`` and ``b``."""
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


@dataclasses.dataclass(frozen=True)
class Expected:
    """Where a frame's face is expected, how many faces the frame has, and how that was found."""

    box: Box
    faces: int
    search: Search


def expected_faces(n: int, keys: Sequence[int], whole: dict[int, FrameResult]) -> dict[int, Expected]:
    """Per frame with a face, once ``whole`` holds rounds 1 and 2: the face a whole search found, or for a frame
    between two agreeing key frames, the space both key frames' faces take and the faces they counted."""
    out: dict[int, Expected] = {}
    for i, result in whole.items():
        if result.box is not None:
            out[i] = Expected(result.box, result.faces, "whole")
    for a, b in itertools.pairwise(keys):
        first, last = whole[a], whole[b]
        if first.box is None or last.box is None or first.faces != last.faces:
            continue  # disputed: searched whole in round 2
        roi = union(first.box, last.box)
        out.update((i, Expected(roi, first.faces, "window")) for i in range(a + 1, b) if i not in whole)
    return dict(sorted(out.items()))


def placements(expected: dict[int, Expected], width: int, height: int, place: Place) -> dict[int, Placement]:
    """The window each expected face is measured in, walking through the chunk: a window is kept while the face
    stays well inside it (`Placement.keeps`), else placed anew around it. Faces with no window are left out."""
    out: dict[int, Placement] = {}
    current: Placement | None = None
    for i, face in expected.items():
        if current is None or not current.keeps(face.box):
            current = place(face.box, width, height)
        if current is not None:
            out[i] = current
    return out


async def analyse_chunk(
    submit: Submit, frames: Sequence[Image], expression: bool, every: int, place: Place
) -> list[FrameResult]:
    """The results of a chunk's frames, in order, from the rounds the module's docstring describes."""
    n = len(frames)
    if n == 0:
        return []
    keys = key_frames(n, every)
    # Rounds 1 and 2 only propose faces: windows measure them (and classify expressions on their crops).
    whole = dict(zip(keys, await submit([FrameJob(frames[i], False, propose=True) for i in keys]), strict=True))
    between = disputed(keys, whole)
    if between:
        proposed = await submit([FrameJob(frames[i], False, propose=True) for i in between])
        whole.update(zip(between, proposed, strict=True))
    expected = expected_faces(n, keys, whole)
    height, width = frames[0].shape[:2]
    windows = placements(expected, width, height, place)
    # Frames where no face was found keep their whole search; the others are filled in below.
    results: list[FrameResult | None] = [None] * n
    for i, result in whole.items():
        if result.box is None:
            results[i] = result
    to_measure = list(windows)
    measured = await submit([FrameJob(frames[i], expression, windows[i]) for i in to_measure])
    for i, result in zip(to_measure, measured, strict=True):
        if result.box is not None:
            results[i] = dataclasses.replace(result, faces=expected[i].faces, search=expected[i].search)
    # Faces not found in their window, or with none (a close-up): measured as a whole search finds them.
    again = [i for i in expected if results[i] is None]
    if again:
        for i, result in zip(again, await submit([FrameJob(frames[i], expression) for i in again]), strict=True):
            results[i] = result
    out = [r for r in results if r is not None]
    if len(out) != n:
        raise AssertionError(f"{n - len(out)} of {n} frames were not analysed")
    return out


__all__ = [
    "SEARCH_SCHEME",
    "Expected",
    "Place",
    "Submit",
    "analyse_chunk",
    "disputed",
    "expected_faces",
    "key_every",
    "key_frames",
    "placements",
    "search_version",
    "union",
]
