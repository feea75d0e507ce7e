"""Frames stage: seconds of video processed per wall second, and peak memory versus video length.

Every measured run is a child process (``python -m tests.bench.bench_frames <mode> ...``) that reports
its peak resident set size (``VmHWM`` of /proc/self/status), so runs do not share an allocator or caches.
(`getrusage`/`wait4` would not do: Linux carries the parent's peak over into a child's ``ru_maxrss``
when it execs.) The modes:

* ``stage``: `FramesStage.process` on an ingested recording, read from the raw bucket, every chunk,
  audio segment and key frame uploaded, exactly as in the worker;
* ``naive``: the textbook approach, as a baseline — OpenCV decodes every frame of the local file, the
  sampled frames of the whole interview are kept in memory, then packed and uploaded chunk by chunk;
* ``idle``: imports the same modules and exits: the floor every run starts from.

Throughput is measured on a generated 720p interview; memory versus length on two cheap ffmpeg test
patterns of 2 and 60 minutes (640x480, 15 fps, with an audio track), answered in one-minute windows.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from services.common.contracts import FrameChunkReady, MediaFlag, MediaIngested
from services.common.objectstore import ObjectStore
from services.common.settings import Settings, get_settings
from services.frames.chunking import chunk_index, plan_chunks
from services.frames.geometry import Image, prepare
from services.frames.pack import PACK_CONTENT_TYPE, PackedFrame, encode_jpeg, write_pack
from services.frames.sampling import FrameSampler
from services.frames.stage import FramesConfig, FramesStage
from services.ingest.stage import IngestStage
from services.samples import SampleSpec, generate_interview
from tests.integration.test_frames_matrix import completed, lavfi_video
from tests.integration.test_pipeline_restart import stack_env

ROOT = Path(__file__).resolve().parents[2]
SHORT_S, LONG_S = 120, 3600
THROUGHPUT_SPEC = SampleSpec(seed=41, duration=30.0, width=1280, height=720, fps=25)
HEADLINE = (
    "throughput_720p.video_s_per_wall_s",
    "stage_2min_video_only.video_s_per_wall_s",
    "naive_2min_video_only.video_s_per_wall_s",
    "stage_2min.peak_rss_mb",
    "stage_60min.peak_rss_mb",
    "rss_ratio_60min_vs_2min",
)


def naive_frames(store: ObjectStore, bucket: str, event: MediaIngested, path: Path, config: FramesConfig) -> int:
    """Decode every frame with OpenCV, hold the sampled ones, pack and upload them at the end."""
    capture = cv2.VideoCapture(str(path))
    sampler = FrameSampler(config.sample_fps)
    kept: list[tuple[float, Image]] = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        pts_s = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if sampler.accept(pts_s):
            kept.append((pts_s, prepare(np.asarray(frame, dtype=np.uint8), 0, config.max_side)))
    capture.release()
    chunks = plan_chunks(event.media[0].probe.duration_s, config.chunk_s)
    by_chunk: dict[int, list[PackedFrame]] = defaultdict(list)
    for pts_s, image in kept:
        by_chunk[chunk_index(pts_s, config.chunk_s, len(chunks))].append(
            PackedFrame(pts_s, encode_jpeg(image, config.jpeg_quality))
        )
    height, width = kept[0][1].shape[:2]
    for index, frames in sorted(by_chunk.items()):
        key = f"naive/{event.interview_id}/{index:06d}.zip"
        store.put_bytes(bucket, key, write_pack(frames, width, height), PACK_CONTENT_TYPE)
    return len(by_chunk)


def _child(mode: str, event_file: str, media_file: str) -> None:
    settings = get_settings()
    event = MediaIngested.model_validate_json(Path(event_file).read_text())
    store, bucket, config = ObjectStore(settings.s3), settings.s3.work_bucket, FramesConfig()
    started = time.perf_counter()
    chunks = 0
    if mode == "stage":
        outputs = FramesStage(store, bucket, config).process(event)
        chunks = sum(isinstance(e, FrameChunkReady) for e in outputs)
    elif mode == "naive":
        chunks = naive_frames(store, bucket, event, Path(media_file), config)
    wall_s = time.perf_counter() - started
    print(json.dumps({"wall_s": wall_s, "chunks": chunks, "peak_rss_kib": _peak_rss_kib()}))


def _peak_rss_kib() -> int:
    """High-water mark of this process's resident set since it started (exec), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def _measure(env: dict[str, str], mode: str, event: MediaIngested, media: Path, work: Path) -> dict[str, Any]:
    """One child run and what it reports."""
    event_file = work / f"{event.interview_id}.json"
    event_file.write_text(event.model_dump_json())
    command = [sys.executable, "-m", "tests.bench.bench_frames", mode, str(event_file), str(media)]
    done = subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, check=True)
    report: dict[str, Any] = json.loads(done.stdout)
    peak_rss_mb = round(report["peak_rss_kib"] / 1024, 1)
    if mode == "idle":
        return {"peak_rss_mb": peak_rss_mb}
    duration = event.media[0].probe.duration_s
    return {
        "video_s": round(duration, 1),
        "wall_s": round(report["wall_s"], 2),
        "video_s_per_wall_s": round(duration / report["wall_s"], 2) if report["wall_s"] > 0 else None,
        "chunks": report["chunks"],
        "peak_rss_mb": peak_rss_mb,
    }


