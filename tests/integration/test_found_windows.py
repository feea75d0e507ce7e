"""Interviews without question windows through ingest, frames, speech and fusion on the local stack.

Two generated recordings, audio only: a two-way interview (an interviewer's voice asks, the candidate answers)
whose event lists the questions without windows, and a one-way interview (questions on screen, one voice)
whose event lists no question at all, so the job's question bank is searched. The generator's script is the
truth: the profile's context must hold the windows it says, within 1.5 s, with the right questions; the
one-voice profile must either find its listed questions or say it could not tell.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from services.common.contracts import (
    DataQualityFlag,
    InterviewCompleted,
    ObjectRef,
    ProfileReady,
    encode,
    message_key,
    topic_for,
)
from services.common.engines import create_worker
from services.common.objectstore import ObjectStore
from services.common.settings import Settings
from services.frames.stage import make as make_frames
from services.fusion.stage import make as make_fusion
from services.ingest.stage import make as make_ingest
from services.samples import SampleResult, SampleSpec, generate_interview
from services.samples.event import interview_event, question_id
from services.speech.stage import make as make_speech
from tests.integration.kafka_helpers import create_topics, distinct_events, isolated, publish, read_topic

PROFILES = topic_for(ProfileReady)
TOLERANCE_S = 1.5


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SampleResult]:
    out = tmp_path_factory.mktemp("untimed-samples")
    return {
        name: generate_interview(SampleSpec(seed=seed, duration=60.0, video=False, interviewer_voice=voice), out)
        for name, seed, voice in (("two", 31, True), ("one", 32, False))
    }


@pytest.fixture
def settings(stack_settings: Settings) -> Settings:
    base = isolated(stack_settings)
    suffix = uuid.uuid4().hex[:8]
    s3 = base.s3.model_copy(
        update={"raw_bucket": f"raw-{suffix}", "work_bucket": f"work-{suffix}", "report_bucket": f"rep-{suffix}"}
    )
    settings = base.model_copy(update={"s3": s3})
    ObjectStore(settings.s3).ensure_buckets()
    return settings


async def test_windows_found_through_the_pipeline(settings: Settings, recordings: dict[str, SampleResult]) -> None:
    suffix = uuid.uuid4().hex[:6]
    events: dict[str, InterviewCompleted] = {
        "two": interview_event(recordings["two"], interview_id=f"untimed-two-{suffix}", windows="untimed"),
        "one": interview_event(recordings["one"], interview_id=f"untimed-one-{suffix}", windows="none"),
    }
    assert all(not e.questions for e in events.values()) and events["two"].untimed_questions
    factories = (make_ingest, make_frames, make_speech, make_fusion)
    stages = [factory(settings) for factory in factories]
    await create_topics(settings.kafka, {t for s in stages for t in (*s.input_topics, *s.output_topics)})
    workers = [create_worker(stage, settings) for stage in stages]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        await publish(
            settings.kafka, topic_for(InterviewCompleted), [(message_key(e), encode(e)) for e in events.values()]
        )
        records = await read_topic(settings.kafka, PROFILES, lambda r: len(distinct_events(r, PROFILES)) >= 2, 480)
    finally:
        for w in workers:
            w.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
    profiles = {p.interview_id: p for p in distinct_events(records, PROFILES) if isinstance(p, ProfileReady)}

    # two voices: every scripted question found, with its window, and scored
    two = profiles[events["two"].interview_id]
    truth = recordings["two"].truth.questions
    assert two.question_windows is not None and two.question_windows.method == "two_voices"
    assert [q.question_id for q in two.context.questions] == [question_id(q.bank_id, q.repeat) for q in truth]
    for found, scripted in zip(two.context.questions, truth, strict=True):
        assert found.start_s == pytest.approx(scripted.start, abs=TOLERANCE_S)
        assert found.end_s == pytest.approx(scripted.end, abs=TOLERANCE_S)
    assert two.context.untimed_questions == []
    assert [w.question_id for w in two.question_windows.windows] == [q.question_id for q in two.context.questions]
    assert all(w.listed and w.match_confidence >= 0.6 for w in two.question_windows.windows)
    assert DataQualityFlag.QUESTION_WINDOWS_INFERRED.value in two.data_quality
    assert DataQualityFlag.QUESTION_MATCH_UNCERTAIN.value not in two.data_quality
    assert any(d.kind.value == "competency" for d in two.dimensions), "the found answers were scored"
    store = ObjectStore(settings.s3)
    assert isinstance(two.report, ObjectRef) and store.exists(two.report.bucket, two.report.key)

    # one voice, no list: one window per answer, each listed question right or the profile says it is unsure
    one = profiles[events["one"].interview_id]
    scripted_one = recordings["one"].truth.questions
    assert one.question_windows is not None and one.question_windows.method == "one_voice"
    assert len(one.context.questions) == len(scripted_one)
    for found, scripted in zip(one.context.questions, scripted_one, strict=True):
        assert found.start_s <= scripted.answer.start + TOLERANCE_S
        assert found.end_s == pytest.approx(scripted.end, abs=TOLERANCE_S)
    right = all(f.question_id == s.bank_id for f, s in zip(one.context.questions, scripted_one, strict=True))
    assert right or DataQualityFlag.QUESTION_MATCH_UNCERTAIN.value in one.data_quality, one.question_windows


def test_sample_events_without_windows(recordings: dict[str, SampleResult], tmp_path: Path) -> None:
    """The generator's event says the same questions with or without their windows."""
    given = interview_event(recordings["two"], windows="given")
    untimed = interview_event(recordings["two"], windows="untimed")
    bank = interview_event(recordings["two"], windows="none")
    assert [q.question_id for q in given.questions] == [q.question_id for q in untimed.untimed_questions]
    assert not untimed.questions and not bank.questions and not bank.untimed_questions
