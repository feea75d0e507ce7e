"""Envelope encryption: sealing with per-interview data keys, and reading the key-encryption key."""

from __future__ import annotations

import io
import os
import secrets
import stat
from pathlib import Path

import pytest

from services.common.envelope import (
    MAGIC,
    SEGMENT_BYTES,
    DataKey,
    EncryptionError,
    SealingReader,
    StreamLayout,
    create_kek_file,
    is_sealed,
    load_kek,
    seal,
    sealed_key_id,
    sealed_stream_size,
    unseal,
    unseal_stream,
)
from services.common.sealing import SEALED_TOPICS, record_interview


def key(tenant: str = "acme", interview: str = "iv-1") -> DataKey:
    return DataKey(tenant, interview, secrets.token_hex(8), os.urandom(32))


def test_sealed_blob_round_trips_and_hides_the_plain_text() -> None:
    k = key()
    data = b'{"transcript": "I led the migration of our billing system"}' * 50
    blob = seal(data, k)
    assert is_sealed(blob) and blob.startswith(MAGIC)
    assert b"billing" not in blob
    assert sealed_key_id(blob) == k.key_id
    assert unseal(blob, k) == data
    assert seal(data, k) != blob, "every seal draws a fresh nonce"


def test_a_blob_does_not_open_for_another_interview_or_key() -> None:
    k = key()
    blob = seal(b"frame pack", k)
    moved = DataKey("acme", "iv-2", k.key_id, k.secret)  # same key bytes, another interview
    with pytest.raises(EncryptionError, match="iv-2"):
        unseal(blob, moved)
    with pytest.raises(EncryptionError):
        unseal(blob, DataKey("acme", "iv-1", k.key_id, os.urandom(32)))


def test_a_tampered_blob_is_refused() -> None:
    k = key()
    blob = bytearray(seal(b"audio segment bytes", k))
    blob[-1] ^= 1
    with pytest.raises(EncryptionError):
        unseal(bytes(blob), k)


def test_plain_bytes_are_not_taken_for_sealed_ones() -> None:
    assert not is_sealed(b'{"event_type": "media-ingested"}')
    assert not is_sealed(b"PK\x03\x04")  # a frame pack (zip)
    with pytest.raises(EncryptionError):
        sealed_key_id(b"plain")


def test_kek_file_is_created_once_owner_only_and_loaded(tmp_path: Path) -> None:
    path = create_kek_file(tmp_path / "keys" / "kek")
    first = load_kek(f"file:{path}")
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    create_kek_file(path)  # an existing key is never replaced: that would orphan every wrapped data key
    assert load_kek(f"file:{path}") == first


@pytest.mark.parametrize(
    ("ref", "message"),
    [("kms://projects/x/keys/y", "unsupported"), ("file:/nonexistent/kek", "cannot read"), ("file:", "unsupported")],
)
def test_bad_kek_references_say_what_is_wrong(ref: str, message: str) -> None:
    with pytest.raises(EncryptionError, match=message):
        load_kek(ref)


def test_a_kek_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kek"
    path.write_text("abcd\n")
    with pytest.raises(EncryptionError, match="64 hex"):
        load_kek(f"file:{path}")


def test_record_keys_name_their_interview() -> None:
    assert record_interview(b"acme/iv-1") == ("acme", "iv-1")
    assert record_interview(b"acme/iv-1:7") == ("acme", "iv-1")
    assert record_interview(b"no-interview") is None
    assert record_interview(None) is None


def test_only_topics_without_an_outside_party_are_sealed() -> None:
    assert {
        "sightline.speech-results.v1",
        "sightline.vision-features.v1",
        "sightline.media-ingested.v1",
    } <= SEALED_TOPICS
    assert "sightline.profile-ready.v1" not in SEALED_TOPICS  # the HR system reads it
    assert "sightline.interview-completed.v1" not in SEALED_TOPICS  # the HR system writes it
    assert not any(".dead-letter." in t for t in SEALED_TOPICS)  # letters keep records as read (sealed or not)


# --- sealed streams (recordings) -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, SEGMENT_BYTES - 1, SEGMENT_BYTES, SEGMENT_BYTES + 1, 2 * SEGMENT_BYTES + 12345])
def test_a_stream_seals_segment_by_segment_and_opens_whole(size: int) -> None:
    k = key()
    plain = os.urandom(size)
    sealed = SealingReader(io.BytesIO(plain), k).read()
    assert len(sealed) == sealed_stream_size(size, k)
    layout = StreamLayout.parse(sealed[:64], len(sealed))
    assert layout.plain_size == size and layout.key_id == k.key_id
    assert unseal_stream(sealed, k) == plain


def test_any_segment_opens_on_its_own_for_seeking_readers() -> None:
    k = key()
    plain = os.urandom(3 * SEGMENT_BYTES + 7)
    reader = SealingReader(io.BytesIO(plain), k)
    sealed = b"".join(iter(lambda: reader.read(65_536), b""))  # read in small pieces, as an uploader does
    layout = StreamLayout.parse(sealed[:64], len(sealed))
    start, length = layout.span(2)
    assert layout.open_segment(k, 2, sealed[start : start + length]) == plain[2 * SEGMENT_BYTES : 3 * SEGMENT_BYTES]


def test_a_cut_off_or_reordered_stream_is_refused() -> None:
    k = key()
    plain = os.urandom(2 * SEGMENT_BYTES + 10)
    sealed = SealingReader(io.BytesIO(plain), k).read()
    layout = StreamLayout.parse(sealed[:64], len(sealed))
    last_start, _ = layout.span(2)
    with pytest.raises(EncryptionError):  # the last two whole segments kept, the final one dropped
        unseal_stream(sealed[:last_start], k)
    _, first_len = layout.span(0)
    second_start, second_len = layout.span(1)
    with pytest.raises(EncryptionError):
        layout.open_segment(k, 0, sealed[second_start : second_start + second_len])
    with pytest.raises(EncryptionError):  # the same stream does not open as another interview's
        unseal_stream(sealed, DataKey("acme", "iv-2", k.key_id, k.secret))
    assert first_len == second_len
