"""The part of a job's competency model that fusion's scoring uses (weights, question targets, thresholds)."""

from __future__ import annotations

from services.common.competency import CompetencyModel
from services.fusion.inputs import JobModel


def job_model(model: CompetencyModel) -> JobModel:
    return JobModel(
        model_id=model.id,
        version=model.version,
        competency_weights={c.id: float(c.weight) for c in model.competencies},
        question_competencies={q.id: list(q.competencies) for q in model.questions},
        pressure_questions=frozenset(q.id for q in model.questions if q.pressure),
        recommend_at=model.thresholds.recommend,
        reject_below=model.thresholds.reject,
    )
