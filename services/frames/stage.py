"""The frames stage: media-ingested in, frame-chunk-ready and audio-ready out (frame ranges for long video).

One media-ingested event covers a whole interview, so the work is streamed: the recording is read
from the raw bucket through ranged GETs (`ObjectStore.open`), demuxed and decoded once, in order
(video and audio of the same file in the same pass), and every output object is uploaded as soon as
it is complete. Memory holds one chunk of sampled frames, one audio segment and one candidate key
frame at a time. Each event is emitted as soon as its object is stored (`MessageMeta.emit`), so speech
and vision start on the first questions while the rest of the recording is still being decoded; the
handler also returns them all once the pass is over (the worker sends each id once). The decode runs in
a worker thread, so the poll loop stays responsive.

Outputs, all in the work bucket under ``<tenant>/<interview>/frames/<media-ingested event id>/``:

* ``chunks/000003.zip``: the frame pack of chunk 3 (`services.frames.pack`, ``zip-jpeg-v1``), one
  frame-chunk-ready event each; ``total_chunks = ceil(duration / chunk_s)`` is known from the probe.
* ``audio/000002.wav``: 16 kHz mono 16-bit PCM of segment 2 (one per question window), one
  audio-ready event each.
* ``keyframes/<question_id>-start.jpg``, ``-middle.jpg``, ``-end.jpg``: JPEG thumbnails of the
  sampled frames nearest to the start, middle and end of each question window. No event carries
  them; consumers find them by this key convention.

A chunk in which no frame was decoded (a variable-frame-rate pause, corrupt packets) holds the frame
still on screen at its start, so every chunk of the manifest exists. Packets that fail to decode are
skipped and the audio lost with them becomes silence, so later audio keeps its time; the "frames done"
log line reports both (``corrupt_packets``, ``filled_audio_s``). Audio-only media give no chunks,
video-only media no audio segments. Of several audio streams, the one ingest chose (``probe.audio.track``)
is decoded.

Long recordings: video longer than ``split_above_s`` is not decoded by the media-ingested message. It becomes
frame-range-requested events (`services.frames.ranges`), each a run of whole chunks of the same grid, keyed so
they spread over the partitions and so over the frames replicas; each replica seeks to the keyframe before
its range and produces exactly the chunks and key frames a sequential pass would, under the media event's
keys and event ids. The media event's message decodes the audio (once) and its completed status counts
the chunks its ranges will produce (`promised_outputs`), so the manifest fusion waits for is unchanged.
A failed range is a failed status naming its chunks (fusion counts them as missing).

Consent: nothing is extracted that the interview's ``permitted_analyses`` do not cover. Frames (chunks and
key frames) need ``video_analysis`` and ``face_analysis`` (every visual measure reads the face; where the
jurisdiction asks, face analysis itself needs the separate ``biometric_processing`` consent, decided at
ingest); audio needs ``audio_analysis`` or ``transcription``. Without video the interview goes on as audio
only: no chunk and no key frame is stored, and the profile says the visual measures were not permitted.

Replays: event ids derive from the input event id and the output's index, keys from the input event
id and the index, and the content from the decoded media alone, so handling the same event twice
overwrites the same objects with the same bytes and emits the same event ids.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

import cv2
import numpy as np

from services.common.contracts import (
    AudioReady,
    EventBase,
    FailureCode,
    FrameChunkReady,
    FrameRangeRequested,
    MediaFlag,
    MediaIngested,
    MediaKind,
    ObjectRef,
    StageName,
    StoredMedia,
    derived_envelope,
    topic_for,
)
from services.common.handler import Emit, MessageMeta, Rejected
from services.common.objectstore import ObjectStore, StoredObject
from services.common.settings import Settings
from services.frames.audio import (
    DEFAULT_SEGMENT_S,
    WAV_CONTENT_TYPE,
    WAV_FORMAT,
    Segment,
    SegmentAssembler,
    Window,
    plan_segments,
    untimed_segment_s,
    wav_bytes,
)
from services.frames.chunking import DEFAULT_CHUNK_S, Chunk, chunk_count, chunk_index, plan_chunks
from services.frames.collect import ChunkWriter, KeyframePicker
from services.frames.decode import AUDIO_RATE, AudioBlock, DecodeStats, NotMedia, VideoFrame, decode_media
from services.frames.geometry import DEFAULT_MAX_SIDE, Image
from services.frames.pack import PACK_CONTENT_TYPE, PACK_FORMAT, PackedFrame, encode_jpeg, write_pack
from services.frames.ranges import (
    DEFAULT_RANGE_S,
    DEFAULT_SPLIT_ABOVE_S,
    FrameRange,
    keyframe_targets,
    owned_targets,
    plan_ranges,
    seek_s,
    should_split,
)
from services.frames.sampling import DEFAULT_SAMPLE_FPS
from services.ingest.policy import may_extract_audio, may_extract_video

log = logging.getLogger(__name__)

PRODUCER = "sightline-frames"
JPEG_CONTENT_TYPE = "image/jpeg"


@dataclass(frozen=True)
class FramesConfig:
    sample_fps: float = DEFAULT_SAMPLE_FPS
    chunk_s: float = DEFAULT_CHUNK_S
    max_side: int = DEFAULT_MAX_SIDE
    segment_s: float = DEFAULT_SEGMENT_S
    jpeg_quality: int = 90
    thumbnail_max_side: int = 320
    split_above_s: float = DEFAULT_SPLIT_ABOVE_S
    range_s: float = DEFAULT_RANGE_S


#: The event whose outputs a sink writes: media-ingested, or a frame range of it (its chunks are the media event's).
_Origin = MediaIngested | FrameRangeRequested


def output_prefix(event: EventBase) -> str:
    """Where the outputs of one media-ingested event live (under the interview's prefix)."""
    return f"{event.tenant_id}/{event.interview_id}/frames/{event.event_id}"


def chunk_key(event: EventBase, index: int) -> str:
    return f"{output_prefix(event)}/chunks/{index:06d}.zip"


def segment_key(event: EventBase, index: int) -> str:
    return f"{output_prefix(event)}/audio/{index:06d}.wav"


def keyframe_key(event: EventBase, question_id: str, label: str) -> str:
    return f"{output_prefix(event)}/keyframes/{question_id}-{label}.jpg"


def _as_media_event(event: FrameRangeRequested) -> FrameRangeRequested:
    """The range under its media-ingested event's id: chunk keys, chunk event ids and their lineage are then
    those of a single pass, so downstream stages cannot tell the two apart and replays overwrite the same."""
    return event.model_copy(update={"event_id": event.media_event_id})


def _ref(obj: StoredObject) -> ObjectRef:
    return ObjectRef(
        bucket=obj.bucket, key=obj.key, sha256=obj.sha256, size_bytes=obj.size, content_type=obj.content_type
    )


class FramesStage:
    stage = StageName.FRAMES
    input_topics: Sequence[str] = (topic_for(MediaIngested), topic_for(FrameRangeRequested))
    output_topics: Sequence[str] = (topic_for(FrameChunkReady), topic_for(AudioReady), topic_for(FrameRangeRequested))

    def __init__(self, store: ObjectStore, work_bucket: str, config: FramesConfig | None = None) -> None:
        self.store = store
        self.work_bucket = work_bucket
        self.config = config or FramesConfig()

    async def start(self) -> None:
        await asyncio.to_thread(self.store.ensure_bucket, self.work_bucket)

    async def handle(self, event: EventBase, meta: MessageMeta) -> Sequence[EventBase]:
        if isinstance(event, FrameRangeRequested):
            return await asyncio.to_thread(self.process_range, event, meta.emit)
        if not isinstance(event, MediaIngested):
            raise Rejected(FailureCode.INVALID_EVENT, f"frames expects media-ingested, got {event.event_type}")
        return await asyncio.to_thread(self.process, event, meta.emit)

    def promised_outputs(self, output: EventBase) -> Mapping[str, int]:
        """A frame range stands for the chunks it will produce: the media event's completed status counts them,
        so its manifest (what fusion waits for) is the same as after a single pass."""
        if isinstance(output, FrameRangeRequested):
            return {topic_for(FrameChunkReady): output.chunk_end - output.chunk_start}
        return {}

    # ---- the blocking part, run off the event loop -------------------------------------------------------

    def process(self, event: MediaIngested, emit: Emit | None = None) -> list[EventBase]:
        """Decode, pack and store the interview's frames and audio; ``emit`` gets each event once stored.

        Video longer than ``split_above_s`` is not decoded here: it becomes frame ranges for the replicas.
        """
        video_item, audio_item = select_sources(event)
        if video_item is None and audio_item is None:
            raise Rejected(FailureCode.NOT_MEDIA, "the ingested media has neither a video nor an audio stream")
        video_item, audio_item = permitted_sources(event, video_item, audio_item)
        if video_item is None and audio_item is None:
            raise Rejected(
                FailureCode.POLICY_FORBIDS,
                "the consent and the jurisdiction permit no stream this media has: video needs video_analysis "
                "and face_analysis, audio needs audio_analysis or transcription",
            )
        range_events: list[FrameRangeRequested] = []
        if video_item is not None and (ranges := self.plan(video_item)):
            out = _Outputs(range_events, emit)
            for frame_range in ranges:
                out.append(range_request(event, video_item, frame_range, len(ranges), self.config))
            video_item = None
        chunk_events: list[FrameChunkReady] = []
        audio_events: list[AudioReady] = []
        stats = DecodeStats()
        video_sink = (
            _VideoSink(self, event, video_item, _Outputs(chunk_events, emit), self.config) if video_item else None
        )
        audio_sink = _AudioSink(self, event, audio_item, _Outputs(audio_events, emit)) if audio_item else None
        if video_item is not None and audio_item is not None and video_item.object.key == audio_item.object.key:
            self._pass(video_item, stats, video_sink, audio_sink)
        else:
            if video_item is not None:
                self._pass(video_item, stats, video_sink, None)
            if audio_item is not None:
                self._pass(audio_item, stats, None, audio_sink)
        if video_sink is not None:
            video_sink.finish()
        if audio_sink is not None:
            audio_sink.finish()
        chunk_events.sort(key=lambda e: e.chunk_index)
        _log_done(stats, chunks=len(chunk_events), segments=len(audio_events), ranges=len(range_events))
        return [*range_events, *chunk_events, *audio_events]

    def plan(self, video: StoredMedia) -> list[FrameRange]:
        """The ranges a recording's video is split into; none when it is short enough for one pass."""
        cfg = self.config
        chunks = plan_chunks(video.probe.duration_s, cfg.chunk_s)
        if not should_split(video.probe.duration_s, cfg.split_above_s, len(chunks), cfg.range_s, cfg.chunk_s):
            return []
        return plan_ranges(chunks, cfg.range_s, cfg.chunk_s)

    def process_range(self, event: FrameRangeRequested, emit: Emit | None = None) -> list[EventBase]:
        """Decode one range of a recording's video into its chunks and the key frames it owns."""
        if not may_extract_video(event.context.permitted_analyses):
            raise Rejected(
                FailureCode.POLICY_FORBIDS,
                f"frame range {event.range_index + 1}/{event.total_ranges}: the consent and the jurisdiction do "
                "not permit frames (video needs video_analysis and face_analysis)",
            )
        config = replace(self.config, chunk_s=event.chunk_s, sample_fps=event.sample_fps)
        total = chunk_count(event.video.probe.duration_s, event.chunk_s)
        if total != event.total_chunks or event.chunk_end > total:
            raise Rejected(
                FailureCode.INVALID_EVENT,
                f"frame range {event.range_index + 1}/{event.total_ranges}: chunks {event.chunk_start}-"
                f"{event.chunk_end} of {event.total_chunks} do not fit the {total} chunks of the recording",
            )
        span = FrameRange(event.range_index, event.chunk_start, event.chunk_end, event.start_s, event.end_s)
        chunk_events: list[FrameChunkReady] = []
        sink = _VideoSink(self, _as_media_event(event), event.video, _Outputs(chunk_events, emit), config, span)
        stats = DecodeStats()
        self._pass(event.video, stats, sink, None, seek_to=seek_s(event.start_s, event.sample_fps) or None)
        sink.finish()
        chunk_events.sort(key=lambda e: e.chunk_index)
        _log_done(stats, chunks=len(chunk_events), range=f"{event.range_index + 1}/{event.total_ranges}")
        return list(chunk_events)

    def _pass(
        self,
        item: StoredMedia,
        stats: DecodeStats,
        video: _VideoSink | None,
        audio: _AudioSink | None,
        seek_to: float | None = None,
    ) -> None:
        rotation = item.probe.video.rotation_deg if item.probe.video is not None else 0
        track = item.probe.audio.track if item.probe.audio is not None else 0
        reader = self.store.open(item.object.bucket, item.object.key)
        try:
            for out in decode_media(
                reader,
                video=video is not None,
                audio=audio is not None,
                sample_fps=video.config.sample_fps if video is not None else self.config.sample_fps,
                rotation_deg=rotation,
                max_side=self.config.max_side,
                audio_track=track,
                stats=stats,
                seek_s=seek_to,
            ):
                if isinstance(out, VideoFrame):
                    assert video is not None
                    video.add(out)
                    if video.done and audio is None:
                        break
                elif isinstance(out, AudioBlock):
                    assert audio is not None
                    audio.add(out)
        except NotMedia as exc:
            raise Rejected(FailureCode.NOT_MEDIA, f"media[{item.source_index}]: {exc}") from None
        finally:
            reader.close()

    def put(self, key: str, data: bytes, content_type: str) -> ObjectRef:
        return _ref(self.store.put_bytes(self.work_bucket, key, data, content_type))


_E = TypeVar("_E", bound=EventBase)


class _Outputs(Generic[_E]):
    """Events of one kind, kept for the handler's result and emitted as they come."""

    def __init__(self, kept: list[_E], emit: Emit | None) -> None:
        self.kept, self.emit = kept, emit

    def append(self, event: _E) -> None:
        self.kept.append(event)
        if self.emit is not None:
            self.emit(event)


class _VideoSink:
    """Sampled frames into chunk packs and key frames, over the whole chunk grid or one range of it."""

    def __init__(
        self,
        stage: FramesStage,
        event: _Origin,
        item: StoredMedia,
        out: _Outputs[FrameChunkReady],
        config: FramesConfig,
        span: FrameRange | None = None,
    ) -> None:
        self.stage, self.event, self.out, self.config = stage, event, out, config
        cfg = config
        duration = item.probe.duration_s
        self.chunks = plan_chunks(duration, cfg.chunk_s)
        self.span = span or FrameRange(0, 0, len(self.chunks), 0.0, duration)
        bounds = (self.span.chunk_start, self.span.chunk_end)
        self.writer = ChunkWriter(self.chunks, cfg.chunk_s, cfg.jpeg_quality, self._upload_chunk, bounds)
        questions = [(q.question_id, q.start_s, q.end_s) for q in event.context.questions]
        targets = keyframe_targets(questions, duration, cfg.sample_fps)
        self.keyframes = KeyframePicker(
            owned_targets(targets, *bounds, cfg.chunk_s, len(self.chunks)), self._upload_keyframe
        )
        self.thumb_side = cfg.thumbnail_max_side
        #: The last frame sampled before the span (decoded from the keyframe a range seeks to), not yet used.
        self._before: VideoFrame | None = None
        self._next_jpeg: bytes | None = None
        #: True once a frame past the span has been seen: the rest of the stream is another range's.
        self.done = False

    def add(self, frame: VideoFrame) -> None:
        index = chunk_index(frame.pts_s, self.config.chunk_s, len(self.chunks))
        if index < self.span.chunk_start:
            self._before = frame
            return
        self._prime()
        if index >= self.span.chunk_end:
            self._next_jpeg = self.writer.encode(frame.image)
            self.keyframes.add(frame.pts_s, self._thumbnail(frame.image, self._next_jpeg))
            self.done = True
            return
        jpeg = self.writer.add(frame.pts_s, frame.image)
        self.keyframes.add(frame.pts_s, self._thumbnail(frame.image, jpeg))

    def finish(self) -> None:
        self._prime()
        self.writer.finish(self._next_jpeg)
        self.keyframes.finish()

    def _prime(self) -> None:
        """Hand the frame on screen before the span to the writer and the picker, as a sequential pass has them."""
        if self._before is None:
            return
        frame, self._before = self._before, None
        jpeg = self.writer.encode(frame.image)
        self.writer.hold(jpeg)
        self.keyframes.add(frame.pts_s, self._thumbnail(frame.image, jpeg))

    def _thumbnail(self, image: Image, jpeg: bytes) -> bytes:
        height, width = image.shape[:2]
        if max(height, width) <= self.thumb_side:
            return jpeg
        scale = self.thumb_side / max(height, width)
        size = (max(2, round(width * scale)), max(2, round(height * scale)))
        return encode_jpeg(np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8))

    def _upload_chunk(self, chunk: Chunk, frames: list[PackedFrame], width: int, height: int) -> None:
        event, cfg = self.event, self.config
        end_s = chunk.end_s
        if chunk.index == len(self.chunks) - 1:  # the stream may run a little past the probed duration
            end_s = max(end_s, frames[-1].pts_s + 1.0 / cfg.sample_fps)
        meta = {
            "chunk_index": chunk.index,
            "total_chunks": len(self.chunks),
            "start_s": chunk.start_s,
            "end_s": end_s,
            "sample_fps": cfg.sample_fps,
            "source_event_id": str(event.event_id),
        }
        data = write_pack(frames, width, height, meta)
        ref = self.stage.put(chunk_key(event, chunk.index), data, PACK_CONTENT_TYPE)
        self.out.append(
            FrameChunkReady(
                **derived_envelope(
                    event, StageName.FRAMES.value, FrameChunkReady.EVENT_TYPE, str(chunk.index), producer=PRODUCER
                ),
                context=event.context,
                chunk_index=chunk.index,
                total_chunks=len(self.chunks),
                start_s=frames[0].pts_s,
                end_s=end_s,
                frame_count=len(frames),
                sample_fps=cfg.sample_fps,
                width=width,
                height=height,
                object=ref,
                pack_format=PACK_FORMAT,
            )
        )

    def _upload_keyframe(self, question_id: str, label: str, jpeg: bytes) -> None:
        self.stage.put(keyframe_key(self.event, question_id, label), jpeg, JPEG_CONTENT_TYPE)


