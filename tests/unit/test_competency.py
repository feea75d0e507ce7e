"""Competency models: the shipped files load and are complete, the validator rejects broken files with a
clear message, the library finds models by id and version, and the committed JSON Schema matches."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from services.common.competency import (
    SCHEMA_PATH,
    CompetencyModelError,
    CompetencyModelLibrary,
    UnknownCompetencyModel,
    json_schema_text,
    load_competency_model,
)

MODELS_DIR = Path(__file__).resolve().parents[2] / "competency-models"
SHIPPED = ("sales", "customer-service", "software-engineer", "product-manager")


@pytest.fixture(scope="module")
def library() -> CompetencyModelLibrary:
    return CompetencyModelLibrary.from_directory(MODELS_DIR)


def _raw(name: str) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((MODELS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_every_shipped_model_is_found_by_id_and_version(library: CompetencyModelLibrary) -> None:
    assert sorted(m.id for m in library) == sorted(SHIPPED)
    for model_id in SHIPPED:
        model = library.get(model_id, "1.0")
        assert model.thresholds.reject < model.thresholds.recommend
        for competency in model.competencies:
            for group in (competency.exemplars.strong, competency.exemplars.weak):
                assert group.en and group.zh
            assert competency.keywords.en and competency.keywords.zh
        assert any(q.pressure for q in model.questions)


def test_shipped_files_validate_against_the_committed_json_schema() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    for name in SHIPPED:
        jsonschema.validate(_raw(name), schema)


def test_json_schema_has_not_drifted_from_the_model() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == json_schema_text(), (
        "run: .venv/bin/python -m services.common.competency"
    )


def test_unknown_model_or_version_names_what_is_known(library: CompetencyModelLibrary) -> None:
    with pytest.raises(UnknownCompetencyModel, match=r"sales@9\.9 .*known: .*sales@1\.0"):
        library.get("sales", "9.9")
    with pytest.raises(UnknownCompetencyModel):
        library.get("astronaut", "1.0")


def test_question_competencies_are_used_and_unknown_questions_get_all(library: CompetencyModelLibrary) -> None:
    model = library.get("software-engineer", "1.0")
    assert [c.id for c in model.competencies_for("conflict")] == ["collaboration"]
    assert [c.id for c in model.competencies_for("q-not-in-model")] == [c.id for c in model.competencies]
    assert model.thresholds.label(model.thresholds.recommend) == "recommend"
    assert model.thresholds.label(model.thresholds.reject - 0.1) == "reject"
    assert model.thresholds.label((model.thresholds.reject + model.thresholds.recommend) / 2) == "pending"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["questions"][0].update(competencies=["telepathy"]), "unknown competencies"),
        (lambda d: d["competencies"].append(d["competencies"][0]), "competency ids must be unique"),
        (lambda d: d["thresholds"].update(reject=90, recommend=50), "reject must be below"),
        (lambda d: d["competencies"][0]["exemplars"]["weak"].update(zh=[]), "at least 1 item"),
        (lambda d: d["competencies"][0].pop("weight"), "weight"),
        (lambda d: d.update(format="sightline.competency-model/v9"), "format"),
        (lambda d: d["competencies"][0].update(colour="blue"), "colour"),
    ],
)
def test_invalid_files_are_rejected_with_the_reason(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    data = _raw("sales")
    mutate(data)
    with pytest.raises(CompetencyModelError, match=message) as info:
        load_competency_model(_write(tmp_path, data))
    assert "model.yaml" in str(info.value)


def test_a_broken_file_stops_the_library_and_duplicates_are_refused(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("format: [unclosed", encoding="utf-8")
    with pytest.raises(CompetencyModelError, match=r"bad\.yaml: cannot read"):
        CompetencyModelLibrary.from_directory(tmp_path)
    (tmp_path / "bad.yaml").unlink()
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text((MODELS_DIR / "sales.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(CompetencyModelError, match="defined twice"):
        CompetencyModelLibrary.from_directory(tmp_path)
    with pytest.raises(CompetencyModelError, match="does not exist"):
        CompetencyModelLibrary.from_directory(tmp_path / "missing")
