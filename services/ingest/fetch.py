"""Fetch a media source into a local file with bounded memory, hashing and counting on the way.

Sources: ``file:///path`` (local development; read in place, not copied), ``s3://bucket/key`` (through the
object store client) and ``http(s)://`` (streamed through `services.ingest.sources.open_http`). Each is first
checked against the tenant's allowed sources (`SourcePolicy`); a source the tenant may not read is a
`SourceRefused`. A source that does not exist or refuses access is a `SourceUnavailable` (permanent);
connection errors and server errors propagate as ordinary exceptions so that the worker retries them.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from minio.error import S3Error

from services.common.objectstore import ObjectNotFound, ObjectStore
from services.ingest.sources import HTTPStatusError, SourcePolicy, SourceRefused, SourceRules, open_http, redacted

CHUNK_BYTES = 1024 * 1024
HTTP_TIMEOUT_S = 30.0
#: HTTP statuses that will not change on a retry: the source is gone or not ours to read.
PERMANENT_HTTP_STATUSES = frozenset({400, 401, 403, 404, 410, 451})
PERMANENT_S3_CODES = frozenset({"AccessDenied", "InvalidBucketName", "InvalidObjectName"})


class SourceUnavailable(Exception):
    """The source does not exist or may not be read; retrying will not help."""


class SourceTooLarge(Exception):
    """The source has more bytes than the limit allows."""


@dataclass(frozen=True)
class LocalMedia:
    """A media item available as a local file, with the digest and size of its bytes."""

    path: Path
    size: int
    sha256: str


def _copy(chunks: Iterator[bytes], dest: Path, max_bytes: int) -> LocalMedia:
    digest = hashlib.sha256()
    size = 0
    with dest.open("wb") as out:
        for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise SourceTooLarge(f"more than {max_bytes} bytes")
            digest.update(chunk)
            out.write(chunk)
    return LocalMedia(dest, size, digest.hexdigest())


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes | None: ...


def _read_chunks(stream: _Readable) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK_BYTES):
        yield chunk


def _local(path: Path, max_bytes: int) -> LocalMedia:
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise SourceUnavailable(f"{path} is not a regular file")
        if size > max_bytes:
            raise SourceTooLarge(f"{size} bytes, more than {max_bytes}")
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in _read_chunks(fh):
                digest.update(chunk)
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        raise SourceUnavailable(f"cannot read {path}: {exc.strerror or exc}") from exc
    return LocalMedia(path, size, digest.hexdigest())


def _s3(store: ObjectStore, bucket: str, key: str, dest: Path, max_bytes: int) -> LocalMedia:
    try:
        size = store.size(bucket, key)
    except ObjectNotFound as exc:
        raise SourceUnavailable(f"no object s3://{bucket}/{key}") from exc
    except S3Error as exc:
        if exc.code in PERMANENT_S3_CODES:
            raise SourceUnavailable(f"s3://{bucket}/{key}: {exc.code}") from exc
        raise
    if size > max_bytes:
        raise SourceTooLarge(f"{size} bytes, more than {max_bytes}")
    reader = store.open(bucket, key, buffer_size=CHUNK_BYTES * 8)
    return _copy(_read_chunks(reader), dest, max_bytes)


def _http(url: str, dest: Path, max_bytes: int, rules: SourceRules) -> LocalMedia:
    try:
        response = open_http(url, rules, HTTP_TIMEOUT_S)
    except HTTPStatusError as exc:
        if exc.status in PERMANENT_HTTP_STATUSES:
            raise SourceUnavailable(str(exc)) from None
        raise ConnectionError(str(exc)) from None
    with response:
        length = response.getheader("Content-Length")
        if length is not None and length.isdigit() and int(length) > max_bytes:
            raise SourceTooLarge(f"{length} bytes, more than {max_bytes}")
        return _copy(_read_chunks(response), dest, max_bytes)


def fetch(uri: str, dest: Path, store: ObjectStore, max_bytes: int, policy: SourcePolicy, tenant_id: str) -> LocalMedia:
    """Make the media at `uri` available as a local file (`dest` unless it is already local), if `tenant_id`
    may read it (`SourceRefused` otherwise)."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme == "file":
        return _local(policy.check_file(Path(urllib.parse.unquote(parts.path))), max_bytes)
    if parts.scheme == "s3":
        key = urllib.parse.unquote(parts.path.lstrip("/"))
        if not parts.netloc or not key:
            raise SourceUnavailable(f"not an s3://bucket/key URI: {uri}")
        policy.check_s3(tenant_id, parts.netloc, key)
        return _s3(store, parts.netloc, key, dest, max_bytes)
    if parts.scheme in ("http", "https"):
        return _http(uri, dest, max_bytes, policy.rules_for(tenant_id))
    raise SourceUnavailable(f"unsupported URI scheme {parts.scheme!r}")


__all__ = ["LocalMedia", "SourceRefused", "SourceTooLarge", "SourceUnavailable", "fetch", "redacted"]