class _AudioSink:
    def __init__(self, stage: FramesStage, event: MediaIngested, item: StoredMedia, out: _Outputs[AudioReady]) -> None:
        self.stage, self.event, self.out = stage, event, out
        windows = [Window(q.question_id, q.start_s, q.end_s) for q in event.context.questions]
        duration = item.probe.duration_s
        # without windows the speech stage finds them, and needs the turns whole: one segment
        length = stage.config.segment_s if event.context.questions else untimed_segment_s(duration)
        self.segments = plan_segments(windows, duration, length)
        self.assembler = SegmentAssembler(self.segments)

    def add(self, block: AudioBlock) -> None:
        for segment, samples in self.assembler.feed(block):
            self._upload(segment, samples)

    def finish(self) -> None:
        for segment, samples in self.assembler.finish():
            self._upload(segment, samples)

    def _upload(self, segment: Segment, samples: np.ndarray[tuple[int], np.dtype[np.int16]]) -> None:
        event = self.event
        ref = self.stage.put(segment_key(event, segment.index), wav_bytes(samples), WAV_CONTENT_TYPE)
        self.out.append(
            AudioReady(
                **derived_envelope(
                    event, StageName.FRAMES.value, AudioReady.EVENT_TYPE, str(segment.index), producer=PRODUCER
                ),
                context=event.context,
                segment_index=segment.index,
                total_segments=len(self.segments),
                question_id=segment.question_id,
                start_s=segment.start_s,
                end_s=segment.end_s,
                object=ref,
                format=WAV_FORMAT,
            )
        )


