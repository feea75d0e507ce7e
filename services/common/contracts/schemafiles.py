"""The committed contract files: generate them from the models and check that they agree."""

from __future__ import annotations

import json
from pathlib import Path

from .codec import ContractError, decode_as, encode
from .events import EVENT_MODELS, Envelope
from .jsonschema_export import all_schemas
from .paths import EVENTS_SUBDIR, EXAMPLES_SUBDIR, SCHEMAS_DIR, TOPICS_FILE, schema_file_name
from .topics import RegistryError, load_topics
from .validation import errors as schema_errors


def schema_path(event_type: str, root: Path = SCHEMAS_DIR) -> Path:
    """``<root>/events/v1/<event-type>.schema.json``."""
    return root / EVENTS_SUBDIR / schema_file_name(event_type)


def expected_schema_files(root: Path = SCHEMAS_DIR) -> dict[Path, str]:
    """What every schema file must contain, by path."""
    return {schema_path(event_type, root): text for event_type, text in all_schemas().items()}


def export_schemas(root: Path = SCHEMAS_DIR) -> list[Path]:
    """Write the schema files from the models; remove schema files no model produces. Returns what changed."""
    expected = expected_schema_files(root)
    changed: list[Path] = []
    directory = root / EVENTS_SUBDIR
    directory.mkdir(parents=True, exist_ok=True)
    for path, text in expected.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    for stale in sorted(directory.glob("*.schema.json")):
        if stale not in expected:
            stale.unlink()
            changed.append(stale)
    return changed


def check_schemas(root: Path = SCHEMAS_DIR) -> list[str]:
    """Differences between the committed schema files and the models."""
    expected = expected_schema_files(root)
    problems = []
    for path, text in expected.items():
        if not path.exists():
            problems.append(f"{path}: missing; run `python -m services.common.contracts export`")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path}: differs from the models; run `python -m services.common.contracts export`")
    for stale in sorted((root / EVENTS_SUBDIR).glob("*.schema.json")):
        if stale not in expected:
            problems.append(f"{stale}: no model produces this schema")
    return problems


def example_paths(root: Path = SCHEMAS_DIR) -> list[Path]:
    """Every example file, sorted."""
    return sorted((root / EXAMPLES_SUBDIR).glob("*.json"))


def example_event_type(path: Path) -> str:
    """Examples are named ``<event-type>[.<variant>].json``."""
    return path.name.split(".", 1)[0]


def canonical_example(event: Envelope) -> str:
    """How an example file holds ``event``: its wire encoding, indented by 2, trailing newline."""
    return json.dumps(json.loads(encode(event)), indent=2, ensure_ascii=False) + "\n"


def canonicalize_examples(root: Path = SCHEMAS_DIR) -> list[Path]:
    """Rewrite valid examples in canonical form (new optional fields appear with their defaults).
    Examples the model rejects are left alone for ``check`` to report. Returns what changed."""
    changed = []
    for path in example_paths(root):
        model = EVENT_MODELS.get(example_event_type(path))
        if model is None:
            continue
        try:
            text = canonical_example(decode_as(model, path.read_bytes()))
        except ContractError:
            continue
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def validate_document(event_type: str, data: bytes, root: Path = SCHEMAS_DIR) -> list[str]:
    """Problems of one serialized event against both its committed JSON Schema and its model."""
    model = EVENT_MODELS.get(event_type)
    if model is None:
        return [f"unknown event type {event_type!r}"]
    problems: list[str] = []
    try:
        document = json.loads(data)
    except ValueError as exc:
        return [f"not JSON: {exc}"]
    schema = json.loads(schema_path(event_type, root).read_text(encoding="utf-8"))
    problems += [f"schema: {problem}" for problem in schema_errors(schema, document)]
    try:
        decoded = decode_as(model, data)
    except ContractError as exc:
        problems += [f"model: {problem}" for problem in exc.problems]
    else:
        if decode_as(model, encode(decoded)) != decoded:
            problems.append("model: does not survive encode/decode unchanged")
    return problems


def check_examples(root: Path = SCHEMAS_DIR) -> list[str]:
    """Every example is valid for schema and model; every event type has an example."""
    problems: list[str] = []
    seen: set[str] = set()
    for path in example_paths(root):
        event_type = example_event_type(path)
        seen.add(event_type)
        found = validate_document(event_type, path.read_bytes(), root)
        problems += [f"{path}: {problem}" for problem in found]
        if not found:
            text = canonical_example(decode_as(EVENT_MODELS[event_type], path.read_bytes()))
            if path.read_text(encoding="utf-8") != text:
                problems.append(f"{path}: not in canonical form; run `python -m services.common.contracts export`")
    problems += [
        f"no example for {event_type} in {root / EXAMPLES_SUBDIR}"
        for event_type in EVENT_MODELS
        if event_type not in seen
    ]
    return problems


def check_topics(root: Path = SCHEMAS_DIR) -> list[str]:
    """topics.yaml is consistent with itself and the models."""
    try:
        load_topics(root / TOPICS_FILE)
    except RegistryError as exc:
        return [str(exc)]
    return []


def check_all(root: Path = SCHEMAS_DIR) -> list[str]:
    """Everything ``python -m services.common.contracts check`` verifies."""
    return check_schemas(root) + check_topics(root) + check_examples(root)
