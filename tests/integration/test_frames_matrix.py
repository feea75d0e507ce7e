"""The rest of the bad-media matrix through the real ingest (probe) and frames code: 4K input, corrupt
frames mid-stream and a 2-hour recording. Stages are built by their `make(settings)` factories."""

from __future__ import annotations

import io
import logging
import random
import struct
import subprocess
import uuid
import wave
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from services.common.contracts import (
    AudioReady,
    EventBase,
    FailureCode,
    FrameChunkReady,
    FrameRangeRequested,
    InterviewCompleted,
    MediaIngested,
)
from services.common.handler import Rejected
from services.common.objectstore import ObjectStore
from services.common.settings import Settings
from services.frames import stage as frames_stage
from services.frames.pack import decode_jpeg, read_pack
from services.frames.settings import FramesSettings
from services.ingest import stage as ingest_stage
from services.ingest.settings import IngestSettings
from services.samples import SampleSpec, generate_interview
from tests.integration.stage_fixtures import example
from tests.integration.test_frames import ffmpeg_first_frame

QUESTIONS = [
    {"question_id": "q1", "text": "Tell me about yourself.", "start_s": 0.5, "end_s": 3.0},
    {"question_id": "q2", "text": "Why this job?", "start_s": 3.0, "end_s": 5.5},
    {"question_id": "q3", "text": "Any questions?", "start_s": 5.6, "end_s": 8.0},
]
LONG_S = 7200
LONG_QUESTIONS = [{"question_id": "q1", "text": "Walk me through your career.", "start_s": 0.0, "end_s": LONG_S}]
LONG_CHUNK_S = 60.0


@dataclass(frozen=True)
class Buckets:
    settings: Settings
    store: ObjectStore


@pytest.fixture(scope="module")
def buckets(stack_settings: Settings) -> Buckets:
    """Settings with private raw and work buckets, both created."""
    suffix = uuid.uuid4().hex[:10]
    s3 = stack_settings.s3.model_copy(update={"raw_bucket": f"raw-{suffix}", "work_bucket": f"work-{suffix}"})
    settings = stack_settings.model_copy(update={"s3": s3})
    store = ObjectStore(s3)
    store.ensure_buckets()
    return Buckets(settings, store)


def completed(
    path: Path, duration_s: float, *, kind: str = "video_with_audio", questions: list[dict[str, Any]] = QUESTIONS
) -> InterviewCompleted:
    data: dict[str, Any] = example("interview-completed")
    data.update(
        interview_id=f"mx-{path.stem}-{uuid.uuid4().hex[:8]}",
        event_id=str(uuid.uuid4()),
        media=[{"uri": f"file://{path}", "kind": kind, "content_type": "video/mp4"}],
        questions=questions,
    )
    event = InterviewCompleted.model_validate(data)
    return event.model_copy(update={"interview_ended_at": event.interview_started_at + timedelta(seconds=duration_s)})


def with_frames(buckets: Buckets, **frames: Any) -> Settings:
    return buckets.settings.model_copy(update={"frames": FramesSettings(**frames)})


def run_frames(settings: Settings, event: MediaIngested) -> tuple[list[FrameChunkReady], list[AudioReady]]:
    """The frames stage's outputs for one media event, its frame ranges (a long recording's) processed too."""
    stage = frames_stage.make(settings)
    outputs: list[EventBase] = stage.process(event)
    for request in [e for e in outputs if isinstance(e, FrameRangeRequested)]:
        outputs += stage.process_range(request)
    chunks = [e for e in outputs if isinstance(e, FrameChunkReady)]
    audio = sorted((e for e in outputs if isinstance(e, AudioReady)), key=lambda a: a.segment_index)
    return chunks, audio


def wav_samples(store: ObjectStore, event: AudioReady) -> npt.NDArray[np.int16]:
    with wave.open(io.BytesIO(store.get_bytes(event.object.bucket, event.object.key))) as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")


