"""Records of an interview sealed on the topics only Sightline reads, with the interview's data key.

Candidate content travels on the pipeline's own topics (transcripts and quotes on speech-results, behaviour
on vision-features, the interview context on the rest). With a key-encryption key configured
(`SIGHTLINE_S3__KEK_REF`) every stage seals what it produces on those topics with the interview's data key
(services.common.envelope) and opens what it reads; erasure destroys the key, so every copy of the
interview's records left on a topic (until retention drops it) is unreadable. Topics with an outside party
at one end (the HR system's events, profile-ready it consumes, dead letters holding records verbatim) stay
plain JSON for their readers: their copies expire with the topic's retention, shorter than any erasure
deadline (schemas/topics.yaml).
"""

from __future__ import annotations

import asyncio

from services.common.contracts import TOPICS, Envelope, EventBase
from services.common.contracts.topics import EXTERNAL
from services.common.envelope import Keyring, is_sealed
from services.common.objectstore import ObjectStore
from services.common.settings import Settings

#: Topics whose producers and consumers are all Sightline stages.
SEALED_TOPICS = frozenset(
    name
    for name, spec in TOPICS.items()
    if not spec.is_dead_letter and EXTERNAL not in spec.producers and EXTERNAL not in spec.consumers
)


def record_interview(key: bytes | None) -> tuple[str, str] | None:
    """(tenant, interview) from a record key ``<tenant>/<interview>`` or ``<tenant>/<interview>:<index>``."""
    if not key:
        return None
    tenant, sep, rest = key.decode("utf-8", "replace").partition("/")
    interview = rest.split(":", 1)[0]
    return (tenant, interview) if sep and tenant and interview else None


class RecordSealer:
    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    async def seal(self, topic: str, event: Envelope, value: bytes) -> bytes:
        if topic not in SEALED_TOPICS or not isinstance(event, EventBase) or not event.interview_id:
            return value
        return await asyncio.to_thread(self.keyring.seal, event.tenant_id, event.interview_id, value)

    async def open(self, key: bytes | None, value: bytes) -> bytes:
        """The record's plain bytes; `KeyErased` for a record of an erased interview."""
        if not is_sealed(value):
            return value
        owner = record_interview(key)
        if owner is None:
            return value  # fails decoding with a clear error, and is dead-lettered
        return await asyncio.to_thread(self.keyring.open, *owner, value)


def sealer_for(settings: Settings) -> RecordSealer | None:
    if settings.s3.kek_ref is None:
        return None
    keyring = ObjectStore(settings.s3).keyring
    assert keyring is not None
    return RecordSealer(keyring)


__all__ = ["SEALED_TOPICS", "RecordSealer", "record_interview", "sealer_for"]
