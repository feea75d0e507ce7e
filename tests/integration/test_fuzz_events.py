"""Fuzzed records on every input topic of every stage, through the shared `MessageProcessor` and each stage's
real handler, on the local stack (broker, S3 gateway, chDB).

Every adversarial record (tests/integration/fuzz_messages.py) must end in a recorded failure: a dead letter
or a failed status, each with its reason. No exception may escape the processor (a worker would stop), and
no profile may come out of bad input. A record the contract accepts (a wrong type that happens to be allowed,
say) may complete, except a reversed window or a unit past its manifest, which must fail too. The counts
are printed at the end of the module.

Vision and speech run without their models (not started): their input is refused before a model is used, and
a record speech accepts would need the models, so speech gets only records its contract refuses.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.contracts import (
    TOPICS,
    AudioReady,
    CandidateDemographics,
    CandidateOutcome,
    ContractError,
    FrameChunkReady,
    FrameRangeRequested,
    InterviewCompleted,
    MediaIngested,
    ProfileReady,
    RescoreRequested,
    ReviewDecision,
    SpeechResults,
    StageStatus,
    VisionFeatures,
    dead_letter_topic,
    decode,
    decode_dead_letter,
    topic_for,
)
from services.common.handler import MessageMeta
from services.common.kafka import create_producer, ensure_topics, physical_topic
from services.common.metrics import create_metrics
from services.common.objectstore import ObjectStore
from services.common.processing import MessageProcessor
from services.common.settings import Settings
from services.frames.stage import FramesStage
from services.fusion.stage import FusionStage
from services.ingest.stage import IngestStage
from services.sink.dead_letters import DeadLetterInput, DeadLetterProcessor
from services.sink.stage import SinkStage
from services.speech.stage import SpeechStage
from services.vision.stage import VisionStage
from tests.integration.fuzz_messages import KINDS, Fuzzed, example_document, fuzzed
from tests.integration.kafka_helpers import read_all
from tests.integration.test_sink import query, sink_settings

#: Records per input topic and kind: 2 in `make test` (the module stays under a minute, the same records every
#: run); SIGHTLINE_FUZZ_EXAMPLES=60 explores further with fresh random records.
EXAMPLES = int(os.environ.get("SIGHTLINE_FUZZ_EXAMPLES", "2"))
#: What each record ended as, by (stage, kind): "dead_letter", "failed", "completed" (valid by contract).
OUTCOMES: Counter[tuple[str, str, str]] = Counter()


@dataclass
class Harness:
    name: str
    processor: MessageProcessor
    topics: tuple[str, ...]
    offsets: Counter[str]
    #: Records of these topics the contract accepts are not run (speech without its models).
    decodable_skipped: bool = False

    def meta(self, topic: str, record: Fuzzed) -> MessageMeta:
        self.offsets[topic] += 1
        return MessageMeta(
            topic=topic, partition=0, offset=self.offsets[topic], key=record.key, timestamp_ms=None,
            headers=record.headers,
        )  # fmt: skip


def _total(harness: Harness, metric: str) -> float:
    total = 0.0
    for family in harness.processor.metrics.registry.collect():
        for sample in family.samples:
            if sample.name == f"{metric}_total" and sample.labels.get("stage") == harness.processor.metrics_label:
                total += sample.value
    return total


async def _topics(settings: Settings) -> None:
    """Every registered topic with its real limits (a dead letter of a 1 MiB record needs the 4 MiB topic)."""
    await ensure_topics(
        settings.kafka,
        [
            (physical_topic(settings.kafka, spec.name), 2, {"max.message.bytes": str(spec.max_message_bytes)})
            for spec in TOPICS.values()
        ],
    )


async def _fuzz(harness: Harness, topic: str, kind: str, data: st.DataObject) -> None:
    """One record of ``kind`` for ``topic``, drawn and handled."""
    await _run(harness, topic, data.draw(fuzzed(topic, (kind,)), label="record"))


async def _run(harness: Harness, topic: str, record: Fuzzed) -> None:
    try:
        decode_dead_letter(record.value) if TOPICS[topic].is_dead_letter else decode(topic, record.value)
        decodable = True
    except ContractError:
        decodable = False
    if decodable and harness.decodable_skipped:
        OUTCOMES[(harness.name, record.kind, "skipped")] += 1
        return
    failed, lettered = _total(harness, "sightline_messages_failed"), _total(harness, "sightline_messages_dead_lettered")
    await harness.processor.process(harness.meta(topic, record), record.value)  # must not raise
    if _total(harness, "sightline_messages_dead_lettered") > lettered:
        outcome = "dead_letter"
    elif _total(harness, "sightline_messages_failed") > failed:
        outcome = "failed"
    else:
        outcome = "completed"
    OUTCOMES[(harness.name, record.kind, outcome)] += 1
    if outcome == "completed":
        assert decodable and record.kind != "window_order", f"{harness.name} completed {record!r}"


FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, derandomize="SIGHTLINE_FUZZ_EXAMPLES" not in os.environ, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip


@pytest.fixture(scope="module")
async def fuzz_settings(stack_settings: Settings) -> Settings:
    settings = await sink_settings(stack_settings)  # a database and consumer groups of its own
    token = uuid.uuid4().hex[:8]
    settings = settings.model_copy(
        update={
            "kafka": settings.kafka.model_copy(update={"topic_prefix": f"fuzz{token}."}),
            "worker": settings.worker.model_copy(update={"max_attempts": 2}),
            "s3": settings.s3.model_copy(
                update={"work_bucket": f"fz-work-{token}", "report_bucket": f"fz-rep-{token}"}
            ),
        }
    )
    await _topics(settings)
    return settings


async def _harness(settings: Settings, name: str, handler: Any, topics: tuple[str, ...], **kw: Any) -> Harness:
    processor_class = kw.pop("processor_class", MessageProcessor)
    processor = processor_class(handler, settings, create_metrics(), name)
    processor.producer = create_producer(settings.kafka, f"fuzz-{name}")
    await processor.producer.start()
    return Harness(name, processor, topics, Counter(), **kw)


@pytest.fixture(scope="module")
async def ingest(fuzz_settings: Settings) -> AsyncIterator[Harness]:
    stage = IngestStage(ObjectStore(fuzz_settings.s3), fuzz_settings.s3.work_bucket)
    await stage.start()
    harness = await _harness(fuzz_settings, "ingest", stage, (topic_for(InterviewCompleted),))
    yield harness
    await harness.processor.producer.stop()  # type: ignore[union-attr]


@pytest.fixture(scope="module")
async def frames(fuzz_settings: Settings) -> AsyncIterator[Harness]:
    stage = FramesStage(ObjectStore(fuzz_settings.s3), fuzz_settings.s3.work_bucket)
    await stage.start()
    harness = await _harness(fuzz_settings, "frames", stage, tuple(stage.input_topics))
    yield harness
    await harness.processor.producer.stop()  # type: ignore[union-attr]


@pytest.fixture(scope="module")
async def vision(fuzz_settings: Settings) -> AsyncIterator[Harness]:
    store = ObjectStore(fuzz_settings.s3)
    store.ensure_bucket(fuzz_settings.s3.work_bucket)
    stage = VisionStage(store, fuzz_settings.s3.work_bucket, fuzz_settings.vision)  # models never loaded
    harness = await _harness(fuzz_settings, "vision", stage, (topic_for(FrameChunkReady),))
    yield harness
    await harness.processor.producer.stop()  # type: ignore[union-attr]


@pytest.fixture(scope="module")
async def speech(fuzz_settings: Settings) -> AsyncIterator[Harness]:
    stage = SpeechStage(ObjectStore(fuzz_settings.s3), fuzz_settings.speech)  # models never loaded
    harness = await _harness(fuzz_settings, "speech", stage, (topic_for(AudioReady),), decodable_skipped=True)
    yield harness
    await harness.processor.producer.stop()  # type: ignore[union-attr]


@pytest.fixture(scope="module")
async def fusion(fuzz_settings: Settings) -> AsyncIterator[Harness]:
    stage = FusionStage(fuzz_settings)
    await stage.start()
    harness = await _harness(fuzz_settings, "fusion", stage, tuple(stage.input_topics))
    yield harness
    await harness.processor.producer.stop()  # type: ignore[union-attr]
    await stage.stop()


@pytest.fixture(scope="module")
async def sink(fuzz_settings: Settings) -> AsyncIterator[tuple[Harness, Harness, SinkStage]]:
    stage = SinkStage(fuzz_settings)
    await stage.start()
    rows = await _harness(fuzz_settings, "sink", stage, (*stage.input_topics, topic_for(StageStatus)))
    letters = await _harness(
        fuzz_settings, "sink-dead-letters", DeadLetterInput(stage), tuple(DeadLetterInput.input_topics),
        processor_class=DeadLetterProcessor,
    )  # fmt: skip
    yield rows, letters, stage
    for harness in (rows, letters):
        await harness.processor.producer.stop()  # type: ignore[union-attr]
    await stage.stop()


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(data=st.data())
async def test_ingest_input(ingest: Harness, kind: str, data: st.DataObject) -> None:
    await _fuzz(ingest, topic_for(InterviewCompleted), kind, data)


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(data=st.data())
async def test_frames_input(frames: Harness, kind: str, data: st.DataObject) -> None:
    await _fuzz(frames, topic_for(MediaIngested), kind, data)


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(data=st.data())
async def test_frames_range_input(frames: Harness, kind: str, data: st.DataObject) -> None:
    await _fuzz(frames, topic_for(FrameRangeRequested), kind, data)


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(data=st.data())
async def test_vision_input(vision: Harness, kind: str, data: st.DataObject) -> None:
    await _fuzz(vision, topic_for(FrameChunkReady), kind, data)


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(data=st.data())
async def test_speech_input(speech: Harness, kind: str, data: st.DataObject) -> None:
    await _fuzz(speech, topic_for(AudioReady), kind, data)


FUSION_INPUTS = [topic_for(c) for c in (MediaIngested, StageStatus, VisionFeatures, SpeechResults, RescoreRequested)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("topic", FUSION_INPUTS)
@FUZZ
@given(data=st.data())
async def test_fusion_inputs(fusion: Harness, topic: str, kind: str, data: st.DataObject) -> None:
    await _fuzz(fusion, topic, kind, data)


SINK_INPUTS = [
    topic_for(c)
    for c in (
        MediaIngested, VisionFeatures, SpeechResults, ProfileReady, CandidateDemographics, ReviewDecision,
        CandidateOutcome, StageStatus,
    )
]  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("topic", [*SINK_INPUTS, dead_letter_topic("vision")])
@FUZZ
@given(data=st.data())
async def test_sink_inputs(
    sink: tuple[Harness, Harness, SinkStage], topic: str, kind: str, data: st.DataObject
) -> None:
    rows, letters, stage = sink
    record = data.draw(fuzzed(topic, (kind,)), label="record")
    await _run(letters if TOPICS[topic].is_dead_letter else rows, topic, record)
    await stage.flush()  # a row ClickHouse refuses must be set aside, never raise


async def test_a_time_clickhouse_cannot_keep_is_a_failure_not_a_lost_row(
    sink: tuple[Harness, Harness, SinkStage], fuzz_settings: Settings
) -> None:
    """Found by the fuzzing: a year-9999 `occurred_at` was accepted, inserted, and dropped unseen by the TTL."""
    rows, _, stage = sink
    # An event id of its own: the fuzzed records reuse the example's, and the sink keeps one row per event.
    document = dict(
        example_document(topic_for(VisionFeatures)), event_id=str(uuid.uuid4()), occurred_at="9999-12-31T23:59:59Z"
    )
    record = Fuzzed("numeric_extreme", json.dumps(document).encode(), None, ())
    await _run(rows, topic_for(VisionFeatures), record)
    assert OUTCOMES[("sink", "numeric_extreme", "failed")] >= 1
    await stage.flush()
    reasons = await query(fuzz_settings, "SELECT reason FROM sightline.sink_rejected_rows FINAL")
    assert any("produced_at in year 9999 is outside" in r[0] for r in reasons), reasons


async def test_no_profile_came_out_of_fuzzed_input(fuzz_settings: Settings) -> None:
    """Not even a partial one: fusion published no profile. (The sink stores the profile-ready records its
    contract accepts: they are profiles, not bad input.)"""
    assert await read_all(fuzz_settings.kafka, topic_for(ProfileReady), quiet_s=0.3) == []


def test_print_the_counts(capsys: pytest.CaptureFixture[str]) -> None:
    """The tally, per stage and kind: dead-lettered, failed, completed (accepted by contract), skipped."""
    stages = sorted({s for s, _, _ in OUTCOMES})
    with capsys.disabled():
        print("\nfuzzed records (dead_letter / failed / completed / skipped):")
        for name in stages:
            cells = []
            for kind in KINDS:
                n = [OUTCOMES[(name, kind, o)] for o in ("dead_letter", "failed", "completed", "skipped")]
                if sum(n):
                    cells.append(f"{kind} {'/'.join(map(str, n))}")
            print(f"  {name:18} " + ", ".join(cells))
    assert stages, "no record was fuzzed"
    assert all(
        sum(OUTCOMES[(s, k, o)] for o in ("dead_letter", "failed", "completed", "skipped"))
        for s in stages
        for k in KINDS
    )
    assert all((s, "window_order", "completed") not in OUTCOMES for s in stages)
