"""The frame pack: one object per chunk of sampled frames.

Layout ``zip-jpeg-v1`` (content type ``application/zip``), a ZIP archive without compression
(JPEG does not compress further) and with fixed member dates, so equal frames give equal bytes:

* ``manifest.json`` (first member): ``{"format": "zip-jpeg-v1", "width", "height", "frames":
  [{"name": "000000.jpg", "pts_s": 12.1}, ...], "meta": {...}}``. Frames are listed in presentation
  order; ``pts_s`` is the media time of the frame in seconds; ``meta`` holds chunk facts (index,
  range, sample rate, source event).
* ``000000.jpg``, ``000001.jpg``, ...: the upright frames, baseline JPEG, 3 channels.

Any ZIP tool opens it; `read_pack` decodes it back into BGR arrays.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from services.frames.geometry import Image

PACK_FORMAT = "zip-jpeg-v1"
PACK_CONTENT_TYPE = "application/zip"
MANIFEST = "manifest.json"
DEFAULT_JPEG_QUALITY = 90
_EPOCH = (1980, 1, 1, 0, 0, 0)


class PackError(ValueError):
    """The bytes are not a frame pack this reader understands."""


@dataclass(frozen=True)
class PackedFrame:
    pts_s: float
    jpeg: bytes


@dataclass(frozen=True)
class Pack:
    width: int
    height: int
    timestamps: list[float]
    frames: list[Image]
    meta: dict[str, Any] = field(default_factory=dict)


def encode_jpeg(image: Image, quality: int = DEFAULT_JPEG_QUALITY) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(buf.tobytes())


def decode_jpeg(data: bytes) -> Image:
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise PackError("a frame is not a JPEG image")
    return np.asarray(image, dtype=np.uint8)


def write_pack(frames: Sequence[PackedFrame], width: int, height: int, meta: Mapping[str, Any] | None = None) -> bytes:
    """The pack bytes for frames already JPEG-encoded, in presentation order."""
    if not frames:
        raise ValueError("a pack holds at least one frame")
    names = [f"{i:06d}.jpg" for i in range(len(frames))]
    manifest = {
        "format": PACK_FORMAT,
        "width": width,
        "height": height,
        "frames": [{"name": n, "pts_s": f.pts_s} for n, f in zip(names, frames, strict=True)],
        "meta": dict(meta or {}),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(_member(MANIFEST), json.dumps(manifest, sort_keys=True, separators=(",", ":")))
        for name, frame in zip(names, frames, strict=True):
            archive.writestr(_member(name), frame.jpeg)
    return out.getvalue()


def read_pack(data: bytes) -> Pack:
    """Decode a pack written by `write_pack`."""
    width, height, packed, meta = _open_pack(data)
    frames = [decode_jpeg(f.jpeg) for f in packed]
    return Pack(width, height, [f.pts_s for f in packed], frames, meta)


def read_packed_frames(data: bytes) -> list[PackedFrame]:
    """A pack's frames as stored (JPEG bytes), for a reader that decodes them one at a time."""
    return _open_pack(data)[2]


def _open_pack(data: bytes) -> tuple[int, int, list[PackedFrame], dict[str, Any]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            manifest = json.loads(archive.read(MANIFEST))
            if manifest.get("format") != PACK_FORMAT:
                raise PackError(f"unknown pack format {manifest.get('format')!r}")
            packed = [PackedFrame(float(e["pts_s"]), archive.read(e["name"])) for e in manifest["frames"]]
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
        raise PackError(f"not a frame pack: {exc}") from None
    return int(manifest["width"]), int(manifest["height"]), packed, dict(manifest["meta"])


def _member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


__all__ = [
    "PACK_CONTENT_TYPE",
    "PACK_FORMAT",
    "Pack",
    "PackError",
    "PackedFrame",
    "decode_jpeg",
    "encode_jpeg",
    "read_pack",
    "write_pack",
]
