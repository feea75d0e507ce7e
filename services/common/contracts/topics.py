"""The topic registry (``schemas/topics.yaml``) and the routing helpers built on it."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .events import EVENT_MODELS, DeadLetter, Envelope
from .paths import MAJOR_VERSION, SCHEMAS_DIR, TOPICS_FILE
from .types import TOPIC_NAME_PATTERN, StageName

#: Producer or consumer that is not a Sightline stage: the HR system.
EXTERNAL = "external"
DEFAULT_MAX_MESSAGE_BYTES = 1_048_576
_RETENTION_RE = re.compile(r"^([1-9][0-9]*)([dh])$")
_UNIT_MS = {"d": 86_400_000, "h": 3_600_000}

Party = Literal["ingest", "frames", "vision", "speech", "fusion", "sink", "external"]


class _TopicEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=TOPIC_NAME_PATTERN)
    event: str
    key: str = Field(min_length=1)
    producers: list[Party] = Field(min_length=1)
    consumers: list[Party]
    partitions: int = Field(ge=1, le=1000)
    retention: str = Field(pattern=_RETENTION_RE.pattern)
    cleanup_policy: Literal["delete", "compact"]
    max_message_bytes: int = Field(DEFAULT_MAX_MESSAGE_BYTES, ge=1024)
    purpose: str = Field(min_length=1)


class _RegistryFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    copartition_groups: dict[str, list[str]] = Field(default_factory=dict)
    topics: list[_TopicEntry] = Field(min_length=1)


@dataclass(frozen=True)
class TopicSpec:
    """One topic of the registry."""

    name: str
    event: type[Envelope]
    event_type: str
    key: str
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    partitions: int
    retention: str
    retention_ms: int
    cleanup_policy: str
    max_message_bytes: int
    purpose: str

    @property
    def key_fields(self) -> tuple[str, ...]:
        """Event fields (dotted paths) the key template uses."""
        return tuple(field for _, field, _, _ in string.Formatter().parse(self.key) if field)

    @property
    def is_dead_letter(self) -> bool:
        """True for the sightline.dead-letter.<stage>.v1 topics."""
        return self.event is DeadLetter

    def render_key(self, event: Envelope) -> str:
        """The message key of ``event`` on this topic."""
        rendered: list[str] = []
        for literal, path, _, _ in string.Formatter().parse(self.key):
            rendered.append(literal)
            if not path:
                continue
            value: Any = event
            for part in path.split("."):
                value = getattr(value, part)
            if value is None:
                raise ValueError(f"cannot key {event.event_type} for {self.name}: {path} is null")
            rendered.append(str(value))
        return "".join(rendered)


class RegistryError(ValueError):
    """topics.yaml is inconsistent with itself or with the models."""


def _field_exists(model: type[BaseModel], path: str) -> bool:
    current: Any = model
    for part in path.split("."):
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return False
        annotation = current.model_fields[part].annotation
        current = annotation
    return True


def _retention_ms(retention: str) -> int:
    match = _RETENTION_RE.match(retention)
    if match is None:  # pragma: no cover - the entry model checked the pattern
        raise RegistryError(f"bad retention {retention!r}")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def load_topics(path: Path | None = None) -> Mapping[str, TopicSpec]:
    """Read and check a topic registry file (``schemas/topics.yaml`` by default)."""
    path = path or SCHEMAS_DIR / TOPICS_FILE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        registry = _RegistryFile.model_validate(raw)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise RegistryError(f"cannot load topic registry {path}: {exc}") from exc

    specs: dict[str, TopicSpec] = {}
    problems: list[str] = []
    for entry in registry.topics:
        model = EVENT_MODELS.get(entry.event)
        if model is None:
            problems.append(f"{entry.name}: unknown event {entry.event!r}")
            continue
        if entry.name in specs:
            problems.append(f"{entry.name}: listed twice")
        if model is DeadLetter:
            stages = [p for p in entry.producers if p != EXTERNAL]
            expected = f"sightline.dead-letter.{stages[0] if len(stages) == 1 else '<stage>'}.v{MAJOR_VERSION}"
            if len(entry.producers) != 1:
                problems.append(f"{entry.name}: a dead-letter topic has exactly one producing stage")
        else:
            expected = f"sightline.{entry.event}.v{MAJOR_VERSION}"
        if entry.name != expected:
            problems.append(f"{entry.name}: should be named {expected}")
        spec = TopicSpec(
            name=entry.name,
            event=model,
            event_type=entry.event,
            key=entry.key,
            producers=tuple(entry.producers),
            consumers=tuple(entry.consumers),
            partitions=entry.partitions,
            retention=entry.retention,
            retention_ms=_retention_ms(entry.retention),
            cleanup_policy=entry.cleanup_policy,
            max_message_bytes=entry.max_message_bytes,
            purpose=entry.purpose,
        )
        for field in spec.key_fields:
            if not _field_exists(model, field):
                problems.append(f"{entry.name}: key uses {field!r}, which {model.__name__} does not have")
        specs[entry.name] = spec

    carried = {spec.event_type for spec in specs.values()}
    for event_type in EVENT_MODELS:
        if event_type not in carried:
            problems.append(f"no topic carries {event_type}")
    for stage in StageName:
        if f"sightline.dead-letter.{stage}.v{MAJOR_VERSION}" not in specs:
            problems.append(f"no dead-letter topic for stage {stage}")
    for group, names in registry.copartition_groups.items():
        members = [specs[name] for name in names if name in specs]
        if len(members) != len(names):
            problems.append(f"copartition group {group}: unknown topic among {names}")
        if len({m.partitions for m in members}) > 1 or len({m.key for m in members}) > 1:
            problems.append(f"copartition group {group}: topics must share key and partition count")
    if problems:
        raise RegistryError(f"topic registry {path} is inconsistent: " + "; ".join(problems))
    return MappingProxyType(specs)


#: The registry, by topic name.
TOPICS: Mapping[str, TopicSpec] = load_topics()

_TOPIC_BY_MODEL: dict[type[Envelope], str] = {
    spec.event: spec.name for spec in TOPICS.values() if not spec.is_dead_letter
}


def topic_for(event: Envelope | type[Envelope]) -> str:
    """The topic an event (or event class) is published on. A dead-letter *instance* resolves to its
    stage's dead-letter topic; the DeadLetter class alone is ambiguous (use :func:`dead_letter_topic`)."""
    if isinstance(event, DeadLetter):
        return dead_letter_topic(event.stage)
    model = event if isinstance(event, type) else type(event)
    try:
        return _TOPIC_BY_MODEL[model]
    except KeyError:
        if model is DeadLetter:
            raise ValueError("each stage has its own dead-letter topic: use dead_letter_topic(stage)") from None
        raise ValueError(f"no topic carries {model.__name__}") from None


def dead_letter_topic(stage: str) -> str:
    """``sightline.dead-letter.<stage>.v1``; ``stage`` must be a :class:`StageName` value."""
    try:
        name = StageName(stage)
    except ValueError:
        raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(StageName)}") from None
    return f"sightline.dead-letter.{name}.v{MAJOR_VERSION}"


def message_key(event: Envelope) -> bytes:
    """Partitioning key of ``event`` on its topic (see the ``key`` templates in topics.yaml)."""
    return TOPICS[topic_for(event)].render_key(event).encode("utf-8")
