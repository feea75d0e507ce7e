"""The object-store helper against the real S3 gateway of the local stack."""

from __future__ import annotations

import hashlib
import io
import os
import urllib.request
import uuid

import pytest
from pydantic import SecretStr

from services.common.objectstore import STAGING_PREFIX, ChecksumMismatch, ObjectNotFound, ObjectStore, content_key
from services.common.settings import Settings


class TrickleStream(io.RawIOBase):
    """A non-seekable source of unknown length, like an HTTP download."""

    def __init__(self, data: bytes, chunk: int = 1 << 20) -> None:
        self._data, self._pos, self._chunk = data, 0, chunk
        self.max_read = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self._chunk if n < 0 else n
        self.max_read = max(self.max_read, n)
        out = self._data[self._pos : self._pos + n]
        self._pos += len(out)
        return out


@pytest.fixture(scope="module")
def store(stack_settings: Settings) -> ObjectStore:
    s3 = stack_settings.s3.model_copy(update={"part_size_mb": 5})
    store = ObjectStore(s3)
    store.ensure_buckets()
    return store


def _keys(store: ObjectStore, bucket: str, prefix: str) -> list[str]:
    return store.list_keys(bucket, prefix)


def test_multipart_stream_of_unknown_length_is_stored_verified_and_reads_back(store: ObjectStore) -> None:
    data = os.urandom(12 * 1024 * 1024 + 123)  # three parts of 5 MiB
    bucket = store.settings.raw_bucket
    key = f"tests/{uuid.uuid4().hex}.bin"
    source = TrickleStream(data)
    stored = store.put_stream(bucket, key, source, expected_sha256=hashlib.sha256(data).hexdigest())
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert source.max_read <= 5 * 1024 * 1024 + 1  # memory bounded by the part size (+1 byte to see EOF)
    assert store.size(bucket, key) == len(data)
    assert store.stat(bucket, key).metadata.get("x-amz-meta-sha256") == stored.sha256
    assert store.get_bytes(bucket, key) == data
    assert not [k for k in _keys(store, bucket, STAGING_PREFIX)]


def test_checksum_mismatch_leaves_nothing_behind(store: ObjectStore) -> None:
    bucket = store.settings.raw_bucket
    key = f"tests/{uuid.uuid4().hex}.bin"
    with pytest.raises(ChecksumMismatch, match="sha256 mismatch"):
        store.put_stream(bucket, key, io.BytesIO(b"truncated upload"), expected_sha256="0" * 64)
    assert not store.exists(bucket, key)
    assert not _keys(store, bucket, STAGING_PREFIX)


def test_content_addressed_upload_reuses_equal_content(store: ObjectStore) -> None:
    bucket = store.settings.work_bucket
    data = b"frame pack " + uuid.uuid4().bytes
    first = store.put_content_addressed(bucket, "media", io.BytesIO(data), suffix=".bin")
    second = store.put_content_addressed(bucket, "media", io.BytesIO(data), suffix=".bin")
    assert first.key == second.key == content_key("media", hashlib.sha256(data).hexdigest(), ".bin")
    assert _keys(store, bucket, first.key) == [first.key]
    other = store.put_content_addressed(bucket, "media", io.BytesIO(data + b"!"), suffix=".bin")
    assert other.key != first.key


def test_ranged_reader_seeks_without_downloading_everything(store: ObjectStore) -> None:
    data = bytes(range(256)) * 40_000  # ~10 MB
    bucket = store.settings.work_bucket
    key = f"tests/{uuid.uuid4().hex}.bin"
    store.put_bytes(bucket, key, data)
    assert store.read_range(bucket, key, 1000, 10) == data[1000:1010]
    reader = store.open(bucket, key, buffer_size=64 * 1024)
    reader.seek(-100, io.SEEK_END)
    assert reader.read(100) == data[-100:]
    reader.seek(5_000_000)
    assert reader.read(70_000) == data[5_000_000:5_070_000]
    assert reader.read(0) == b""
    assert reader.requests <= 4  # a handful of ranged GETs, not the whole object


def test_presigned_urls_work_for_plain_http_clients(store: ObjectStore) -> None:
    bucket = store.settings.report_bucket
    key = f"tests/{uuid.uuid4().hex}.html"
    put_url = store.presigned_put(bucket, key, expiry_s=300)
    request = urllib.request.Request(put_url, data=b"<html>report</html>", method="PUT")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    with urllib.request.urlopen(store.presigned_get(bucket, key, expiry_s=300), timeout=10) as response:
        assert response.read() == b"<html>report</html>"


def test_a_missing_object_or_bucket_is_object_not_found(store: ObjectStore) -> None:
    bucket = store.settings.raw_bucket
    with pytest.raises(ObjectNotFound, match="no-such-key"):
        store.get_bytes(bucket, "no-such-key")
    with pytest.raises(ObjectNotFound):
        store.get_bytes(f"no-such-bucket-{uuid.uuid4().hex[:8]}", "key")
    with pytest.raises(ObjectNotFound):
        store.stat(bucket, "no-such-key")
    assert not store.exists(bucket, "no-such-key")


def test_the_pods_identity_replaces_static_keys(
    store: ObjectStore, stack_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`credentials: environment` (the chart with workload identity): no keys in the settings; the client takes
    the identity the pod's environment gives it, here keys in AWS_* variables (IRSA gives a token file instead)."""
    no_keys = stack_settings.s3.model_copy(
        update={"credentials": "environment", "access_key": "unused", "secret_key": SecretStr("unused")}
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", stack_settings.s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", stack_settings.s3.secret_key.get_secret_value())
    key = f"identity/{uuid.uuid4()}"
    ObjectStore(no_keys).put_bytes(no_keys.work_bucket, key, b"as the pod")
    assert store.get_bytes(no_keys.work_bucket, key) == b"as the pod"
    # The static keys of the same settings are not what signed: with keys mode they are refused.
    with pytest.raises(Exception, match=r"InvalidAccessKeyId|SignatureDoesNotMatch|Access Denied"):
        ObjectStore(no_keys.model_copy(update={"credentials": "keys"})).get_bytes(no_keys.work_bucket, key)
