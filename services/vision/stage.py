"""The vision stage: frame-chunk-ready in, one vision-features event per chunk out.

Each handler reads its chunk's pack from the work bucket and decodes it in a thread, then submits the
frames to the shared `Batcher` in the rounds `services.vision.tracking` plans (whole key frames, then the
face followed in the frames between), so the chunks of every interview in flight (up to the vision setting
``max_in_flight``) share forward passes. On a CPU the passes run on ``threads`` batch threads (one per core by
default), each with one torch thread, and the process keeps freed memory for the next pass (`keep_freed_memory`).
Hands and the upper body are measured on frames sampled at the setting ``body_sample_hz``
(`services.vision.body`, MediaPipe's palm, hand and pose models, run beside the face passes). Frames where the
detector lost the face are given to the face mesh to follow it (`services.vision.follow`). The per-frame
timeline is stored as Parquet under
``<tenant>/<interview>/vision/<media-ingested event id>/timeline/<chunk>.parquet``; the event carries the
chunk summary and the per-second rows.

Expression inference runs only when ``emotion_inference`` is in ``context.permitted_analyses`` (ingest
has already removed it where the jurisdiction forbids it) and the stage setting allows it; otherwise no
expression value is computed or stored, and ``emotion_inference.reason`` says why.

Replays: the event id derives from the input event id, the timeline key from the input's lineage and
chunk index, and the content from the pack alone, so handling an event twice gives the same ids and
objects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import torch

from services.common.contracts import (
    BodySample,
    ConsentScope,
    EmotionInference,
    EmotionInferenceReason,
    EventBase,
    FailureCode,
    FrameChunkReady,
    ObjectRef,
    StageName,
    VisionFeatures,
    derived_envelope,
    topic_for,
)
from services.common.handler import MessageMeta, Rejected
from services.common.objectstore import ObjectNotFound, ObjectStore
from services.common.settings import Settings
from services.frames.geometry import Image
from services.frames.pack import PACK_FORMAT, PackError, read_pack
from services.ingest.policy import may_extract_video
from services.vision.analyzer import DEFAULT_THREADS, FrameAnalyzer, FrameJob, FrameResult, select_device
from services.vision.batcher import Batcher
from services.vision.body import body_samples, check_body_models
from services.vision.body import versions as body_versions
from services.vision.features import ChunkWindow, chunk_features, motion_energy
from services.vision.follow import FOLLOW_VERSION, follow_lost_faces
from services.vision.inference import keep_freed_memory
from services.vision.litert_models import FACE_MESH
from services.vision.registry import EXPRESSION, FACE_DETECTOR, HEAD_POSE_VERSION
from services.vision.settings import VisionSettings
from services.vision.timeline import TIMELINE_CONTENT_TYPE, encode_timeline
from services.vision.tracking import analyse_chunk, key_every, search_version

log = logging.getLogger(__name__)

PRODUCER = "sightline-vision"


def timeline_key(event: FrameChunkReady) -> str:
    lineage = event.caused_by or event.event_id
    return f"{event.tenant_id}/{event.interview_id}/vision/{lineage}/timeline/{event.chunk_index:06d}.parquet"


def emotion_decision(event: FrameChunkReady, enabled: bool) -> EmotionInference:
    """Whether expressions may be classified for this interview, and why not."""
    scope = ConsentScope.EMOTION_INFERENCE.value
    if not enabled:
        return EmotionInference(performed=False, reason=EmotionInferenceReason.DISABLED)
    if scope in event.context.permitted_analyses:
        return EmotionInference(performed=True, reason=EmotionInferenceReason.PERMITTED)
    if scope in event.context.consent_scopes:
        return EmotionInference(performed=False, reason=EmotionInferenceReason.JURISDICTION_PROHIBITS)
    return EmotionInference(performed=False, reason=EmotionInferenceReason.NO_CONSENT)


@dataclass(frozen=True)
class DecodedChunk:
    timestamps: list[float]
    frames: list[Image]


class VisionStage:
    stage = StageName.VISION
    input_topics: Sequence[str] = (topic_for(FrameChunkReady),)
    output_topics: Sequence[str] = (topic_for(VisionFeatures),)

    def __init__(self, store: ObjectStore, work_bucket: str, settings: VisionSettings | None = None) -> None:
        self.store = store
        self.work_bucket = work_bucket
        self.settings = settings or VisionSettings()
        self.max_in_flight = self.settings.max_in_flight
        self._analyzer: FrameAnalyzer | None = None
        self._batcher: Batcher[FrameJob, FrameResult] | None = None

    @property
    def analyzer(self) -> FrameAnalyzer:
        if self._analyzer is None:
            self._analyzer = FrameAnalyzer(self.settings)
        return self._analyzer

    @property
    def batcher(self) -> Batcher[FrameJob, FrameResult]:
        if self._batcher is None:
            s = self.settings
            workers, init = 1, None
            if select_device(s.device).type == "cpu":
                # Batches side by side, one core each: a pass over small frames splits poorly across cores
                # (every operation ends at a barrier that waits for the slowest thread, and the threads decoding
                # the next chunks take turns on the same cores), batches share nothing.
                workers, init = s.threads or DEFAULT_THREADS, partial(torch.set_num_threads, 1)
                keep_freed_memory()
            self._batcher = Batcher(
                lambda jobs: self.analyzer.analyse(jobs), s.batch_size, s.max_batch_wait_ms / 1000.0, workers, init
            )
        return self._batcher

    async def start(self) -> None:
        await asyncio.to_thread(self.store.ensure_bucket, self.work_bucket)
        # The models load before the first message, on the thread that runs them (see Batcher.call).
        await self.batcher.call(lambda: self.analyzer)
        if self.settings.body_sample_hz > 0:
            await asyncio.to_thread(check_body_models)

    async def stop(self) -> None:
        if self._batcher is not None:
            await self._batcher.stop()

    async def handle(self, event: EventBase, meta: MessageMeta) -> Sequence[EventBase]:
        if not isinstance(event, FrameChunkReady):
            raise Rejected(FailureCode.INVALID_EVENT, f"vision expects frame-chunk-ready, got {event.event_type}")
        if event.pack_format != PACK_FORMAT:
            raise Rejected(FailureCode.INVALID_EVENT, f"unknown frame pack format {event.pack_format!r}")
        if not may_extract_video(event.context.permitted_analyses):
            raise Rejected(FailureCode.POLICY_FORBIDS, "video and face analysis are not permitted for this interview")
        chunk = await asyncio.to_thread(self._read, event)
        emotion = emotion_decision(event, self.settings.emotion_inference)
        interval = self.settings.keyframe_interval_s
        every = key_every(interval, self.settings.sample_stride / event.sample_fps)
        results = await analyse_chunk(
            self.batcher.submit, chunk.frames, emotion.performed, every, self.analyzer.placement
        )
        if self.settings.follow_lost_faces:
            results = await asyncio.to_thread(follow_lost_faces, chunk.frames, results, self.analyzer.mesh)
        search = search_version(every, interval)
        # Only after the consent check above: nothing about the body is measured where video analysis is refused.
        body = await asyncio.to_thread(
            body_samples, chunk.frames, chunk.timestamps, results, self.settings.body_sample_hz
        )
        return [await asyncio.to_thread(self._features_event, event, chunk, results, emotion, search, body)]

    def _read(self, event: FrameChunkReady) -> DecodedChunk:
        ref = event.object
        try:
            data = self.store.get_bytes(ref.bucket, ref.key)
        except ObjectNotFound:
            raise Rejected(FailureCode.MISSING_OBJECT, f"frame pack of chunk {event.chunk_index} is missing") from None
        try:
            pack = read_pack(data)
        except PackError as exc:
            raise Rejected(FailureCode.NOT_MEDIA, f"frame pack of chunk {event.chunk_index}: {exc}") from None
        stride = self.settings.sample_stride
        return DecodedChunk(pack.timestamps[::stride], pack.frames[::stride])

    def _features_event(
        self,
        event: FrameChunkReady,
        chunk: DecodedChunk,
        results: list[FrameResult],
        emotion: EmotionInference,
        face_search: str,
        body: list[BodySample],
    ) -> VisionFeatures:
        if emotion.performed and not any(r.box is not None for r in results):
            emotion = EmotionInference(performed=False, reason=EmotionInferenceReason.NO_FACE_DETECTED)
        period = self.settings.sample_stride / event.sample_fps
        window = ChunkWindow(event.start_s, event.end_s, period)
        motion = motion_energy(chunk.frames, results)
        features = chunk_features(window, chunk.timestamps, results, motion, emotion, self.settings)
        data = encode_timeline(features.columns, {"chunk_index": str(event.chunk_index)})
        stored = self.store.put_bytes(self.work_bucket, timeline_key(event), data, TIMELINE_CONTENT_TYPE)
        versions = {"face_detector": FACE_DETECTOR.version, "face_search": face_search, "head_pose": HEAD_POSE_VERSION}
        if emotion.performed:
            versions["expression"] = EXPRESSION.version
        if self.settings.body_sample_hz > 0:
            versions.update(body_versions())
        if self.settings.face_mesh:
            versions["face_mesh"] = FACE_MESH.version
        if self.settings.follow_lost_faces:
            versions["face_follow"] = FOLLOW_VERSION
        return VisionFeatures(
            **derived_envelope(event, StageName.VISION.value, VisionFeatures.EVENT_TYPE, producer=PRODUCER),
            context=event.context,
            chunk_index=event.chunk_index,
            total_chunks=event.total_chunks,
            start_s=event.start_s,
            end_s=event.end_s,
            timeline=ObjectRef(
                bucket=stored.bucket,
                key=stored.key,
                sha256=stored.sha256,
                size_bytes=stored.size,
                content_type=stored.content_type,
            ),
            summary=features.summary,
            seconds=features.seconds,
            gaze=features.gaze,
            body=body,
            model_versions=versions,
        )


def make(settings: Settings) -> VisionStage:
    """Factory for ``sightline worker services.vision.stage:make``."""
    return VisionStage(ObjectStore(settings.s3), settings.s3.work_bucket, settings.vision)


__all__ = ["VisionStage", "emotion_decision", "make", "timeline_key"]
