"""Settings of the frames stage: the `SIGHTLINE_FRAMES__*` variables (a group of services.common.settings)."""

from __future__ import annotations

from pydantic import BaseModel, Field

# This module is imported by services.common.settings, so it must not import from services.common (nor the
# decoding modules, which pull in PyAV and OpenCV); the defaults equal `FramesConfig`'s, as a unit test checks.


class FramesSettings(BaseModel):
    """Configuration of the frames stage."""

    sample_fps: float = Field(
        10.0,
        gt=0,
        le=120,
        description="Frames kept per second of video. 10 is over three times the fastest nod or head shake "
        "(about 3 Hz), so gestures stay recoverable.",
    )
    chunk_s: float = Field(
        4.0, gt=0, le=3600, description="Length of one frame chunk (one unit of work for the vision stage), seconds."
    )
    max_side: int = Field(
        640, ge=16, le=8192, description="Frames are scaled down (never up) so their longer side is at most this."
    )
    jpeg_quality: int = Field(90, ge=1, le=100, description="JPEG quality of the frames in a chunk and of key frames.")
    thumbnail_max_side: int = Field(320, ge=16, le=4096, description="Longer side of the per-question key frames.")
    segment_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="Length of the audio segments when no question window lies inside the recording, seconds (an "
        "interview sent without windows is one segment, up to an hour).",
    )
    split_above_s: float = Field(
        600.0,
        ge=0,
        le=86_400,
        description="Video longer than this is decoded as frame ranges (frame-range-requested events) that the "
        "frames replicas share; shorter video keeps one sequential pass, seconds. Below 10 minutes one replica "
        "decodes 720p30 in about half a minute of CPU (3.1-3.4 CPU-s per interview-minute, measured), and the "
        "extra hop, second read of the file and seeks would add more than they save.",
    )
    range_s: float = Field(
        120.0,
        gt=0,
        le=3600,
        description="Length of one frame range, seconds, rounded to whole chunks. Each range decodes up to one "
        "keyframe interval before its start again: with 2-second keyframes about 1 % of a 2-minute range's CPU "
        "(0.12-0.14 CPU-s per seek at 720p30, measured); raise it for recordings with keyframes far apart.",
    )
