"""Fusion scores an interview again when asked (rescore-requested), with the competency-model version named.

The job's model is configured twice: as announced (equal-ish weights) and as a calibrated version that puts
almost all weight on problem-solving. After the first profile, a request for the calibrated version gives
profile version 2, scored and labelled with it; version 1 stays as it was; an unknown version is refused.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml

from services.common.competency import load_competency_model
from services.common.contracts import (
    EventBase,
    ProfileReady,
    RescoreRequested,
    SpeechResults,
    StageStatus,
    deterministic_event_id,
    topic_for,
)
from services.common.objectstore import ObjectStore
from services.common.settings import Settings
from services.fusion.ledger import Ledger
from tests.fusion_data import STRONG
from tests.integration.kafka_helpers import Record, create_topics, distinct_events, read_all, read_topic
from tests.integration.test_fusion import TOPICS, Running, fusion_settings, interview, profiles_until, send

ROOT = Path(__file__).resolve().parents[2]
MODEL_ID, ANNOUNCED, CALIBRATED = "software-engineer", "1.0", "1.0+cal.20261207"
CALIBRATED_WEIGHTS = {"problem-solving": 90.0, "collaboration": 5.0, "ownership": 5.0}


def _models(directory: Path) -> Path:
    """The example interviews' model in two versions (the announced one and a calibrated one)."""
    base = load_competency_model(ROOT / "competency-models" / "software-engineer.yaml").model_dump(mode="json")
    for version, weights in ((ANNOUNCED, None), (CALIBRATED, CALIBRATED_WEIGHTS)):
        data = {**base, "id": MODEL_ID, "version": version}
        if weights is not None:
            data["competencies"] = [{**c, "weight": weights[c["id"]]} for c in base["competencies"]]
        (directory / f"{MODEL_ID}-{version}.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return directory


def _request(profile: ProfileReady, version: str) -> RescoreRequested:
    return RescoreRequested(
        event_id=deterministic_event_id("rescore-test", profile.interview_id, version),
        occurred_at=profile.occurred_at,
        tenant_id=profile.tenant_id,
        interview_id=profile.interview_id,
        competency_model={"id": MODEL_ID, "version": version},
        reason="calibrated from outcomes",
    )


def _uneven(event: EventBase) -> EventBase:
    """Strong at problem-solving, weak at ownership, so weights matter."""
    if not isinstance(event, SpeechResults):
        return event
    scores = [s.model_copy(update={"score": 95.0 if s.competency_id == "problem-solving" else 40.0})
              for s in event.competency_scores]  # fmt: skip
    return event.model_copy(update={"competency_scores": scores})


def _score(profile: ProfileReady, dimension: str) -> float:
    return next(d.score for d in profile.dimensions if d.dimension == dimension)


async def test_a_rescore_request_gives_a_new_version_scored_with_the_named_model(
    stack_settings: Settings, tmp_path: Path
) -> None:
    settings = fusion_settings(stack_settings)
    speech = settings.speech.model_copy(update={"competency_models_dir": _models(tmp_path)})
    settings = settings.model_copy(update={"speech": speech})
    await create_topics(settings.kafka, TOPICS)
    _, events = interview(STRONG, "rescore")
    await send(settings, [_uneven(e) for e in events])
    async with Running(settings):
        (first,) = await profiles_until(settings, 1)
        await send(settings, [_request(first, CALIBRATED)])
        profiles = await profiles_until(settings, 2)
        await send(settings, [_request(first, CALIBRATED), _request(first, "9.9")])  # a replay; an unknown version

        def refused(records: list[Record]) -> bool:
            statuses = [s for s in distinct_events(records, topic_for(StageStatus)) if isinstance(s, StageStatus)]
            return any(s.reason is not None and s.reason.code == "competency_model_unknown" for s in statuses)

        status_records = await read_topic(settings.kafka, topic_for(StageStatus), refused, 60)
        await asyncio.sleep(2)
    second = next(p for p in profiles if p.profile_version == 2)
    assert first.context.job.competency_model.version == ANNOUNCED
    assert second.context.job.competency_model.version == CALIBRATED  # the report and rows say which scored it
    competencies = [d.dimension for d in first.dimensions if d.kind == "competency"]
    assert competencies and all(_score(first, d) == _score(second, d) for d in competencies)  # same evidence
    assert first.overall is not None and second.overall is not None
    problem_solving = _score(second, "problem-solving")
    assert problem_solving > _score(second, "ownership")
    assert second.overall > first.overall + 1  # nearly all weight on the competency the candidate is best at
    # Version 1 is kept; the replayed request re-emitted version 2 instead of scoring a third time.
    ledger = Ledger(ObjectStore(settings.s3), settings.s3.work_bucket)
    assert ledger.profile(first.tenant_id, first.interview_id, 1) == first
    all_profiles = distinct_events(await read_all(settings.kafka, topic_for(ProfileReady)), topic_for(ProfileReady))
    assert sorted(p.profile_version for p in all_profiles if isinstance(p, ProfileReady)) == [1, 2]
    failed = [s for s in distinct_events(status_records, topic_for(StageStatus)) if isinstance(s, StageStatus)]
    reason = next(s.reason for s in failed if s.reason is not None and s.reason.code == "competency_model_unknown")
    assert f"{MODEL_ID}@9.9 is not configured" in reason.message
