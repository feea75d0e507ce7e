"""The ingest stage: interview-completed in, media-ingested out.

For each event: decide what is permitted (consent, jurisdiction policy, announced sizes), fetch every
media item into a local file (bounded memory, sha256 and size counted on the way), verify the announced
checksum, probe the bytes and check the limits, and only when every item passed, copy them into the raw
bucket under content-addressed keys.

Why check before storing: a rejected recording never reaches the bucket, so nothing has to be deleted
afterwards, and a copy that another delivery of the same interview already relies on is never touched.
The object store stages each upload and promotes it only after its sha256 matched, so no half-written
object is ever visible under a real key. A worker killed between staging and promotion leaves its staged
copy behind; every ingest worker removes staged copies older than `staging_grace_s` when it starts and
after each interview (a listing of a normally empty prefix), so such orphans do not accumulate.

Duplicates and replays: the output's event id is derived from the input's event id, and the object key
from the content (under the interview's prefix), so handling the same event twice stores one object and
emits the same media-ingested event id; downstream consumers de-duplicate on it.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from services.common.competency import (
    SHIPPED_MODELS_DIR,
    CompetencyModelLibrary,
    UnknownCompetencyModel,
)
from services.common.contracts import (
    ConsentScope,
    EventBase,
    FailureCode,
    InterviewCompleted,
    MediaFlag,
    MediaIngested,
    MediaKind,
    MediaSource,
    ObjectRef,
    Probe,
    StageName,
    StoredMedia,
    derived_envelope,
    topic_for,
)
from services.common.handler import MessageMeta, Rejected, Retryable
from services.common.objectstore import STAGING_PREFIX, ChecksumMismatch, ObjectStore
from services.common.settings import DEFAULT_HOME, Settings
from services.ingest.fetch import LocalMedia, SourceRefused, SourceTooLarge, SourceUnavailable, fetch
from services.ingest.policy import IngestLimits, JurisdictionPolicy, PolicyViolation, decide
from services.ingest.probe import ProbeFailed, probe_file
from services.ingest.settings import IngestSettings, TenantSources
from services.ingest.sources import SourcePolicy, SourceRules

log = logging.getLogger(__name__)

PRODUCER = "sightline-ingest"
#: Short side below which a recording is flagged low_resolution, and average rate below low_frame_rate.
LOW_RESOLUTION_PX = 360
LOW_FRAME_RATE_FPS = 10.0
#: The media may differ from the interview's wall-clock length by this much before duration_mismatch.
DURATION_TOLERANCE_S = 5.0
DURATION_TOLERANCE_RATIO = 0.1

_SUFFIXES = {
    "mp4": ".mp4",
    "webm": ".webm",
    "matroska": ".mkv",
    "avi": ".avi",
    "wav": ".wav",
    "ogg": ".ogg",
    "mp3": ".mp3",
}


@dataclass(frozen=True)
class _Checked:
    index: int
    source: MediaSource
    local: LocalMedia
    probe: Probe


def media_prefix(tenant_id: str, interview_id: str) -> str:
    """Keys of an interview's media start with its tenant and interview, as every Sightline key does."""
    return f"{tenant_id}/{interview_id}/media"


