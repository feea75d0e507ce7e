"""The fusion stage: an interview's vision features and speech results in, one candidate profile out.

Inputs (all keyed ``<tenant>/<interview>`` and co-partitioned, so one instance sees all of an interview):

* ``media-ingested`` opens the interview: its context and media flags, and the start of its deadline;
* frames' completed ``stage-status`` gives the manifest (``emitted`` counts chunks and segments, zeros
  included); a failed frames status means there will be no parts at all;
* ``vision-features`` and ``speech-results`` are the parts; a vision or speech status ``failed`` for a
  unit counts that unit as arrived-but-missing, so nobody waits for it;
* ``rescore-requested`` names another competency-model version (after `sightline calibrate --apply`): the
  interview is scored with it from then on, at once as the next profile version when it already has one.

When every unit of the manifest has arrived, the profile is scored, its report written, and a
``profile-ready`` event emitted. When nothing new arrives for ``deadline_s``, a sweeper writes a
partial profile flagged with what is missing. Parts arriving after that give a new profile version.

State lives in the object store (`services.fusion.ledger`), so a restart or a rebalance resumes from
what is stored; replayed messages overwrite their own part and re-emit the stored profile byte for byte,
unless a part now comes from other model versions (a re-run after an upgrade: scored again as the next
version once the interview's parts stop changing for ``deadline_s``) or fusion's own scoring model changed
(scored again at once).
Fusion runs as a faust-streaming agent (engine "faust", `services.common.faust_worker`); faust's assignor
keeps the five co-partitioned inputs of an interview on one instance. It keeps no faust table: a table
restored from its changelog can miss the last updates (the local broker's recovery does), while state that
*is* the stored parts needs no changelog, and it is the same state the report and `sightline report` read.
The deadline sweeper runs beside the agent and covers only interviews on partitions this instance owns, so
replicas never finalise one interview twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer

from services.common.competency import CompetencyModelLibrary, UnknownCompetencyModel
from services.common.contracts import (
    AudioReady,
    EventBase,
    FailureCode,
    FrameChunkReady,
    MediaIngested,
    ProfileReady,
    RescoreRequested,
    SpeechResults,
    StageName,
    StageState,
    StageStatus,
    VisionFeatures,
    encode,
    message_key,
    topic_for,
)
from services.common.handler import MessageMeta, Rejected
from services.common.kafka import create_producer, physical_topic
from services.common.objectstore import ObjectStore
from services.common.settings import Settings
from services.fusion.inputs import InterviewInputs, Manifest
from services.fusion.jobmodel import job_model
from services.fusion.ledger import Ledger, Snapshot
from services.fusion.profile import build_profile
from services.fusion.reports import ReportWriter
from services.fusion.scoring import SCORING_MODEL_VERSION, score_interview

log = logging.getLogger(__name__)

#: Which stage's failed unit counts against which manifest.
_FAILED_UNITS = {StageName.VISION: "chunk", StageName.SPEECH: "segment"}


class FusionStage:
    stage = StageName.FUSION.value
    engine = "faust"
    input_topics = (
        topic_for(MediaIngested),
        topic_for(StageStatus),
        topic_for(VisionFeatures),
        topic_for(SpeechResults),
        topic_for(RescoreRequested),
    )
    output_topics = (topic_for(ProfileReady),)

    def __init__(self, settings: Settings, store: ObjectStore | None = None) -> None:
        self.settings = settings
        self.config = settings.fusion
        self.store = store or ObjectStore(settings.s3)
        self.ledger = Ledger(self.store, settings.s3.work_bucket)
        self.reports = ReportWriter(self.store, settings.s3.report_bucket, render_html=self.config.render_reports)
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()
        self._producer: AIOKafkaProducer | None = None
        self._models: CompetencyModelLibrary | None = None
        self._sweeper: asyncio.Task[None] | None = None
        #: Partitions this instance owns (None until an engine says: all); it sweeps only their interviews.
        self._owned: frozenset[int] | None = None

    # ---- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.to_thread(self.store.ensure_buckets)
        # The same library speech scores against: weights, question targets and label thresholds.
        self._models = await asyncio.to_thread(
            CompetencyModelLibrary.from_directory, self.settings.speech.competency_models_dir
        )
        self._producer = create_producer(self.settings.kafka, "fusion-deadline-producer")
        await self._producer.start()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="fusion-deadline-sweeper")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._producer is not None:
            await self._producer.stop()

    def assigned(self, partitions: frozenset[int]) -> None:
        """Called by the engine after a rebalance: another instance sweeps the interviews it now owns."""
        self._owned = partitions

    # ---- messages ---------------------------------------------------------------------------------

    async def handle(self, event: EventBase, meta: MessageMeta) -> Sequence[EventBase]:
        tenant, interview = event.tenant_id, event.interview_id
        async with self._lock(tenant, interview):
            if isinstance(event, RescoreRequested):
                return await self._rescore(event)
            if not await asyncio.to_thread(self._record, event, meta.partition):
                return []
            return await self._finalise(tenant, interview, overdue=False)

    async def _rescore(self, event: RescoreRequested) -> list[EventBase]:
        """Record the requested competency-model version; score now when the interview already has a profile
        (it was complete or its deadline passed), else when it completes."""
        ref = event.competency_model
        if self._models is not None:
            try:
                self._models.get(ref.id, ref.version)
            except UnknownCompetencyModel as exc:
                raise Rejected(FailureCode.COMPETENCY_MODEL_UNKNOWN, f"cannot score again: {exc}") from None
        await asyncio.to_thread(self.ledger.request_model, event)
        snap = await asyncio.to_thread(self.ledger.snapshot, event.tenant_id, event.interview_id)
        return await self._finalise(event.tenant_id, event.interview_id, overdue=snap.latest_profile is not None)

    def _record(self, event: EventBase, partition: int) -> bool:
        """Store what the event adds to the interview's state; False when it adds nothing."""
        if isinstance(event, MediaIngested):
            self.ledger.open_interview(event, partition)
        elif isinstance(event, VisionFeatures):
            self.ledger.put_vision(event, partition)
        elif isinstance(event, SpeechResults):
            self.ledger.put_speech(event, partition)
        elif isinstance(event, StageStatus):
            return self._record_status(event, partition)
        else:
            return False
        return True

    def _record_status(self, status: StageStatus, partition: int) -> bool:
        if status.stage == StageName.FRAMES and status.detail.get("unit_kind") == "range":
            return self._record_range_status(status)
        if status.stage == StageName.FRAMES and status.state in (StageState.COMPLETED, StageState.FAILED):
            if status.caused_by is None:
                return False
            failed = status.state == StageState.FAILED
            reason = status.reason.message if failed and status.reason else None
            manifest = Manifest(
                media_event_id=str(status.caused_by),
                chunks=0 if failed else status.emitted.get(topic_for(FrameChunkReady), 0),
                segments=0 if failed else status.emitted.get(topic_for(AudioReady), 0),
                frames_failed=(reason or "frames failed") if failed else None,
            )
            self.ledger.put_manifest(status.tenant_id, status.interview_id, manifest, partition)
            return True
        unit_kind = _FAILED_UNITS.get(StageName(status.stage))
        if unit_kind is not None and status.state == StageState.FAILED:
            index = status.detail.get("unit_index")
            if isinstance(index, int) and not isinstance(index, bool):
                self.ledger.put_failure(status, unit_kind, index)
                return True
        return False

    def _record_range_status(self, status: StageStatus) -> bool:
        """A frame range is not the manifest (the media event's status is); a failed one fails its chunks, so the
        profile says they are missing at once instead of waiting for the deadline."""
        first, end = status.detail.get("chunk_start"), status.detail.get("chunk_end")
        if status.state != StageState.FAILED or not isinstance(first, int) or not isinstance(end, int):
            return False
        for index in range(first, end):
            self.ledger.put_failure(status, "chunk", index)
        return True

    # ---- profiles ---------------------------------------------------------------------------------

    def _lock(self, tenant: str, interview: str) -> asyncio.Lock:
        # Weakly held: a lock lives while someone holds or waits for it, so finished interviews leave nothing.
        lock = self._locks.get((tenant, interview))
        if lock is None:
            lock = self._locks[(tenant, interview)] = asyncio.Lock()
        return lock

    async def _finalise(self, tenant: str, interview: str, *, overdue: bool) -> list[EventBase]:
        profile = await asyncio.to_thread(self._profile_if_due, tenant, interview, overdue)
        return [profile] if profile is not None else []

    def _profile_if_due(self, tenant: str, interview: str, overdue: bool) -> ProfileReady | None:
        snap = self.ledger.snapshot(tenant, interview)
        if not snap.has_ingested:
            return None  # nothing to build a profile around yet (statuses can arrive first)
        manifest = self._manifest(tenant, interview, snap, overdue)
        if manifest is None:
            return None
        complete = (
            _received(snap.vision, snap.failed_chunks) >= manifest.chunks
            and _received(snap.speech, snap.failed_segments) >= manifest.segments
        )
        if not complete and not overdue:
            return None
        latest = snap.latest_profile
        if latest is not None:
            stored = self.ledger.profile(tenant, interview, latest)
            if _same_coverage(stored, snap):
                if snap.rescore and not overdue:
                    # Parts are being re-computed (a re-run after an upgrade): score them once they stop
                    # changing, when the deadline sweep finds the interview quiet, not once per part.
                    return None
                if (
                    not snap.rescore
                    and stored.scoring_model_version == SCORING_MODEL_VERSION
                    and self._scored_with_requested_model(stored, snap)
                ):
                    # A replay, or a late duplicate: the answer is what was already said, byte for byte.
                    if complete or overdue:
                        self.ledger.close(tenant, interview)
                    return stored
        inputs = self._with_job_model(self.ledger.load(tenant, interview, snap, manifest))
        profile = self._score(inputs, version=(latest or 0) + 1)
        self.ledger.put_profile(profile)
        if snap.rescore:
            self.ledger.rescored(tenant, interview)
        self.ledger.close(tenant, interview)
        log.info(
            "profile ready",
            extra={"version": profile.profile_version, "label": profile.label.value, "complete": complete},
        )
        return profile

    def _scored_with_requested_model(self, stored: ProfileReady, snap: Snapshot) -> bool:
        if not snap.model_requested:
            return True
        requested = self.ledger.requested_model(stored.tenant_id, stored.interview_id)
        return requested is None or requested == stored.context.job.competency_model

    def _manifest(self, tenant: str, interview: str, snap: Snapshot, overdue: bool) -> Manifest | None:
        if snap.has_manifest:
            return self.ledger.manifest(tenant, interview)
        if not overdue:
            return None
        # Frames never reported: the parts that did arrive carry the totals of their manifests.
        inputs = self.ledger.load(
            tenant, interview, snap, Manifest(media_event_id="", chunks=0, segments=0, frames_failed=None)
        )
        chunks = max((v.total_chunks for v in inputs.vision), default=0)
        segments = max((s.total_segments for s in inputs.speech), default=0)
        return Manifest(
            media_event_id=str(inputs.ingested.event_id),
            chunks=chunks,
            segments=segments,
            frames_failed=None if chunks or segments else "frames did not report before the deadline",
        )

    def _with_job_model(self, inputs: InterviewInputs) -> InterviewInputs:
        ref = inputs.ingested.context.job.competency_model
        if self._models is None:
            return inputs
        try:
            return replace(inputs, job_model=job_model(self._models.get(ref.id, ref.version)))
        except UnknownCompetencyModel:
            log.warning("competency model %s@%s not configured: equal weights, default thresholds", ref.id, ref.version)
            return inputs

    def _score(self, inputs: InterviewInputs, *, version: int) -> ProfileReady:
        scores = score_interview(inputs, self.config)
        # The report shows the profile, and the profile points at the report: render from a draft whose
        # report reference is filled in once the report is stored.
        draft = build_profile(
            inputs, scores, version=version, report=self.reports.planned(inputs, version), occurred_at=datetime.now(UTC)
        )
        return draft.model_copy(update={"report": self.reports.write(inputs, scores, draft)})

    # ---- deadline ---------------------------------------------------------------------------------

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.sweep_interval_s)
            try:
                await self.sweep()
            except Exception:
                log.exception("deadline sweep failed; trying again next interval")

    async def sweep(self, now: datetime | None = None) -> list[ProfileReady]:
        """Write partial profiles for this instance's interviews that made no progress for ``deadline_s``."""
        emitted: list[ProfileReady] = []
        cutoff = (now or datetime.now(UTC)) - timedelta(seconds=self.config.deadline_s)
        for pending in await asyncio.to_thread(self.ledger.pending):
            if not pending.owned_by(self._owned):
                continue
            tenant, interview = pending.tenant_id, pending.interview_id
            async with self._lock(tenant, interview):
                snap = await asyncio.to_thread(self.ledger.snapshot, tenant, interview)
                if snap.last_progress is not None and snap.last_progress > cutoff:
                    continue
                events = await self._finalise(tenant, interview, overdue=True)
                if not events:
                    await asyncio.to_thread(self.ledger.close, tenant, interview)
                    continue
                for event in events:
                    assert isinstance(event, ProfileReady)
                    await self._publish(event)
                    emitted.append(event)
        return emitted

    async def _publish(self, event: ProfileReady) -> None:
        assert self._producer is not None, "start() first"
        topic = physical_topic(self.settings.kafka, topic_for(event))
        await self._producer.send_and_wait(topic, encode(event), key=message_key(event))


def _received(parts: set[int], failed: set[int]) -> int:
    return len(parts | failed)


def _same_coverage(profile: ProfileReady, snap: Snapshot) -> bool:
    return profile.coverage.vision_chunks.received == len(
        snap.vision
    ) and profile.coverage.speech_segments.received == len(snap.speech)


def make(settings: Settings) -> FusionStage:
    """Factory for ``sightline worker services.fusion.stage:make``."""
    return FusionStage(settings)


__all__ = ["FusionStage", "make"]
