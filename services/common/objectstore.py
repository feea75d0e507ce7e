"""Object storage (S3 / MinIO API): streaming uploads with sha256, content-addressed keys, ranged reads.

Memory stays bounded by the multipart part size whatever the object size: uploads read the source
part by part, downloads and reads go through ranged GETs.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

import urllib3
from minio import Minio
from minio.commonconfig import ENABLED, ComposeSource, CopySource, Filter
from minio.credentials.providers import ChainedProvider, EnvAWSProvider, IamAwsProvider
from minio.error import S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

from services.common.envelope import (
    DataKey,
    EncryptionError,
    Keyring,
    SealingReader,
    StreamLayout,
    is_sealed,
    is_sealed_stream,
    load_kek,
    sealed_stream_size,
)
from services.common.settings import S3Settings

log = logging.getLogger(__name__)

STAGING_PREFIX = "_staging/"


def staging_prefix(tenant: str, interview: str) -> str:
    """Where an interview's uploads are staged before they get their key: named by tenant and interview, so an
    upload left by a worker that died mid-copy is erased with the interview (and the orphan sweep finds it)."""
    return f"{STAGING_PREFIX}{tenant}/{interview}/"


#: Keys of one interview's media and per-frame data: ``<tenant>/<interview>/<area>/...``. With a key-encryption
#: key configured, such objects in the raw and work buckets are sealed with the interview's data key: whole by
#: `put_bytes`, segment by segment by the streaming uploads (recordings), and opened again by `get_bytes` and
#: `open`. Reports stay plain: the HR system reads them through presigned links (erasure deletes them).
INTERVIEW_DATA = re.compile(r"^(?P<tenant>[^/]+)/(?P<interview>[^/]+)/(?:media|frames|vision|speech|fusion)/")


class ChecksumMismatch(ValueError):
    """The bytes stored are not the bytes the sender announced."""


_MISSING = frozenset({"NoSuchKey", "NoSuchObject", "NoSuchBucket"})


@contextlib.contextmanager
def _not_found_as(bucket: str, key: str) -> Iterator[None]:
    """S3's "no such key/bucket" errors as `ObjectNotFound`, so callers need not know S3 error codes."""
    try:
        yield
    except S3Error as exc:
        if exc.code in _MISSING:
            raise ObjectNotFound(f"s3://{bucket}/{key}") from exc
        raise


class ObjectNotFound(FileNotFoundError):
    pass


@dataclass(frozen=True)
class StoredObject:
    bucket: str
    key: str
    size: int
    sha256: str
    content_type: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def content_key(prefix: str, sha256: str, suffix: str = "") -> str:
    """`prefix/sha256/ab/abcdef...suffix`: equal content gets one key; the fan-out keeps listings small."""
    prefix = prefix.strip("/")
    return f"{prefix + '/' if prefix else ''}sha256/{sha256[:2]}/{sha256}{suffix}"


