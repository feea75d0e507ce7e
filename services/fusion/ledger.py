"""Fusion's state, kept in the object store rather than in the consumer or a broker changelog.

Every part of an interview that fusion receives is written under a key derived from the part's place in
the manifest, so a replayed message overwrites itself instead of counting twice, and a restarted or
rebalanced fusion instance finds exactly what its predecessor had: the state *is* what is stored.

Layout in the work bucket, under ``<tenant>/<interview>/fusion/``:

* ``ingested.json``: the media-ingested event (the interview's context and media flags)
* ``manifest.json``: chunk and segment counts from frames' completed status (or its failure)
* ``vision/000003.json``, ``speech/000001.json``: the vision-features and speech-results events
* ``failed/chunk/000004.json``, ``failed/segment/000002.json``: units a stage gave up on (its failed status)
* ``profiles/000001.json``: every profile version emitted, verbatim, so a replay re-emits the same event
* ``competency-model.json``: the latest rescore-requested event: the competency-model version to score with
  from now on instead of the one the interview was announced with

and ``fusion-pending/<tenant>/<interview>/p<partition>`` marks an interview that has no final profile yet:
the deadline sweeper lists these after a restart instead of relying on timers held in memory. The partition
its events arrive on is in the name, so each fusion instance sweeps only the interviews it owns; markers
written before partitions were recorded (``fusion-pending/<tenant>/<interview>``) are anyone's.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from services.common.contracts import (
    CompetencyModelRef,
    Envelope,
    MediaIngested,
    ObjectRef,
    ProfileReady,
    RescoreRequested,
    SpeechResults,
    StageStatus,
    VisionFeatures,
    decode_as,
    encode,
)
from services.common.objectstore import ObjectNotFound, ObjectStore
from services.frames.stage import JPEG_CONTENT_TYPE, output_prefix
from services.fusion.inputs import InterviewInputs, Manifest
from services.ingest.policy import may_extract_video

E = TypeVar("E", bound=Envelope)

PENDING_PREFIX = "fusion-pending/"
JSON = "application/json"
_INDEXED = re.compile(r"^(vision|speech|failed/chunk|failed/segment|profiles)/(\d{6})\.json$")
_KEYFRAME = re.compile(r"^(?P<question>.+)-(?P<label>start|middle|end)\.jpg$")


def interview_prefix(tenant_id: str, interview_id: str) -> str:
    return f"{tenant_id}/{interview_id}/fusion/"


#: Marker object: parts changed model versions since the latest profile.
RESCORE = "rescore.json"
#: The competency-model version requested by the latest rescore-requested event.
REQUESTED_MODEL = "competency-model.json"


def pending_key(tenant_id: str, interview_id: str, partition: int | None) -> str:
    legacy = f"{PENDING_PREFIX}{tenant_id}/{interview_id}"
    return legacy if partition is None else f"{legacy}/p{partition}"


_PARTITION = re.compile(r"^p(\d+)$")


@dataclass(frozen=True)
class Pending:
    """An interview without a final profile, and the partitions its events arrived on (none: unknown)."""

    tenant_id: str
    interview_id: str
    partitions: frozenset[int] = frozenset()

    def owned_by(self, owned: frozenset[int] | None) -> bool:
        """Whether an instance owning these partitions (None: all of them) sweeps this interview."""
        return owned is None or not self.partitions or bool(self.partitions & owned)


@dataclass
class Snapshot:
    """What one listing of an interview's fusion prefix says, without reading any part."""

    has_ingested: bool = False
    has_manifest: bool = False
    vision: set[int] = field(default_factory=set)
    speech: set[int] = field(default_factory=set)
    failed_chunks: set[int] = field(default_factory=set)
    failed_segments: set[int] = field(default_factory=set)
    profiles: list[int] = field(default_factory=list)
    last_progress: datetime | None = None
    #: A part was re-computed by other models after the latest profile: the next profile is scored anew.
    rescore: bool = False
    #: A rescore-requested event named the competency-model version to score with.
    model_requested: bool = False

    @property
    def latest_profile(self) -> int | None:
        return max(self.profiles) if self.profiles else None


