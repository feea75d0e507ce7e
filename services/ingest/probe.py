"""Probe a media file with ffprobe and turn its JSON into the contract's `Probe`.

`parse_ffprobe` is pure (unit-tested on captured output); `probe_file` runs ffprobe twice: once for the
container and streams, once reading the packets of the last seconds, because a cut-off MP4 whose index
sits at the front still describes the whole recording while its tail is gone.

Probing uses the system's ffprobe; decoding downstream uses the libraries bundled with PyAV. A stream whose
codec those libraries cannot decode is refused here (`unsupported_codec`), so it fails at ingest with a
reason instead of later as an empty or half profile. A file with several audio streams (a recorder's mix
and microphone tracks, a dead second microphone) has each stream's level measured, and the analysed one is
the default stream if it carries sound, else the first that does (`AudioStream.track_choice`).
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
import subprocess
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from services.common.contracts import AudioStream, AudioTrackChoice, FailureCode, Probe, VideoStream

FFPROBE_TIMEOUT_S = 120.0
#: Relative difference of nominal and average frame rate above which the stream counts as variable rate.
VFR_TOLERANCE = 0.01
#: The last packet must start within this many seconds of the announced end, or the file counts as cut off.
TAIL_S = 1.5
#: ffprobe's names of a container family → the short name used in events.
_CONTAINERS = {"mov,mp4,m4a,3gp,3g2,mj2": "mp4", "matroska,webm": "webm"}
#: An audio stream whose RMS level stays below this carries no sound (digital silence, an unplugged
#: microphone's noise floor); a quiet room with speech is far above it.
SOUND_FLOOR_DBFS = -60.0
#: Matroska/WebM state no frame count and give the default frame duration as the average rate, so the rate
#: is measured on the packet times of the first seconds; a frame interval this much off the median is irregular.
RATE_SCAN_S = 10.0
#: Audio levels are measured on the first ten minutes: a dead microphone is dead throughout and an interview
#: is heard long before, while a two-hour file would cost a full decode of every track.
LEVEL_SCAN_S = 600.0
IRREGULAR_INTERVAL = 0.25


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


def choose_audio_track(
    audio_streams: Sequence[dict[str, Any]], levels_dbfs: Sequence[float] | None = None
) -> tuple[int, AudioTrackChoice]:
    """Which audio stream to analyse (position among the audio streams) and why.

    ``levels_dbfs`` holds each stream's RMS level when measured: streams above `SOUND_FLOOR_DBFS` carry
    sound. The default stream wins if it carries sound, else the first one that does.
    """
    if len(audio_streams) <= 1:
        return 0, AudioTrackChoice.ONLY
    positions = range(len(audio_streams))
    sounding = [i for i in positions if levels_dbfs is None or levels_dbfs[i] > SOUND_FLOOR_DBFS]
    defaults = [i for i in positions if (audio_streams[i].get("disposition") or {}).get("default")]
    if sounding:
        chosen_default = next((i for i in defaults if i in sounding), None)
        if chosen_default is not None:
            return chosen_default, AudioTrackChoice.DEFAULT
        return sounding[0], AudioTrackChoice.FIRST_WITH_SOUND
    return (defaults[0] if defaults else 0), AudioTrackChoice.FIRST


def measured_rate(frame_times: Sequence[float]) -> tuple[float, bool] | None:
    """(average frames per second, variable) from video frame times; None with fewer than three frames."""
    times = sorted(frame_times)
    if len(times) < 3 or times[-1] <= times[0]:
        return None
    intervals = [b - a for a, b in itertools.pairwise(times)]
    typical = sorted(intervals)[len(intervals) // 2]
    variable = any(abs(d - typical) > IRREGULAR_INTERVAL * typical for d in intervals)
    return (len(times) - 1) / (times[-1] - times[0]), variable


def parse_ffprobe(
    data: dict[str, Any],
    filename_hint: str = "",
    levels_dbfs: Sequence[float] | None = None,
    frame_times: Sequence[float] | None = None,
) -> Probe:
    """`Probe` from ``ffprobe -show_format -show_streams -print_format json``; raises `ProbeFailed`.

    ``levels_dbfs``: each audio stream's RMS level, in stream order (see `choose_audio_track`);
    ``frame_times``: the first video frames' times, for containers whose stated rates are guesses.
    """
    fmt = data.get("format") or {}
    streams = [s for s in data.get("streams") or () if isinstance(s, dict)]
    video_stream = next(
        (s for s in streams if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")),
        None,
    )
    audio_streams = [s for s in streams if s.get("codec_type") == "audio"]
    track, choice = choose_audio_track(audio_streams, levels_dbfs)
    audio_stream = audio_streams[track] if audio_streams else None
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
        measured = measured_rate(frame_times or ())
        if measured is not None:
            avg_fps, irregular = measured
            vfr = vfr or irregular
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
            audio = AudioStream(
                codec=codec,
                sample_rate=rate,
                channels=channels,
                track=track,
                track_count=max(1, len(audio_streams)),
                track_choice=choice,
            )
        elif video is None:
            raise ProbeFailed(FailureCode.NOT_MEDIA, "the audio stream has no sample rate or channels")
    return Probe(duration_s=round(duration, 3), container=_container(fmt, filename_hint), video=video, audio=audio)


def audio_levels_dbfs(path: Path, scan_s: float = LEVEL_SCAN_S) -> list[float]:
    """RMS level of every audio stream over the first ``scan_s`` seconds, in stream order (one PyAV pass)."""
    container: Any = av.open(str(path), mode="r")
    with container:
        streams = list(container.streams.audio)
        squares = [0.0] * len(streams)
        counts = [0] * len(streams)
        position = {stream.index: i for i, stream in enumerate(streams)}
        done: set[int] = set()
        for packet in container.demux(*streams):
            i = position[packet.stream.index]
            if packet.pts is not None and packet.time_base is not None and packet.pts * packet.time_base > scan_s:
                done.add(i)
                if len(done) == len(streams):
                    break
                continue
            try:
                frames = packet.decode()
            except (av.FFmpegError, ValueError):
                continue  # a damaged packet does not decide which track has sound
            for frame in frames:
                raw = np.asarray(frame.to_ndarray())
                samples = raw.astype(np.float64)
                if np.issubdtype(raw.dtype, np.integer):  # s16/s32 PCM; float formats are already in [-1, 1]
                    samples /= float(np.iinfo(raw.dtype).max) + 1.0
                squares[i] += float(np.sum(samples * samples))
                counts[i] += int(samples.size)
    return [10 * math.log10(sq / n) if n and sq > 0 else -math.inf for sq, n in zip(squares, counts, strict=True)]


def require_decoders(probe: Probe) -> None:
    """Refuse a stream whose codec the decoding libraries (bundled with PyAV) do not have."""
    for kind, codec in (("video", probe.video and probe.video.codec), ("audio", probe.audio and probe.audio.codec)):
        if not codec:
            continue
        try:
            av.Codec(codec, "r")
        except (av.FFmpegError, ValueError):
            version = ".".join(str(n) for n in av.library_versions["libavcodec"])
            raise ProbeFailed(
                FailureCode.UNSUPPORTED_CODEC,
                f"the {kind} codec {codec!r} cannot be decoded here (PyAV {av.__version__}, libavcodec {version}); "
                "re-encode the recording (H.264, H.265, VP8, VP9 or AV1 video; AAC, Opus, Vorbis, MP3 or PCM audio)",
            ) from None


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


def _first_frame_times(path: Path) -> list[float]:
    """Times of the first video stream's packets in its first `RATE_SCAN_S` seconds (headers only)."""
    done = _run(
        ["-select_streams", "v:0", "-read_intervals", f"%+{RATE_SCAN_S:g}", "-show_entries", "packet=pts_time",
         "-of", "csv=p=0", str(path)]
    )  # fmt: skip
    if done.returncode != 0:
        return []
    lines = done.stdout.decode("ascii", "replace").split()
    return [t for t in (_float(line.strip(",")) for line in lines) if t is not None]


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
    frame_times = _first_frame_times(path) if fmt.get("format_name") == "matroska,webm" else None
    audio_count = sum(1 for s in data.get("streams") or () if isinstance(s, dict) and s.get("codec_type") == "audio")
    levels = audio_levels_dbfs(path) if audio_count > 1 else None
    probe = parse_ffprobe(data, filename_hint or path.name, levels, frame_times)
    require_decoders(probe)
    if not _tail_is_present(path, probe.duration_s, size):
        raise ProbeFailed(
            FailureCode.TRUNCATED_MEDIA,
            f"the file is cut off: it describes {probe.duration_s:.1f} s but its last seconds are missing",
        )
    return probe


__all__ = [
    "ProbeFailed",
    "audio_levels_dbfs",
    "choose_audio_track",
    "parse_ffprobe",
    "probe_file",
    "require_decoders",
]
