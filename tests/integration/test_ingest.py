"""The ingest stage in the real worker loop against the session stack: good media, a bad-media matrix and sources
the tenant may not read."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from services.common.contracts import (
    CompetencyModelRef,
    InterviewCompleted,
    MediaIngested,
    StageStatus,
    dead_letter_topic,
    decode,
    encode,
    message_key,
    topic_for,
)
from services.common.objectstore import STAGING_PREFIX, ObjectStore
from services.common.settings import Settings
from services.common.worker import StageWorker
from services.ingest.sources import SourcePolicy, SourceRules
from services.ingest.stage import IngestStage, local_file_roots, media_prefix
from services.samples import SampleSpec, generate_interview
from tests.integration.kafka_helpers import (
    create_topics,
    isolated,
    publish,
    read_topic,
    terminal_statuses,
)
from tests.integration.stage_fixtures import example

IN = topic_for(InterviewCompleted)
OUT = topic_for(MediaIngested)
STATUS = topic_for(StageStatus)
DLQ = dead_letter_topic("ingest")
DURATION_S = 6.0


@dataclass(frozen=True)
class Samples:
    good: Path
    audio_only: Path
    video_only: Path
    empty: Path
    truncated: Path
    random: Path


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Samples:
    out = tmp_path_factory.mktemp("ingest-samples")
    good = generate_interview(SampleSpec(seed=5, duration=DURATION_S, fps=10), out, name="good").media_path
    audio = generate_interview(SampleSpec(seed=5, duration=DURATION_S, video=False), out, name="audio").media_path
    video = generate_interview(SampleSpec(seed=5, duration=DURATION_S, fps=10, audio=False), out, name="video")
    empty = out / "empty.mp4"
    empty.write_bytes(b"")
    truncated = out / "truncated.mp4"
    data = good.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    noise = out / "random.mp4"
    noise.write_bytes(random.Random(7).randbytes(64 * 1024))
    return Samples(good, audio, video.media_path, empty, truncated, noise)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def interview(
    interview_id: str, media: list[dict[str, Any]], *, granted: bool = True, tenant: str = "acme-eu"
) -> InterviewCompleted:
    data: dict[str, Any] = example("interview-completed")
    data.update(interview_id=interview_id, event_id=str(uuid.uuid4()), media=media, tenant_id=tenant)
    data["consent"]["granted"] = granted
    data["questions"] = [
        {"question_id": "q1", "text": "Tell me about yourself.", "start_s": 0.5, "end_s": 3.0},
        {"question_id": "q2", "text": "Why this job?", "start_s": 3.0, "end_s": 5.5},
    ]
    event = InterviewCompleted.model_validate(data)
    return event.model_copy(update={"interview_ended_at": event.interview_started_at + timedelta(seconds=DURATION_S)})


def unknown_model(event: InterviewCompleted) -> InterviewCompleted:
    """The event naming a competency model that is not shipped (it would be scored with no weights at all)."""
    job = event.job.model_copy(
        update={"competency_model": CompetencyModelRef(id="cm-data-engineering", version="2025.1")}
    )
    return event.model_copy(update={"job": job})


def no_notice(event: InterviewCompleted) -> InterviewCompleted:
    """The event whose consent record shows no notice before the interview (which the EU asks for)."""
    return event.model_copy(update={"consent": event.consent.model_copy(update={"notice_given_at": None})})


def item(
    path: Path | str, kind: str = "video_with_audio", content_type: str = "video/mp4", **extra: Any
) -> dict[str, Any]:
    return {"uri": f"file://{path}", "kind": kind, "content_type": content_type, **extra}


async def test_good_media_and_the_bad_media_matrix(stack_settings: Settings, samples: Samples) -> None:
    settings = isolated(stack_settings)
    await create_topics(settings.kafka, [IN, OUT, STATUS, DLQ])
    bucket = f"raw-{uuid.uuid4().hex[:12]}"
    store = ObjectStore(settings.s3)
    source_bucket = f"src-{uuid.uuid4().hex[:12]}"
    store.ensure_bucket(source_bucket)
    store.put_file(source_bucket, "incoming/good.mp4", samples.good, content_type="video/mp4")
    store.put_file(source_bucket, "elsewhere/good.mp4", samples.good, content_type="video/mp4")
    # acme-eu may read one prefix of the source bucket, and one loopback address (to see a retry)
    sources = SourcePolicy(
        tenants={
            "acme-eu": SourceRules.parse(
                s3=[f"{source_bucket}/incoming/"], http_hosts=["127.0.0.1:1", "127.0.0.2:1"], networks=["127.0.0.1/32"]
            )
        },
        file_roots=local_file_roots(),
    )
    s3_item = {**item(samples.good), "uri": f"s3://{source_bucket}/incoming/good.mp4"}
    good_sha = sha256_of(samples.good)
    good_size = samples.good.stat().st_size
    good = interview(
        "iv-good",
        [item(samples.good, size_bytes=good_size, checksum={"algorithm": "sha256", "value": good_sha})],
    )
    events = [
        good,
        good,  # a duplicate delivery of the same event
        interview("iv-audio-only", [item(samples.audio_only, kind="audio", content_type="audio/mp4")]),
        interview("iv-video-only", [item(samples.video_only, kind="video")]),
        interview("iv-empty", [item(samples.empty)]),
        interview("iv-truncated", [item(samples.truncated)]),
        interview("iv-random", [item(samples.random)]),
        interview("iv-no-consent", [item(samples.good)], granted=False),
        no_notice(interview("iv-no-notice", [item(samples.good)])),
        unknown_model(interview("iv-unknown-model", [item(samples.good)])),
        interview("iv-checksum", [item(samples.good, checksum={"algorithm": "sha256", "value": "0" * 64})]),
        interview("iv-missing", [item(samples.good.parent / "does-not-exist.mp4")]),
        interview("iv-too-large", [item(samples.good, size_bytes=5 * 1024**3)]),
        interview("iv-s3", [s3_item]),
        interview("iv-unreachable-host", [{**item(samples.good), "uri": "https://127.0.0.1:1/recording.mp4"}]),
        # sources the tenant may not read: refused with the reason, nothing fetched
        interview("iv-s3-other-prefix", [{**s3_item, "uri": f"s3://{source_bucket}/elsewhere/good.mp4"}]),
        interview("iv-s3-other-tenant", [s3_item], tenant="globex"),
        interview("iv-s3-own-bucket", [{**s3_item, "uri": f"s3://{bucket}/globex/iv/media/x.mp4"}]),
        interview("iv-loopback-host", [{**item(samples.good), "uri": "https://127.0.0.2:1/recording.mp4"}]),
        interview("iv-metadata-host", [{**item(samples.good), "uri": "https://169.254.169.254/latest/"}]),
    ]
    await publish(settings.kafka, IN, [(message_key(e), encode(e)) for e in events])

    worker = StageWorker(IngestStage(store, bucket, sources=sources), settings, group_id="g-ingest")
    task = asyncio.create_task(worker.run())
    try:
        status_records = await read_topic(
            settings.kafka, STATUS, lambda r: len(terminal_statuses(r)) >= len(events), 180
        )
    finally:
        worker.stop()
        await asyncio.wait_for(task, 60)

    final = terminal_statuses(status_records)
    outcome = {s.interview_id: (s.state.value, s.reason.code if s.reason else None) for s in final}
    assert outcome == {
        "iv-good": ("completed", None),
        "iv-audio-only": ("completed", None),
        "iv-video-only": ("completed", None),
        "iv-empty": ("failed", "truncated_media"),
        "iv-truncated": ("failed", "truncated_media"),
        "iv-random": ("failed", "not_media"),
        "iv-no-consent": ("failed", "no_consent"),
        "iv-no-notice": ("failed", "no_notice"),
        "iv-unknown-model": ("failed", "competency_model_unknown"),
        "iv-checksum": ("failed", "checksum_mismatch"),
        "iv-missing": ("failed", "unreachable_source"),
        "iv-too-large": ("failed", "over_limits"),
        "iv-s3": ("completed", None),
        "iv-unreachable-host": ("failed", "transient_error"),  # retried, then dead-lettered
        "iv-s3-other-prefix": ("failed", "policy_forbids"),
        "iv-s3-other-tenant": ("failed", "policy_forbids"),
        "iv-s3-own-bucket": ("failed", "policy_forbids"),
        "iv-loopback-host": ("failed", "policy_forbids"),
        "iv-metadata-host": ("failed", "policy_forbids"),
    }
    reasons = {s.interview_id: s.reason.message for s in final if s.reason is not None}
    assert "is not under a bucket or prefix tenant acme-eu allows" in reasons["iv-s3-other-prefix"]
    assert "tenant globex allows" in reasons["iv-s3-other-tenant"]
    assert "Sightline's own buckets" in reasons["iv-s3-own-bucket"]
    assert "127.0.0.2 resolves to 127.0.0.2" in reasons["iv-loopback-host"]
    assert "169.254.169.254:443 is not a host" in reasons["iv-metadata-host"]
    assert sum(1 for s in final if s.interview_id == "iv-good") == 2  # both deliveries were handled
    [unknown] = [s for s in final if s.interview_id == "iv-unknown-model"]
    assert unknown.reason is not None and "cm-data-engineering@2025.1" in unknown.reason.message

    out_records = await read_topic(settings.kafka, OUT, lambda r: len(r) >= 5)
    outputs = [e for e in (decode(OUT, r.value) for r in out_records) if isinstance(e, MediaIngested)]
    by_id: dict[str, list[MediaIngested]] = {}
    for o in outputs:
        by_id.setdefault(o.interview_id, []).append(o)
    assert sorted(by_id) == ["iv-audio-only", "iv-good", "iv-s3", "iv-video-only"]

    # Both deliveries of the same event give the same output event and the same single stored object.
    first, second = by_id["iv-good"]
    assert first.event_id == second.event_id and first.caused_by == good.event_id
    assert first.media == second.media
    [stored] = first.media
    probe = stored.probe
    assert probe.duration_s == pytest.approx(DURATION_S, abs=0.2)
    assert probe.video is not None and (probe.video.width, probe.video.height) == (640, 480)
    assert probe.audio is not None and probe.container == "mp4"
    assert first.flags == []
    assert first.context.source_event_id == good.event_id
    assert "emotion_inference" not in first.context.permitted_analyses  # IE is under EU law
    assert stored.object.bucket == bucket and stored.object.sha256 == good_sha and stored.object.size_bytes == good_size
    assert stored.object.key.startswith(media_prefix("acme-eu", "iv-good") + "/")
    assert hashlib.sha256(store.get_bytes(bucket, stored.object.key)).hexdigest() == good_sha
    assert store.list_keys(bucket, media_prefix("acme-eu", "iv-good")) == [stored.object.key]

    [from_s3] = by_id["iv-s3"]
    assert from_s3.media[0].object.sha256 == good_sha and from_s3.media[0].probe == probe

    [audio_only] = by_id["iv-audio-only"]
    assert audio_only.flags == ["audio_only"] and audio_only.media[0].probe.video is None
    [video_only] = by_id["iv-video-only"]
    assert video_only.flags == ["video_only"] and video_only.media[0].probe.audio is None

    # Rejected media never reached the bucket, and no staged upload was left behind.
    stored_keys = store.list_keys(bucket)
    assert len(stored_keys) == 4
    assert not [k for k in stored_keys if k.startswith(STAGING_PREFIX)]
    assert all(json.loads(r.value)["interview_id"] in by_id for r in out_records)
    letters = await read_topic(settings.kafka, DLQ, lambda r: len(r) >= 1)
    assert {json.loads(r.value)["interview_id"] for r in letters} == {"iv-unreachable-host"}
