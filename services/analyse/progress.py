"""Progress per interview and stage, from the stages' status events and fusion's profiles."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import TracebackType

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.analyse.pipeline import DEPLOYED_STAGES
from services.common.contracts import ProfileReady, StageName, StageState, StageStatus, decode, topic_for
from services.common.envelope import KeyErased
from services.common.kafka import connection_kwargs, physical_topic
from services.common.sealing import sealer_for
from services.common.settings import Settings
from services.sink.callback import STATUS_UNIT as CALLBACK_UNIT


@dataclass
class StageTrack:
    total: int = 1
    done: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)


@dataclass
class Tracker:
    """Progress per (interview, stage) from stage statuses; profiles as fusion emits them."""

    interviews: list[str]
    stages: dict[tuple[str, str], StageTrack] = field(default_factory=dict)
    profiles: dict[str, ProfileReady] = field(default_factory=dict)
    stored: set[str] = field(default_factory=set)  # event ids the sink completed

    def add_status(self, status: StageStatus) -> None:
        if status.state not in (StageState.COMPLETED, StageState.FAILED):
            return
        if status.stage == StageName.SINK:
            stored = status.state == StageState.COMPLETED and status.unit != CALLBACK_UNIT  # not the HR callback
            if stored and status.caused_by is not None:
                self.stored.add(str(status.caused_by))
            return
        if status.interview_id not in self.interviews or status.stage == StageName.FUSION:
            return  # fusion's progress is its profile
        track = self.stages.setdefault((status.interview_id, status.stage.value), StageTrack())
        unit_total = status.detail.get("unit_total")
        if isinstance(unit_total, int) and not isinstance(unit_total, bool):
            # frames' bar: the frame ranges of a long recording, and the media event's own message
            track.total = unit_total + (1 if status.detail.get("unit_kind") == "range" else 0)
        unit = status.unit or "whole"
        if status.state == StageState.FAILED:
            track.failed[unit] = status.reason.message if status.reason else "failed"
        else:
            track.done.add(unit)
        if status.stage == StageName.FRAMES and status.state == StageState.COMPLETED:
            # The manifest: how many units vision and speech will report (zero for a missing stream).
            for stage, topic in (("vision", "frame-chunk-ready"), ("speech", "audio-ready")):
                count = next((n for t, n in status.emitted.items() if topic in t), None)
                if count is not None:
                    self.stages.setdefault((status.interview_id, stage), StageTrack()).total = count
            ranges = next((n for t, n in status.emitted.items() if "frame-range-requested" in t), 0)
            if status.unit is None and ranges:
                track.total = ranges + 1

    def add_profile(self, profile: ProfileReady) -> None:
        current = self.profiles.get(profile.interview_id)
        if profile.interview_id in self.interviews and (
            current is None or profile.profile_version >= current.profile_version
        ):
            self.profiles[profile.interview_id] = profile

    def counts(self, interview: str, stage: str) -> tuple[int, int, bool]:
        """(done, total, any failures) for one bar."""
        if stage == StageName.FUSION.value:
            return int(interview in self.profiles), 1, False
        if stage == StageName.SINK.value:
            profile = self.profiles.get(interview)
            return int(profile is not None and str(profile.event_id) in self.stored), 1, False
        track = self.stages.get((interview, stage), StageTrack())
        return min(len(track.done) + len(track.failed), track.total), track.total, bool(track.failed)

    def settled(self, interview: str) -> bool:
        """Failed early, or every bar full, its profile stored by the sink included.

        Waiting for all bars, not only the stored profile, matters on a re-run: fusion re-emits a stored
        profile as soon as the interview is replayed, while the other stages are still redoing (and
        re-announcing) their work.
        """
        return self.failed(interview) or all(
            done >= total for done, total, _ in (self.counts(interview, s) for s in DEPLOYED_STAGES)
        )

    def finished(self) -> bool:
        return all(self.settled(i) for i in self.interviews)

    def failed(self, interview: str) -> bool:
        return any(
            t.failed for (i, stage), t in self.stages.items() if i == interview and stage in ("ingest", "frames")
        )

    def reasons(self, interview: str) -> list[str]:
        return [m for (i, _), t in self.stages.items() if i == interview for m in t.failed.values()]


class StatusFeed:
    """Reads stage statuses and profiles produced since ``since_ms`` into a tracker (a re-run on a running
    stack must not count the previous run's records, which the topics still hold)."""

    def __init__(self, settings: Settings, tracker: Tracker, since_ms: int | None = None) -> None:
        self.settings = settings
        self.tracker = tracker
        self.since_ms = int(time.time() * 1000) if since_ms is None else since_ms
        self.status_topic = physical_topic(settings.kafka, topic_for(StageStatus))
        self.profile_topic = physical_topic(settings.kafka, topic_for(ProfileReady))
        self._consumer = AIOKafkaConsumer(**connection_kwargs(settings.kafka, "progress"), enable_auto_commit=False)
        # Statuses are sealed with the interview's key when encryption at rest is on.
        self._sealer = sealer_for(settings)

    async def __aenter__(self) -> StatusFeed:
        consumer = self._consumer
        await consumer.start()
        try:
            tps = [
                TopicPartition(t, p)
                for t in (self.status_topic, self.profile_topic)
                for p in consumer.partitions_for_topic(t) or ()
            ]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
        except BaseException:
            await consumer.stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._consumer.stop()

    async def poll(self, timeout_ms: int = 500) -> None:
        batch = await self._consumer.getmany(timeout_ms=timeout_ms)
        for tp, records in batch.items():
            for record in records:
                if record.timestamp < self.since_ms:
                    continue
                if tp.topic == self.profile_topic:
                    profile = decode(topic_for(ProfileReady), record.value or b"")
                    if isinstance(profile, ProfileReady):
                        self.tracker.add_profile(profile)
                else:
                    value = record.value or b""
                    if self._sealer is not None:
                        try:
                            value = await self._sealer.open(record.key, value)
                        except KeyErased:
                            continue  # an erased interview's status: nothing to follow
                    status = decode(topic_for(StageStatus), value)
                    if isinstance(status, StageStatus):
                        self.tracker.add_status(status)


__all__ = ["StageTrack", "StatusFeed", "Tracker"]
