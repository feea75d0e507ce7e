"""ffmpeg plumbing: frames and audio are streamed through pipes, never held whole in memory.

- audio: PCM blocks -> ffmpeg -> FLAC (temporary, lossless, one per audio track) or straight into an audio-only
  file (AAC .m4a, MP3, WAV, Vorbis .ogg, Codec 2);
- video: raw YUV 4:2:0 frames -> ffmpeg stdin -> H.264/H.265/VP8/VP9/AV1 in mp4, mov, webm, mkv or avi, with
  every audio track encoded in the container's usual codec. Constant frame rate uses a rawvideo pipe; variable
  frame rate wraps each frame in NUT packets carrying its own timestamp (PyAV) and keeps them with
  ``-fps_mode passthrough``;
- rotation: ffmpeg 5.1 ignores ``-metadata:s:v rotate=`` and has no ``-display_rotation``, so the display matrix
  of the video track header (tkhd) is written directly, as phones do (mp4 and mov share that box layout).

Outputs are bit-exact flagged (no encoder version strings, no creation time), so the same input gives the same
bytes with the same ffmpeg build.
"""

from __future__ import annotations

import struct
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import IO

from services.samples.speech import require_tool

BITEXACT = ["-fflags", "+bitexact", "-map_metadata", "-1", "-map_chapters", "-1"]


class EncodeError(RuntimeError):
    pass


def _run_feeding(cmd: list[str], chunks: Iterable[bytes]) -> None:
    """Run ffmpeg and write chunks to its stdin; raise with its error output on failure."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err)
        stdin: IO[bytes] | None = proc.stdin
        assert stdin is not None
        try:
            for chunk in chunks:
                stdin.write(chunk)
            stdin.close()
        except BrokenPipeError:
            pass
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        rc = proc.wait()
        if rc != 0:
            err.seek(0)
            raise EncodeError(f"ffmpeg failed ({rc}): {err.read()[-3000:].decode('utf-8', 'replace')}")


def ffmpeg() -> str:
    return require_tool("ffmpeg")


#: The audio codec each container is usually written with.
AUDIO_CODEC = {"mp4": "aac", "mov": "aac", "m4a": "aac", "mkv": "aac", "webm": "opus", "ogg": "vorbis",
               "avi": "mp3", "mp3": "mp3", "wav": "pcm", "c2": "codec2"}  # fmt: skip
_AUDIO_ARGS = {
    "flac": ["-c:a", "flac"],
    "aac": ["-c:a", "aac", "-b:a", "64k", "-flags:a", "+bitexact"],
    "opus": ["-c:a", "libopus", "-b:a", "48k"],
    "vorbis": ["-c:a", "libvorbis", "-q:a", "3"],
    "mp3": ["-c:a", "libmp3lame", "-b:a", "64k"],
    "pcm": ["-c:a", "pcm_s16le"],
    "codec2": ["-c:a", "libcodec2", "-mode", "3200", "-ar", "8000"],
}
#: ffmpeg muxer of each container (the file name's extension is not always enough: .c2 is not known).
_MUXER = {"mp4": "mp4", "mov": "mov", "m4a": "ipod", "mkv": "matroska", "webm": "webm", "avi": "avi", "mp3": "mp3",
          "wav": "wav", "ogg": "ogg", "c2": "codec2"}  # fmt: skip


def encode_audio(
    pcm_blocks: Iterable[bytes], sample_rate: int, out: Path, codec: str, container: str | None = None
) -> None:
    """Encode s16le mono PCM with one of `_AUDIO_ARGS`' codecs (``flac`` for the lossless intermediate)."""
    muxer = ["-f", _MUXER[container]] if container else []
    cmd = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-f", "s16le", "-ar", str(sample_rate),
           "-ac", "1", "-i", "pipe:0", *_AUDIO_ARGS[codec], *BITEXACT, *muxer, str(out)]  # fmt: skip
    _run_feeding(cmd, pcm_blocks)