def _windows(duration_s: float) -> list[dict[str, Any]]:
    """One answer window per minute, as an interview with many questions has."""
    return [
        {"question_id": f"q{i}", "text": f"Question {i}?", "start_s": i * 60.0, "end_s": i * 60.0 + 55.0}
        for i in range(int(duration_s // 60))
    ]


def _pattern(work: Path, duration_s: int) -> Path:
    video = f"testsrc2=size=640x480:rate=15:duration={duration_s}"
    audio = f"sine=frequency=220:sample_rate=16000:duration={duration_s}"
    return lavfi_video(work / f"pattern-{duration_s}s.mp4", video, audio=audio)


async def run(stack: Settings) -> dict[str, Any]:
    store = ObjectStore(stack.s3)
    store.ensure_buckets()
    ingest = IngestStage(store, stack.s3.raw_bucket)
    env = stack_env(stack)
    results: dict[str, Any] = {"config": {"sample_fps": FramesConfig().sample_fps, "chunk_s": FramesConfig().chunk_s}}
    with tempfile.TemporaryDirectory(prefix="bench-frames-") as tmp:
        work = Path(tmp)
        sample = generate_interview(THROUGHPUT_SPEC, work, name="throughput-720p").media_path
        ingested = ingest.ingest(completed(sample, THROUGHPUT_SPEC.duration))
        results["throughput_720p"] = _measure(env, "stage", ingested, sample, work)

        short, long = _pattern(work, SHORT_S), _pattern(work, LONG_S)
        short_event = ingest.ingest(completed(short, SHORT_S, questions=_windows(SHORT_S)))
        long_event = ingest.ingest(completed(long, LONG_S, questions=_windows(LONG_S)))
        results["idle"] = _measure(env, "idle", short_event, short, work)
        results["stage_2min"] = _measure(env, "stage", short_event, short, work)
        results["stage_60min"] = _measure(env, "stage", long_event, long, work)
        # The baseline does video only, so it is compared with a video-only stage run.
        video_only = short_event.model_copy(update={"flags": [*short_event.flags, MediaFlag.VIDEO_ONLY.value]})
        results["stage_2min_video_only"] = _measure(env, "stage", video_only, short, work)
        results["naive_2min_video_only"] = _measure(env, "naive", short_event, short, work)

    floor = results["idle"]["peak_rss_mb"]
    results["rss_ratio_60min_vs_2min"] = round(
        results["stage_60min"]["peak_rss_mb"] / results["stage_2min"]["peak_rss_mb"], 2
    )
    results["rss_above_idle_mb"] = {
        name: round(results[name]["peak_rss_mb"] - floor, 1)
        for name in ("stage_2min", "stage_60min", "stage_2min_video_only", "naive_2min_video_only")
    }
    return results


if __name__ == "__main__":
    _child(*sys.argv[1:4])
