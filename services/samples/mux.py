"""ffmpeg plumbing: frames and audio are streamed through pipes, never held whole in memory.

- audio: PCM blocks -> ffmpeg -> FLAC (temporary, lossless) or AAC .m4a (audio-only output);
- video: raw YUV 4:2:0 frames -> ffmpeg stdin -> H.264 .mp4 (+ AAC from the FLAC). Constant frame rate uses a
  rawvideo pipe; variable frame rate wraps each frame in NUT packets carrying its own timestamp (PyAV) and keeps
  them with ``-fps_mode passthrough``;
- rotation: ffmpeg 5.1 ignores ``-metadata:s:v rotate=`` and has no ``-display_rotation``, so the display matrix
  of the video track header (tkhd) is written directly, as phones do.

Outputs are bit-exact flagged (no encoder version strings, no creation time), so the same input gives the same
bytes with the same ffmpeg build.
"""

from __future__ import annotations

import struct
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
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


def encode_audio(pcm_blocks: Iterable[bytes], sample_rate: int, out: Path, codec: str) -> None:
    """Encode s16le mono PCM to ``flac`` (lossless intermediate) or ``aac`` (.m4a)."""
    args = ["-c:a", "flac"] if codec == "flac" else ["-c:a", "aac", "-b:a", "64k", "-flags:a", "+bitexact"]
    cmd = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-f", "s16le", "-ar", str(sample_rate),
           "-ac", "1", "-i", "pipe:0", *args, *BITEXACT, str(out)]  # fmt: skip
    _run_feeding(cmd, pcm_blocks)


def _video_args(fps: float) -> list[str]:
    gop = max(1, round(2 * fps))
    # veryfast with the cheapest motion search: on these noisy webcam-like frames it encodes twice as fast as
    # plain veryfast and the files come out slightly smaller.
    return ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
            "-x264-params", "rc-lookahead=5:bframes=1:ref=1:subme=0:me=dia:weightp=0",
            "-pix_fmt", "yuv420p", "-g", str(gop), "-flags:v", "+bitexact"]  # fmt: skip


def encode_video(
    frames: Iterable[bytes],
    width: int,
    height: int,
    fps: float,
    out: Path,
    audio: Path | None,
    timestamps_ms: list[int] | None = None,
) -> None:
    """Encode raw I420 frames (coded size) to H.264 MP4, muxing the audio file if given.

    With timestamps_ms, frames carry those presentation times (variable frame rate).
    """
    rate = Fraction(fps).limit_denominator(1001)
    audio_in = ["-i", str(audio)] if audio else []
    audio_map = ["-map", "1:a:0", "-c:a", "aac", "-b:a", "64k", "-flags:a", "+bitexact"] if audio else []
    common_out = ["-map", "0:v:0", *audio_map, *_video_args(fps), "-movflags", "+faststart", *BITEXACT]
    if timestamps_ms is None:
        cmd = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p",
               "-s", f"{width}x{height}", "-framerate", f"{rate.numerator}/{rate.denominator}", "-i", "pipe:0",
               *audio_in, *common_out, str(out)]  # fmt: skip
        _run_feeding(cmd, frames)
        return
    cmd = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-f", "nut", "-i", "pipe:0", *audio_in,
           *common_out, "-fps_mode", "passthrough", "-enc_time_base:v", "-1", "-video_track_timescale", "1000",
           str(out)]  # fmt: skip
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