def _video_args(fps: float, codec: str, container: str) -> list[str]:
    gop = ["-g", str(max(1, round(2 * fps)))]
    common = ["-pix_fmt", "yuv420p", *gop, "-flags:v", "+bitexact"]
    if codec == "h264":
        # veryfast with the cheapest motion search: on these noisy webcam-like frames it encodes twice as fast
        # as plain veryfast and the files come out slightly smaller.
        return ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
                "-x264-params", "rc-lookahead=5:bframes=1:ref=1:subme=0:me=dia:weightp=0", *common]  # fmt: skip
    if codec == "h265":
        tag = ["-tag:v", "hvc1"] if container in ("mp4", "mov") else []  # the tag Apple players require
        return ["-c:v", "libx265", "-preset", "ultrafast", "-crf", "28", "-x265-params", "log-level=error",
                *tag, *common]  # fmt: skip
    if codec in ("vp8", "vp9"):
        lib = "libvpx" if codec == "vp8" else "libvpx-vp9"
        return ["-c:v", lib, "-deadline", "realtime", "-cpu-used", "8", "-b:v", "1M", *common]
    if codec == "av1":
        return ["-c:v", "libsvtav1", "-preset", "12", "-crf", "40", "-svtav1-params", "verbosity=0", *common]
    raise EncodeError(f"no encoder settings for video codec {codec!r}")


def encode_video(
    frames: Iterable[bytes],
    width: int,
    height: int,
    fps: float,
    out: Path,
    audio: Path | Sequence[Path] | None,
    timestamps_ms: list[int] | None = None,
    *,
    codec: str = "h264",
    container: str = "mp4",
    default_audio: int | None = None,
) -> None:
    """Encode raw I420 frames (coded size) into ``container`` with ``codec``, muxing the audio files as tracks.

    With timestamps_ms, frames carry those presentation times (variable frame rate). ``default_audio`` marks
    that audio track as the default one (the muxer marks the first otherwise).
    """
    rate = Fraction(fps).limit_denominator(1001)
    tracks = [audio] if isinstance(audio, Path) else list(audio or ())
    audio_in = [arg for path in tracks for arg in ("-i", str(path))]
    audio_map = [arg for i in range(len(tracks)) for arg in ("-map", f"{i + 1}:a:0")]
    if tracks:
        audio_map += _AUDIO_ARGS[AUDIO_CODEC[container]]
    if default_audio is not None:
        audio_map += [arg for i in range(len(tracks)) for arg in
                      (f"-disposition:a:{i}", "default" if i == default_audio else "0")]  # fmt: skip
    mp4_like = container in ("mp4", "mov")
    faststart = ["-movflags", "+faststart"] if mp4_like else []
    common_out = ["-map", "0:v:0", *audio_map, *_video_args(fps, codec, container), *faststart, *BITEXACT,
                  "-f", _MUXER[container]]  # fmt: skip
    if timestamps_ms is None:
        cmd = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p",
               "-s", f"{width}x{height}", "-framerate", f"{rate.numerator}/{rate.denominator}", "-i", "pipe:0",
               *audio_in, *common_out, str(out)]  # fmt: skip
        _run_feeding(cmd, frames)
        return
    timescale = ["-video_track_timescale", "1000"] if mp4_like else []
    cmd = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-f", "nut", "-i", "pipe:0", *audio_in,
           *common_out, "-fps_mode", "passthrough", "-enc_time_base:v", "-1", *timescale, str(out)]  # fmt: skip
    _run_feeding(cmd, _nut_stream(frames, width, height, rate, timestamps_ms))


def _nut_stream(
    frames: Iterable[bytes], width: int, height: int, rate: Fraction, timestamps_ms: list[int]
) -> Iterable[bytes]:
    """Wrap raw frames in a NUT container with explicit millisecond timestamps (yields container bytes)."""
    import io

    import av

    class _Sink(io.RawIOBase):
        def __init__(self) -> None:
            self.chunks: list[bytes] = []

        def writable(self) -> bool:
            return True

        def write(self, b: bytes) -> int:  # type: ignore[override]
            self.chunks.append(bytes(b))
            return len(b)

    sink = _Sink()
    container = av.open(sink, mode="w", format="nut")
    stream = container.add_stream("rawvideo", rate=rate)
    stream.width = width
    stream.height = height
    stream.pix_fmt = "yuv420p"
    tb = Fraction(1, 1000)
    stream.time_base = tb
    stream.codec_context.time_base = tb
    for data, ms in zip(frames, timestamps_ms, strict=True):
        frame = av.VideoFrame(width, height, "yuv420p")
        _fill_i420(frame, data, width, height)
        frame.pts = ms
        frame.time_base = tb
        for packet in stream.encode(frame):
            container.mux(packet)
        if sink.chunks:
            yield b"".join(sink.chunks)
            sink.chunks.clear()
    for packet in stream.encode(None):
        container.mux(packet)
    container.close()
    if sink.chunks:
        yield b"".join(sink.chunks)


