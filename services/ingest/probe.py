"""Probe a media file with ffprobe and turn its JSON into the contract's `Probe`.

`parse_ffprobe` is pure (unit-tested on captured output); `probe_file` runs ffprobe twice: once for the
container and streams, once reading the packets of the last seconds, because a cut-off MP4 whose index
sits at the front still describes the whole recording while its tail is gone.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

from services.common.contracts import AudioStream, FailureCode, Probe, VideoStream

FFPROBE_TIMEOUT_S = 120.0
#: Relative difference of nominal and average frame rate above which the stream counts as variable rate.
VFR_TOLERANCE = 0.01
#: The last packet must start within this many seconds of the announced end, or the file counts as cut off.
TAIL_S = 1.5
#: ffprobe's names of a container family → the short name used in events.
_CONTAINERS = {"mov,mp4,m4a,3gp,3g2,mj2": "mp4", "matroska,webm": "webm"}


class ProbeFailed(Exception):
    """The file is not usable media; `code` is a `FailureCode` value."""

    def __init__(self, code: FailureCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _rate(value: Any) -> float | None:
    if not isinstance(value, str) or "/" not in value:
        return None
    num, _, den = value.partition("/")
    try:
        if int(den) == 0 or int(num) <= 0:
            return None
        return float(Fraction(int(num), int(den)))
    except ValueError:
        return None


def _float(value: Any) -> float | None:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _rotation(stream: dict[str, Any]) -> int:
    """Clockwise display rotation. ffprobe reports the display matrix counter-clockwise (-90 = 90 cw)."""
    degrees: float | None = None
    for side in stream.get("side_data_list") or ():
        if isinstance(side, dict) and "rotation" in side:
            ccw = _float(side["rotation"])
            if ccw is not None:
                degrees = -ccw
            break
    if degrees is None:
        tag = _float((stream.get("tags") or {}).get("rotate"))
        degrees = tag  # the legacy tag is already clockwise
    if degrees is None:
        return 0
    return round(degrees / 90.0) % 4 * 90


def _container(fmt: dict[str, Any], filename_hint: str) -> str:
    name = str(fmt.get("format_name") or "")
    if name == "matroska,webm":
        return "webm" if filename_hint.lower().endswith(".webm") else "matroska"
    if name in _CONTAINERS:
        return _CONTAINERS[name]
    first = name.split(",")[0].strip().lower()
    return first or "unknown"


def parse_ffprobe(data: dict[str, Any], filename_hint: str = "") -> Probe:
    """`Probe` from ``ffprobe -show_format -show_streams -print_format json``; raises `ProbeFailed`."""
    fmt = data.get("format") or {}
    streams = [s for s in data.get("streams") or () if isinstance(s, dict)]
    video_stream = next(
        (s for s in streams if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")),
        None,
    )
    audio_stream = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video_stream is None and audio_stream is None:
        raise ProbeFailed(FailureCode.NOT_MEDIA, "the file has neither a video nor an audio stream")

    durations = [_float(fmt.get("duration"))] + [_float(s.get("duration")) for s in (video_stream, audio_stream) if s]
    duration = next((d for d in durations if d is not None and d > 0), None)
    if duration is None:
        raise ProbeFailed(FailureCode.TRUNCATED_MEDIA, "the file has no duration (empty or cut off)")

    video: VideoStream | None = None
    if video_stream is not None:
        width, height = _int(video_stream.get("width")), _int(video_stream.get("height"))
        nominal = _rate(video_stream.get("r_frame_rate"))
        average = _rate(video_stream.get("avg_frame_rate"))
        if not width or not height or (nominal is None and average is None):
            raise ProbeFailed(FailureCode.NOT_MEDIA, "the video stream has no picture size or frame rate")
        avg_fps = average or nominal or 0.0
        fps = nominal or avg_fps
        vfr = abs(fps - avg_fps) > VFR_TOLERANCE * fps
        if fps > 2 * avg_fps:  # a time base (1000 for 1 ms ticks), not a frame rate: report the average
            fps = avg_fps
        frames = _int(video_stream.get("nb_frames"))
        video = VideoStream(
            codec=str(video_stream.get("codec_name") or "unknown"),
            width=width,
            height=height,
            fps=round(fps, 3),
            avg_fps=round(avg_fps, 3),
            variable_frame_rate=vfr,
            rotation_deg=_rotation(video_stream),
            frame_count=frames if frames is not None and frames > 0 else None,
        )
    audio: AudioStream | None = None
    if audio_stream is not None:
        rate, channels = _int(audio_stream.get("sample_rate")), _int(audio_stream.get("channels"))
        if rate and channels:
            codec = str(audio_stream.get("codec_name") or "unknown")
            audio = AudioStream(codec=codec, sample_rate=rate, channels=channels)
        elif video is None:
            raise ProbeFailed(FailureCode.NOT_MEDIA, "the audio stream has no sample rate or channels")
    return Probe(duration_s=round(duration, 3), container=_container(fmt, filename_hint), video=video, audio=audio)


def _ffprobe() -> str:
    path = shutil.which("ffprobe")
    if path is None:
        raise RuntimeError("ffprobe is not installed (apt-get install ffmpeg)")
    return path


def _run(args: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([_ffprobe(), "-v", "error", *args], capture_output=True, timeout=FFPROBE_TIMEOUT_S)


def _tail_is_present(path: Path, duration_s: float, size: int) -> bool:
    """The packets of the last seconds can be read, lie inside the file and reach the end of the recording."""
    start = max(0.0, duration_s - TAIL_S)
    done = _run(
        ["-read_intervals", f"{start:.3f}%", "-show_entries", "packet=pos,size,pts_time", "-of", "json", str(path)]
    )
    if done.returncode != 0 or b"partial file" in done.stderr:
        return False
    packets = [p for p in json.loads(done.stdout or b"{}").get("packets") or () if isinstance(p, dict)]
    times = [t for t in (_float(p.get("pts_time")) for p in packets) if t is not None]
    if not times or max(times) < duration_s - TAIL_S:
        return False
    ends = [pos + n for pos, n in ((_int(p.get("pos")), _int(p.get("size"))) for p in packets) if pos is not None and n]
    return not ends or max(ends) <= size


def _scanned_duration(path: Path) -> float | None:
    """End of the last packet, reading every packet header (no decoding): for files without a duration."""
    done = _run(["-show_entries", "packet=pts_time,duration_time", "-of", "csv=p=0", str(path)])
    if done.returncode != 0:
        return None
    end: float | None = None
    for line in done.stdout.decode("ascii", "replace").splitlines():
        fields = line.split(",")
        pts = _float(fields[0]) if fields else None
        if pts is None:
            continue
        length = _float(fields[1]) if len(fields) > 1 else None
        end = max(end or 0.0, pts + (length or 0.0))
    return end if end is not None and end > 0 else None


def _looks_like_cut_mp4(path: Path, ffprobe_error: str) -> bool:
    """An MP4 that starts like one (an ``ftyp`` box) but lost its index at the end."""
    with path.open("rb") as fh:
        head = fh.read(12)
    return "moov atom not found" in ffprobe_error and head[4:8] == b"ftyp"


def probe_file(path: Path, filename_hint: str = "") -> Probe:
    """Probe a local file; raises `ProbeFailed` for empty, cut-off or non-media files."""
    size = path.stat().st_size
    if size == 0:
        raise ProbeFailed(FailureCode.TRUNCATED_MEDIA, "the media file is empty (0 bytes)")
    done = _run(["-print_format", "json", "-show_format", "-show_streams", str(path)])
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").replace(str(path), "<media>").strip()
        code = FailureCode.TRUNCATED_MEDIA if _looks_like_cut_mp4(path, err) else FailureCode.NOT_MEDIA
        raise ProbeFailed(code, f"ffprobe cannot read the file: {err[-500:] or 'no details'}")
    data = json.loads(done.stdout or b"{}")
    fmt = data.setdefault("format", {})
    if _float(fmt.get("duration")) is None:  # live recordings (browser webm) may not state one
        scanned = _scanned_duration(path)
        if scanned is not None:
            fmt["duration"] = str(scanned)
    probe = parse_ffprobe(data, filename_hint or path.name)
    if not _tail_is_present(path, probe.duration_s, size):
        raise ProbeFailed(
            FailureCode.TRUNCATED_MEDIA,
            f"the file is cut off: it describes {probe.duration_s:.1f} s but its last seconds are missing",
        )
    return probe


__all__ = ["ProbeFailed", "parse_ffprobe", "probe_file"]