def lavfi_video(path: Path, video: str, *extra: str, audio: str | None = None) -> Path:
    """A synthetic H.264 video (AAC audio if an audio source is given) from ffmpeg's test sources, encoded
    as fast as ffmpeg can."""
    inputs = ["-f", "lavfi", "-i", video, *(["-f", "lavfi", "-i", audio] if audio else [])]
    encode = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", *extra]
    if audio:
        encode += ["-c:a", "aac", "-shortest"]
    subprocess.run(["ffmpeg", "-v", "error", "-y", *inputs, *encode, str(path)], check=True)
    return path


def test_4k_input_is_scaled_to_the_max_side_with_its_aspect(buckets: Buckets, tmp_path: Path) -> None:
    # ffmpeg's test pattern rather than a generated interview: compositing 4K scenes is far slower.
    duration = 5.0
    path = lavfi_video(tmp_path / "uhd.mp4", f"testsrc2=size=3840x2160:rate=5:duration={duration:g}")
    ingested = ingest_stage.make(buckets.settings).ingest(completed(path, duration, kind="video"))
    probe = ingested.media[0].probe
    assert probe.video is not None and (probe.video.width, probe.video.height) == (3840, 2160)

    chunks, _ = run_frames(with_frames(buckets, max_side=640), ingested)
    assert [c.chunk_index for c in chunks] == [0, 1] and all(c.total_chunks == 2 for c in chunks)
    store = buckets.store
    for chunk in chunks:
        assert (chunk.width, chunk.height) == (640, 360)  # 3840x2160 is 16:9, so is 640x360
        pack = read_pack(store.get_bytes(chunk.object.bucket, chunk.object.key))
        assert all(frame.shape == (360, 640, 3) for frame in pack.frames)
    first = read_pack(store.get_bytes(chunks[0].object.bucket, chunks[0].object.key)).frames[0]
    assert np.abs(first.astype(int) - ffmpeg_first_frame(path, 640, 360).astype(int)).mean() < 8

    keys = set(store.list_keys(buckets.settings.s3.work_bucket, frames_stage.output_prefix(ingested)))
    for question in ("q1", "q2"):  # q3 starts after the 5 s recording ended: no key frames
        for label in ("start", "middle", "end"):
            key = frames_stage.keyframe_key(ingested, question, label)
            assert key in keys
            assert decode_jpeg(store.get_bytes(buckets.settings.s3.work_bucket, key)).shape == (180, 320, 3)
    assert not any("/keyframes/q3-" in k for k in keys)


def damaged_copy(path: Path, out: Path, start: float = 0.35, end: float = 0.55) -> Path:
    """The file with random bytes written into the media data between two fractions of it; the index at
    the front (moov) is untouched, so the container still opens and describes every packet."""
    data = bytearray(path.read_bytes())
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"mdat":
            break
        pos += size
    else:
        raise AssertionError(f"{path} has no mdat box")
    rng = random.Random(3)
    for offset in range(pos + 8 + int(size * start), pos + 8 + int(size * end), 4096):
        data[offset : offset + 512] = rng.randbytes(512)
    out.write_bytes(bytes(data))
    return out


