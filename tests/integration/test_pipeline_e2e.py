"""The whole pipeline on the local stack: two generated candidates for one job, from the HR system's
interview-completed events to profiles in ClickHouse, every stage in the real worker loop.

The samples' ground truth says which candidate is stronger (structured, specific answers; smiling) and
when each question was asked; the profiles must order the same way and their evidence must point inside
the answers it quotes.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from services.common.clickhouse import DirectWarehouse
from services.common.contracts import (
    TOPICS,
    EvidenceKind,
    InterviewCompleted,
    ObjectRef,
    ProfileReady,
    StageName,
    StageStatus,
    encode,
    message_key,
    topic_for,
)
from services.common.engines import create_worker
from services.common.objectstore import ObjectStore
from services.common.settings import Settings
from services.frames.stage import make as make_frames
from services.fusion.scoring import EXPRESSION_POSITIVITY
from services.fusion.stage import make as make_fusion
from services.ingest.stage import make as make_ingest
from services.samples import SampleSpec, generate_interview
from services.samples.event import interview_event
from services.sink.callback import STATUS_UNIT as CALLBACK_UNIT
from services.sink.stage import make as make_sink
from services.speech.stage import make as make_speech
from services.vision.stage import make as make_vision
from tests.integration.kafka_helpers import (
    Record,
    create_topics,
    distinct_events,
    pipeline_settings,
    publish,
    read_topic,
)

PROFILES = topic_for(ProfileReady)
STATUS = topic_for(StageStatus)


@pytest.fixture(scope="module")
def candidates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, InterviewCompleted]:
    out = tmp_path_factory.mktemp("e2e-samples")
    suffix = uuid.uuid4().hex[:6]
    events = {}
    for name, candidate, variant, seed in (("strong", "strong", "smiling", 21), ("weak", "weak", "neutral", 22)):
        spec = SampleSpec(seed=seed, duration=40.0, fps=10, candidate=candidate, variant=variant)
        result = generate_interview(spec, out, name=f"e2e-{name}")
        events[name] = interview_event(result, tenant_id="acme", interview_id=f"e2e-{name}-{suffix}")
    return events


@pytest.fixture
def settings(stack_settings: Settings, tmp_path: Path) -> Settings:
    return pipeline_settings(stack_settings, tmp_path)


async def test_two_candidates_end_to_end(settings: Settings, candidates: dict[str, InterviewCompleted]) -> None:
    await create_topics(settings.kafka, TOPICS)
    factories = (make_ingest, make_frames, make_vision, make_speech, make_fusion, make_sink)
    workers = [create_worker(factory(settings), settings) for factory in factories]  # fusion on faust
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        await publish(
            settings.kafka,
            topic_for(InterviewCompleted),
            [(message_key(e), encode(e)) for e in candidates.values()],
        )
        records = await read_topic(settings.kafka, PROFILES, lambda r: len(distinct_events(r, PROFILES)) >= 2, 600)
        profiles = {p.interview_id: p for p in distinct_events(records, PROFILES) if isinstance(p, ProfileReady)}

        wanted = {str(p.event_id) for p in profiles.values()}

        def sink_done(records: list[Record]) -> bool:
            done = {
                str(st.caused_by)
                for st in distinct_events(records, STATUS)
                if isinstance(st, StageStatus)
                and st.stage == StageName.SINK
                and st.state.value == "completed"
                and st.unit != CALLBACK_UNIT  # the row writer, not the HR callback sender
            }
            return wanted <= done

        await read_topic(settings.kafka, STATUS, sink_done, 120)
    finally:
        for w in workers:
            w.stop()
        await asyncio.gather(*tasks, return_exceptions=True)

    # The sink has let go of the embedded ClickHouse: read what it wrote.
    warehouse = DirectWarehouse(settings.clickhouse)
    try:
        _, rows = warehouse.query_rows(
            f"SELECT interview_id, overall FROM {settings.clickhouse.database}.latest_profiles ORDER BY interview_id"
        )
    finally:
        warehouse.close()
    assert {r[0]: r[1] for r in rows} == {p.interview_id: p.overall for p in profiles.values()}

    strong = profiles[candidates["strong"].interview_id]
    weak = profiles[candidates["weak"].interview_id]
    assert strong.overall is not None and weak.overall is not None
    assert strong.overall > weak.overall
    competency = {d.dimension for d in strong.dimensions if d.kind.value == "competency"}
    assert competency, "answers were scored against the job's competencies"
    weak_scores = {d.dimension: d.score for d in weak.dimensions}
    assert sum(d.score for d in strong.dimensions if d.dimension in competency) > sum(
        weak_scores.get(c, 0.0) for c in competency
    )
    positivity = {p.interview_id: {d.dimension: d.score for d in p.dimensions} for p in (strong, weak)}
    assert positivity[strong.interview_id][EXPRESSION_POSITIVITY] > positivity[weak.interview_id][EXPRESSION_POSITIVITY]
    for profile, event in ((strong, candidates["strong"]), (weak, candidates["weak"])):
        assert profile.coverage.vision_chunks.received == profile.coverage.vision_chunks.expected > 0
        assert profile.coverage.speech_segments.received == profile.coverage.speech_segments.expected > 0
        windows = [(q.start_s, q.end_s) for q in event.questions]
        quotes = [e for d in profile.dimensions for e in d.evidence if e.kind == EvidenceKind.QUOTE]
        assert quotes, "competency scores come with quotes"
        for quote in quotes:  # every quote lies inside an answer window of the interview
            assert any(s - 0.5 <= quote.start_s and quote.end_s <= e + 0.5 for s, e in windows), quote
        frames = [e.object for d in profile.dimensions for e in d.evidence if e.kind == EvidenceKind.KEY_FRAME]
        store = ObjectStore(settings.s3)
        for ref in frames:
            assert isinstance(ref, ObjectRef) and store.exists(ref.bucket, ref.key)
        assert isinstance(profile.report, ObjectRef) and store.exists(profile.report.bucket, profile.report.key)