def media_flags(items: Sequence[tuple[MediaSource, Probe]], expected_duration_s: float) -> list[str]:
    """Facts about the media as a whole, in a stable order."""
    probes = [p for _, p in items]
    videos = [p.video for p in probes if p.video is not None]
    flags: list[str] = []
    if not videos:
        flags.append(MediaFlag.AUDIO_ONLY)
    if all(p.audio is None for p in probes):
        flags.append(MediaFlag.VIDEO_ONLY)
    if videos and any(s.kind == MediaKind.AUDIO for s, _ in items):
        flags.append(MediaFlag.SEPARATE_AUDIO_TRACK)
    if any(v.variable_frame_rate for v in videos):
        flags.append(MediaFlag.VARIABLE_FRAME_RATE)
    if any(v.rotation_deg for v in videos):
        flags.append(MediaFlag.ROTATED)
    if any(min(v.width, v.height) < LOW_RESOLUTION_PX for v in videos):
        flags.append(MediaFlag.LOW_RESOLUTION)
    if any(v.avg_fps < LOW_FRAME_RATE_FPS for v in videos):
        flags.append(MediaFlag.LOW_FRAME_RATE)
    if any(p.audio is not None and p.audio.track_count > 1 for p in probes):
        flags.append(MediaFlag.MULTIPLE_AUDIO_TRACKS)
    tolerance = max(DURATION_TOLERANCE_S, DURATION_TOLERANCE_RATIO * expected_duration_s)
    if any(abs(p.duration_s - expected_duration_s) > tolerance for p in probes):
        flags.append(MediaFlag.DURATION_MISMATCH)
    return [str(f) for f in flags]


