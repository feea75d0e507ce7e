"""Which engine runs a stage: the shared aiokafka loop or faust-streaming."""

from __future__ import annotations

from services.common.faust_worker import FaustStageWorker
from services.common.handler import StageHandler
from services.common.metrics import StageMetrics
from services.common.settings import Settings
from services.common.worker import StageWorker

Worker = StageWorker | FaustStageWorker


def engine_for(handler: StageHandler, settings: Settings) -> str:
    """`SIGHTLINE_WORKER__ENGINE` when set, otherwise the stage's own choice (`engine`), otherwise the loop."""
    chosen = settings.worker.engine
    return str(getattr(handler, "engine", "loop")) if chosen == "auto" else chosen


def create_worker(
    handler: StageHandler, settings: Settings, *, group_id: str | None = None, metrics: StageMetrics | None = None
) -> Worker:
    if engine_for(handler, settings) == "faust":
        return FaustStageWorker(handler, settings, group_id=group_id, metrics=metrics)
    return StageWorker(handler, settings, group_id=group_id, metrics=metrics)
