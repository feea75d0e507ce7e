"""The example events say what the pipeline really emits: shipped competency models, and the profile's
dimensions, weights and explanation as fusion computes them for an interview like the example's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.common.competency import SHIPPED_MODELS_DIR, CompetencyModelLibrary
from services.common.contracts import ProfileReady
from services.fusion.jobmodel import job_model
from services.fusion.profile import feature_versions
from services.fusion.scoring import SCORING_MODEL_VERSION, score_interview
from tests.fusion_data import STRONG, without_emotion
from tests.unit.test_fusion_scoring import SETTINGS, inputs_for

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples" / "v1"
LIBRARY = CompetencyModelLibrary.from_directory(SHIPPED_MODELS_DIR)


def _model_refs(document: Any) -> list[dict[str, str]]:
    """Every competency_model reference in an event, wherever it is nested."""
    if isinstance(document, dict):
        found = [document["competency_model"]] if isinstance(document.get("competency_model"), dict) else []
        return found + [r for value in document.values() for r in _model_refs(value)]
    if isinstance(document, list):
        return [r for value in document for r in _model_refs(value)]
    return []


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_every_example_names_a_shipped_competency_model(path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    for ref in _model_refs(document):
        if document["event_type"] == "rescore-requested":  # a version `sightline calibrate --apply` writes
            assert ref["version"].startswith(LIBRARY.find(ref["id"]).version + "+cal."), ref
        else:
            model = LIBRARY.get(ref["id"], ref["version"])
            competencies = {c.id for c in model.competencies}
            for score in document.get("competency_scores", []):
                assert score["competency_id"] in competencies, score["competency_id"]
            for dimension in document.get("dimensions", []):
                if dimension["kind"] == "competency":
                    assert dimension["dimension"] in competencies, dimension["dimension"]


def test_the_profile_example_has_what_fusion_emits_for_such_an_interview() -> None:
    example = ProfileReady.model_validate_json((EXAMPLES / "profile-ready.json").read_bytes())
    context = example.context
    ref = context.job.competency_model
    assert "emotion_inference" not in context.consent_scopes, "the interview below is scored without it"
    inputs = inputs_for(without_emotion(STRONG), job_model=job_model(LIBRARY.get(ref.id, ref.version)))
    emitted = score_interview(inputs, SETTINGS)

    assert [(d.dimension, d.kind) for d in example.dimensions] == [(d.dimension, d.kind) for d in emitted.dimensions]
    assert example.explanation is not None
    assert example.explanation.weights == emitted.explanation.weights
    assert example.explanation.looked_at == emitted.explanation.looked_at
    assert example.explanation.not_measured == emitted.explanation.not_measured
    assert example.data_quality == emitted.data_quality
    assert example.scoring_model_version == SCORING_MODEL_VERSION
    assert example.feature_versions == feature_versions(inputs)
    # The overall and label follow from the example's own scores, as fusion combines them.
    shares = {w.dimension: w.share for w in example.explanation.weights}
    assert example.overall == round(sum(shares[d.dimension] * d.score for d in example.dimensions), 1)
    model = LIBRARY.get(ref.id, ref.version)
    assert example.overall is not None
    assert example.label.value == model.thresholds.label(example.overall)