class IngestStage:
    stage = StageName.INGEST
    input_topics: Sequence[str] = (topic_for(InterviewCompleted),)
    output_topics: Sequence[str] = (topic_for(MediaIngested),)

    def __init__(
        self,
        store: ObjectStore,
        raw_bucket: str,
        *,
        policy: JurisdictionPolicy | None = None,
        limits: IngestLimits | None = None,
        work_dir: Path | None = None,
        sources: SourcePolicy | None = None,
        staging_grace_s: float = 3600.0,
        models: CompetencyModelLibrary | None = None,
    ) -> None:
        self.store = store
        self.raw_bucket = raw_bucket
        self.policy = policy or JurisdictionPolicy()
        self.limits = limits or IngestLimits()
        self.work_dir = work_dir
        #: Where each tenant's media may be read from; the raw bucket is never a source.
        sources = sources or SourcePolicy(file_roots=local_file_roots())
        self.sources = replace(sources, reserved_buckets=sources.reserved_buckets | {raw_bucket})
        self.staging_grace_s = staging_grace_s
        #: The competency models jobs may name; an interview naming another is refused, not scored blindly.
        self.models = models if models is not None else CompetencyModelLibrary.from_directory(SHIPPED_MODELS_DIR)

    async def start(self) -> None:
        await asyncio.to_thread(self.store.ensure_bucket, self.raw_bucket)
        await asyncio.to_thread(self.remove_orphaned_staging)

    def remove_orphaned_staging(self) -> list[str]:
        """Delete staged uploads older than the grace period (left by a worker that died mid-copy)."""
        cutoff = datetime.now(UTC) - timedelta(seconds=self.staging_grace_s)
        modified = self.store.list_modified(self.raw_bucket, STAGING_PREFIX)
        orphans = sorted(key for key, when in modified.items() if when < cutoff)
        for key in orphans:
            self.store.delete(self.raw_bucket, key)
        if orphans:
            log.warning("removed orphaned staged uploads", extra={"bucket": self.raw_bucket, "count": len(orphans)})
        return orphans

    async def handle(self, event: EventBase, meta: MessageMeta) -> Sequence[EventBase]:
        if not isinstance(event, InterviewCompleted):
            raise Rejected(FailureCode.INVALID_EVENT, f"ingest expects interview-completed, got {event.event_type}")
        return [await asyncio.to_thread(self.ingest, event)]

    # ---- the blocking part, run off the event loop -------------------------------------------------------

    def ingest(self, event: InterviewCompleted) -> MediaIngested:
        try:
            context = decide(event, self.policy, self.limits)
        except PolicyViolation as exc:
            raise Rejected(exc.code, exc.message) from None
        ref = event.job.competency_model
        try:
            self.models.get(ref.id, ref.version)
        except UnknownCompetencyModel as exc:
            raise Rejected(FailureCode.COMPETENCY_MODEL_UNKNOWN, str(exc)) from None
        with tempfile.TemporaryDirectory(prefix="sightline-ingest-", dir=self.work_dir) as tmp:
            checked = [self._check(event.tenant_id, i, source, Path(tmp)) for i, source in enumerate(event.media)]
            stored = [self._store(event, item) for item in checked]
        self.remove_orphaned_staging()
        expected = (event.interview_ended_at - event.interview_started_at).total_seconds()
        return MediaIngested(
            **derived_envelope(event, StageName.INGEST.value, MediaIngested.EVENT_TYPE, producer=PRODUCER),
            context=context,
            media=stored,
            flags=media_flags([(c.source, c.probe) for c in checked], expected),
        )

    def _check(self, tenant_id: str, index: int, source: MediaSource, tmp: Path) -> _Checked:
        """Fetch, verify and probe one item; every refusal is a `Rejected` naming the item."""
        name = f"media[{index}]"
        try:
            local = fetch(
                source.uri, tmp / f"source-{index}", self.store, self.limits.max_size_bytes, self.sources, tenant_id
            )
        except SourceRefused as exc:
            raise Rejected(FailureCode.POLICY_FORBIDS, f"{name}: {exc}") from None
        except SourceUnavailable as exc:
            raise Rejected(FailureCode.UNREACHABLE_SOURCE, f"{name}: {exc}") from None
        except SourceTooLarge as exc:
            raise Rejected(FailureCode.OVER_LIMITS, f"{name} is too large: {exc}") from None
        except OSError as exc:  # connection refused, timeouts, server errors: worth another attempt
            raise Retryable(f"{name}: the source cannot be read right now: {exc}") from exc
        if source.checksum is not None and local.sha256 != source.checksum.value:
            raise Rejected(
                FailureCode.CHECKSUM_MISMATCH,
                f"{name}: announced sha256 {source.checksum.value}, received {local.sha256} ({local.size} bytes)",
            )
        if source.size_bytes is not None and local.size != source.size_bytes:
            code = FailureCode.TRUNCATED_MEDIA if local.size < source.size_bytes else FailureCode.CHECKSUM_MISMATCH
            raise Rejected(code, f"{name}: announced {source.size_bytes} bytes, received {local.size}")
        try:
            probe = probe_file(local.path, PurePosixPath(urlsplit(source.uri).path).name)
        except ProbeFailed as exc:
            raise Rejected(exc.code, f"{name}: {exc.message}") from None
        if probe.duration_s > self.limits.max_duration_s:
            raise Rejected(
                FailureCode.OVER_LIMITS,
                f"{name} lasts {probe.duration_s:.0f} s; the limit is {self.limits.max_duration_s:.0f} s",
            )
        self._check_picture(name, probe)
        return _Checked(index, source, local, probe)

    def _check_picture(self, name: str, probe: Probe) -> None:
        """What a video declares must fit the limits before any frame is decoded: the declared size is what a
        decoder allocates per frame, the declared rate and frame count what frames extracts."""
        video, limits = probe.video, self.limits
        if video is None:
            return
        if video.width * video.height > limits.max_pixels:
            raise Rejected(
                FailureCode.OVER_LIMITS,
                f"{name} declares {video.width}x{video.height} pixels per frame; the limit is {limits.max_pixels} "
                "(SIGHTLINE_INGEST__MAX_PIXELS)",
            )
        most_frames = limits.max_frame_rate * max(probe.duration_s, 1.0)
        if max(video.fps, video.avg_fps) > limits.max_frame_rate or (video.frame_count or 0) > most_frames:
            raise Rejected(
                FailureCode.OVER_LIMITS,
                f"{name} declares {max(video.fps, video.avg_fps):g} frames per second and "
                f"{video.frame_count or 'no'} frames over {probe.duration_s:.0f} s; the limit is "
                f"{limits.max_frame_rate:g} per second (SIGHTLINE_INGEST__MAX_FRAME_RATE)",
            )

    def _store(self, event: InterviewCompleted, item: _Checked) -> StoredMedia:
        suffix = _SUFFIXES.get(item.probe.container, "")
        try:
            with item.local.path.open("rb") as fh:
                obj = self.store.put_content_addressed(
                    self.raw_bucket,
                    media_prefix(event.tenant_id, event.interview_id),
                    fh,
                    suffix=suffix,
                    length=item.local.size,
                    content_type=item.source.content_type,
                    expected_sha256=item.local.sha256,
                    metadata={"source-event-id": str(event.event_id), "source-index": str(item.index)},
                )
        except ChecksumMismatch as exc:  # the source changed between the check and the upload
            message = f"media[{item.index}] changed while it was ingested: {exc}"
            raise Rejected(FailureCode.CHECKSUM_MISMATCH, message) from None
        log.info("media stored", extra={"key": obj.key, "size": obj.size, "source_index": item.index})
        return StoredMedia(
            source_index=item.index,
            kind=item.source.kind,
            object=ObjectRef(
                bucket=obj.bucket, key=obj.key, sha256=obj.sha256, size_bytes=obj.size, content_type=obj.content_type
            ),
            probe=item.probe,
        )