def test_corrupt_frames_mid_stream_are_skipped_and_the_rest_is_decoded(
    buckets: Buckets, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = SampleSpec(seed=22, duration=8.0, fps=10)
    clean_path = generate_interview(spec, tmp_path, name="clean").media_path
    corrupt_path = damaged_copy(clean_path, tmp_path / "corrupt.mp4")
    ingest = ingest_stage.make(buckets.settings)
    clean = ingest.ingest(completed(clean_path, spec.duration))
    corrupt = ingest.ingest(completed(corrupt_path, spec.duration))
    assert corrupt.media[0].probe == clean.media[0].probe  # the probe reads the index, not the damaged data

    settings = with_frames(buckets)
    clean_chunks, clean_audio = run_frames(settings, clean)
    with caplog.at_level(logging.INFO, logger="services.frames.stage"):
        chunks, audio = run_frames(settings, corrupt)
    [done] = [r for r in caplog.records if r.getMessage() == "frames done"]
    # Undecodable packets are counted and skipped; the audio they held becomes silence of the same length.
    assert vars(done)["corrupt_packets"] > 0
    assert 0 < vars(done)["filled_audio_s"] < 2.0

    total = len(clean_chunks)
    assert [c.chunk_index for c in chunks] == list(range(total)) and all(c.total_chunks == total for c in chunks)
    store = buckets.store
    packs = [read_pack(store.get_bytes(c.object.bucket, c.object.key)) for c in chunks]
    clean_packs = [read_pack(store.get_bytes(c.object.bucket, c.object.key)) for c in clean_chunks]
    assert sum(len(p.frames) for p in packs) < sum(len(p.frames) for p in clean_packs)  # frames were lost
    # After the damage the decoder recovers: the last chunk carries its own frames, as in the clean file.
    last, clean_last = packs[-1], clean_packs[-1]
    assert last.timestamps[-1] == clean_last.timestamps[-1] and len(last.frames) > 1
    assert np.abs(last.frames[-1].astype(int) - clean_last.frames[-1].astype(int)).mean() < 4

    # Every audio segment is there, as long as its window, and the audio after the damage keeps its time.
    assert [(a.question_id, a.start_s, a.end_s) for a in audio] == [
        (a.question_id, a.start_s, a.end_s) for a in clean_audio
    ]
    for segment, clean_segment in zip(audio, clean_audio, strict=True):
        assert wav_samples(store, segment).size == wav_samples(store, clean_segment).size
    after, clean_after = wav_samples(store, audio[-1]), wav_samples(store, clean_audio[-1])
    assert audio[-1].start_s > 5.0 and np.abs(clean_after).max() > 1000  # speech, after the damage
    assert np.abs(after.astype(int) - clean_after.astype(int)).mean() < 0.01 * np.abs(clean_after).mean()


@pytest.fixture(scope="module")
def two_hours(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cheap 2-hour video: a test pattern at 1 fps, 160x120, no audio."""
    path = tmp_path_factory.mktemp("long") / "two-hours.mp4"
    return lavfi_video(path, f"testsrc=size=160x120:rate=1:duration={LONG_S}", "-g", "60")


def test_a_2_hour_input_gives_every_chunk_of_its_manifest(buckets: Buckets, two_hours: Path) -> None:
    ingested = ingest_stage.make(buckets.settings).ingest(
        completed(two_hours, LONG_S, kind="video", questions=LONG_QUESTIONS)
    )
    assert ingested.media[0].probe.duration_s == pytest.approx(LONG_S, abs=1)
    assert "video_only" in ingested.flags

    settings = with_frames(buckets, chunk_s=LONG_CHUNK_S)
    assert settings.frames.split_above_s < LONG_S  # decoded in ranges, as several replicas would
    chunks, audio = run_frames(settings, ingested)
    assert audio == []
    total = int(LONG_S / LONG_CHUNK_S)
    assert sorted(c.chunk_index for c in chunks) == list(range(total))
    for c in chunks:
        assert c.total_chunks == total
        assert (c.start_s, c.end_s) == (c.chunk_index * LONG_CHUNK_S, (c.chunk_index + 1) * LONG_CHUNK_S)
        assert c.frame_count == LONG_CHUNK_S  # one frame per second of the source
    work = buckets.settings.s3.work_bucket
    stored = buckets.store.list_keys(work, f"{frames_stage.output_prefix(ingested)}/chunks/")
    assert sorted(stored) == sorted(c.object.key for c in chunks)
    middle = chunks[total // 2 + 7]
    pack = read_pack(buckets.store.get_bytes(work, middle.object.key))
    assert pack.timestamps == [middle.start_s + i for i in range(int(LONG_CHUNK_S))]


def test_a_2_hour_input_is_over_a_1_hour_duration_limit(buckets: Buckets, two_hours: Path) -> None:
    settings = buckets.settings.model_copy(update={"ingest": IngestSettings(max_duration_s=3600)})
    event = completed(two_hours, LONG_S, kind="video", questions=LONG_QUESTIONS)
    with pytest.raises(Rejected) as rejected:
        ingest_stage.make(settings).ingest(event)
    assert rejected.value.code == FailureCode.OVER_LIMITS and "7200 s" in rejected.value.message
    assert buckets.store.list_keys(settings.s3.raw_bucket, f"{event.tenant_id}/{event.interview_id}/") == []