def range_request(
    event: MediaIngested, video: StoredMedia, frame_range: FrameRange, total_ranges: int, config: FramesConfig
) -> FrameRangeRequested:
    """The event asking a frames replica to decode one range of ``video`` (references only, never bytes)."""
    return FrameRangeRequested(
        **derived_envelope(
            event, StageName.FRAMES.value, FrameRangeRequested.EVENT_TYPE, str(frame_range.index), producer=PRODUCER
        ),
        context=event.context,
        media_event_id=event.event_id,
        video=video,
        range_index=frame_range.index,
        total_ranges=total_ranges,
        start_s=frame_range.start_s,
        end_s=frame_range.end_s,
        chunk_start=frame_range.chunk_start,
        chunk_end=frame_range.chunk_end,
        total_chunks=chunk_count(video.probe.duration_s, config.chunk_s),
        chunk_s=config.chunk_s,
        sample_fps=config.sample_fps,
    )


def _log_done(stats: DecodeStats, **counts: int | str) -> None:
    log.info(
        "frames done",
        extra={
            **counts,
            "sampled_frames": stats.sampled_frames,
            "decoded_frames": stats.video_frames,
            "corrupt_packets": stats.corrupt_packets,
            "seek_fallbacks": stats.seek_fallbacks,
            "filled_audio_s": stats.filled_audio_samples / AUDIO_RATE,
        },
    )


