"""Wire format: events are compact UTF-8 JSON objects, parsed strictly and tolerantly.

Strict: types are not coerced ("3" is not 3, 1 is not true), timestamps are RFC 3339 with an offset,
UUIDs are in 8-4-4-4-12 form. Tolerant: unknown fields are ignored and any minor version of the major
version a consumer knows is accepted.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from pydantic import ValidationError

from .events import EVENT_MODELS, DeadLetter, DeadLetterError, Envelope, EventBase, Header, SourceRecord
from .events import deterministic_event_id as _event_id
from .paths import MAJOR_VERSION
from .topics import TOPICS
from .types import EXTERNAL_ID_PATTERN, TENANT_ID_PATTERN, FailureCode, StageName

E = TypeVar("E", bound=Envelope)

_VERSION_RE = re.compile(r"^([0-9]+)\.([0-9]+)$")
_MAX_REPORTED_ERRORS = 5
CONTENT_TYPE = "application/json"


class ContractError(ValueError):
    """A message does not satisfy its contract. ``field`` names the first offending field (dotted path,
    list indexes as numbers) when there is one; ``problems`` lists every problem found."""

    def __init__(self, message: str, *, field: str | None = None, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.field = field
        self.problems: tuple[str, ...] = tuple(problems) or (message,)


class TopicError(LookupError):
    """A topic that is not in the registry, or used for the wrong purpose (a programming error, not bad data)."""


def encode(event: Envelope) -> bytes:
    """Compact JSON, UTF-8 (non-ASCII characters are not escaped)."""
    return event.model_dump_json().encode("utf-8")


def message_headers(event: Envelope) -> list[tuple[str, bytes]]:
    """Kafka headers that let tooling route or filter without parsing the value."""
    return [
        ("content-type", CONTENT_TYPE.encode()),
        ("event_type", event.event_type.encode()),
        ("schema_version", event.schema_version.encode()),
    ]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _load_object(data: bytes | bytearray | memoryview) -> dict[str, Any]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"decode needs bytes, got {type(data).__name__}")
    raw = bytes(data)
    if not raw:
        raise ContractError("payload is empty (null or zero-length message value); expected a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError(f"payload is not UTF-8: invalid byte at position {exc.start}") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise ContractError(f"payload is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        kind = "array" if isinstance(document, list) else type(document).__name__
        raise ContractError(f"payload must be a JSON object, got a JSON {_json_kind(kind)}")
    return document


def _json_kind(python_kind: str) -> str:
    return {"str": "string", "int": "number", "float": "number", "bool": "boolean", "NoneType": "null"}.get(
        python_kind, python_kind
    )


def _check_envelope(document: dict[str, Any], model: type[Envelope], where: str) -> None:
    if "event_type" not in document:
        raise ContractError("missing event_type", field="event_type")
    event_type = document["event_type"]
    if not isinstance(event_type, str):
        raise ContractError("event_type must be a string", field="event_type")
    if event_type not in EVENT_MODELS:
        known = ", ".join(sorted(EVENT_MODELS))
        raise ContractError(f"unknown event_type {event_type!r} (known: {known})", field="event_type")
    if event_type != model.EVENT_TYPE:
        raise ContractError(
            f"event_type {event_type!r} does not belong on {where}, which carries {model.EVENT_TYPE!r}",
            field="event_type",
        )
    if "schema_version" not in document:
        raise ContractError("missing schema_version", field="schema_version")
    version = document["schema_version"]
    if not isinstance(version, str):
        raise ContractError("schema_version must be a string like '1.0'", field="schema_version")
    match = _VERSION_RE.match(version)
    if match is None:
        raise ContractError(f"schema_version {version!r} is not of the form MAJOR.MINOR", field="schema_version")
    if int(match.group(1)) != MAJOR_VERSION:
        raise ContractError(
            f"unsupported schema_version {version!r}: this consumer reads major version {MAJOR_VERSION} "
            f"(any 1.N); version {match.group(1)} events belong on the .v{match.group(1)} topics",
            field="schema_version",
        )


def _path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _describe(error: Any) -> str:
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if error["type"] == "missing":
        message = "field required"
    value = error.get("input")
    # Echo numbers, booleans and null, never strings: they may be personal data (an e-mail address).
    if error["type"] != "missing" and (value is None or isinstance(value, bool | int | float)):
        message += f" (got {json.dumps(value)})"
    return message


def _contract_error(exc: ValidationError, event_type: str) -> ContractError:
    errors = exc.errors(include_url=False)
    problems = [f"{_path(e['loc']) or '(event)'}: {_describe(e)}" for e in errors]
    shown = "; ".join(problems[:_MAX_REPORTED_ERRORS])
    if len(problems) > _MAX_REPORTED_ERRORS:
        shown += f"; and {len(problems) - _MAX_REPORTED_ERRORS} more"
    first = _path(errors[0]["loc"]) if errors else None
    return ContractError(f"invalid {event_type} event: {shown}", field=first or None, problems=problems)


def decode_as(model: type[E], data: bytes | bytearray | memoryview, *, topic: str | None = None) -> E:
    """Parse ``data`` as ``model``; raise :class:`ContractError` saying what is wrong and where."""
    document = _load_object(data)
    _check_envelope(document, model, f"topic {topic}" if topic else f"a {model.EVENT_TYPE} topic")
    try:
        return model.model_validate_json(bytes(data), strict=True)
    except ValidationError as exc:
        raise _contract_error(exc, model.EVENT_TYPE) from None


def decode(topic: str, data: bytes | bytearray | memoryview) -> EventBase:
    """Parse a message read from ``topic`` into its event model.

    Raises :class:`ContractError` (a ValueError) for a message that breaks the contract: not UTF-8 JSON,
    not an object, unknown or missing event_type, an event type that does not belong on the topic, another
    major schema version, or invalid fields. Raises :class:`TopicError` for a topic the registry does not
    know or a dead-letter topic (use :func:`decode_dead_letter`).
    """
    spec = TOPICS.get(topic)
    if spec is None:
        raise TopicError(f"unknown topic {topic!r}")
    if spec.is_dead_letter:
        raise TopicError(f"{topic} carries dead letters; use decode_dead_letter")
    return cast(EventBase, decode_as(spec.event, data, topic=topic))


def decode_dead_letter(data: bytes | bytearray | memoryview) -> DeadLetter:
    """Parse a message of a dead-letter topic."""
    return decode_as(DeadLetter, data)


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _identity(value: bytes | None) -> tuple[str | None, str | None]:
    """tenant_id and interview_id of a payload, when it is a JSON object that has valid ones."""
    if not value:
        return None, None
    try:
        document = json.loads(value.decode("utf-8"))
    except ValueError:
        return None, None
    if not isinstance(document, dict):
        return None, None
    tenant, interview = document.get("tenant_id"), document.get("interview_id")
    tenant_ok = isinstance(tenant, str) and re.match(TENANT_ID_PATTERN, tenant) is not None
    interview_ok = isinstance(interview, str) and re.match(EXTERNAL_ID_PATTERN, interview) is not None
    return (tenant if tenant_ok else None), (interview if interview_ok else None)


def dead_letter_for(
    *,
    stage: StageName | str,
    topic: str,
    partition: int,
    offset: int,
    value: bytes | None,
    key: bytes | None = None,
    headers: Sequence[tuple[str, bytes | None]] = (),
    timestamp_ms: int | None = None,
    error: BaseException,
    retryable: bool = False,
    code: str | None = None,
    attempts: int = 1,
    occurred_at: datetime | None = None,
) -> DeadLetter:
    """The dead letter for a message a stage gives up on. Its event_id derives from the stage and the
    message's coordinates, so dead-lettering the same record twice yields the same id."""
    stage = StageName(stage)
    if code is None and isinstance(error, ContractError):
        code = FailureCode.INVALID_EVENT
    message = str(error) or type(error).__name__
    tenant_id, interview_id = _identity(value)
    return DeadLetter(
        event_id=_event_id("dead-letter", str(stage), topic, str(partition), str(offset)),
        occurred_at=occurred_at or datetime.now(UTC),
        stage=stage,
        tenant_id=tenant_id,
        interview_id=interview_id,
        source=SourceRecord(
            topic=topic, partition=partition, offset=offset, key_b64=_b64(key), timestamp_ms=timestamp_ms
        ),
        headers=[Header(key=name, value_b64=_b64(header_value)) for name, header_value in headers],
        error=DeadLetterError(type=type(error).__name__, code=code, message=message[:4000], retryable=retryable),
        attempts=attempts,
        payload_b64=_b64(value) or "",
    )
