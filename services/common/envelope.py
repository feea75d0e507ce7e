"""Envelope encryption: per-interview data keys, wrapped by a key-encryption key held apart from the data.

* The **key-encryption key** (KEK, 32 bytes) never sits beside the data. `kek_ref` names it: ``file:PATH``
  (the local stack keeps one in ``.local/keys/kek``; the chart mounts a Secret, or a KMS agent writes the
  file) — the reference is all the settings carry.
* Each interview gets its own random **data key** (AES-256-GCM), stored only wrapped by the KEK, in a keys
  bucket of its own: ``<tenant>/<interview>/<key id>.key``. Writers that race on a new interview each store
  their own key under its own id and never overwrite one, so no ciphertext loses its key.
* A **sealed** blob names its key: ``SLE1 | len(key id) | key id | nonce (12) | AES-GCM(data)``, with the
  tenant and interview as associated data, so a blob moved to another interview does not decrypt.
* A **sealed stream** (recordings, any size) is cut into 1 MiB segments sealed one by one:
  ``SLS1 | len(key id) | key id | segment size (4) | nonce prefix (8)`` then, per segment, AES-GCM of it with
  the segment's index and whether it is the last in the associated data (so segments cannot be reordered,
  dropped or cut off). Memory stays at one segment either way, and a reader seeks to any offset by fetching
  the one segment that holds it (decoders seek in recordings).
* Deleting an interview's data keys (`Keyring.destroy`) makes every blob sealed with them unreadable
  wherever copies remain (crypto-shredding): that is how erasure reaches what it cannot delete.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"SLE1"
STREAM_MAGIC = b"SLS1"
NONCE_BYTES = 12
KEY_BYTES = 32
TAG_BYTES = 16
SEGMENT_BYTES = 1 << 20
_PREFIX_BYTES = 8
_KEY_ID = re.compile(r"^[0-9a-f]{16}$")


class EncryptionError(RuntimeError):
    """A sealed blob could not be opened: wrong key-encryption key, damaged or moved blob."""


class KeyErased(EncryptionError):
    """The interview's data key is gone: its sealed data has been erased (crypto-shredded)."""


def is_sealed(blob: bytes) -> bool:
    return blob[: len(MAGIC)] == MAGIC


def _aad(tenant_id: str, interview_id: str) -> bytes:
    return f"{tenant_id}/{interview_id}".encode()


