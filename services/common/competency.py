"""Competency models: what a job's interview answers are scored against, as validated YAML files.

A competency model (``competency-models/<id>.yaml``, format in ``docs/competency-models.md``, JSON Schema in
``schemas/competency-model/v1/competency-model.schema.json``) lists the competencies of a role with their
weight, indicator keywords and exemplar strong and weak answers in English and Chinese, the interview
questions mapped to competencies, and the overall-score thresholds of the recommend / pending / reject
suggestion. Speech scores answers against it; fusion weighs competencies and applies the thresholds.

Jobs refer to a model by id and version (``context.job.competency_model``); :class:`CompetencyModelLibrary`
loads a directory of files and finds them. ``python -m services.common.competency`` writes the JSON Schema.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: The models shipped with Sightline (SIGHTLINE_SPEECH__COMPETENCY_MODELS_DIR points elsewhere when configured).
SHIPPED_MODELS_DIR = PROJECT_ROOT / "competency-models"
SCHEMA_PATH = PROJECT_ROOT / "schemas" / "competency-model" / "v1" / "competency-model.schema.json"
SCHEMA_ID = "https://sightline.dev/schemas/competency-model/v1/competency-model.schema.json"

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$")]
Phrase = Annotated[str, Field(min_length=1, max_length=200)]
Answer = Annotated[str, Field(min_length=10, max_length=4000)]
Languages = ("en", "zh")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalizedText(_Strict):
    """The same text in English and Chinese."""

    en: Annotated[str, Field(min_length=1, max_length=2000)] = Field(description="English text.")
    zh: Annotated[str, Field(min_length=1, max_length=2000)] = Field(description="Chinese text (Simplified).")

    def get(self, language: str) -> str:
        return self.zh if language.startswith("zh") else self.en


class LocalizedPhrases(_Strict):
    """Words or phrases per language, matched case-insensitively (jieba-segmented for Chinese)."""

    en: Annotated[list[Phrase], Field(min_length=1, max_length=100)] = Field(description="English phrases.")
    zh: Annotated[list[Phrase], Field(min_length=1, max_length=100)] = Field(description="Chinese phrases.")

    def get(self, language: str) -> list[str]:
        return self.zh if language.startswith("zh") else self.en


class LocalizedAnswers(_Strict):
    """Example answers per language."""

    en: Annotated[list[Answer], Field(min_length=1, max_length=20)] = Field(description="Answers in English.")
    zh: Annotated[list[Answer], Field(min_length=1, max_length=20)] = Field(description="Answers in Chinese.")

    def without(self, answer: str) -> LocalizedAnswers:
        """A copy without one answer (leave-one-out evaluation); may leave a language empty."""
        return LocalizedAnswers.model_construct(
            en=[a for a in self.en if a != answer], zh=[a for a in self.zh if a != answer]
        )

    def get(self, language: str) -> list[str]:
        return self.zh if language.startswith("zh") else self.en


class Exemplars(_Strict):
    """Answers that show the competency well and badly; semantic similarity is calibrated between them."""

    strong: LocalizedAnswers = Field(description="Answers a trained interviewer would rate high.")
    weak: LocalizedAnswers = Field(description="Answers a trained interviewer would rate low (vague, off-topic).")


class Competency(_Strict):
    """One competency of the role."""

    id: Identifier = Field(description="Id, unique within the model (lower-case, digits, '-' and '_').")
    name: LocalizedText = Field(description="Display name.")
    description: LocalizedText = Field(description="What the competency means; also embedded for similarity.")
    weight: Annotated[float, Field(gt=0, le=100)] = Field(
        description="Relative weight in the overall score (normalised over the model's competencies)."
    )
    keywords: LocalizedPhrases = Field(description="Indicator words and phrases of the competency.")
    exemplars: Exemplars = Field(description="Strong and weak example answers in both languages.")


class ModelQuestion(_Strict):
    """An interview question of the model and the competencies its answer is scored against."""

    id: Identifier = Field(description="Question id; matched against question_id of the interview.")
    text: LocalizedText = Field(description="The question.")
    competencies: Annotated[list[Identifier], Field(min_length=1, max_length=20)] = Field(
        description="Ids of the competencies the answer is scored against."
    )
    pressure: bool = Field(False, description="True for a deliberately stressful question.")


class Thresholds(_Strict):
    """Overall score (0-100) bands of the suggested label; a person always confirms the label."""

    recommend: Annotated[float, Field(ge=0, le=100)] = Field(description="Overall score at or above: recommend.")
    reject: Annotated[float, Field(ge=0, le=100)] = Field(
        description="Overall score below: reject. In between: pending."
    )

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.reject >= self.recommend:
            raise ValueError("thresholds.reject must be below thresholds.recommend")
        return self

    def label(self, score: float) -> Literal["recommend", "pending", "reject"]:
        if score >= self.recommend:
            return "recommend"
        return "reject" if score < self.reject else "pending"


class ScoringWeights(_Strict):
    """How the answer measures combine into a competency score."""

    keywords: Annotated[float, Field(ge=0, le=1)] = Field(0.2, description="Weight of keyword coverage.")
    semantic: Annotated[float, Field(ge=0, le=1)] = Field(0.4, description="Weight of semantic similarity.")
    structure: Annotated[float, Field(ge=0, le=1)] = Field(0.15, description="Weight of STAR structure.")
    specificity: Annotated[float, Field(ge=0, le=1)] = Field(0.15, description="Weight of specificity.")
    confidence: Annotated[float, Field(ge=0, le=1)] = Field(0.1, description="Weight of 1 - hedging.")

    @model_validator(mode="after")
    def _positive(self) -> ScoringWeights:
        if self.total() <= 0:
            raise ValueError("at least one scoring weight must be positive")
        return self

    def total(self) -> float:
        return self.keywords + self.semantic + self.structure + self.specificity + self.confidence


class Provenance(_Strict):
    """Where a calibrated version came from (`sightline calibrate --apply`): never edited by hand."""

    method: Annotated[str, Field(min_length=1, max_length=500)] = Field(description="How the weights were derived.")
    based_on_version: Annotated[str, Field(min_length=1, max_length=32)] = Field(
        description="The version whose weights were calibrated."
    )
    tenant_id: Annotated[str, Field(min_length=1, max_length=63)] = Field(
        description="Tenant whose outcomes were used."
    )
    job_id: Annotated[str, Field(min_length=1, max_length=128)] = Field(description="Job whose outcomes were used.")
    outcome: Annotated[str, Field(min_length=1, max_length=100)] = Field(
        description="The outcome rating correlated with (measure@months)."
    )
    n: Annotated[int, Field(ge=1)] = Field(description="Interviews with a decision and that outcome.")
    decided_from: Annotated[str, Field(min_length=1, max_length=40)] = Field(
        description="Earliest review decision in the data (RFC 3339)."
    )
    decided_to: Annotated[str, Field(min_length=1, max_length=40)] = Field(
        description="Latest review decision in the data (RFC 3339)."
    )
    outcomes_recorded_to: Annotated[str, Field(min_length=1, max_length=40)] = Field(
        description="Latest outcome recorded in the data (RFC 3339)."
    )
    evidence_share: Annotated[float, Field(ge=0, le=1)] = Field(
        description="Share of the new weights that comes from the evidence; the rest from the previous weights."
    )
    correlations: dict[Identifier, Annotated[float, Field(ge=-1, le=1)]] = Field(
        description="Spearman's rho of each competency with the outcome."
    )
    created_at: Annotated[str, Field(min_length=1, max_length=40)] = Field(description="When it was calibrated.")


class CompetencyModel(_Strict):
    """A role's competency model (format version 1)."""

    format: Literal["sightline.competency-model/v1"] = Field(description="Format name and version of this file.")
    id: Identifier = Field(description="Model id, as referenced by job.competency_model.id.")
    version: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z][0-9A-Za-z._+-]*$")] = Field(
        description="Model version, as referenced by job.competency_model.version."
    )
    title: LocalizedText = Field(description="Role the model is for.")
    competencies: Annotated[list[Competency], Field(min_length=1, max_length=50)] = Field(
        description="Competencies of the role."
    )
    questions: Annotated[list[ModelQuestion], Field(min_length=1, max_length=100)] = Field(
        description="Interview questions and the competencies each is scored against."
    )
    thresholds: Thresholds = Field(description="Overall-score bands of recommend / pending / reject.")
    scoring: ScoringWeights = Field(default_factory=ScoringWeights, description="Weights of the answer measures.")
    provenance: Provenance | None = Field(
        None, description="Set on versions written by `sightline calibrate --apply`: data window, n and method."
    )

    @model_validator(mode="after")
    def _references(self) -> CompetencyModel:
        ids = [c.id for c in self.competencies]
        if len(set(ids)) != len(ids):
            raise ValueError(f"competency ids must be unique: {sorted(ids)}")
        question_ids = [q.id for q in self.questions]
        if len(set(question_ids)) != len(question_ids):
            raise ValueError(f"question ids must be unique: {sorted(question_ids)}")
        for question in self.questions:
            unknown = sorted(set(question.competencies) - set(ids))
            if unknown:
                raise ValueError(f"question {question.id!r} refers to unknown competencies {unknown}")
        return self

    def competency(self, competency_id: str) -> Competency:
        for competency in self.competencies:
            if competency.id == competency_id:
                return competency
        raise KeyError(competency_id)

    def competencies_for(self, question_id: str | None) -> list[Competency]:
        """The competencies an answer is scored against: the question's, or all when the question is not
        part of the model (interviewers may ask their own)."""
        for question in self.questions:
            if question.id == question_id:
                return [self.competency(cid) for cid in question.competencies]
        return list(self.competencies)


