"""The event contracts: models, committed JSON Schemas, examples, topic registry and codec agree."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker  # type: ignore[import-untyped]
from pydantic import ValidationError

from services.common.contracts import (
    EVENT_MODELS,
    TOPICS,
    ContractError,
    DeadLetter,
    Envelope,
    FailureReason,
    FrameChunkReady,
    InterviewCompleted,
    ReviewDecision,
    StageName,
    StageState,
    StageStatus,
    TopicError,
    dead_letter_for,
    dead_letter_topic,
    decode,
    decode_as,
    decode_dead_letter,
    deterministic_event_id,
    encode,
    is_eu_jurisdiction,
    load_topics,
    message_headers,
    message_key,
    topic_for,
    validator_for,
)
from services.common.contracts.cli import schemas
from services.common.contracts.jsonschema_export import all_schemas, model_json_schema, render
from services.common.contracts.paths import SCHEMAS_DIR
from services.common.contracts.schemafiles import (
    canonical_example,
    check_all,
    example_event_type,
    example_paths,
    export_schemas,
    schema_path,
)

EVENT_TYPES = sorted(EVENT_MODELS)
EXAMPLE_NAMES = [path.name for path in example_paths()]


@cache
def schema_doc(event_type: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(schema_path(event_type).read_text(encoding="utf-8"))
    return document


@cache
def sightline_validator(event_type: str) -> Any:
    return validator_for(schema_doc(event_type))


@cache
def plain_validator(event_type: str) -> Any:
    return Draft202012Validator(schema_doc(event_type), format_checker=FormatChecker())


def example(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SCHEMAS_DIR / "examples" / "v1" / name).read_text(encoding="utf-8"))
    return document


def to_bytes(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def model_accepts(event_type: str, document: Any) -> tuple[bool, str]:
    """The runtime's wire path: decode from bytes, strictly."""
    try:
        decode_as(EVENT_MODELS[event_type], to_bytes(document))
    except ContractError as exc:
        return False, str(exc)
    return True, ""


def schema_accepts(event_type: str, document: Any) -> tuple[bool, str]:
    problems = [error.message for error in sightline_validator(event_type).iter_errors(document)]
    return not problems, "; ".join(problems)


# --- committed schema files are exactly what the models produce -------------------------------------------


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_committed_schema_equals_model_export(event_type: str) -> None:
    committed = schema_path(event_type).read_text(encoding="utf-8")
    assert committed == render(model_json_schema(EVENT_MODELS[event_type])), (
        f"{schema_path(event_type)} is out of date: run `python -m services.common.contracts export`"
    )


def test_no_schema_file_without_a_model() -> None:
    committed = {path.name for path in (SCHEMAS_DIR / "events" / "v1").glob("*.schema.json")}
    assert committed == {f"{event_type}.schema.json" for event_type in EVENT_TYPES}


def test_export_is_deterministic_and_formatted() -> None:
    first, second = all_schemas(), all_schemas()
    assert first == second
    for event_type, text in first.items():
        assert text.endswith("}\n") and not text.endswith("\n\n")
        assert text.splitlines()[1].startswith('  "'), "2-space indent"
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n", event_type


