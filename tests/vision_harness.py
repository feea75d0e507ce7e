"""Vision's measurements of a generated interview, without the bus: the frames code (decode, sampling, chunking,
JPEG pack written and read back), then the analyzer, batcher, tracking rounds, face following and feature
functions the stage runs, chunk by chunk, then `aggregate` over the vision-features events built as the stage
builds them.

Shared by the truth tests (tests/unit/test_vision_truth*.py); every sample of one call shares batches, as
concurrent chunks of several interviews do in the stage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from services.common.contracts import (
    EmotionInference,
    EmotionInferenceReason,
    FrameChunkReady,
    ObjectRef,
    VisionFeatures,
    derived_envelope,
)
from services.frames.chunking import chunk_index, plan_chunks
from services.frames.decode import VideoFrame, decode_media
from services.frames.pack import PackedFrame, encode_jpeg, read_pack, write_pack
from services.frames.settings import FramesSettings
from services.samples.ground_truth import GroundTruth
from services.vision.aggregate import InterviewBehaviour, Period, Window, aggregate, gaze
from services.vision.analyzer import FrameAnalyzer, FrameJob, FrameResult
from services.vision.batcher import Batcher
from services.vision.features import ChunkFeatures, ChunkWindow, chunk_features, motion_energy
from services.vision.follow import follow_lost_faces
from services.vision.settings import VisionSettings
from services.vision.timeline import TIMELINE_CONTENT_TYPE
from services.vision.tracking import analyse_chunk, key_every
from tests.integration.stage_fixtures import example

FRAMES = FramesSettings()
PERMITTED = EmotionInference(performed=True, reason=EmotionInferenceReason.PERMITTED)
NO_FACE = EmotionInference(performed=False, reason=EmotionInferenceReason.NO_FACE_DETECTED)

Packs = list[tuple[ChunkWindow, list[float], list[np.ndarray]]]


@dataclass(frozen=True)
class Analysed:
    truth: GroundTruth
    chunks: list[tuple[ChunkWindow, list[float], list[FrameResult], ChunkFeatures]]
    events: list[VisionFeatures]

    def behaviour(self, windows: list[Window] | None = None) -> InterviewBehaviour:
        return aggregate(self.events, windows)

    def frames_in(self, start: float, end: float) -> list[FrameResult]:
        return [r for _, ts, rs, _ in self.chunks for t, r in zip(ts, rs, strict=True) if start <= t < end]

    @property
    def nod_times(self) -> list[float]:
        return sorted(t for e in self.events for t in e.summary.nod_times_s)

    @property
    def shake_times(self) -> list[float]:
        return sorted(t for e in self.events for t in e.summary.shake_times_s)


def chunk_packs(path: Path, duration: float, frames: FramesSettings = FRAMES, rotation_deg: int = 0) -> Packs:
    """The frame chunks the frames stage would write for the media at ``path``, read back; ``rotation_deg`` is the
    display rotation ingest reads from the container, which the frames stage applies."""
    chunks = plan_chunks(duration, frames.chunk_s)
    packed: dict[int, list[PackedFrame]] = {c.index: [] for c in chunks}
    size = (0, 0)
    with path.open("rb") as fh:
        decoded = decode_media(
            fh,
            video=True,
            audio=False,
            sample_fps=frames.sample_fps,
            max_side=frames.max_side,
            rotation_deg=rotation_deg,
        )
        for item in decoded:
            if isinstance(item, VideoFrame):
                index = chunk_index(item.pts_s, frames.chunk_s, len(chunks))
                packed[index].append(PackedFrame(item.pts_s, encode_jpeg(item.image, frames.jpeg_quality)))
                size = (item.image.shape[1], item.image.shape[0])
    out = []
    for c in chunks:
        if packed[c.index]:
            pack = read_pack(write_pack(packed[c.index], *size))
            out.append((ChunkWindow(c.start_s, c.end_s, 1.0 / frames.sample_fps), pack.timestamps, pack.frames))
    return out


def _event(window: ChunkWindow, index: int, total: int, features: ChunkFeatures) -> VisionFeatures:
    """A vision-features event as the stage builds it, around the computed features."""
    source = FrameChunkReady.model_validate(example("frame-chunk-ready"))
    ref = ObjectRef(
        bucket="sightline-work",
        key=f"t/{index}.parquet",
        sha256="0" * 64,
        size_bytes=1,
        content_type=TIMELINE_CONTENT_TYPE,
    )
    return VisionFeatures(
        **derived_envelope(source, "vision", VisionFeatures.EVENT_TYPE, str(index), producer="sightline-vision"),
        context=source.context,
        chunk_index=index,
        total_chunks=total,
        start_s=window.start_s,
        end_s=window.end_s,
        timeline=ref,
        summary=features.summary,
        seconds=features.seconds,
        gaze=features.gaze,
        model_versions={"face_detector": "test"},
    )


async def _analyse_all(
    analyzer: FrameAnalyzer, packs: Sequence[Packs], interval_s: float
) -> tuple[list[list[list[FrameResult]]], list[int]]:
    batcher: Batcher[FrameJob, FrameResult] = Batcher(analyzer.analyse, max_batch=64, max_wait_s=0.05)
    try:
        jobs = [
            analyse_chunk(batcher.submit, frames, True, key_every(interval_s, window.period_s), analyzer.placement)
            for sample in packs
            for window, _, frames in sample
        ]
        results = await asyncio.gather(*jobs)
    finally:
        await batcher.stop()
    it = iter(results)
    return [[next(it) for _ in sample] for sample in packs], list(batcher.batch_sizes)


def analyse_samples(
    analyzer: FrameAnalyzer,
    samples: Mapping[str, tuple[GroundTruth, Packs]],
    settings: VisionSettings,
) -> tuple[dict[str, Analysed], list[int]]:
    """Every sample analysed with ``settings`` (its key-frame interval included); also the batch sizes."""
    names = list(samples)
    results, sizes = asyncio.run(_analyse_all(analyzer, [samples[n][1] for n in names], settings.keyframe_interval_s))
    out = {}
    for name, per_chunk in zip(names, results, strict=True):
        truth, packs = samples[name]
        chunks = []
        events = []
        for index, ((window, stamps, frames), found) in enumerate(zip(packs, per_chunk, strict=True)):
            res = follow_lost_faces(frames, found, analyzer.mesh) if settings.follow_lost_faces else found
            # As the stage: no face in the whole chunk, no expression measured.
            emotion = PERMITTED if any(r.box is not None for r in res) else NO_FACE
            features = chunk_features(window, stamps, res, motion_energy(frames, res), emotion, settings)
            chunks.append((window, stamps, res, features))
            events.append(_event(window, index, len(packs), features))
        out[name] = Analysed(truth, chunks, events)
    return out, sizes


def coverage(found: Sequence[Period], start: float, end: float) -> float:
    """Share of ``[start, end)`` that the found periods cover."""
    covered = sum(max(0.0, min(p.end_s, end) - max(p.start_s, start)) for p in found)
    return covered / (end - start)


#: Seconds kept clear of a look-away's edges when asking whether the candidate faced the camera.
FRONTAL_MARGIN_S = 0.5


@dataclass(frozen=True)
class GazeScore:
    """Frames judged facing among the face frames clear of the look-aways; seconds of held look-away reported;
    seconds reported outside every look-away (with its turns)."""

    facing: int
    clear: int
    found_s: float
    held_s: float
    stray_s: float
    reported_s: float


def gaze_score(sample: Analysed) -> GazeScore:
    """How a look-away sample's eye contact and look-aways compare with its script."""
    looks = sample.truth.events.look_aways
    assert looks
    judged = gaze(sample.events)
    assert judged is not None
    busy = [(e.start - FRONTAL_MARGIN_S, e.end + FRONTAL_MARGIN_S) for e in looks]
    clear = [
        f
        for t, f in zip(judged.times, judged.facing, strict=True)
        if f is not None and not any(a <= t < b for a, b in busy)
    ]
    found = sample.behaviour().look_aways
    held = [(e.start + e.turn_s, e.end - e.turn_s) for e in looks]
    allowed = [(e.start - 0.3, e.end + 0.3) for e in looks]
    reported = sum(p.duration_s for p in found)
    return GazeScore(
        facing=sum(clear),
        clear=len(clear),
        found_s=sum(coverage(found, a, b) * (b - a) for a, b in held),
        held_s=sum(b - a for a, b in held),
        stray_s=reported - sum(coverage(found, a, b) * (b - a) for a, b in allowed),
        reported_s=reported,
    )


def nod_peaks(truth: GroundTruth) -> list[float]:
    """When each scripted nod is at its lowest."""
    return [n.start + (k + 0.5) * n.period_s for n in truth.events.nods for k in range(n.count)]


def shake_middles(truth: GroundTruth) -> list[float]:
    """The middle of each scripted left-right-left swing."""
    return [s.start + (k + 0.5) * s.period_s for s in truth.events.shakes for k in range(s.count)]


__all__ = [
    "FRONTAL_MARGIN_S",
    "PERMITTED",
    "Analysed",
    "GazeScore",
    "Packs",
    "analyse_samples",
    "chunk_packs",
    "coverage",
    "gaze_score",
    "nod_peaks",
    "shake_middles",
]
