"""Sampled frames gathered into chunk packs and key frames, in presentation order.

Both work on a span of the chunk grid: the whole of it in a sequential pass, the chunks of one range when
a long recording is split (`services.frames.ranges`). A range is primed with the last frame sampled
before its first chunk (the frame still on screen at its start, which a sequential pass would hold) and
finished with the first frame sampled after its last chunk (a sequential pass would give it to chunks
waiting for a frame and to key frame targets just before it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from services.common.contracts import FailureCode
from services.common.handler import Rejected
from services.frames.chunking import Chunk, chunk_index
from services.frames.geometry import Image
from services.frames.pack import PackedFrame, encode_jpeg
from services.frames.ranges import Target

#: Uploads one chunk: the chunk, its frames, width and height.
UploadChunk = Callable[[Chunk, list[PackedFrame], int, int], None]


class ChunkWriter:
    """Collects sampled frames into the current chunk and uploads each chunk once it is complete."""

    def __init__(
        self,
        chunks: Sequence[Chunk],
        chunk_s: float,
        quality: int,
        upload: UploadChunk,
        span: tuple[int, int] | None = None,
    ) -> None:
        self.chunks = list(chunks)
        self.chunk_s = chunk_s
        self.quality = quality
        self.upload = upload
        self.first, self.end = span if span is not None else (0, len(self.chunks))
        self.size: tuple[int, int] | None = None
        self._current = self.first
        self._frames: list[PackedFrame] = []
        self._held: bytes | None = None
        self._waiting: list[Chunk] = []

    def encode(self, image: Image) -> bytes:
        """The frame as stored: JPEG, at the interview's frame size."""
        height, width = image.shape[:2]
        if self.size is None:
            self.size = (width, height)
        elif self.size != (width, height):  # resolution changed mid-stream: keep one size per interview
            image = np.asarray(cv2.resize(image, self.size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
        return encode_jpeg(image, self.quality)

    def hold(self, jpeg: bytes) -> None:
        """The frame on screen before the span starts (a range's first chunks may have none of their own)."""
        self._held = jpeg

    def add(self, pts_s: float, image: Image) -> bytes:
        jpeg = self.encode(image)
        index = chunk_index(pts_s, self.chunk_s, len(self.chunks))
        while self._current < index:
            self._close()
        self._fill_waiting(jpeg)
        self._frames.append(PackedFrame(pts_s, jpeg))
        self._held = jpeg
        return jpeg

    def finish(self, next_jpeg: bytes | None = None) -> None:
        """Upload the span's remaining chunks; ``next_jpeg`` is the first frame after the span, if any."""
        while self._current < self.end:
            self._close()
        if next_jpeg is not None:
            self._fill_waiting(next_jpeg)
        if self._waiting:
            raise Rejected(FailureCode.NOT_MEDIA, "the video stream has no decodable frame")

    def _fill_waiting(self, jpeg: bytes) -> None:
        """Chunks before the first decoded frame show that frame."""
        for chunk in self._waiting:
            self._emit(chunk, [PackedFrame(chunk.start_s, jpeg)])
        self._waiting = []

    def _close(self) -> None:
        chunk = self.chunks[self._current]
        frames, self._frames = self._frames, []
        self._current += 1
        if not frames and self._held is not None:
            frames = [PackedFrame(chunk.start_s, self._held)]
        if frames:
            self._emit(chunk, frames)
        else:
            self._waiting.append(chunk)

    def _emit(self, chunk: Chunk, frames: list[PackedFrame]) -> None:
        assert self.size is not None
        self.upload(chunk, frames, *self.size)


class KeyframePicker:
    """For each target time, the sampled frame nearest to it; only the previous frame is kept."""

    def __init__(self, targets: Sequence[Target], upload: Callable[[str, str, bytes], None]) -> None:
        self._targets = sorted(targets, key=lambda t: t[2])
        self._upload = upload
        self._prev: tuple[float, bytes] | None = None

    @property
    def pending(self) -> bool:
        return bool(self._targets)

    def add(self, pts_s: float, jpeg: bytes) -> None:
        while self._targets and self._targets[0][2] <= pts_s:
            qid, label, t = self._targets.pop(0)
            use = jpeg
            if self._prev is not None and t - self._prev[0] < pts_s - t:
                use = self._prev[1]
            self._upload(qid, label, use)
        self._prev = (pts_s, jpeg)

    def finish(self) -> None:
        while self._targets and self._prev is not None:
            qid, label, _ = self._targets.pop(0)
            self._upload(qid, label, self._prev[1])


__all__ = ["ChunkWriter", "KeyframePicker", "UploadChunk"]
