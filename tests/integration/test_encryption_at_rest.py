"""Encryption at rest on the local S3 gateway: per-interview data keys wrapped by a key-encryption key kept
outside the store, sealed per-frame data, and crypto-shredding by destroying an interview's keys."""

from __future__ import annotations

import hashlib
import io
import stat
import uuid
from pathlib import Path

import pytest

from services.analyse.progress import StatusFeed, Tracker
from services.common.contracts import ProfileReady, StageStatus, encode, message_key, topic_for
from services.common.envelope import (
    EncryptionError,
    KeyErased,
    create_kek_file,
    is_sealed,
    is_sealed_stream,
    load_kek,
)
from services.common.kafka import create_producer, physical_topic
from services.common.objectstore import ObjectStore
from services.common.sealing import sealer_for
from services.common.settings import Settings
from services.common.stack import StackPaths
from services.erasure.settings import RETENTION_CEILING_DAYS
from tests.integration.kafka_helpers import create_topics
from tests.integration.stage_fixtures import example

PACK = b"PK\x03\x04" + bytes(range(256)) * 4096  # a 1 MiB frame pack, as far as the store is concerned


@pytest.fixture
def settings(stack_settings: Settings, tmp_path: Path) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    kek = create_kek_file(tmp_path / "kek")
    s3 = stack_settings.s3.model_copy(
        update={
            "raw_bucket": f"raw-{suffix}",
            "work_bucket": f"work-{suffix}",
            "report_bucket": f"rep-{suffix}",
            "keys_bucket": f"keys-{suffix}",
            "kek_ref": f"file:{kek}",
        }
    )
    settings = stack_settings.model_copy(update={"s3": s3})
    ObjectStore(settings.s3).ensure_buckets()
    return settings


def raw(store: ObjectStore, bucket: str, key: str) -> bytes:
    return bytes(store.client.get_object(bucket, key).read())


def test_per_frame_data_is_sealed_at_rest_and_opens_for_the_pipeline(settings: Settings) -> None:
    store = ObjectStore(settings.s3)
    work = settings.s3.work_bucket
    key = "acme/iv-1/frames/e1/chunks/000000.zip"
    stored = store.put_bytes(work, key, PACK)
    at_rest = raw(store, work, key)
    assert is_sealed(at_rest) and PACK[:4096] not in at_rest
    assert stored.size == len(PACK)  # the reference describes the plain pack
    assert ObjectStore(settings.s3).get_bytes(work, key) == PACK  # another process opens it
    # Reports stay plain (the HR system reads them through presigned links); so does what is not interview data.
    store.put_bytes(settings.s3.report_bucket, "acme/iv-1/report/profile-v1.html", b"<html>")
    assert raw(store, settings.s3.report_bucket, "acme/iv-1/report/profile-v1.html") == b"<html>"
    store.put_bytes(work, "fusion-pending/acme/iv-1/p0", b"{}")
    assert raw(store, work, "fusion-pending/acme/iv-1/p0") == b"{}"
    # The data key is stored only wrapped: the keys bucket holds one small record per key, no plain key.
    [key_object] = store.list_keys(settings.s3.keys_bucket)
    assert key_object.startswith("acme/iv-1/") and key_object.endswith(".key")


def test_writers_in_other_processes_share_the_interviews_key(settings: Settings) -> None:
    first, second = ObjectStore(settings.s3), ObjectStore(settings.s3)
    work = settings.s3.work_bucket
    # The second writer finds the key the first created (racing writers each store their own under its own id,
    # and never overwrite one, so whatever either sealed stays readable).
    assert first.keyring is not None and second.keyring is not None
    a = first.keyring.key_for_writing("acme", "iv-race")
    b = second.keyring.key_for_writing("acme", "iv-race")
    first.put_bytes(work, "acme/iv-race/vision/x/timeline/000000.parquet", b"first timeline")
    second.put_bytes(work, "acme/iv-race/vision/x/timeline/000001.parquet", b"second timeline")
    reader = ObjectStore(settings.s3)
    assert reader.get_bytes(work, "acme/iv-race/vision/x/timeline/000000.parquet") == b"first timeline"
    assert reader.get_bytes(work, "acme/iv-race/vision/x/timeline/000001.parquet") == b"second timeline"
    assert a == b


def test_destroying_an_interviews_keys_shreds_its_data_and_only_its_data(settings: Settings) -> None:
    store = ObjectStore(settings.s3)
    work = settings.s3.work_bucket
    store.put_bytes(work, "acme/iv-gone/frames/e/audio/000000.wav", b"RIFF answer audio")
    store.put_bytes(work, "acme/iv-kept/frames/e/audio/000000.wav", b"RIFF other audio")
    assert store.keyring is not None
    assert store.keyring.destroy("acme", "iv-gone") == 1
    fresh = ObjectStore(settings.s3)  # no cached key
    with pytest.raises(KeyErased, match="iv-gone"):
        fresh.get_bytes(work, "acme/iv-gone/frames/e/audio/000000.wav")
    assert fresh.get_bytes(work, "acme/iv-kept/frames/e/audio/000000.wav") == b"RIFF other audio"


