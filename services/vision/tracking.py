"""Which frames of a chunk are searched whole for faces, and where the face is looked for in the others.

The whole-frame detector is most of the vision stage's cost, and in an interview the candidate's face moves
little from one frame to the next. So the frames of a chunk are analysed in up to three rounds, each one
submission to the shared batcher (other chunks' frames share the passes):

1. Key frames, every ``every``-th frame and the last, are searched whole: how many faces, and where the
   candidate's is. Their results stand as they are.
2. Between two key frames that disagree (a different number of faces, or no face in one), every frame is
   searched whole too, so a face leaving or a second face arriving is found at the frame it happens.
3. The frames between two key frames that agree are searched in a window around both key frames' faces
   (`FrameJob.roi`, see `services.vision.window`), which costs about a third of a whole search. They share
   that window, so a face that stays put is searched in the very same pixels frame after frame and its
   landmarks do not jitter. The faces they count are the key frames'.

A frame whose face is not found in its window (it moved further, turned away or left) is searched whole after
all. Something that appears and disappears between two key frames, in less than the key frame interval, is not
seen: the interval is a setting, and 0 searches every frame whole.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Awaitable, Callable, Sequence

from services.frames.geometry import Image
from services.vision.analyzer import Box, FrameJob, FrameResult

Submit = Callable[[Sequence[FrameJob]], Awaitable[list[FrameResult]]]


def key_every(interval_s: float, period_s: float) -> int:
    """Frames from one key frame to the next (1: every frame is one)."""
    if interval_s <= 0 or period_s <= 0:
        return 1
    return max(1, round(interval_s / period_s))


def search_version(every: int, interval_s: float) -> str:
    """How a chunk's faces were searched, for its ``model_versions`` (and so the profile's provenance)."""
    return "whole-1" if every <= 1 else f"track-1-{interval_s:g}s"


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
class Follow:
    """A frame to search in a window around ``roi``, with the faces the key frames around it counted."""

    index: int
    roi: Box
    faces: int


def follows(keys: Sequence[int], whole: dict[int, FrameResult]) -> list[Follow]:
    """The frames left for round 3 once ``whole`` holds the results of rounds 1 and 2."""
    out: list[Follow] = []
    for a, b in itertools.pairwise(keys):
        first, last = whole[a], whole[b]
        if first.box is None or last.box is None or first.faces != last.faces:
            continue  # disputed: searched whole in round 2
        roi = union(first.box, last.box)
        out.extend(Follow(i, roi, first.faces) for i in range(a + 1, b))
    return out


async def analyse_chunk(submit: Submit, frames: Sequence[Image], expression: bool, every: int) -> list[FrameResult]:
    """The results of a chunk's frames, in order, from the rounds the module's docstring describes."""
    n = len(frames)
    keys = key_frames(n, every)
    if len(keys) == n:
        return await submit([FrameJob(f, expression) for f in frames])
    whole = dict(zip(keys, await submit([FrameJob(frames[i], expression) for i in keys]), strict=True))
    between = disputed(keys, whole)
    if between:
        whole.update(zip(between, await submit([FrameJob(frames[i], expression) for i in between]), strict=True))
    results: list[FrameResult | None] = [whole.get(i) for i in range(n)]
    to_follow = follows(keys, whole)
    lost = []
    for follow, result in zip(
        to_follow, await submit([FrameJob(frames[f.index], expression, f.roi) for f in to_follow]), strict=True
    ):
        if result.box is None:
            lost.append(follow.index)
        else:
            results[follow.index] = dataclasses.replace(result, faces=follow.faces)
    if lost:
        for i, result in zip(lost, await submit([FrameJob(frames[i], expression) for i in lost]), strict=True):
            results[i] = result
    out = [r for r in results if r is not None]
    if len(out) != n:
        raise AssertionError(f"{n - len(out)} of {n} frames were not analysed")
    return out


__all__ = [
    "Follow",
    "Submit",
    "analyse_chunk",
    "disputed",
    "follows",
    "key_every",
    "key_frames",
    "search_version",
    "union",
]