class _HashingReader(io.RawIOBase):
    """Wraps a stream, hashing and counting what the uploader reads from it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data


def _credentials(settings: S3Settings) -> dict[str, Any]:
    """Static keys, or the pod's cloud identity: keys in the environment first, else IRSA's web identity token or
    the instance's role (IamAwsProvider follows AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN), refreshed as they
    expire."""
    if settings.credentials == "environment":
        return {"credentials": ChainedProvider([EnvAWSProvider(), IamAwsProvider()])}
    return {"access_key": settings.access_key, "secret_key": settings.secret_key.get_secret_value()}


class ObjectStore:
    def __init__(self, settings: S3Settings, client: Minio | None = None) -> None:
        self.settings = settings
        self.part_size = settings.part_size_mb * 1024 * 1024
        self.client = client or Minio(
            settings.endpoint,
            **_credentials(settings),
            secure=settings.secure,
            region=settings.region,
            http_client=urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=5, read=120),
                maxsize=16,
                retries=urllib3.Retry(total=5, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
                cert_reqs="CERT_REQUIRED",
                ca_certs=settings.ca_file,
            ),
        )
        self.keyring: Keyring | None = (
            Keyring(_KeyObjects(self), settings.keys_bucket, load_kek(settings.kek_ref)) if settings.kek_ref else None
        )

    # ---- buckets ------------------------------------------------------------------------------

    def ensure_bucket(self, bucket: str) -> None:
        if not self.client.bucket_exists(bucket):
            try:
                self.client.make_bucket(bucket)
            except S3Error as exc:  # a concurrent creator won
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    def ensure_buckets(self) -> None:
        for bucket in self.buckets():
            self.ensure_bucket(bucket)
            if self.settings.lifecycle_days:
                self.expire_after(bucket, self.settings.lifecycle_days)

    def expire_after(self, bucket: str, days: int) -> bool:
        """A lifecycle rule deleting objects ``days`` after they were written: the backstop of the retention
        schedule (services.erasure). False, with a warning, where the store does not support lifecycle rules."""
        rule = Rule(
            ENABLED, rule_filter=Filter(prefix=""), rule_id="sightline-retention", expiration=Expiration(days=days)
        )
        try:
            self.client.set_bucket_lifecycle(bucket, LifecycleConfig([rule]))
        except S3Error as exc:
            log.warning(
                "the object store refused a lifecycle rule; only the retention schedule expires objects",
                extra={"bucket": bucket, "code": exc.code},
            )
            return False
        return True

    def buckets(self) -> tuple[str, ...]:
        """Every bucket Sightline keeps candidate data in (the keys bucket only when encryption is on)."""
        s = self.settings
        return (s.raw_bucket, s.work_bucket, s.report_bucket, *((s.keys_bucket,) if self.keyring else ()))

    def _interview_of(self, bucket: str, key: str) -> tuple[str, str] | None:
        """The (tenant, interview) whose data key seals this object, when it is sealed at rest."""
        if bucket not in (self.settings.raw_bucket, self.settings.work_bucket):
            return None
        match = INTERVIEW_DATA.match(key)
        return (match["tenant"], match["interview"]) if match else None

    # ---- writing ------------------------------------------------------------------------------

    def put_stream(
        self,
        bucket: str,
        key: str,
        stream: IO[bytes],
        *,
        length: int = -1,
        content_type: str = "application/octet-stream",
        expected_sha256: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> StoredObject:
        """Upload a stream to `key`, never exposing a partial or unverified object under that key.

        The bytes go to a staging key first (multipart, part by part), are hashed on the way, and
        are copied server-side to `key` only when the hash matches `expected_sha256` (if given).
        """
        staged = self._stage(
            bucket, stream, length=length, content_type=content_type, owner=self._interview_of(bucket, key)
        )
        try:
            if expected_sha256 is not None and staged.sha256 != expected_sha256.lower():
                raise ChecksumMismatch(
                    f"sha256 mismatch for {bucket}/{key}: announced {expected_sha256}, received {staged.sha256}"
                )
            self._promote(staged, key, content_type, metadata)
        finally:
            self.client.remove_object(bucket, staged.key)
        return StoredObject(bucket, key, staged.size, staged.sha256, content_type)

    def put_content_addressed(
        self,
        bucket: str,
        prefix: str,
        stream: IO[bytes],
        *,
        suffix: str = "",
        length: int = -1,
        content_type: str = "application/octet-stream",
        expected_sha256: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> StoredObject:
        """Upload under a key derived from the content's sha256 (of the plain bytes); an existing copy is reused."""
        owner = self._interview_of(bucket, prefix.strip("/") + "/")
        staged = self._stage(bucket, stream, length=length, content_type=content_type, owner=owner)
        try:
            if expected_sha256 is not None and staged.sha256 != expected_sha256.lower():
                raise ChecksumMismatch(
                    f"sha256 mismatch: announced {expected_sha256}, received {staged.sha256} ({staged.size} bytes)"
                )
            key = content_key(prefix, staged.sha256, suffix)
            if not self.exists(bucket, key):
                self._promote(staged, key, content_type, metadata)
        finally:
            self.client.remove_object(bucket, staged.key)
        return StoredObject(bucket, key, staged.size, staged.sha256, content_type)

    def put_bytes(
        self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> StoredObject:
        """Small objects (frame packs, timelines, reports): one PUT, still sha256-tagged (of the plain bytes).

        An interview's data is sealed with its data key when a key-encryption key is configured."""
        sha, size = hashlib.sha256(data).hexdigest(), len(data)
        owner = self._interview_of(bucket, key)
        if self.keyring is not None and owner is not None:
            data = self.keyring.seal(*owner, data)
        self.client.put_object(
            bucket, key, io.BytesIO(data), len(data), content_type=content_type, metadata={"sha256": sha}
        )
        return StoredObject(bucket, key, size, sha, content_type)

    def put_file(
        self, bucket: str, key: str, path: Path, content_type: str = "application/octet-stream"
    ) -> StoredObject:
        with path.open("rb") as fh:
            return self.put_stream(bucket, key, fh, length=path.stat().st_size, content_type=content_type)

    def _stage(
        self, bucket: str, stream: IO[bytes], *, length: int, content_type: str, owner: tuple[str, str] | None = None
    ) -> StoredObject:
        """Upload to a staging key, hashing (and counting) the plain bytes; an interview's recording is sealed
        on the way, segment by segment, when a key-encryption key is configured."""
        reader = _HashingReader(stream)
        upload: io.RawIOBase = reader
        if self.keyring is not None and owner is not None:
            data_key = self.keyring.key_for_writing(*owner)
            upload = SealingReader(reader, data_key)
            length = sealed_stream_size(length, data_key) if length >= 0 else -1
        key = f"{staging_prefix(*owner) if owner else STAGING_PREFIX}{uuid.uuid4().hex}"
        try:
            self.client.put_object(
                bucket, key, cast(BinaryIO, upload), length, content_type=content_type, part_size=self.part_size
            )
        except BaseException:
            # A failed multipart upload is aborted by the client; make sure no staged object lingers.
            self._remove_quietly(bucket, key)
            raise
        return StoredObject(bucket, key, reader.size, reader.digest.hexdigest(), content_type)

    def _promote(self, staged: StoredObject, key: str, content_type: str, metadata: dict[str, str] | None) -> None:
        meta: dict[str, str | list[str] | tuple[str]] = {"sha256": staged.sha256, **(metadata or {})}
        # Single CopyObject is limited to 5 GiB; compose does a multipart copy beyond that.
        if staged.size < 5 * 1024**3:
            self.client.copy_object(
                staged.bucket, key, CopySource(staged.bucket, staged.key), metadata=meta, metadata_directive="REPLACE"
            )
        else:
            self.client.compose_object(staged.bucket, key, [ComposeSource(staged.bucket, staged.key)], metadata=meta)

    # ---- reading ------------------------------------------------------------------------------

    def stat(self, bucket: str, key: str) -> Any:
        with _not_found_as(bucket, key):
            return self.client.stat_object(bucket, key)

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self.stat(bucket, key)
        except ObjectNotFound:
            return False
        return True

    def size(self, bucket: str, key: str) -> int:
        return int(self.stat(bucket, key).size)

    def read_range(self, bucket: str, key: str, offset: int, length: int) -> bytes:
        response = self.client.get_object(bucket, key, offset=offset, length=length)
        try:
            return bytes(response.read())
        finally:
            response.close()
            response.release_conn()

    def get_bytes(self, bucket: str, key: str) -> bytes:
        """The object's (plain) bytes; `ObjectNotFound` when it (or its bucket) does not exist, `KeyErased` when
        it is sealed with a data key that erasure destroyed."""
        with _not_found_as(bucket, key):
            response = self.client.get_object(bucket, key)
        try:
            data = bytes(response.read())
        finally:
            response.close()
            response.release_conn()
        if not is_sealed(data) and not is_sealed_stream(data):
            return data
        owner = INTERVIEW_DATA.match(key)
        if self.keyring is None or owner is None:
            raise EncryptionError(f"s3://{bucket}/{key} is encrypted and no key-encryption key is configured")
        return self.keyring.open(owner["tenant"], owner["interview"], data)

    def download(self, bucket: str, key: str, dest: Path) -> str:
        """Stream an object to a file; returns its sha256."""
        digest = hashlib.sha256()
        response = self.client.get_object(bucket, key)
        try:
            with dest.open("wb") as fh:
                for chunk in response.stream(1024 * 1024):
                    digest.update(chunk)
                    fh.write(chunk)
        finally:
            response.close()
            response.release_conn()
        return digest.hexdigest()

    def open(self, bucket: str, key: str, buffer_size: int = 4 * 1024 * 1024) -> io.RawIOBase:
        """A seekable, read-only file object over an object (decoders can seek without a download); a sealed
        recording reads as its plain bytes."""
        size = self.size(bucket, key)
        head = self.read_range(bucket, key, 0, 64) if size else b""
        if not is_sealed_stream(head):
            return RangedReader(self, bucket, key, size, buffer_size)
        owner = INTERVIEW_DATA.match(key)
        if self.keyring is None or owner is None:
            raise EncryptionError(f"s3://{bucket}/{key} is encrypted and no key-encryption key is configured")
        layout = StreamLayout.parse(head, size)
        data_key = self.keyring.key(owner["tenant"], owner["interview"], layout.key_id)
        return OpenedReader(self, bucket, key, layout, data_key)

    def presigned_get(self, bucket: str, key: str, expiry_s: int | None = None) -> str:
        return str(
            self.client.presigned_get_object(
                bucket, key, expires=timedelta(seconds=expiry_s or self.settings.presign_expiry_s)
            )
        )

    def presigned_put(self, bucket: str, key: str, expiry_s: int | None = None) -> str:
        return str(
            self.client.presigned_put_object(
                bucket, key, expires=timedelta(seconds=expiry_s or self.settings.presign_expiry_s)
            )
        )

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        return [o.object_name for o in self.client.list_objects(bucket, prefix=prefix, recursive=True)]

    def list_modified(self, bucket: str, prefix: str = "") -> dict[str, datetime]:
        """Key → last-modified time of every object under `prefix`."""
        return {
            o.object_name: o.last_modified
            for o in self.client.list_objects(bucket, prefix=prefix, recursive=True)
            if o.object_name is not None and o.last_modified is not None
        }

    def delete(self, bucket: str, key: str) -> None:
        self.client.remove_object(bucket, key)

    def delete_prefix(self, bucket: str, prefix: str) -> int:
        """Delete every object under ``prefix``; returns how many there were (a missing bucket holds none)."""
        try:
            keys = self.list_keys(bucket, prefix)
        except S3Error as exc:
            if exc.code in _MISSING:
                return 0
            raise
        for key in keys:
            self.client.remove_object(bucket, key)
        return len(keys)

    def _remove_quietly(self, bucket: str, key: str) -> None:
        try:
            self.client.remove_object(bucket, key)
        except Exception:  # best effort: the original error matters more
            log.warning("could not remove staged object", extra={"bucket": bucket, "key": key})


class _KeyObjects:
    """The keyring's view of the store: small key objects in the keys bucket."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def key_ids(self, bucket: str, prefix: str) -> list[str]:
        try:
            keys = self.store.list_keys(bucket, prefix)
        except S3Error as exc:
            if exc.code in _MISSING:
                return []
            raise
        return sorted(k.removeprefix(prefix).removesuffix(".key") for k in keys if k.endswith(".key"))

    def get(self, bucket: str, key: str) -> bytes | None:
        try:
            with _not_found_as(bucket, key):
                response = self.store.client.get_object(bucket, key)
        except ObjectNotFound:
            return None
        try:
            return bytes(response.read())
        finally:
            response.close()
            response.release_conn()

    def put(self, bucket: str, key: str, body: bytes) -> None:
        self.store.ensure_bucket(bucket)
        self.store.client.put_object(bucket, key, io.BytesIO(body), len(body), content_type="application/json")

    def delete(self, bucket: str, key: str) -> None:
        self.store.client.remove_object(bucket, key)


class _SeekableObject(io.RawIOBase):
    """A read-only, seekable view of an object of ``_size`` bytes at position ``_pos``."""

    _size: int
    _pos: int

    @property
    def size(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos


class OpenedReader(_SeekableObject):
    """Read-only, seekable plain view of a sealed recording: one ranged GET and one decryption per segment."""

    def __init__(self, store: ObjectStore, bucket: str, key: str, layout: StreamLayout, data_key: DataKey) -> None:
        self._store, self._bucket, self._key = store, bucket, key
        self._layout, self._data_key = layout, data_key
        self._size = layout.plain_size
        self._pos = 0
        self._segment = -1
        self._plain = b""
        self.requests = 0

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        filled = 0
        while filled < len(view) and self._pos < self._size:
            index, within = divmod(self._pos, self._layout.segment_size)
            if index != self._segment:
                start, length = self._layout.span(index)
                sealed = self._store.read_range(self._bucket, self._key, start, length)
                self._plain = self._layout.open_segment(self._data_key, index, sealed)
                self._segment = index
                self.requests += 1
            n = min(len(view) - filled, len(self._plain) - within)
            view[filled : filled + n] = self._plain[within : within + n]
            self._pos += n
            filled += n
        return filled


class RangedReader(_SeekableObject):
    """Read-only, seekable view of an object through ranged GETs with one read-ahead buffer."""

    def __init__(self, store: ObjectStore, bucket: str, key: str, size: int, buffer_size: int) -> None:
        self._store, self._bucket, self._key = store, bucket, key
        self._size = size
        self._pos = 0
        self._buf_start = 0
        self._buf = b""
        self._buffer_size = buffer_size
        self.requests = 0

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        if self._pos >= self._size or len(view) == 0:
            return 0
        in_buffer = self._buf_start <= self._pos < self._buf_start + len(self._buf)
        if not in_buffer:
            length = min(max(self._buffer_size, len(view)), self._size - self._pos)
            self._buf = self._store.read_range(self._bucket, self._key, self._pos, length)
            self._buf_start = self._pos
            self.requests += 1
        start = self._pos - self._buf_start
        n = min(len(view), len(self._buf) - start)
        view[:n] = self._buf[start : start + n]
        self._pos += n
        return n