def test_sealed_data_needs_the_key_encryption_key(settings: Settings, tmp_path: Path) -> None:
    store = ObjectStore(settings.s3)
    work = settings.s3.work_bucket
    store.put_bytes(work, "acme/iv-2/fusion/manifest.json", b'{"chunks": 3}')
    without = ObjectStore(settings.s3.model_copy(update={"kek_ref": None}))
    with pytest.raises(EncryptionError, match="no key-encryption key"):
        without.get_bytes(work, "acme/iv-2/fusion/manifest.json")
    other = ObjectStore(settings.s3.model_copy(update={"kek_ref": f"file:{create_kek_file(tmp_path / 'other')}"}))
    with pytest.raises(EncryptionError, match="not wrapped by this KEK"):
        other.get_bytes(work, "acme/iv-2/fusion/manifest.json")


def test_a_store_without_lifecycle_rules_is_told_and_the_buckets_still_work(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """The local gateway implements no lifecycle rules: the expiry backstop says so instead of failing (on S3 or
    MinIO the rule is set; there, the retention schedule and the keys' expiry are not the only backstop)."""
    store = ObjectStore(settings.s3)
    with caplog.at_level("WARNING"):
        assert store.expire_after(settings.s3.work_bucket, RETENTION_CEILING_DAYS) is False
    assert "lifecycle" in caplog.text
    store.ensure_buckets()  # does not fail for it
    store.put_bytes(settings.s3.work_bucket, "acme/iv-4/fusion/x.json", b"{}")
    assert store.get_bytes(settings.s3.work_bucket, "acme/iv-4/fusion/x.json") == b"{}"


def test_a_recording_is_sealed_as_it_streams_in_and_reads_back_with_seeks(settings: Settings) -> None:
    store = ObjectStore(settings.s3)
    raw_bucket = settings.s3.raw_bucket
    recording = bytes(range(251)) * 12_000  # ~3 MiB: several sealed segments
    stored = store.put_content_addressed(
        raw_bucket, "acme/iv-3/media", io.BytesIO(recording), suffix=".mp4", length=len(recording)
    )
    assert stored.size == len(recording) and stored.sha256 == hashlib.sha256(recording).hexdigest()
    head = raw(store, raw_bucket, stored.key)[:4096]
    assert is_sealed_stream(head) and recording[:4096] not in raw(store, raw_bucket, stored.key)
    reader = store.open(raw_bucket, stored.key)
    assert reader.seek(0, io.SEEK_END) == len(recording)  # the decoder sees the plain size
    reader.seek(2_000_000)
    assert reader.read(100_000) == recording[2_000_000:2_100_000]  # across a segment boundary
    reader.seek(0)
    assert reader.read() == recording
    assert store.keyring is not None
    store.keyring.destroy("acme", "iv-3")
    with pytest.raises(KeyErased):
        ObjectStore(settings.s3).open(raw_bucket, stored.key)


def test_the_local_stack_keeps_a_key_encryption_key_apart_from_the_data(stack_settings: Settings) -> None:
    paths = StackPaths.from_settings(stack_settings)
    assert paths.kek.is_file() and stat.S_IMODE(paths.kek.stat().st_mode) == 0o600
    assert len(load_kek(f"file:{paths.kek}")) == 32
    assert not paths.kek.is_relative_to(paths.s3_dir)  # not inside the gateway's storage


async def test_the_progress_feed_opens_sealed_statuses_and_skips_erased_ones(settings: Settings) -> None:
    """`make demo` and `sightline analyse` follow the stages' statuses, which are sealed when encryption is on."""
    settings = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"topic_prefix": f"feed{uuid.uuid4().hex[:8]}."})}
    )
    status_topic = topic_for(StageStatus)
    await create_topics(settings.kafka, [status_topic, topic_for(ProfileReady)], partitions=1)
    sealer = sealer_for(settings)
    assert sealer is not None
    producer = create_producer(settings.kafka, "feed-test")
    await producer.start()
    try:
        for interview in ("iv-kept", "iv-erased"):
            status = StageStatus.model_validate(
                {**example("stage-status"), "interview_id": interview, "event_id": str(uuid.uuid4())}
            )
            sealed = await sealer.seal(status_topic, status, encode(status))
            assert is_sealed(sealed)
            await producer.send_and_wait(physical_topic(settings.kafka, status_topic), sealed, key=message_key(status))
    finally:
        await producer.stop()
    keyring = ObjectStore(settings.s3).keyring
    assert keyring is not None and keyring.destroy("acme-eu", "iv-erased") >= 1
    tracker = Tracker(["iv-kept", "iv-erased"])
    async with StatusFeed(settings, tracker, since_ms=0) as feed:
        for _ in range(40):
            await feed.poll(timeout_ms=250)
            if tracker.counts("iv-kept", "frames")[0]:
                break
    assert tracker.counts("iv-kept", "frames") == (1, 1, False)
    assert tracker.counts("iv-kept", "vision")[1] == 14  # the manifest, read from the opened status
    assert tracker.counts("iv-erased", "frames")[0] == 0
