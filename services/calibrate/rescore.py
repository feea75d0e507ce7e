"""After `--apply`: ask fusion to score the job's interviews again with the new competency-model version."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from services.access import PERMITTED, Action
from services.common.clickhouse import Reader
from services.common.contracts import CompetencyModelRef, RescoreRequested, deterministic_event_id
from services.common.kafka import publish_events
from services.common.named_queries import NamedQuery
from services.common.settings import KafkaSettings

PRODUCER = "sightline-calibrate"


#: Interview -> competency model of its current profile, for one job.
CURRENT_MODELS = NamedQuery(
    "calibrate.current-models",
    "SELECT interview_id, competency_model_id FROM {db}.latest_profiles "
    "WHERE tenant_id = {tenant:String} AND job_id = {job:String} ORDER BY interview_id",
    PERMITTED[Action.CALIBRATE],
)


def current_models(warehouse: Reader, tenant_id: str, job_id: str) -> dict[str, str]:
    """Interview -> id of the competency model its current profile was scored with, for the job's interviews."""
    _, rows = warehouse.named(CURRENT_MODELS, {"tenant": tenant_id, "job": job_id})
    return {row[0]: row[1] for row in rows}


def rescore_requests(
    tenant_id: str, interviews: Sequence[str], model: CompetencyModelRef, reason: str
) -> list[RescoreRequested]:
    """One request per interview; ids derive from interview and version, so running again repeats them."""
    now = datetime.now(UTC)
    return [
        RescoreRequested(
            event_id=deterministic_event_id(PRODUCER, tenant_id, interview, model.id, model.version),
            occurred_at=now,
            tenant_id=tenant_id,
            interview_id=interview,
            producer=PRODUCER,
            competency_model=model,
            reason=reason,
        )
        for interview in interviews
    ]


async def publish_requests(kafka: KafkaSettings, events: Sequence[RescoreRequested]) -> None:
    await publish_events(kafka, events, "calibrate")
