"""Small H.264 recordings with controlled timing for the frame-range tests: B-frames, a keyframe interval
off the chunk grid, and variable frame rate with dropped frames, jitter and a long pause.

Each frame is distinct (seeded noise under a moving bar), so a frame kept by one decoding and not the other
shows up in the pixels, not only in the timestamps.
"""

from __future__ import annotations

import hashlib
import io
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from services.common.contracts import MediaIngested, Probe, StoredMedia, VideoStream
from services.common.objectstore import StoredObject
from tests.integration.stage_fixtures import example


def cfr_times(duration_s: float, fps: float) -> list[float]:
    return [i / fps for i in range(round(duration_s * fps))]


def vfr_times(duration_s: float, fps: float, seed: int, pause: tuple[float, float] | None = None) -> list[float]:
    """Irregular times in whole milliseconds: bursts of dropped frames, +-20 % jitter, no frame in ``pause``."""
    rng = random.Random(seed)
    out: list[float] = []
    last_ms = -1
    for i in range(round(duration_s * fps)):
        if i > 0 and rng.random() < 0.12:
            continue
        ms = round((i + (rng.uniform(-0.2, 0.2) if i else 0.0)) / fps * 1000)
        if pause is not None and pause[0] <= ms / 1000 < pause[1]:
            continue
        if ms > last_ms:
            out.append(ms / 1000)
            last_ms = ms
    return out


def write_h264(
    path: Path, times: Sequence[float], *, size: tuple[int, int] = (320, 240), gop: int = 37, bframes: int = 3
) -> Path:
    """An MP4 with one H.264 stream (millisecond time base) whose frames are shown at ``times``."""
    width, height = size
    rng = np.random.default_rng(7)
    base = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = {
            "g": str(gop),
            "bf": str(bframes),
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:b-adapt=0:bframes={bframes}",
            "preset": "ultrafast" if bframes == 0 else "veryfast",
        }
        for index, t in enumerate(times):
            image = np.roll(base, index * 7, axis=1)
            image[:, (index * 5) % width : (index * 5) % width + 8] = 255
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = round(t * 1000)
            frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@dataclass
class DirStore:
    """The two object-store calls the frames stage makes, on a directory (the real store is used in
    tests/integration/test_frames_ranges.py); counts every write per key."""

    root: Path
    writes: dict[str, int] = field(default_factory=dict)

    def open(self, bucket: str, key: str) -> io.RawIOBase:
        return io.FileIO(self.root / bucket / key, "r")

    def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str = "") -> StoredObject:
        path = self.root / bucket / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.writes[key] = self.writes.get(key, 0) + 1
        return StoredObject(bucket, key, len(data), hashlib.sha256(data).hexdigest(), content_type)


def media_event(
    path: Path, root: Path, duration: float, questions: Sequence[tuple[str, float, float]] = ()
) -> MediaIngested:
    """A media-ingested event (video only) for ``path``, copied to ``root/raw/rec.mp4`` for `DirStore`."""
    raw = root / "raw" / "rec.mp4"
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_bytes(path.read_bytes())
    data = example("media-ingested")
    data["context"]["questions"] = [  # type: ignore[index]
        {"question_id": q, "text": "Question?", "start_s": s, "end_s": e} for q, s, e in questions
    ]
    event = MediaIngested.model_validate(data)
    item = StoredMedia(
        source_index=0,
        kind="video",
        object=event.media[0].object.model_copy(update={"bucket": "raw", "key": "rec.mp4"}),
        probe=Probe(
            duration_s=duration,
            container="mp4",
            video=VideoStream(
                codec="h264", width=320, height=240, fps=30.0, avg_fps=30.0, variable_frame_rate=False, rotation_deg=0
            ),
        ),
    )
    return event.model_copy(update={"media": [item], "flags": []})