def test_editing_a_schema_file_alone_is_caught(tmp_path: Path) -> None:
    root = tmp_path / "schemas"
    root.mkdir()
    (root / "topics.yaml").write_text((SCHEMAS_DIR / "topics.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (root / "examples").mkdir()
    for directory in ("examples/v1",):
        target = root / directory
        target.mkdir()
        for path in (SCHEMAS_DIR / directory).glob("*.json"):
            (target / path.name).write_bytes(path.read_bytes())
    assert export_schemas(root), "export writes every file into an empty directory"
    assert check_all(root) == []

    example_file = root / "examples" / "v1" / "stage-status.json"
    shortened = json.loads(example_file.read_text(encoding="utf-8"))
    del shortened["reason"], shortened["unit"]  # optional, null
    example_file.write_text(json.dumps(shortened), encoding="utf-8")
    assert any("stage-status.json: not in canonical form" in p for p in check_all(root))

    edited = root / "events" / "v1" / "stage-status.schema.json"
    edited.write_text(edited.read_text(encoding="utf-8").replace('"attempt"', '"attempts"'), encoding="utf-8")
    stale = root / "events" / "v1" / "retired-event.schema.json"
    stale.write_text("{}\n", encoding="utf-8")
    problems = check_all(root)
    assert any("stage-status.schema.json: differs from the models" in p for p in problems)
    assert any("retired-event.schema.json: no model produces this schema" in p for p in problems)

    result = CliRunner().invoke(schemas, ["check", "--root", str(root)])
    assert result.exit_code == 1
    result = CliRunner().invoke(schemas, ["export", "--root", str(root)])
    assert result.exit_code == 0 and "stage-status.schema.json" in result.output
    assert not stale.exists()
    assert example_file.read_bytes() == (SCHEMAS_DIR / "examples" / "v1" / "stage-status.json").read_bytes()
    assert CliRunner().invoke(schemas, ["check", "--root", str(root)]).exit_code == 0


def test_cli_check_passes_on_the_repository() -> None:
    result = CliRunner().invoke(schemas, ["check"])
    assert result.exit_code == 0, result.output


def test_cli_validate_reports_problems(tmp_path: Path) -> None:
    good = SCHEMAS_DIR / "examples" / "v1" / "stage-status.failed.json"
    document = example("stage-status.failed.json")
    document["reason"] = None
    bad = tmp_path / "bad.json"
    bad.write_bytes(to_bytes(document))
    result = CliRunner().invoke(schemas, ["validate", "stage-status", str(good), str(bad)])
    assert result.exit_code == 1
    assert "valid stage-status" in result.output
    assert "reason is required when state is failed/retrying" in result.output


# --- the schemas themselves ---------------------------------------------------------------------------------

_STANDARD_KEYWORDS = set(Draft202012Validator.VALIDATORS) | {
    "$schema",
    "$id",
    "$defs",
    "$ref",
    "title",
    "description",
    "default",
    "then",
    "else",
}


def _subschemas(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield where, node
        for keyword, value in node.items():
            if keyword.startswith("x-sightline-") or keyword in ("enum", "const", "default", "required"):
                continue
            if keyword in ("properties", "$defs"):
                for name, child in value.items():
                    yield from _subschemas(child, f"{where}/{keyword}/{name}")
            else:
                yield from _subschemas(value, f"{where}/{keyword}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _subschemas(child, f"{where}/{index}")


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_schema_is_valid_draft_2020_12(event_type: str) -> None:
    schema = schema_doc(event_type)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://sightline.dev/schemas/events/v1/{event_type}.schema.json"
    assert schema["title"] and schema["description"]
    assert schema["properties"]["event_type"]["const"] == event_type
    assert {"schema_version", "event_id", "event_type", "occurred_at"} <= set(schema["required"])


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_property_is_described_and_every_keyword_known(event_type: str) -> None:
    undescribed, unknown = [], []
    for where, node in _subschemas(schema_doc(event_type), event_type):
        for name, child in node.get("properties", {}).items():
            in_condition = where.rsplit("/", 1)[-1] in ("if", "then", "else") or "/allOf/" in where
            if not in_condition and not child.get("description"):
                undescribed.append(f"{where}/properties/{name}")
        unknown += [f"{where}: {k}" for k in node if k not in _STANDARD_KEYWORDS and not k.startswith("x-sightline-")]
    assert undescribed == []
    assert unknown == []


def test_schemas_are_open_for_additive_changes() -> None:
    for event_type in EVENT_TYPES:
        for where, node in _subschemas(schema_doc(event_type), event_type):
            assert node.get("additionalProperties") is not False, where


# --- examples -------------------------------------------------------------------------------------------------


def test_every_event_type_has_an_example_and_interview_completed_two() -> None:
    assert {example_event_type(Path(name)) for name in EXAMPLE_NAMES} == set(EVENT_TYPES)
    completed = [example(n) for n in EXAMPLE_NAMES if example_event_type(Path(n)) == "interview-completed"]
    by_locale = {doc["locale"]: doc["jurisdiction"] for doc in completed}
    assert by_locale["zh-CN"] == "CN"
    english = [j for locale, j in by_locale.items() if locale.startswith("en-")]
    assert english and all(is_eu_jurisdiction(j) for j in english)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_validates_against_its_schema(name: str) -> None:
    event_type, document = example_event_type(Path(name)), example(name)
    assert list(plain_validator(event_type).iter_errors(document)) == []
    assert schema_accepts(event_type, document) == (True, "")


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_parses_and_round_trips(name: str) -> None:
    event_type, document = example_event_type(Path(name)), example(name)
    model = EVENT_MODELS[event_type]
    data = to_bytes(document)
    if model is DeadLetter:
        event: Envelope = decode_dead_letter(data)
    else:
        event = decode(topic_for(model), data)
    assert type(event) is model
    assert decode_as(model, encode(event)) == event
    assert model.model_validate_json(event.model_dump_json()) == event
    path = SCHEMAS_DIR / "examples" / "v1" / name
    assert path.read_text(encoding="utf-8") == canonical_example(event), "run `... contracts export` to canonicalize"


# --- schema and models accept the same documents ---------------------------------------------------------------

_INTERESTING_STRINGS = [
    "",
    " ",
    "x",
    "abc\n",
    "EU",
    "DE",
    "US-IL",
    "Germany",
    "en-US",
    "en_us",
    "zh-Hans-CN",
    "1.0",
    "1.7",
    "2.0",
    "1.01",
    "2025-03-14T09:00:00Z",
    "2025-03-14T09:00:00.5+08:00",
    "2025-03-14T09:00:00",
    "2025-03-14 09:00:00Z",
    "2025-02-30T09:00:00Z",
    "2025-03-14T09:00Z",
    "3f6c1a0e-8d2b-4c7e-9a51-6b0e2d4f7a13",
    "3F6C1A0E-8D2B-4C7E-9A51-6B0E2D4F7A13",
    "3f6c1a0e8d2b4c7e9a516b0e2d4f7a13",
    "s3://bucket-1/key",
    "https://example.org/a.mp4",
    "http://example.org/a.mp4",
    "ftp://example.org/a.mp4",
    "file:///tmp/a.mp4",
    "jane.doe@example.com",
    "cand_7f3a9c21e4",
    "internal_error",
    "emotion_inference",
    "Not_Snake",
    "QUJD",
    "QUJ=",
    "sightline.audio-ready.v1",
    "a" * 65,
]


@cache
def _enum_values() -> list[Any]:
    values: set[str] = set()
    for event_type in EVENT_TYPES:
        for _, node in _subschemas(schema_doc(event_type), event_type):
            values.update(v for v in node.get("enum", []) if isinstance(v, str))
    return sorted(values)


def _scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-5, max_value=100_005),
        st.sampled_from([0, 1, -1, 16000, 86_400, 86_401, 2**63, 3.0, 0.5, -0.5, 1.5, 100.0, 100.5, 1e20]),
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
        st.sampled_from(_INTERESTING_STRINGS),
        st.sampled_from(_enum_values()),
    )


def _json_values() -> st.SearchStrategy[Any]:
    return st.recursive(
        _scalars(),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
        max_leaves=6,
    )


def _locations(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, child in node.items():
            yield (*path, key)
            yield from _locations(child, (*path, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield (*path, index)
            yield from _locations(child, (*path, index))


def _containers(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict | list):
        yield path
        children = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in children:
            yield from _containers(child, (*path, key))


def _get(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


def _nudged(value: Any) -> st.SearchStrategy[Any]:
    """Values near the current one: the edges of ranges and formats."""
    if isinstance(value, bool):
        return st.sampled_from([not value, int(value), str(value).lower()])
    if isinstance(value, int | float):
        return st.sampled_from([-value, value + 1, value - 1, value * 1000, float(value), str(value), value + 0.5])
    if isinstance(value, str):
        return st.sampled_from(
            [value + "\n", " " + value, value.upper(), value[:-1], value + value, value.replace("-", "")]
        )
    return _json_values()


@st.composite
def _mutated_example(draw: st.DrawFn) -> tuple[str, Any]:
    name = draw(st.sampled_from(EXAMPLE_NAMES))
    document = example(name)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        locations = list(_locations(document))
        operation = draw(st.sampled_from(["delete", "replace", "nudge", "copy", "add", "duplicate"]))
        if operation == "add":
            container = _get(document, draw(st.sampled_from(list(_containers(document)))))
            if isinstance(container, dict):
                container[draw(st.sampled_from(["future_field", "note", "x"]))] = draw(_json_values())
            else:
                container.append(draw(_json_values()))
            continue
        if not locations:
            continue
        path = draw(st.sampled_from(locations))
        parent, last = _get(document, path[:-1]), path[-1]
        if operation == "delete":
            del parent[last]
        elif operation == "replace":
            parent[last] = draw(_json_values())
        elif operation == "nudge":
            parent[last] = draw(_nudged(parent[last]))
        elif operation == "copy":
            parent[last] = copy.deepcopy(_get(document, draw(st.sampled_from(locations))))
        elif operation == "duplicate" and isinstance(parent, list):
            parent.insert(last, copy.deepcopy(parent[last]))
        elif operation == "duplicate" and isinstance(parent, dict):
            parent[last] = copy.deepcopy(parent[last])
    return example_event_type(Path(name)), document


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated_example())
def test_schema_and_model_accept_the_same_documents(case: tuple[str, Any]) -> None:
    event_type, document = case
    by_model, why_model = model_accepts(event_type, document)
    by_schema, why_schema = schema_accepts(event_type, document)
    assert by_model == by_schema, f"model: {by_model} {why_model}\nschema: {by_schema} {why_schema}"


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(document: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        _get(document, tuple(parents))[last] = value

    return mutate


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(document: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        del _get(document, tuple(parents))[last]

    return mutate


def _overlap_questions(document: dict[str, Any]) -> None:
    document["questions"][1]["start_s"] = document["questions"][0]["end_s"] - 5


def _duplicate_question_id(document: dict[str, Any]) -> None:
    document["questions"][1]["question_id"] = document["questions"][0]["question_id"]


def _retrying_without_reason(document: dict[str, Any]) -> None:
    document["state"] = "retrying"
    document["reason"] = None


# (example, mutation, field the model error names, whether a standard draft 2020-12 validator sees the problem:
# False for the cross-field rules only the x-sightline keywords express, None when it depends on the
# validator's date-time format support)
INVALID_MUTATIONS: dict[str, tuple[str, Callable[[dict[str, Any]], None], str, bool | None]] = {
    "missing required field": ("interview-completed.en-IE.json", _delete("candidate_ref"), "candidate_ref", True),
    "missing nested field": ("media-ingested.json", _delete("media.0.object.sha256"), "media.0.object.sha256", True),
    "bad closed enum": ("stage-status.json", _set("state", "exploded"), "state", True),
    "bad media kind": ("interview-completed.en-IE.json", _set("media.0.kind", "hologram"), "media.0.kind", True),
    "negative time": ("interview-completed.en-IE.json", _set("questions.0.start_s", -1.0), "questions.0.start_s", True),
    "negative chunk start": ("frame-chunk-ready.json", _set("start_s", -0.5), "start_s", True),
    "end before start": ("audio-ready.json", _set("end_s", 10.0), "(event)", False),
    "question ends before it starts": (
        "interview-completed.en-IE.json",
        _set("questions.2.end_s", 230.0),
        "questions.2",
        False,
    ),
    "overlapping questions": ("interview-completed.en-IE.json", _overlap_questions, "questions", False),
    "duplicate question ids": ("interview-completed.zh-CN.json", _duplicate_question_id, "questions", False),
    "http media uri": (
        "interview-completed.en-IE.json",
        _set("media.0.uri", "http://x.example/a.webm"),
        "media.0.uri",
        True,
    ),
    "ftp media uri": (
        "interview-completed.zh-CN.json",
        _set("media.1.uri", "ftp://x.example/a.m4a"),
        "media.1.uri",
        True,
    ),
    "failed status without reason": ("stage-status.failed.json", _delete("reason"), "(event)", True),
    "retrying status with null reason": ("stage-status.failed.json", _retrying_without_reason, "(event)", True),
    "completed status with a reason": (
        "stage-status.json",
        _set("reason", {"code": "timeout", "message": "slow", "retryable": True}),
        "(event)",
        True,
    ),
    "e-mail as candidate_ref": (
        "interview-completed.en-IE.json",
        _set("candidate_ref", "jane.doe@example.com"),
        "candidate_ref",
        True,
    ),
    "naive timestamp": (
        "interview-completed.en-IE.json",
        _set("occurred_at", "2025-03-14T09:07:41"),
        "occurred_at",
        True,
    ),
    "impossible date": ("stage-status.json", _set("occurred_at", "2025-02-30T09:07:41Z"), "occurred_at", None),
    "jurisdiction as a name": ("interview-completed.en-IE.json", _set("jurisdiction", "Ireland"), "jurisdiction", True),
    "locale with underscore": ("interview-completed.zh-CN.json", _set("locale", "zh_CN"), "locale", True),
    "no media": ("interview-completed.en-IE.json", _set("media", []), "media", True),
    "ended before started": (
        "interview-completed.zh-CN.json",
        _set("interview_ended_at", "2025-03-14T06:29:00Z"),
        "(event)",
        False,
    ),
    "chunk index beyond manifest": ("frame-chunk-ready.json", _set("chunk_index", 14), "(event)", False),
    "score above 100": ("profile-ready.json", _set("dimensions.0.score", 100.5), "dimensions.0.score", True),
    "human review switched off": ("profile-ready.json", _set("needs_human_review", False), "needs_human_review", True),
    "expressions without emotion inference": (
        "vision-features.json",
        _set("summary.expression_distribution", {"neutral": 1.0}),
        "summary",
        True,
    ),
    "emotion inference without expressions": (
        "vision-features.zh-CN.json",
        _set("summary.expression_distribution", None),
        "summary",
        True,
    ),
    "permitted beyond consent": (
        "vision-features.json",
        _set("context.permitted_analyses", ["video_analysis", "emotion_inference"]),
        "context",
        False,
    ),
    "uuid without hyphens": (
        "speech-results.json",
        _set("event_id", "3f6c1a0e8d2b4c7e9a516b0e2d4f7a13"),
        "event_id",
        True,
    ),
    "string for a number": ("speech-results.json", _set("metrics.wpm", "138.6"), "metrics.wpm", True),
    "1 for true": ("interview-completed.en-IE.json", _set("consent.granted", 1), "consent.granted", True),
    "bad base64": ("dead-letter.json", _set("payload_b64", "not base64!"), "payload_b64", True),
    "wrong event type": ("stage-status.json", _set("event_type", "profile-ready"), "event_type", True),
    "race outside the EEO-1 categories": (
        "candidate-demographics.json",
        _set("race_ethnicity", "martian"),
        "race_ethnicity",
        True,
    ),
    "unknown accommodation": (
        "interview-completed.en-IE.json",
        _set("accommodations", ["extra_time"]),
        "accommodations.0",
        True,
    ),
    "self-identification without an answer": ("candidate-demographics.json", _delete("sex"), "sex", True),
    "schema version 2.0": ("stage-status.json", _set("schema_version", "2.0"), "schema_version", True),
}


@pytest.mark.parametrize("case", sorted(INVALID_MUTATIONS))
def test_invalid_mutation_is_rejected_by_schema_and_model(case: str) -> None:
    name, mutate, field, plain_schema_can_tell = INVALID_MUTATIONS[case]
    event_type, document = example_event_type(Path(name)), example(name)
    mutate(document)
    assert schema_accepts(event_type, document)[0] is False
    if plain_schema_can_tell:
        assert list(plain_validator(event_type).iter_errors(document)), "a standard validator rejects it too"
    elif plain_schema_can_tell is False:
        assert not list(plain_validator(event_type).iter_errors(document)), "only the x-sightline keywords tell"
    with pytest.raises(ContractError) as caught:
        decode_as(EVENT_MODELS[event_type], to_bytes(document))
    assert caught.value.field == (None if field == "(event)" else field), str(caught.value)


def test_forward_compatible_changes_are_accepted() -> None:
    document = example("frame-chunk-ready.json")
    document["schema_version"] = "1.7"
    document["future_field"] = {"anything": [1, 2]}
    document["object"]["storage_class"] = "GLACIER_IR"
    document["context"]["consent_scopes"].append("voice_cloning_opt_out")
    assert schema_accepts("frame-chunk-ready", document) == (True, "")
    event = decode("sightline.frame-chunk-ready.v1", to_bytes(document))
    assert isinstance(event, FrameChunkReady)
    assert event.schema_version == "1.7"
    assert "voice_cloning_opt_out" in event.context.consent_scopes
    assert "future_field" not in json.loads(encode(event)), "unknown fields are dropped, not forwarded"


# --- decode errors ---------------------------------------------------------------------------------------------

STATUS_TOPIC = "sightline.stage-status.v1"


def test_decode_rejects_bytes_that_are_not_json() -> None:
    with pytest.raises(ContractError, match=r"^payload is not valid JSON: Expecting value: line 1 column 1"):
        decode(STATUS_TOPIC, b"not json at all")
    with pytest.raises(ContractError, match="payload is not UTF-8"):
        decode(STATUS_TOPIC, b'{"a": "\xff"}')
    with pytest.raises(ContractError, match="payload is empty"):
        decode(STATUS_TOPIC, b"")
    with pytest.raises(ContractError, match="NaN is not a JSON number"):
        decode(STATUS_TOPIC, b'{"attempt": NaN}')


def test_decode_rejects_a_json_array() -> None:
    with pytest.raises(ContractError, match=r"^payload must be a JSON object, got a JSON array$"):
        decode(STATUS_TOPIC, b"[1, 2, 3]")
    with pytest.raises(ContractError, match="got a JSON string"):
        decode(STATUS_TOPIC, b'"stage-status"')


def test_decode_rejects_unknown_and_missing_event_type() -> None:
    document = example("stage-status.json")
    document["event_type"] = "interview-cancelled"
    with pytest.raises(ContractError, match=r"^unknown event_type 'interview-cancelled' \(known: audio-ready, ") as e:
        decode(STATUS_TOPIC, to_bytes(document))
    assert e.value.field == "event_type"
    del document["event_type"]
    with pytest.raises(ContractError, match=r"^missing event_type$"):
        decode(STATUS_TOPIC, to_bytes(document))
    document["event_type"] = "profile-ready"
    with pytest.raises(ContractError, match=f"does not belong on topic {STATUS_TOPIC}, which carries 'stage-status'"):
        decode(STATUS_TOPIC, to_bytes(document))


def test_decode_rejects_another_major_version() -> None:
    document = example("stage-status.json")
    document["schema_version"] = "2.0"
    with pytest.raises(ContractError, match=r"unsupported schema_version '2\.0'.*major version 1.*\.v2 topics") as e:
        decode(STATUS_TOPIC, to_bytes(document))
    assert e.value.field == "schema_version"
    document["schema_version"] = 1.0
    with pytest.raises(ContractError, match="schema_version must be a string"):
        decode(STATUS_TOPIC, to_bytes(document))
    del document["schema_version"]
    with pytest.raises(ContractError, match="missing schema_version"):
        decode(STATUS_TOPIC, to_bytes(document))


def test_decode_names_the_missing_field() -> None:
    document = example("interview-completed.en-IE.json")
    del document["interview_id"]
    with pytest.raises(ContractError) as caught:
        decode("sightline.interview-completed.v1", to_bytes(document))
    assert str(caught.value) == "invalid interview-completed event: interview_id: field required"
    assert caught.value.field == "interview_id"


def test_decode_reports_nested_problems_without_echoing_strings() -> None:
    document = example("interview-completed.en-IE.json")
    document["candidate_ref"] = "jane.doe@example.com"
    document["questions"][1]["start_s"] = -3
    with pytest.raises(ContractError) as caught:
        decode("sightline.interview-completed.v1", to_bytes(document))
    message = str(caught.value)
    assert "candidate_ref: String should match pattern" in message
    assert "questions.1.start_s: Input should be greater than or equal to 0 (got -3)" in message
    assert "jane.doe" not in message, "string inputs may be personal data and are never echoed"
    assert len(caught.value.problems) == 2


def test_decode_topic_misuse_is_a_programming_error() -> None:
    data = (SCHEMAS_DIR / "examples" / "v1" / "dead-letter.json").read_bytes()
    with pytest.raises(TopicError, match="unknown topic"):
        decode("sightline.nope.v1", data)
    with pytest.raises(TopicError, match="use decode_dead_letter"):
        decode(dead_letter_topic("ingest"), data)
    assert not issubclass(TopicError, ValueError), "a runtime catching ContractError must not dead-letter these"


# --- models -----------------------------------------------------------------------------------------------------


def _status(**overrides: Any) -> StageStatus:
    fields: dict[str, Any] = {
        "event_id": deterministic_event_id("test", "status"),
        "occurred_at": datetime(2025, 3, 14, 9, 0, tzinfo=UTC),
        "tenant_id": "acme-eu",
        "interview_id": "INT-1",
        "stage": StageName.VISION,
        "state": StageState.STARTED,
        "attempt": 1,
    }
    return StageStatus(**(fields | overrides))


def test_stage_status_reason_rules() -> None:
    reason = FailureReason(code="timeout", message="model server did not answer in 30 s", retryable=True)
    assert _status(state="retrying", attempt=2, reason=reason).reason == reason
    with pytest.raises(ValidationError, match="reason is required when state is failed/retrying"):
        _status(state=StageState.FAILED)
    with pytest.raises(ValidationError, match="reason must be null when state is not failed/retrying"):
        _status(state=StageState.COMPLETED, reason=reason)
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        _status(attempt=0)


def test_review_decision_rules() -> None:
    override = example("review-decision.json")
    assert model_accepts("review-decision", override) == (True, "")
    assert schema_accepts("review-decision", override) == (True, "")
    confirm = {**override, "action": "confirm", "override_label": None, "reason_codes": None}
    cases = {
        "an override needs a label": ({**override, "override_label": None}, "override_label is required"),
        "an override needs reasons": ({**override, "reason_codes": None}, "reason_codes is required"),
        "an empty reason list is no reason": ({**override, "reason_codes": []}, "at least 1 item"),
        "a confirmation carries no other label": ({**confirm, "override_label": "reject"}, "must be null"),
    }
    for why, (document, message) in cases.items():
        accepted, reason = model_accepts("review-decision", document)
        assert not accepted and message in reason, why
        assert not schema_accepts("review-decision", document)[0], why
    assert decode_as(ReviewDecision, to_bytes(confirm)).final_label == "pending"  # confirmed: the suggestion stands
    assert decode_as(ReviewDecision, to_bytes(override)).final_label == "recommend"


def test_candidate_outcome_ratings_stay_within_their_scale() -> None:
    outcome = example("candidate-outcome.json")
    assert model_accepts("candidate-outcome", outcome) == (True, "")
    for change, message in (
        ({"value": 6}, "value (6.0) must be less than or equal to scale_max (5.0)"),
        ({"scale_min": 5}, "scale_min (5.0) must be less than scale_max (5.0)"),
    ):
        document = copy.deepcopy(outcome)
        document["ratings"][0].update(change)
        accepted, reason = model_accepts("candidate-outcome", document)
        assert not accepted and message in reason
        assert not schema_accepts("candidate-outcome", document)[0]
    twice = copy.deepcopy(outcome)
    twice["ratings"].append(copy.deepcopy(twice["ratings"][0]))
    assert not model_accepts("candidate-outcome", twice)[0] and not schema_accepts("candidate-outcome", twice)[0]


def test_python_construction_rejects_unknown_fields_but_parsing_ignores_them() -> None:
    with pytest.raises(ValidationError, match="unknown field"):
        _status(attemtp=2)
    parsed = StageStatus.model_validate_json(encode(_status())[:-1] + b',"attemtp":2}')
    assert parsed == _status()


def test_models_are_immutable() -> None:
    status = _status()
    with pytest.raises(ValidationError):
        status.attempt = 2  # type: ignore[misc]


def test_event_type_is_fixed_per_class_and_required_on_the_wire() -> None:
    assert _status().event_type == "stage-status"
    assert StageStatus.EVENT_TYPE == "stage-status" and DeadLetter.EVENT_TYPE == "dead-letter"
    with pytest.raises(ValidationError):
        _status(event_type="profile-ready")


def test_encode_is_compact_utf8() -> None:
    document = example("interview-completed.zh-CN.json")
    event = decode("sightline.interview-completed.v1", to_bytes(document))
    data = encode(event)
    assert "高级产品经理".encode() in data
    assert b": " not in data and b"\n" not in data
    assert dict(message_headers(event)) == {
        "content-type": b"application/json",
        "event_type": b"interview-completed",
        "schema_version": b"1.0",
    }


def test_candidate_ref_refuses_obvious_personal_data() -> None:
    document = example("interview-completed.en-IE.json")
    for value in ("jane.doe@example.com", "+4915112345678", "4915112345678", "Jane Doe", "JaneDoe"):
        document["candidate_ref"] = value
        with pytest.raises(ContractError, match="candidate_ref"):
            decode("sightline.interview-completed.v1", to_bytes(document))


def test_is_eu_jurisdiction() -> None:
    assert is_eu_jurisdiction("EU") and is_eu_jurisdiction("IE") and is_eu_jurisdiction("DE-BY")
    assert not is_eu_jurisdiction("CN") and not is_eu_jurisdiction("US-IL") and not is_eu_jurisdiction("GB")


# --- identifiers ------------------------------------------------------------------------------------------------


def test_deterministic_event_id_is_stable_and_distinct() -> None:
    first = deterministic_event_id("frame-chunk-ready", "3f6c1a0e-8d2b-4c7e-9a51-6b0e2d4f7a13", "3")
    assert first == deterministic_event_id("frame-chunk-ready", "3f6c1a0e-8d2b-4c7e-9a51-6b0e2d4f7a13", "3")
    assert first == UUID("bed4590c-d424-57aa-ba46-6c089e205ff2"), (
        "the namespace or joining changed: replays would differ"
    )
    assert first.version == 5
    others = {
        deterministic_event_id("frame-chunk-ready", "3f6c1a0e-8d2b-4c7e-9a51-6b0e2d4f7a13", "4"),
        deterministic_event_id("audio-ready", "3f6c1a0e-8d2b-4c7e-9a51-6b0e2d4f7a13", "3"),
        deterministic_event_id("a:b", "c"),
        deterministic_event_id("a", "b:c"),
        deterministic_event_id("a", "bc"),
        deterministic_event_id("ab", "c"),
    }
    assert len(others) == 6 and first not in others
    with pytest.raises(ValueError, match="at least one part"):
        deterministic_event_id()
    with pytest.raises(TypeError, match="must be str"):
        deterministic_event_id("chunk", 3)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=8), min_size=1, max_size=4), st.lists(st.text(max_size=8), min_size=1, max_size=4))
def test_deterministic_event_id_is_injective_on_parts(a: list[str], b: list[str]) -> None:
    assert (deterministic_event_id(*a) == deterministic_event_id(*b)) == (a == b)


# --- topic registry -----------------------------------------------------------------------------------------------

EXPECTED_TOPICS = {
    "sightline.interview-completed.v1": "interview-completed",
    "sightline.media-ingested.v1": "media-ingested",
    "sightline.frame-chunk-ready.v1": "frame-chunk-ready",
    "sightline.frame-range-requested.v1": "frame-range-requested",
    "sightline.audio-ready.v1": "audio-ready",
    "sightline.vision-features.v1": "vision-features",
    "sightline.speech-results.v1": "speech-results",
    "sightline.profile-ready.v1": "profile-ready",
    "sightline.candidate-demographics.v1": "candidate-demographics",
    "sightline.stage-status.v1": "stage-status",
    "sightline.review-decision.v1": "review-decision",
    "sightline.candidate-outcome.v1": "candidate-outcome",
    "sightline.rescore-requested.v1": "rescore-requested",
    "sightline.candidate-erasure-requested.v1": "candidate-erasure-requested",
    **{f"sightline.dead-letter.{stage}.v1": "dead-letter" for stage in StageName},
}


def test_topic_registry_lists_every_topic() -> None:
    assert {name: spec.event_type for name, spec in TOPICS.items()} == EXPECTED_TOPICS
    example_types = {example_event_type(Path(name)) for name in EXAMPLE_NAMES}
    for spec in TOPICS.values():
        assert schema_path(spec.event_type).is_file(), spec.name
        assert spec.event_type in example_types, spec.name
        assert spec.event is EVENT_MODELS[spec.event_type]
        assert spec.partitions >= 1 and spec.retention_ms > 0 and spec.purpose
        assert spec.cleanup_policy == "delete"
        assert set(spec.producers) | set(spec.consumers) <= {*StageName, "external"}


def test_stages_are_wired_end_to_end() -> None:
    consumed = {stage for spec in TOPICS.values() for stage in spec.consumers}
    produced = {stage for spec in TOPICS.values() for stage in spec.producers}
    assert set(StageName) <= consumed and set(StageName) <= produced
    assert TOPICS["sightline.interview-completed.v1"].producers == ("external",)
    assert "external" in TOPICS["sightline.profile-ready.v1"].consumers
    fusion_inputs = [spec for spec in TOPICS.values() if "fusion" in spec.consumers]
    assert len({(spec.key, spec.partitions) for spec in fusion_inputs}) == 1, "fusion inputs must be co-partitioned"
    for stage in StageName:
        assert TOPICS[dead_letter_topic(stage)].producers == (stage,)
        assert (
            TOPICS[dead_letter_topic(stage)].max_message_bytes > TOPICS["sightline.speech-results.v1"].max_message_bytes
        )


def test_topic_for_and_dead_letter_topic() -> None:
    assert topic_for(InterviewCompleted) == "sightline.interview-completed.v1"
    assert topic_for(_status()) == "sightline.stage-status.v1"
    dead = decode_dead_letter((SCHEMAS_DIR / "examples" / "v1" / "dead-letter.json").read_bytes())
    assert topic_for(dead) == "sightline.dead-letter.ingest.v1"
    assert dead_letter_topic(StageName.SINK) == dead_letter_topic("sink") == "sightline.dead-letter.sink.v1"
    with pytest.raises(ValueError, match="use dead_letter_topic"):
        topic_for(DeadLetter)
    with pytest.raises(ValueError, match="unknown stage 'ocr'"):
        dead_letter_topic("ocr")


def _decoded(name: str) -> Envelope:
    event_type = example_event_type(Path(name))
    return decode_as(EVENT_MODELS[event_type], (SCHEMAS_DIR / "examples" / "v1" / name).read_bytes())


def test_message_keys() -> None:
    interview_key = b"acme-eu/INT-2025-004211"
    for name in (
        "interview-completed.en-IE.json",
        "media-ingested.json",
        "vision-features.json",
        "speech-results.json",
    ):
        assert message_key(_decoded(name)) == interview_key, name
    assert message_key(_decoded("profile-ready.json")) == interview_key
    chunk = _decoded("frame-chunk-ready.json")
    assert isinstance(chunk, FrameChunkReady)
    assert message_key(chunk) == interview_key + b":3"
    assert message_key(chunk.model_copy(update={"chunk_index": 4})) == interview_key + b":4"
    assert message_key(_decoded("audio-ready.json")) == interview_key + b":1"
    # The ranges of one recording spread over the frames replicas like chunks over vision's.
    assert message_key(_decoded("frame-range-requested.json")) == interview_key + b":1"
    assert message_key(_decoded("dead-letter.json")) == b"sightline.interview-completed.v1:4:118233"
    assert message_key(_decoded("interview-completed.zh-CN.json")) == b"huaxin-cn/HX-20250314-0087"
    # Self-identification describes the candidate, not one interview: keyed by candidate.
    assert message_key(_decoded("candidate-demographics.json")) == b"acme-us/cand_5d21b8e07a"


def test_registry_rejects_inconsistencies(tmp_path: Path) -> None:
    raw = yaml.safe_load((SCHEMAS_DIR / "topics.yaml").read_text(encoding="utf-8"))
    broken = copy.deepcopy(raw)
    broken["topics"][2]["key"] = "{tenant_id}/{interview_id}:{chunk}"
    broken["topics"] = [t for t in broken["topics"] if t["name"] != "sightline.dead-letter.sink.v1"]
    broken["topics"][5]["partitions"] = 7
    path = tmp_path / "topics.yaml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    with pytest.raises(ValueError) as caught:
        load_topics(path)
    message = str(caught.value)
    assert "key uses 'chunk', which FrameChunkReady does not have" in message
    assert "no dead-letter topic for stage sink" in message
    assert "copartition group fusion: topics must share key and partition count" in message


# --- dead letters ------------------------------------------------------------------------------------------------


def test_dead_letter_keeps_the_payload_byte_for_byte() -> None:
    payload = b'{"event_type":"stage-status","tenant_id":"acme-eu","interview_id":"INT-9","x":"\xe4\xb8\xad"}\n'
    letter = dead_letter_for(
        stage="vision",
        topic="sightline.frame-chunk-ready.v1",
        partition=7,
        offset=42,
        value=payload,
        key=b"acme-eu/INT-9:0",
        headers=[("traceparent", b"00-abc-01"), ("empty", None)],
        timestamp_ms=1_741_947_300_000,
        error=ContractError("invalid frame-chunk-ready event: chunk_index: field required"),
        attempts=1,
    )
    assert base64.b64decode(letter.payload_b64) == payload
    assert (letter.tenant_id, letter.interview_id) == ("acme-eu", "INT-9")
    assert letter.error.code == "invalid_event" and letter.error.type == "ContractError"
    assert letter.headers[1].value_b64 is None
    again = decode_dead_letter(encode(letter))
    assert again == letter
    assert base64.b64decode(again.payload_b64) == payload
    same = dead_letter_for(
        stage="vision", topic="sightline.frame-chunk-ready.v1", partition=7, offset=42, value=b"", error=ValueError("x")
    )
    assert same.event_id == letter.event_id, "dead-lettering the same record twice yields the same id"
    assert (same.tenant_id, same.interview_id, same.payload_b64) == (None, None, "")
    assert schema_accepts("dead-letter", json.loads(encode(same))) == (True, "")