def seal(data: bytes, key: DataKey) -> bytes:
    """``data`` encrypted with the interview's data key, naming the key."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key.secret).encrypt(nonce, data, _aad(key.tenant_id, key.interview_id))
    kid = key.key_id.encode()
    return b"".join((MAGIC, bytes([len(kid)]), kid, nonce, sealed))


def sealed_key_id(blob: bytes) -> str:
    """The id of the data key a sealed blob needs."""
    if not is_sealed(blob) or len(blob) < len(MAGIC) + 1:
        raise EncryptionError("not a sealed blob")
    n = blob[len(MAGIC)]
    kid = blob[len(MAGIC) + 1 : len(MAGIC) + 1 + n].decode("ascii", "replace")
    if not _KEY_ID.match(kid):
        raise EncryptionError("sealed blob names no valid key id")
    return kid


def unseal(blob: bytes, key: DataKey) -> bytes:
    start = len(MAGIC) + 1 + blob[len(MAGIC)]
    nonce, sealed = blob[start : start + NONCE_BYTES], blob[start + NONCE_BYTES :]
    try:
        return AESGCM(key.secret).decrypt(nonce, sealed, _aad(key.tenant_id, key.interview_id))
    except InvalidTag:
        raise EncryptionError(
            f"sealed data of {key.tenant_id}/{key.interview_id} does not decrypt with key {key.key_id}"
        ) from None


# ---- sealed streams --------------------------------------------------------------------------------------


def is_sealed_stream(head: bytes) -> bool:
    return head[: len(STREAM_MAGIC)] == STREAM_MAGIC


def _segment_aad(key: DataKey, index: int, final: bool) -> bytes:
    return _aad(key.tenant_id, key.interview_id) + b"|" + index.to_bytes(4, "big") + (b"\x01" if final else b"\x00")


def _segment_nonce(prefix: bytes, index: int) -> bytes:
    return prefix + index.to_bytes(4, "big")


def _segments(plain_size: int, segment: int = SEGMENT_BYTES) -> int:
    return max(1, -(-plain_size // segment))


def sealed_stream_size(plain_size: int, key: DataKey) -> int:
    """Bytes a sealed stream of ``plain_size`` plain bytes takes (to announce a known upload length)."""
    return len(_stream_header(key, bytes(_PREFIX_BYTES))) + plain_size + TAG_BYTES * _segments(plain_size)


def _stream_header(key: DataKey, prefix: bytes) -> bytes:
    kid = key.key_id.encode()
    return b"".join((STREAM_MAGIC, bytes([len(kid)]), kid, SEGMENT_BYTES.to_bytes(4, "big"), prefix))


@dataclass(frozen=True)
class StreamLayout:
    """Where a sealed stream's segments lie, from its header and total size."""

    key_id: str
    header_size: int
    segment_size: int
    nonce_prefix: bytes
    sealed_size: int

    @classmethod
    def parse(cls, head: bytes, sealed_size: int) -> StreamLayout:
        if not is_sealed_stream(head) or len(head) < len(STREAM_MAGIC) + 1:
            raise EncryptionError("not a sealed stream")
        n = head[len(STREAM_MAGIC)]
        at = len(STREAM_MAGIC) + 1
        kid = head[at : at + n].decode("ascii", "replace")
        segment = int.from_bytes(head[at + n : at + n + 4], "big")
        prefix = head[at + n + 4 : at + n + 4 + _PREFIX_BYTES]
        if not _KEY_ID.match(kid) or segment <= 0 or len(prefix) != _PREFIX_BYTES:
            raise EncryptionError("damaged sealed-stream header")
        return cls(kid, at + n + 4 + _PREFIX_BYTES, segment, prefix, sealed_size)

    @property
    def segments(self) -> int:
        return max(1, -(-(self.sealed_size - self.header_size) // (self.segment_size + TAG_BYTES)))

    @property
    def plain_size(self) -> int:
        return self.sealed_size - self.header_size - TAG_BYTES * self.segments

    def span(self, index: int) -> tuple[int, int]:
        """(offset, length) of sealed segment ``index``."""
        start = self.header_size + index * (self.segment_size + TAG_BYTES)
        return start, min(self.segment_size + TAG_BYTES, self.sealed_size - start)

    def open_segment(self, key: DataKey, index: int, sealed: bytes) -> bytes:
        final = index == self.segments - 1
        try:
            return AESGCM(key.secret).decrypt(
                _segment_nonce(self.nonce_prefix, index), sealed, _segment_aad(key, index, final)
            )
        except InvalidTag:
            raise EncryptionError(
                f"segment {index} of a sealed stream of {key.tenant_id}/{key.interview_id} does not decrypt"
            ) from None


class SealingReader(io.RawIOBase):
    """Reads plain bytes from ``source`` and gives the sealed stream, one segment in memory at a time."""

    def __init__(self, source: IO[bytes] | io.RawIOBase, key: DataKey) -> None:
        self._source = source
        self._key = key
        self._aead = AESGCM(key.secret)
        self._prefix = os.urandom(_PREFIX_BYTES)
        self._out = bytearray(_stream_header(key, self._prefix))
        self._index = 0
        self._next = self._fill()
        self._done = False

    def readable(self) -> bool:
        return True

    def _fill(self) -> bytes:
        parts, want = [], SEGMENT_BYTES
        while want:
            chunk = self._source.read(want)
            if not chunk:
                break
            parts.append(chunk)
            want -= len(chunk)
        return b"".join(parts)

    def _advance(self) -> None:
        current = self._next
        self._next = self._fill() if len(current) == SEGMENT_BYTES else b""
        final = not self._next
        aad = _segment_aad(self._key, self._index, final)
        self._out += self._aead.encrypt(_segment_nonce(self._prefix, self._index), current, aad)
        self._index += 1
        self._done = final

    def read(self, n: int = -1) -> bytes:
        while not self._done and (n < 0 or len(self._out) < n):
            self._advance()
        size = len(self._out) if n < 0 else min(n, len(self._out))
        data = bytes(self._out[:size])
        del self._out[:size]
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(memoryview(b)))
        memoryview(b).cast("B")[: len(data)] = data
        return len(data)


def unseal_stream(blob: bytes, key: DataKey) -> bytes:
    """A whole sealed stream's plain bytes (small objects; readers of large ones go segment by segment)."""
    layout = StreamLayout.parse(blob[:64], len(blob))
    parts = []
    for index in range(layout.segments):
        start, length = layout.span(index)
        parts.append(layout.open_segment(key, index, blob[start : start + length]))
    return b"".join(parts)


@dataclass(frozen=True)
class DataKey:
    tenant_id: str
    interview_id: str
    key_id: str
    secret: bytes


def load_kek(ref: str) -> bytes:
    """The key-encryption key named by ``ref`` (``file:PATH``: 64 hex characters)."""
    scheme, _, rest = ref.partition(":")
    if scheme != "file" or not rest:
        raise EncryptionError(f"unsupported key-encryption key reference {ref!r}: expected file:PATH")
    path = Path(rest)
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise EncryptionError(f"cannot read the key-encryption key {path}: {exc.strerror}") from None
    try:
        kek = bytes.fromhex(text)
    except ValueError:
        kek = b""
    if len(kek) != KEY_BYTES:
        raise EncryptionError(f"{path} must hold {KEY_BYTES} bytes as {2 * KEY_BYTES} hex characters")
    return kek


def create_kek_file(path: Path) -> Path:
    """Write a new random key-encryption key to ``path`` (owner-only) unless one is there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(KEY_BYTES) + "\n")
    return path


class Keyring:
    """Per-interview data keys in ``bucket``, wrapped by ``kek``; recently used keys are cached for
    ``cache_s`` seconds (a key destroyed elsewhere stops working here within that time)."""

    def __init__(self, store: _KeyStore, bucket: str, kek: bytes, *, cache_s: float = 30.0) -> None:
        self.store, self.bucket = store, bucket
        self._kek = AESGCM(kek)
        self._cache: OrderedDict[tuple[str, str, str], tuple[float, DataKey]] = OrderedDict()
        self._current: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        self.cache_s = cache_s

    @staticmethod
    def prefix(tenant_id: str, interview_id: str) -> str:
        return f"{tenant_id}/{interview_id}/"

    def key_for_writing(self, tenant_id: str, interview_id: str) -> DataKey:
        """The interview's data key, created on first use."""
        current = self._current.get((tenant_id, interview_id))
        if current is not None:
            cached = self._cached(tenant_id, interview_id, current)
            if cached is not None:
                return cached
        ids = self.store.key_ids(self.bucket, self.prefix(tenant_id, interview_id))
        if ids:
            key = self.key(tenant_id, interview_id, min(ids))
        else:
            key = DataKey(tenant_id, interview_id, secrets.token_hex(8), os.urandom(KEY_BYTES))
            nonce = os.urandom(NONCE_BYTES)
            wrapped = self._kek.encrypt(nonce, key.secret, _aad(tenant_id, interview_id))
            body = json.dumps({"nonce": nonce.hex(), "wrapped": wrapped.hex(), "created_at": time.time()}).encode()
            self.store.put(self.bucket, f"{self.prefix(tenant_id, interview_id)}{key.key_id}.key", body)
            self._remember(key)
        self._current[(tenant_id, interview_id)] = key.key_id
        return key

    def key(self, tenant_id: str, interview_id: str, key_id: str) -> DataKey:
        """A data key by id; `KeyErased` when the interview's keys were destroyed."""
        cached = self._cached(tenant_id, interview_id, key_id)
        if cached is not None:
            return cached
        body = self.store.get(self.bucket, f"{self.prefix(tenant_id, interview_id)}{key_id}.key")
        if body is None:
            raise KeyErased(f"data key {key_id} of {tenant_id}/{interview_id} no longer exists (erased)")
        record = json.loads(body)
        try:
            secret = self._kek.decrypt(
                bytes.fromhex(record["nonce"]), bytes.fromhex(record["wrapped"]), _aad(tenant_id, interview_id)
            )
        except InvalidTag:
            raise EncryptionError(
                f"data key {key_id} of {tenant_id}/{interview_id} is not wrapped by this KEK"
            ) from None
        key = DataKey(tenant_id, interview_id, key_id, secret)
        self._remember(key)
        return key

    def seal(self, tenant_id: str, interview_id: str, data: bytes) -> bytes:
        return seal(data, self.key_for_writing(tenant_id, interview_id))

    def open(self, tenant_id: str, interview_id: str, blob: bytes) -> bytes:
        """Plain ``blob`` as it is, a sealed one (or a whole sealed stream) decrypted."""
        if is_sealed_stream(blob):
            layout = StreamLayout.parse(blob[:64], len(blob))
            return unseal_stream(blob, self.key(tenant_id, interview_id, layout.key_id))
        if not is_sealed(blob):
            return blob
        return unseal(blob, self.key(tenant_id, interview_id, sealed_key_id(blob)))

    def destroy(self, tenant_id: str, interview_id: str) -> int:
        """Delete every data key of the interview; returns how many there were."""
        ids = self.store.key_ids(self.bucket, self.prefix(tenant_id, interview_id))
        for key_id in ids:
            self.store.delete(self.bucket, f"{self.prefix(tenant_id, interview_id)}{key_id}.key")
        with self._lock:
            for entry in [k for k in self._cache if k[:2] == (tenant_id, interview_id)]:
                del self._cache[entry]
            self._current.pop((tenant_id, interview_id), None)
        return len(ids)

    def _cached(self, tenant_id: str, interview_id: str, key_id: str) -> DataKey | None:
        with self._lock:
            entry = self._cache.get((tenant_id, interview_id, key_id))
            if entry is None or time.monotonic() - entry[0] > self.cache_s:
                return None
            return entry[1]

    def _remember(self, key: DataKey) -> None:
        with self._lock:
            self._cache[(key.tenant_id, key.interview_id, key.key_id)] = (time.monotonic(), key)
            while len(self._cache) > 4096:
                self._cache.popitem(last=False)


class _KeyStore(Protocol):
    def key_ids(self, bucket: str, prefix: str) -> list[str]: ...
    def get(self, bucket: str, key: str) -> bytes | None: ...
    def put(self, bucket: str, key: str, body: bytes) -> None: ...
    def delete(self, bucket: str, key: str) -> None: ...


__all__ = [
    "STREAM_MAGIC",
    "DataKey",
    "EncryptionError",
    "KeyErased",
    "Keyring",
    "SealingReader",
    "StreamLayout",
    "create_kek_file",
    "is_sealed",
    "is_sealed_stream",
    "load_kek",
    "seal",
    "sealed_key_id",
    "sealed_stream_size",
    "unseal",
    "unseal_stream",
]