class CompetencyModelError(ValueError):
    """A competency-model file is unreadable or invalid; the message names the file and the problem."""


class UnknownCompetencyModel(LookupError):
    """No loaded model has the requested id and version."""


def load_competency_model(path: Path) -> CompetencyModel:
    """Read and validate one YAML file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CompetencyModelError(f"{path}: cannot read: {exc}") from None
    try:
        return CompetencyModel.model_validate(data)
    except ValidationError as exc:
        raise CompetencyModelError(f"{path}: invalid competency model: {exc}") from None


class CompetencyModelLibrary:
    """All models of a directory (``*.yaml``/``*.yml``), found by id and version. Invalid files fail loading."""

    def __init__(self, models: Iterable[CompetencyModel]) -> None:
        self._models: dict[tuple[str, str], CompetencyModel] = {}
        for model in models:
            key = (model.id, model.version)
            if key in self._models:
                raise CompetencyModelError(f"competency model {model.id} version {model.version} defined twice")
            self._models[key] = model

    @classmethod
    def from_directory(cls, directory: Path) -> CompetencyModelLibrary:
        if not directory.is_dir():
            raise CompetencyModelError(f"{directory}: competency-model directory does not exist")
        files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
        return cls(load_competency_model(path) for path in files)

    def get(self, model_id: str, version: str) -> CompetencyModel:
        try:
            return self._models[(model_id, version)]
        except KeyError:
            known = ", ".join(f"{i}@{v}" for i, v in sorted(self._models)) or "none"
            raise UnknownCompetencyModel(
                f"competency model {model_id}@{version} is not configured (known: {known})"
            ) from None

    def find(self, model_id: str, version: str | None = None) -> CompetencyModel:
        """The model of that id at ``version``, or its highest version when none is given."""
        if version is not None:
            return self.get(model_id, version)
        versions = [m for (i, _), m in self._models.items() if i == model_id]
        if not versions:
            known = ", ".join(sorted({i for i, _ in self._models})) or "none"
            raise UnknownCompetencyModel(f"competency model {model_id} is not configured (known: {known})")
        return max(versions, key=lambda m: _version_key(m.version))

    def __iter__(self) -> Iterator[CompetencyModel]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Orders 1.10 after 1.9: numeric parts compare as numbers, before any text part."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[._+-]", version))


def json_schema_text() -> str:
    """The JSON Schema of the file format, as committed under schemas/."""
    schema = CompetencyModel.model_json_schema()
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, verify) the committed JSON Schema."""
    args = sys.argv[1:] if argv is None else argv
    text = json_schema_text()
    if "--check" in args:
        current = SCHEMA_PATH.read_text(encoding="utf-8") if SCHEMA_PATH.exists() else ""
        if current != text:
            print(f"{SCHEMA_PATH} is out of date; run python -m services.common.competency", file=sys.stderr)
            return 1
        return 0
    SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA_PATH.write_text(text, encoding="utf-8")
    print(SCHEMA_PATH)
    return 0


__all__ = [
    "Competency",
    "CompetencyModel",
    "CompetencyModelError",
    "CompetencyModelLibrary",
    "ModelQuestion",
    "Provenance",
    "Thresholds",
    "UnknownCompetencyModel",
    "json_schema_text",
    "load_competency_model",
]

if __name__ == "__main__":
    raise SystemExit(main())
