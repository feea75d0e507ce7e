"""JSON Schema generation from the models: the models are the single source of truth."""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from .events import EVENT_MODELS, Envelope
from .paths import SCHEMA_DIALECT, schema_id


class _Generator(GenerateJsonSchema):
    """Pydantic's generator, adjusted so the schema says exactly what the models accept."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        # Property titles would only repeat the property name; models keep their titles.
        return False

    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        json_schema = super().dict_schema(schema)
        # A key pattern is a constraint on every key, not a filter selecting which keys get a value schema.
        pattern_properties = json_schema.pop("patternProperties", None)
        if pattern_properties:
            ((pattern, value_schema),) = pattern_properties.items()
            names = json_schema.setdefault("propertyNames", {})
            names["pattern"] = pattern
            json_schema["additionalProperties"] = value_schema
        return json_schema


def model_json_schema(model: type[Envelope]) -> dict[str, Any]:
    """The complete, self-contained JSON Schema of an event model."""
    event_type = model.EVENT_TYPE
    schema = model.model_json_schema(schema_generator=_Generator, mode="validation")
    return {"$schema": SCHEMA_DIALECT, "$id": schema_id(event_type), **schema}


def render(schema: dict[str, Any]) -> str:
    """Stable text form: sorted keys, 2-space indent, UTF-8 characters as is, trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def all_schemas() -> dict[str, str]:
    """Rendered schema of every event, by event type."""
    return {event_type: render(model_json_schema(model)) for event_type, model in EVENT_MODELS.items()}