def _fill_i420(frame: object, data: bytes, width: int, height: int) -> None:
    """Copy packed I420 bytes into a PyAV frame's planes (which may have padded line sizes)."""
    import numpy as np

    sizes = [(width, height), (width // 2, height // 2), (width // 2, height // 2)]
    offset = 0
    planes = frame.planes  # type: ignore[attr-defined]
    for plane, (w, h) in zip(planes, sizes, strict=True):
        src = np.frombuffer(data, np.uint8, w * h, offset).reshape(h, w)
        offset += w * h
        dst = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:h, :w]
        dst[:] = src


# ---------------------------------------------------------------------------------------------------------------
# MP4 display matrix


def _boxes(buf: bytes, start: int, end: int) -> Iterator[tuple[str, int, int, int]]:
    """(type, box start, payload start, box end) of the boxes in buf[start:end]."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", buf[pos : pos + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", buf[pos + 8 : pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            break
        yield kind.decode("latin-1"), pos, pos + header, pos + size
        pos += size


def _matrix(rotation: int, width: int, height: int) -> bytes:
    """tkhd matrix for a clockwise display rotation (the values ffmpeg and phones write)."""
    one, w1 = 1 << 16, 1 << 30
    a, b, c, d, tx, ty = {
        0: (1, 0, 0, 1, 0, 0),
        90: (0, 1, -1, 0, height, 0),
        180: (-1, 0, 0, -1, width, height),
        270: (0, -1, 1, 0, 0, width),
    }[rotation]
    return struct.pack(">9i", a * one, b * one, 0, c * one, d * one, 0, tx * one, ty * one, w1)


def _top_level_box(f: IO[bytes], name: bytes) -> tuple[int, int] | None:
    """(offset, size) of a top-level box, reading only box headers (files can be gigabytes)."""
    f.seek(0, 2)
    end = f.tell()
    pos = 0
    while pos + 8 <= end:
        f.seek(pos)
        size, kind = struct.unpack(">I4s", f.read(8))
        if size == 1:
            size = struct.unpack(">Q", f.read(8))[0]
        elif size == 0:
            size = end - pos
        if size < 8:
            return None
        if kind == name:
            return pos, size
        pos += size
    return None


def set_mp4_rotation(path: Path, rotation: int) -> None:
    """Write the display rotation (clockwise degrees) into the video track header of an MP4, in place."""
    with open(path, "r+b") as f:
        found = _top_level_box(f, b"moov")
        if found is None:
            raise EncodeError(f"{path}: no moov box")
        base, size = found
        f.seek(base)
        data = f.read(size)
        moov = next(_boxes(data, 0, len(data)))
        for kind, _s, p, e in _boxes(data, moov[2], moov[3]):
            if kind != "trak":
                continue
            tkhd = next(((pp, ee) for k, _, pp, ee in _boxes(data, p, e) if k == "tkhd"), None)
            is_video = any(
                k2 == "hdlr" and data[pp2 + 8 : pp2 + 12] == b"vide"
                for k, _, pp, ee in _boxes(data, p, e)
                if k == "mdia"
                for k2, _, pp2, _e2 in _boxes(data, pp, ee)
            )
            if tkhd is None or not is_video:
                continue
            version = data[tkhd[0]]
            off = tkhd[0] + 4 + (32 if version == 1 else 20) + 8 + 8
            width, height = struct.unpack(">II", data[off + 36 : off + 44])
            f.seek(base + off)
            f.write(_matrix(rotation, width >> 16, height >> 16))
            return
    raise EncodeError(f"{path}: no video track")