def policy_from(settings: IngestSettings) -> JurisdictionPolicy:
    """The configured policy table; an unknown scope is refused, since a misspelt prohibition would permit it."""
    known = {s.value for s in ConsentScope}
    for key, scopes in settings.prohibited.items():
        unknown = sorted(set(scopes) - known)
        if unknown:
            raise ValueError(f"policy table entry {key!r} names unknown consent scopes: {', '.join(unknown)}")
    table = {key: frozenset(scopes) for key, scopes in settings.prohibited.items()}
    return JurisdictionPolicy(settings.policy_version, table)


def local_file_roots(home: Path = DEFAULT_HOME) -> tuple[Path, ...]:
    """Where the local stack's samples and the tests' files live: file:// sources are read from there by default."""
    return (home, Path(tempfile.gettempdir()))


def sources_from(settings: Settings) -> SourcePolicy:
    """The configured source allowlists; file:// only outside production, under the configured roots."""
    group = settings.ingest
    roots = local_file_roots(settings.stack.home) if group.file_roots is None else tuple(group.file_roots)
    s3 = settings.s3
    return SourcePolicy(
        tenants=tenant_rules(group.sources),
        file_roots=() if settings.environment == "production" else roots,
        reserved_buckets=frozenset({s3.raw_bucket, s3.work_bucket, s3.report_bucket}),
    )


def tenant_rules(sources: Mapping[str, TenantSources]) -> dict[str, SourceRules]:
    """Each tenant's parsed rules; a malformed entry fails the worker's start rather than a later interview."""
    rules: dict[str, SourceRules] = {}
    for tenant, entry in sources.items():
        try:
            rules[tenant] = SourceRules.parse(
                entry.get("s3", []), entry.get("http_hosts", []), entry.get("allowed_networks", [])
            )
        except ValueError as exc:
            raise ValueError(f"ingest sources of tenant {tenant!r}: {exc}") from None
    return rules


def make(settings: Settings) -> IngestStage:
    """Factory for ``sightline worker services.ingest.stage:make``; `SIGHTLINE_INGEST__*` set policy and limits."""
    group = settings.ingest
    return IngestStage(
        ObjectStore(settings.s3),
        settings.s3.raw_bucket,
        policy=policy_from(group),
        limits=IngestLimits(
            max_size_bytes=group.max_size_bytes,
            max_duration_s=group.max_duration_s,
            max_pixels=group.max_pixels,
            max_frame_rate=group.max_frame_rate,
        ),
        sources=sources_from(settings),
        staging_grace_s=group.staging_grace_s,
        models=CompetencyModelLibrary.from_directory(settings.speech.competency_models_dir),
    )


__all__ = ["IngestStage", "local_file_roots", "make", "media_flags", "media_prefix", "policy_from", "sources_from"]
