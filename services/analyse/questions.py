"""The interview's questions and their answer windows: from a questions file, or the job's question bank.

A questions file is YAML or JSON: a list whose items are a question's text, or an object with ``text`` and
optionally ``start`` and ``end`` (seconds from the start of the recording), ``id`` and ``pressure``. When
starts are given, a missing end is the next question's start (the recording's end for the last one). A
question whose text is one of the job's bank questions is sent with the bank's id, so its answer is
scored against the competencies the model names for it.

Windows unknown (no starts in the file, or no file): :func:`untimed_questions` is the one place that decides
what is sent. The event then carries no windows, and the speech stage finds them in the recording (the
interviewer's turns, matched to the questions): a file's questions travel as `untimed_questions`, in the
order asked; without a file the job's question bank is what speech matches against.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from services.common.competency import CompetencyModel, ModelQuestion


class QuestionsError(ValueError):
    """A questions file that cannot be used; the message names the file and the item."""


@dataclass(frozen=True)
class QuestionSpec:
    text: str
    start: float | None = None
    end: float | None = None
    question_id: str | None = None
    pressure: bool | None = None


@dataclass(frozen=True)
class QuestionPlan:
    """The questions as sent: timed ``questions``, or (``windows_known`` False) ``untimed`` ones, whose windows the
    pipeline finds."""

    questions: list[dict[str, Any]]
    windows_known: bool
    asked: list[QuestionSpec]  # the questions known to be asked (file or bank), timed or not
    untimed: list[dict[str, Any]] = field(default_factory=list)


def read_questions_file(path: Path) -> list[QuestionSpec]:
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
        raise QuestionsError(f"{path}: cannot read the questions: {exc}") from None
    if isinstance(data, dict) and "questions" in data:
        data = data["questions"]
    if not isinstance(data, list) or not data:
        raise QuestionsError(f"{path}: expected a non-empty list of questions")
    return [_spec(path, number, item) for number, item in enumerate(data, start=1)]


def _spec(path: Path, number: int, item: object) -> QuestionSpec:
    where = f"{path}: question {number}"
    if isinstance(item, str):
        item = {"text": item}
    if not isinstance(item, dict):
        raise QuestionsError(f"{where}: expected text or an object with text, start, end")
    unknown = sorted(set(item) - {"text", "start", "end", "id", "pressure"})
    if unknown:
        raise QuestionsError(f"{where}: unknown field(s) {', '.join(map(str, unknown))}")
    text = item.get("text")
    if not isinstance(text, str) or not text.strip():
        raise QuestionsError(f"{where}: the text is missing")
    times = {}
    for name in ("start", "end"):
        value = item.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
            raise QuestionsError(f"{where}: {name} must be seconds (a number >= 0), not {value!r}")
        times[name] = None if value is None else float(value)
    qid = item.get("id")
    pressure = item.get("pressure")
    if pressure is not None and not isinstance(pressure, bool):
        raise QuestionsError(f"{where}: pressure must be true or false")
    return QuestionSpec(text.strip(), times["start"], times["end"], None if qid is None else str(qid), pressure)


def bank_questions(model: CompetencyModel, language: str) -> list[QuestionSpec]:
    """The job's question bank, untimed, in the interview's language."""
    return [QuestionSpec(q.text.get(language), question_id=q.id, pressure=q.pressure) for q in model.questions]


def plan_questions(
    specs: Sequence[QuestionSpec],
    model: CompetencyModel,
    duration_s: float,
    language: str,
    *,
    where: str = "",
    from_file: bool = True,
) -> QuestionPlan:
    """The questions of the event: timed from the specs when they give starts, else :func:`untimed_questions`
    (``from_file`` False: the specs are the job's bank, which the pipeline matches against by itself)."""
    timed = [s.start is not None for s in specs]
    if not any(timed):
        if any(s.end is not None for s in specs):
            raise QuestionsError(f"{where}: a question has an end but no start")
        return untimed_questions(specs, model, from_file=from_file)
    if not all(timed):
        raise QuestionsError(f"{where}: give a start for every question or for none")
    questions = []
    for number, spec in enumerate(specs):
        start = float(spec.start or 0.0)
        following = specs[number + 1].start if number + 1 < len(specs) else None
        end = spec.end if spec.end is not None else (following if following is not None else duration_s)
        if start >= duration_s:
            raise QuestionsError(
                f"{where}: question {number + 1} starts at {start:g} s, after the recording's end ({duration_s:.1f} s)"
            )
        questions.append({**_listed(spec, number, model), "start_s": start, "end_s": min(float(end), duration_s)})
    return QuestionPlan(questions, windows_known=True, asked=list(specs))


def untimed_questions(specs: Sequence[QuestionSpec], model: CompetencyModel, *, from_file: bool = True) -> QuestionPlan:
    """Question windows unknown: no window is sent. A file's questions go as untimed questions in the order asked
    (with the bank's id where the text is a bank question); the job's own bank is not repeated in the event, as the
    speech stage reads it from the competency model."""
    untimed = [_listed(spec, number, model) for number, spec in enumerate(specs)] if from_file else []
    return QuestionPlan([], windows_known=False, asked=list(specs), untimed=untimed)


def _listed(spec: QuestionSpec, number: int, model: CompetencyModel) -> dict[str, Any]:
    """Id, text and pressure of the ``number``-th question of a file: a bank question keeps the bank's id (so its
    answer is scored against the competencies the model names for it) and pressure."""
    bank = _bank_match(model, spec.text)
    pressure = spec.pressure if spec.pressure is not None else bool(bank and bank.pressure)
    return {
        "question_id": spec.question_id or (bank.id if bank else f"q{number + 1}"),
        "text": spec.text,
        "pressure": pressure,
    }


def _normalised(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text.casefold()).strip()


def _bank_match(model: CompetencyModel, text: str) -> ModelQuestion | None:
    wanted = _normalised(text)
    for question in model.questions:
        if wanted in (_normalised(question.text.en), _normalised(question.text.zh)):
            return question
    return None


__all__ = [
    "QuestionPlan",
    "QuestionSpec",
    "QuestionsError",
    "bank_questions",
    "plan_questions",
    "read_questions_file",
    "untimed_questions",
]
