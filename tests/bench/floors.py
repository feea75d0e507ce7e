"""The physical floor of each heavy stage on one recording, in CPU-seconds per interview-minute, on one core.

* frames: ffmpeg decoding the same file on one thread (``-threads 1 -filter_threads 1``), video and audio, with
  nothing done to the frames (``decode``), and with what the frames stage effectively does after decoding
  (``decode_sampled``: 10 frames a second kept, scaled down to the stage's 640-pixel side, converted to BGR;
  audio resampled to 16 kHz mono). The stage cannot decode for less than ``decode``: every H.264 frame is decoded
  because later frames refer to it.
* vision: one forward pass of each network per sampled frame, on frames the frames stage's decoder made:
  the face detector (whole frame), the face mesh and the expression network per frame with a face, and
  MediaPipe's palm, hand and pose networks per body sample (``body_sample_hz``). Decoding is not counted.
* speech: the configured engine transcribing the recording's audio once (one worker, one thread).

Each floor runs in a child process (``python -m tests.bench.floors vision|speech FILE SECONDS``) with one
OpenMP/torch thread, so its CPU time is its own and the models load outside the measured span.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from services.common.settings import PROJECT_ROOT
from services.frames.geometry import DEFAULT_MAX_SIDE, fit_size
from services.frames.sampling import DEFAULT_SAMPLE_FPS

ONE_CORE = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "SIGHTLINE_SPEECH__WORKERS": "1"}


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _probe(path: Path) -> tuple[int, int, float]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height:format=duration",
         "-of", "json", str(path)],
        capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    info = json.loads(out)
    stream = info["streams"][0]
    return int(stream["width"]), int(stream["height"]), float(info["format"]["duration"])


def ffmpeg_floor(path: Path, seconds: float | None = None) -> dict[str, Any]:
    """CPU seconds per media-minute of ffmpeg decoding ``path`` (its first ``seconds``) on one thread."""
    width, height, duration = _probe(path)
    span = min(duration, seconds) if seconds else duration
    out_w, out_h = fit_size(width, height, DEFAULT_MAX_SIDE)
    sampled = f"fps={DEFAULT_SAMPLE_FPS:g},scale={out_w}:{out_h}:flags=area,format=bgr24"
    variants = {
        "decode": [],
        "decode_sampled": ["-vf", sampled, "-af", "aresample=16000", "-ac", "1", "-sample_fmt", "s16"],
    }
    result: dict[str, Any] = {"media_s": round(span, 1)}
    for name, filters in variants.items():
        before, started = _children_cpu_s(), time.perf_counter()
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-threads", "1", "-t", f"{span:g}", "-i", str(path),
             "-filter_threads", "1", *filters, "-f", "null", "-"],
            check=True,
        )  # fmt: skip
        cpu = _children_cpu_s() - before
        result[name] = {
            "cpu_s": round(cpu, 2),
            "wall_s": round(time.perf_counter() - started, 2),
            "cpu_s_per_media_minute": round(cpu / (span / 60), 2),
        }
    return result


def child_floor(kind: str, path: Path, seconds: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the vision or speech floor in a fresh one-thread process and return its report."""
    env = {**(env if env is not None else os.environ), **ONE_CORE}
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench.floors", kind, str(path), f"{seconds:g}"],
        capture_output=True,
        check=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=env,
    ).stdout
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return report


def _vision(path: Path, seconds: float) -> dict[str, Any]:
    from services.common.settings import Settings
    from services.frames.decode import VideoFrame, decode_media
    from services.vision.analyzer import FrameAnalyzer, FrameJob
    from services.vision.body import sampled
    from services.vision.hands import find_hands
    from services.vision.posture import find_bodies

    settings = Settings().vision
    with path.open("rb") as fh:
        frames = []
        for item in decode_media(fh, video=True, audio=False):
            if isinstance(item, VideoFrame):
                if item.pts_s >= seconds:
                    break
                frames.append(item)
    analyzer = FrameAnalyzer(settings)
    images = [f.image for f in frames]
    analyzer.analyse([FrameJob(image=images[0], expression=True)])  # first-call set-up outside the clock
    batch = 40  # a 4-second chunk at 10 frames a second
    started = time.process_time()
    for i in range(0, len(images), batch):
        analyzer.analyse([FrameJob(image=image, expression=True) for image in images[i : i + batch]])
    face_cpu = time.process_time() - started
    body_idx = sampled([f.pts_s for f in frames], settings.body_sample_hz)
    body_frames = [images[i] for i in body_idx]
    find_hands(body_frames[:1]), find_bodies(body_frames[:1])
    started = time.process_time()
    find_hands(body_frames)
    find_bodies(body_frames)
    body_cpu = time.process_time() - started
    minutes = (frames[-1].pts_s + 1 / DEFAULT_SAMPLE_FPS) / 60 if frames else 1.0
    return {
        "frames": len(frames),
        "body_frames": len(body_frames),
        "face_cpu_s": round(face_cpu, 2),
        "body_cpu_s": round(body_cpu, 2),
        "model_wall_s": {k: round(v, 2) for k, v in analyzer.timings.items()},
        "cpu_s_per_media_minute": round((face_cpu + body_cpu) / minutes, 2),
    }


def _speech(path: Path, seconds: float) -> dict[str, Any]:
    import numpy as np

    from services.common.settings import Settings
    from services.speech.engines import SAMPLE_RATE, load_engine

    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-t", f"{seconds:g}", "-i", str(path), "-ac", "1", "-ar", str(SAMPLE_RATE),
         "-f", "f32le", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    audio = np.frombuffer(raw, dtype=np.float32).copy()
    engine = load_engine(Settings().speech.model_copy(update={"workers": 1, "cpu_threads": 1}))
    started = time.process_time()
    words = len(engine.transcribe(audio).words)
    cpu = time.process_time() - started
    minutes = audio.size / SAMPLE_RATE / 60
    return {"audio_s": round(audio.size / SAMPLE_RATE, 1), "words": words, "cpu_s": round(cpu, 2),
            "cpu_s_per_media_minute": round(cpu / minutes, 2)}  # fmt: skip


def main(argv: list[str]) -> int:
    kind, path, seconds = argv[0], Path(argv[1]), float(argv[2])
    report = _vision(path, seconds) if kind == "vision" else _speech(path, seconds)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
