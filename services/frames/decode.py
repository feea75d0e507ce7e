"""One sequential pass over a media file: sampled upright video frames and 16 kHz mono audio.

The input is any readable, seekable binary file object; in the stage it is the object store's
`RangedReader`, so the recording is read through ranged GETs with one read-ahead buffer and never
held in memory or copied to disk. Video and audio are demuxed in the same pass, in file order.

Times are seconds from the start of the recording (the container's start time is subtracted), the
timeline every Sightline event uses. A packet that fails to decode mid-stream is counted in
`DecodeStats.corrupt_packets` and skipped; a file that cannot be opened as media raises `NotMedia`.
Audio lost that way is replaced by silence of the same length (`DecodeStats.filled_audio_samples`):
audio times are counted in samples, so without it everything after the damage would come too early.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import av
import numpy as np
import numpy.typing as npt

from services.frames.geometry import DEFAULT_MAX_SIDE, Image, prepare
from services.frames.sampling import DEFAULT_SAMPLE_FPS, FrameSampler, slot_of

AUDIO_RATE = 16_000
#: Audio this far ahead of the samples produced so far follows a gap (lost packets) and is preceded by
#: silence. Above the resampler's delay (about a millisecond), below one AAC packet at 16 kHz (64 ms).
AUDIO_GAP_TOLERANCE_S = 0.03
#: A first frame after a seek this far past the target means the seek landed too late.
_SEEK_TOLERANCE_S = 1e-3

Samples = npt.NDArray[np.int16]


class NotMedia(ValueError):
    """The bytes cannot be opened or hold none of the requested streams."""


@dataclass(frozen=True)
class VideoFrame:
    pts_s: float
    image: Image


@dataclass(frozen=True)
class AudioBlock:
    """Consecutive mono samples at `AUDIO_RATE`, the first at ``start_s``."""

    start_s: float
    samples: Samples


@dataclass
class DecodeStats:
    video_frames: int = 0
    sampled_frames: int = 0
    corrupt_packets: int = 0
    audio_samples: int = 0
    filled_audio_samples: int = 0
    #: Range decodes that had to start from the beginning because the seek landed after its target.
    seek_fallbacks: int = 0


def decode_media(
    fh: IO[bytes] | io.RawIOBase,
    *,
    video: bool,
    audio: bool,
    sample_fps: float = DEFAULT_SAMPLE_FPS,
    rotation_deg: int = 0,
    max_side: int = DEFAULT_MAX_SIDE,
    audio_track: int = 0,
    stats: DecodeStats | None = None,
    seek_s: float | None = None,
    skip_unsampled: bool = True,
) -> Iterator[VideoFrame | AudioBlock]:
    """Yield sampled frames (BGR, upright, bounded) and audio blocks in demux order.

    ``audio_track`` is the position of the audio stream to decode among the file's audio streams (ingest
    picks it when there are several). ``seek_s`` (video only) starts decoding at the keyframe at or before that
    time instead of the beginning; the caller stops reading when it has what it needs. ``skip_unsampled`` lets the
    decoder drop non-reference frames the sampler is sure to reject (see `UnsampledSkipper`); the sampled frames
    are the same either way.
    """
    if seek_s is not None and audio:
        raise ValueError("seeking is for video ranges; audio is decoded once, from the start")
    stats = stats if stats is not None else DecodeStats()
    try:
        container: Any = av.open(fh, mode="r")
    except (av.FFmpegError, ValueError) as exc:
        raise NotMedia(f"cannot open the media: {exc}") from None
    with container:
        streams: list[Any] = []
        vstream = container.streams.video[0] if video and container.streams.video else None
        audio_streams = container.streams.audio
        astream = audio_streams[audio_track] if audio and audio_track < len(audio_streams) else None
        if video and vstream is None:
            raise NotMedia("the media has no video stream")
        if audio and astream is None:
            raise NotMedia(f"the media has no audio stream {audio_track} (it has {len(audio_streams)})")
        for stream in (vstream, astream):
            if stream is not None:
                stream.thread_type = "AUTO"
                streams.append(stream)
        origin = container.start_time / 1_000_000 if container.start_time is not None else 0.0
        sampler = FrameSampler(sample_fps)
        resampler: Any = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE) if astream else None
        audio_start: float | None = None
        check_seek = vstream is not None and bool(seek_s) and _seek(container, vstream, origin + (seek_s or 0.0))
        skipper = UnsampledSkipper(sample_fps) if vstream is not None and skip_unsampled else None
        for packet in container.demux(*streams):
            at: float | None = None
            if skipper is not None and packet.stream is vstream and packet.pts is not None:
                at = float(packet.pts * packet.time_base) - origin
                # Only non-reference frames are ever dropped: a reference frame decodes whatever this says.
                vstream.codec_context.skip_frame = "NONREF" if skipper.unwanted(at) else "DEFAULT"
            try:
                decoded = packet.decode()
            except (av.FFmpegError, ValueError):
                stats.corrupt_packets += 1
                continue
            if skipper is not None and at is not None:
                skipper.decoded(at)
            for frame in decoded:
                if packet.stream is vstream:
                    stats.video_frames += 1
                    if frame.time is None:
                        continue
                    pts_s = float(frame.time) - origin
                    if check_seek:
                        check_seek = False
                        if pts_s > (seek_s or 0.0) + _SEEK_TOLERANCE_S:
                            # The demuxer landed after the target (no index, or a keyframe it could not
                            # place): decoding from the start gives the same frames, only slower.
                            container.seek(0, backward=True)
                            sampler = FrameSampler(sample_fps)
                            skipper = UnsampledSkipper(sample_fps) if skipper is not None else None
                            stats.seek_fallbacks += 1
                            break
                    if not sampler.accept(pts_s):
                        continue
                    stats.sampled_frames += 1
                    image = np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
                    yield VideoFrame(max(0.0, pts_s), prepare(image, rotation_deg, max_side))
                else:
                    if audio_start is None:
                        audio_start = max(0.0, float(frame.time) - origin) if frame.time is not None else 0.0
                    elif frame.time is not None:
                        yield from _silence_before(float(frame.time) - origin, audio_start, stats)
                    yield from _resample(resampler, frame, audio_start, stats)
        if resampler is not None and audio_start is not None:
            yield from _resample(resampler, None, audio_start, stats)


class UnsampledSkipper:
    """Which video packets hold a frame the sampler is sure to reject, so the decoder may drop it.

    A frame sampled at 10 per second from 25-30 frames/s video is one in three; with B-frames (most recorders'
    H.264) most of the others are non-reference frames, and decoding them is a third to a half of the decoder's
    work. The sampler keeps, per slot of its period, the first frame at or after the slot's time (in presentation
    order). A packet whose slot already holds a frame demuxed (and decoded without error) before it, at an earlier
    time, can never be kept: that frame, or one before it, takes the slot whatever the decode order. Skipping is
    decided from the packets' timestamps before decoding them, and a packet that failed to decode does not count, so
    on undamaged media the sampled frames are exactly those of a full decode (`tests/unit/test_frames_decode.py`).
    """

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self._earliest: dict[int, float] = {}

    def unwanted(self, at_s: float) -> bool:
        """Whether the frame at ``at_s`` (seconds, presentation time) cannot be sampled."""
        return self._earliest.get(slot_of(at_s, self.fps), math.inf) < at_s

    def decoded(self, at_s: float) -> None:
        """A packet at ``at_s`` went into the decoder without error."""
        slot = slot_of(at_s, self.fps)
        self._earliest[slot] = min(self._earliest.get(slot, math.inf), at_s)


def _seek(container: Any, vstream: Any, to_s: float) -> bool:
    """Move the demuxer to the video keyframe at or before ``to_s`` (container time); False if it cannot."""
    time_base = vstream.time_base
    if time_base is None or not time_base:
        return False
    try:
        container.seek(int(to_s / time_base), backward=True, any_frame=False, stream=vstream)
    except (av.FFmpegError, ValueError):
        return False
    return True


def _silence_before(frame_s: float, audio_start: float, stats: DecodeStats) -> Iterator[AudioBlock]:
    """Silence up to ``frame_s`` when the audio produced so far ends well before it (packets were lost)."""
    produced_s = audio_start + stats.audio_samples / AUDIO_RATE
    if frame_s - produced_s > AUDIO_GAP_TOLERANCE_S:
        count = round((frame_s - produced_s) * AUDIO_RATE)
        stats.audio_samples += count
        stats.filled_audio_samples += count
        yield AudioBlock(produced_s, np.zeros(count, dtype=np.int16))


def _resample(resampler: Any, frame: Any, audio_start: float, stats: DecodeStats) -> Iterator[AudioBlock]:
    for out in resampler.resample(frame):
        samples = np.asarray(out.to_ndarray(), dtype=np.int16).reshape(-1)
        if samples.size == 0:
            continue
        start_s = audio_start + stats.audio_samples / AUDIO_RATE
        stats.audio_samples += int(samples.size)
        yield AudioBlock(start_s, samples)


__all__ = ["AUDIO_RATE", "AudioBlock", "DecodeStats", "NotMedia", "VideoFrame", "decode_media"]
