"""Vision throughput on the CPU: the stage's batched path against a naive baseline, in the same run.

Input: a generated interview, decoded and packed by the real frames code, the packs stored in the local
S3 gateway. The batched path is the stage's handler (read the pack, decode, shared batcher, features,
Parquet timeline upload), with `MAX_IN_FLIGHT` chunks handled at once as the worker does. The naive
baseline analyses one frame at a time at full resolution with no batching (expression included). Both
use the same models; per-model seconds come from the analyzer's timers.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import torch

from services.common.contracts import FrameChunkReady, ObjectRef, derived_envelope
from services.common.objectstore import ObjectStore
from services.common.settings import Settings
from services.frames.chunking import chunk_index, plan_chunks
from services.frames.decode import VideoFrame, decode_media
from services.frames.pack import PACK_CONTENT_TYPE, PACK_FORMAT, PackedFrame, encode_jpeg, read_pack, write_pack
from services.samples import SampleSpec, generate_interview
from services.vision.analyzer import FrameAnalyzer, FrameJob
from services.vision.settings import VisionSettings
from services.vision.stage import VisionStage
from tests.integration.stage_fixtures import example

SPEC = SampleSpec(seed=31, duration=24.0, fps=10, audio=False)
CHUNK_S = 4.0
FPS = 10.0
MAX_IN_FLIGHT = 4
NAIVE_FRAMES = 30


def _packs(path: Path, duration: float) -> list[tuple[int, float, float, bytes, int]]:
    chunks = plan_chunks(duration, CHUNK_S)
    frames: dict[int, list[PackedFrame]] = {c.index: [] for c in chunks}
    with path.open("rb") as fh:
        for item in decode_media(fh, video=True, audio=False, sample_fps=FPS):
            if isinstance(item, VideoFrame):
                frames[chunk_index(item.pts_s, CHUNK_S, len(chunks))].append(
                    PackedFrame(item.pts_s, encode_jpeg(item.image))
                )
    return [(c.index, c.start_s, c.end_s, write_pack(frames[c.index], 640, 480), len(frames[c.index])) for c in chunks]


def _events(
    store: ObjectStore, bucket: str, packs: list[tuple[int, float, float, bytes, int]]
) -> list[FrameChunkReady]:
    template = FrameChunkReady.model_validate(example("frame-chunk-ready"))
    scopes = [*template.context.consent_scopes, "emotion_inference"]
    context = template.context.model_copy(
        update={"jurisdiction": "US", "consent_scopes": scopes, "permitted_analyses": scopes}
    )
    out = []
    for index, start, end, data, count in packs:
        stored = store.put_bytes(bucket, f"bench/{uuid.uuid4().hex}/{index:06d}.zip", data, PACK_CONTENT_TYPE)
        ref = ObjectRef(
            bucket=bucket, key=stored.key, sha256=stored.sha256, size_bytes=stored.size, content_type=PACK_CONTENT_TYPE
        )
        envelope = derived_envelope(template, "frames", FrameChunkReady.EVENT_TYPE, str(index), producer="bench")
        out.append(
            FrameChunkReady(
                **envelope,
                context=context,
                chunk_index=index,
                total_chunks=len(packs),
                start_s=start,
                end_s=end,
                frame_count=count,
                sample_fps=FPS,
                width=640,
                height=480,
                object=ref,
                pack_format=PACK_FORMAT,
            )
        )
    return out


async def _batched(stage: VisionStage, events: list[FrameChunkReady]) -> tuple[float, float]:
    limit = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def one(event: FrameChunkReady) -> None:
        async with limit:
            await stage.handle(event, None)  # type: ignore[arg-type]

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(e) for e in events))
    return time.perf_counter() - started, time.process_time() - cpu


def _naive(packs: list[tuple[int, float, float, bytes, int]]) -> tuple[float, float, int, dict[str, float]]:
    analyzer = FrameAnalyzer(VisionSettings(detect_max_side=4096))  # full resolution
    frames = [f for _, _, _, data, _ in packs for f in read_pack(data).frames][:NAIVE_FRAMES]
    analyzer.analyse([FrameJob(frames[0], True)])  # warm-up, as the batched stage loads at start
    analyzer.timings.clear()
    started, cpu = time.perf_counter(), time.process_time()
    for frame in frames:
        analyzer.analyse([FrameJob(frame, True)])
    return time.perf_counter() - started, time.process_time() - cpu, len(frames), dict(analyzer.timings)


async def run(stack: Settings) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-vision-") as tmp:
        sample = generate_interview(SPEC, Path(tmp), name="bench")
        packs = _packs(sample.media_path, sample.truth.duration_s)
    store = ObjectStore(stack.s3)
    bucket = f"bench-{uuid.uuid4().hex[:10]}"
    store.ensure_bucket(bucket)
    events = _events(store, bucket, packs)
    frames = sum(e.frame_count for e in events)

    stage = VisionStage(store, bucket, VisionSettings())
    await stage.start()
    await _batched(stage, events[:1])  # warm-up pass
    stage.analyzer.timings.clear()
    batched_s, batched_cpu = await _batched(stage, events)
    per_model = {k: round(v, 2) for k, v in stage.analyzer.timings.items()}
    batches = stage.batcher.batch_sizes[-len(events) * 4 :]
    await stage.stop()

    # A finer configuration for comparison: detection on 320-pixel frames (smaller faces found).
    finer = VisionStage(store, bucket, VisionSettings(detect_max_side=320))
    await finer.start()
    await _batched(finer, events[:1])
    finer_s, _ = await _batched(finer, events)
    await finer.stop()

    naive_s, naive_cpu, naive_frames, naive_models = _naive(packs)
    batched_fps = frames / batched_s
    naive_fps = naive_frames / naive_s
    return {
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "torch_threads": torch.get_num_threads(),
        "frames": frames,
        "chunks": len(events),
        "batched_fps": round(batched_fps, 1),
        "batched_s": round(batched_s, 2),
        "batched_model_s": per_model,
        "batch_sizes": batches,
        "naive_fps": round(naive_fps, 1),
        "naive_frames": naive_frames,
        "naive_model_s": {k: round(v, 2) for k, v in naive_models.items()},
        "speedup": round(batched_fps / naive_fps, 1),
        "detect_max_side": stage.settings.detect_max_side,
        "batched_320_fps": round(frames / finer_s, 1),
        "speedup_320": round(frames / finer_s / naive_fps, 1),
        # The machine is shared: CPU seconds per frame are steadier than wall time under foreign load.
        "cpu_s_per_frame": {"batched": round(batched_cpu / frames, 4), "naive": round(naive_cpu / naive_frames, 4)},
        "speedup_cpu": round((naive_cpu / naive_frames) / (batched_cpu / frames), 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "target": {"speedup": 5.0, "fps": 25.0},
    }