class Ledger:
    """Reads and writes one bucket's fusion state (blocking calls: run them in a thread)."""

    def __init__(self, store: ObjectStore, bucket: str) -> None:
        self.store = store
        self.bucket = bucket

    def _put(self, key: str, data: bytes) -> None:
        self.store.put_bytes(self.bucket, key, data, JSON)

    def _get(self, key: str) -> bytes:
        return self.store.get_bytes(self.bucket, key)

    # ---- writing ----------------------------------------------------------------------------------

    def open_interview(self, event: MediaIngested, partition: int | None = None) -> None:
        prefix = interview_prefix(event.tenant_id, event.interview_id)
        self._put(prefix + "ingested.json", encode(event))
        self._put(pending_key(event.tenant_id, event.interview_id, partition), b"{}")

    def put_manifest(self, tenant_id: str, interview_id: str, manifest: Manifest, partition: int | None = None) -> None:
        body = json.dumps(
            {
                "media_event_id": manifest.media_event_id,
                "chunks": manifest.chunks,
                "segments": manifest.segments,
                "frames_failed": manifest.frames_failed,
            },
            sort_keys=True,
        ).encode()
        self._put(interview_prefix(tenant_id, interview_id) + "manifest.json", body)
        self._put(pending_key(tenant_id, interview_id, partition), b"{}")

    def put_vision(self, event: VisionFeatures, partition: int | None = None) -> None:
        key = f"{interview_prefix(event.tenant_id, event.interview_id)}vision/{event.chunk_index:06d}.json"
        self._put_part(key, event, partition)

    def put_speech(self, event: SpeechResults, partition: int | None = None) -> None:
        key = f"{interview_prefix(event.tenant_id, event.interview_id)}speech/{event.segment_index:06d}.json"
        self._put_part(key, event, partition)

    def _put_part(self, key: str, event: VisionFeatures | SpeechResults, partition: int | None) -> None:
        """Store a part; when it replaces one made by other model versions (a re-run after an upgrade), mark
        the interview for re-scoring first, so a crash between the two writes cannot lose the mark."""
        try:
            before = decode_as(type(event), self._get(key))
        except ObjectNotFound:
            before = None  # the first delivery of this part
        if before is not None and before.model_versions != event.model_versions:
            self._put(interview_prefix(event.tenant_id, event.interview_id) + RESCORE, b"{}")
            self._put(pending_key(event.tenant_id, event.interview_id, partition), b"{}")  # for the deadline sweep
        self._put(key, encode(event))

    def request_model(self, event: RescoreRequested) -> None:
        """Score the interview with ``event.competency_model`` from now on (the latest request wins)."""
        self._put(interview_prefix(event.tenant_id, event.interview_id) + REQUESTED_MODEL, encode(event))

    def requested_model(self, tenant_id: str, interview_id: str) -> CompetencyModelRef | None:
        try:
            raw = self._get(interview_prefix(tenant_id, interview_id) + REQUESTED_MODEL)
        except ObjectNotFound:
            return None
        return decode_as(RescoreRequested, raw).competency_model

    def rescored(self, tenant_id: str, interview_id: str) -> None:
        """The latest profile reflects every part again."""
        self.store.delete(self.bucket, interview_prefix(tenant_id, interview_id) + RESCORE)

    def put_failure(self, status: StageStatus, unit_kind: str, index: int) -> None:
        key = f"{interview_prefix(status.tenant_id, status.interview_id)}failed/{unit_kind}/{index:06d}.json"
        self._put(key, encode(status))

    def put_profile(self, profile: ProfileReady) -> None:
        key = f"{interview_prefix(profile.tenant_id, profile.interview_id)}profiles/{profile.profile_version:06d}.json"
        self._put(key, encode(profile))

    def close(self, tenant_id: str, interview_id: str) -> None:
        legacy = pending_key(tenant_id, interview_id, None)
        for key in [legacy, *self.store.list_keys(self.bucket, legacy + "/")]:
            self.store.delete(self.bucket, key)

    # ---- reading ----------------------------------------------------------------------------------

    def pending(self) -> list[Pending]:
        partitions: dict[tuple[str, str], set[int]] = {}
        for key in self.store.list_keys(self.bucket, PENDING_PREFIX):
            parts = key.removeprefix(PENDING_PREFIX).split("/")
            if len(parts) not in (2, 3):
                continue
            seen = partitions.setdefault((parts[0], parts[1]), set())
            if len(parts) == 3 and (number := _PARTITION.match(parts[2])):
                seen.add(int(number.group(1)))
        return [Pending(t, i, frozenset(p)) for (t, i), p in sorted(partitions.items())]

    def snapshot(self, tenant_id: str, interview_id: str) -> Snapshot:
        prefix = interview_prefix(tenant_id, interview_id)
        snap = Snapshot()
        for key, modified in self.store.list_modified(self.bucket, prefix).items():
            name = key.removeprefix(prefix)
            if name == "ingested.json":
                snap.has_ingested = True
            elif name == "manifest.json":
                snap.has_manifest = True
            elif name == RESCORE:
                snap.rescore = True
            elif name == REQUESTED_MODEL:
                snap.model_requested = True
                continue
            elif match := _INDEXED.match(name):
                kind, index = match.group(1), int(match.group(2))
                {
                    "vision": snap.vision,
                    "speech": snap.speech,
                    "failed/chunk": snap.failed_chunks,
                    "failed/segment": snap.failed_segments,
                }.get(kind, set()).add(index)
                if kind == "profiles":
                    snap.profiles.append(index)
                    continue
            else:
                continue
            if snap.last_progress is None or modified > snap.last_progress:
                snap.last_progress = modified
        return snap

    def ingested(self, tenant_id: str, interview_id: str) -> MediaIngested:
        return decode_as(MediaIngested, self._get(interview_prefix(tenant_id, interview_id) + "ingested.json"))

    def manifest(self, tenant_id: str, interview_id: str) -> Manifest:
        body = json.loads(self._get(interview_prefix(tenant_id, interview_id) + "manifest.json"))
        return Manifest(
            media_event_id=body["media_event_id"],
            chunks=int(body["chunks"]),
            segments=int(body["segments"]),
            frames_failed=body.get("frames_failed"),
        )

    def profile(self, tenant_id: str, interview_id: str, version: int) -> ProfileReady:
        key = f"{interview_prefix(tenant_id, interview_id)}profiles/{version:06d}.json"
        return decode_as(ProfileReady, self._get(key))

    def _events(self, model: type[E], prefix: str, indices: Iterable[int], folder: str) -> list[E]:
        return [decode_as(model, self._get(f"{prefix}{folder}/{i:06d}.json")) for i in sorted(indices)]

    def load(self, tenant_id: str, interview_id: str, snap: Snapshot, manifest: Manifest) -> InterviewInputs:
        prefix = interview_prefix(tenant_id, interview_id)
        vision = self._events(VisionFeatures, prefix, snap.vision, "vision")
        speech = self._events(SpeechResults, prefix, snap.speech, "speech")
        ingested = self.ingested(tenant_id, interview_id)
        requested = self.requested_model(tenant_id, interview_id) if snap.model_requested else None
        if requested is not None:  # scored, and announced, as the requested version
            job = ingested.context.job.model_copy(update={"competency_model": requested})
            ingested = ingested.model_copy(update={"context": ingested.context.model_copy(update={"job": job})})
        return InterviewInputs(
            ingested=ingested,
            manifest=manifest,
            vision=vision,
            speech=speech,
            failed_chunks=frozenset(snap.failed_chunks - snap.vision),
            failed_segments=frozenset(snap.failed_segments - snap.speech),
            keyframes=self.keyframes(ingested),
        )

    def keyframes(self, ingested: MediaIngested) -> dict[str, ObjectRef]:
        """The key frames the frames stage stored for the interview (found by its key convention); none when the
        consent does not permit video and face analysis, whatever the bucket holds."""
        if not may_extract_video(ingested.context.permitted_analyses):
            return {}
        prefix = f"{output_prefix(ingested)}/keyframes/"
        refs: dict[str, ObjectRef] = {}
        for key in self.store.list_keys(self.bucket, prefix):
            match = _KEYFRAME.match(key.removeprefix(prefix))
            if match is None:
                continue
            data = self.store.get_bytes(self.bucket, key)
            refs[f"{match['question']}-{match['label']}"] = ObjectRef(
                bucket=self.bucket,
                key=key,
                sha256=hashlib.sha256(data).hexdigest(),
                size_bytes=len(data),
                content_type=JPEG_CONTENT_TYPE,
            )
        return refs