def select_sources(event: MediaIngested) -> tuple[StoredMedia | None, StoredMedia | None]:
    """The item to take frames from and the item to take audio from (a separate audio item wins)."""
    video = None
    if MediaFlag.AUDIO_ONLY not in event.flags:
        video = next((m for m in event.media if m.probe.video is not None), None)
    audio = None
    if MediaFlag.VIDEO_ONLY not in event.flags:
        separate = [m for m in event.media if m.kind == MediaKind.AUDIO and m.probe.audio is not None]
        audio = separate[0] if separate else next((m for m in event.media if m.probe.audio is not None), None)
    return video, audio


def permitted_sources(
    event: MediaIngested, video: StoredMedia | None, audio: StoredMedia | None
) -> tuple[StoredMedia | None, StoredMedia | None]:
    """The sources whose extraction is permitted: no frame (chunk or key frame) leaves the recording unless video
    and face analysis are, no audio unless audio analysis or transcription is."""
    permitted = event.context.permitted_analyses
    return (video if may_extract_video(permitted) else None, audio if may_extract_audio(permitted) else None)


def make(settings: Settings) -> FramesStage:
    """Factory for ``sightline worker services.frames.stage:make``; `SIGHTLINE_FRAMES__*` shape the outputs."""
    config = FramesConfig(**settings.frames.model_dump())
    return FramesStage(ObjectStore(settings.s3), settings.s3.work_bucket, config)


__all__ = [
    "FramesConfig",
    "FramesStage",
    "chunk_key",
    "keyframe_key",
    "make",
    "output_prefix",
    "range_request",
    "segment_key",
]
