"""Foundations shared by every contract model.

* :class:`Contract` is the base of every model: immutable, tolerant of unknown fields when parsing
  (a consumer must accept a newer minor version), strict about unknown keyword arguments when a
  model is built in Python (a misspelt optional field in a producer is a bug, not a new version).
* Cross-field rules are declared once and enforced twice: by a pydantic validator and, in the
  exported JSON Schema, by standard keywords (``if``/``then``/``else``) or by the
  ``x-sightline-*`` keywords that :mod:`services.common.contracts.validation` implements.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationInfo, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

#: JSON Schema keywords of the Sightline vocabulary (cross-field rules plain JSON Schema cannot say).
KW_COMPARE = "x-sightline-compare"
KW_SUBSET = "x-sightline-subset"
KW_UNIQUE_BY = "x-sightline-unique-by"
KW_SORTED_DISJOINT = "x-sightline-sorted-disjoint"

#: Validation context flag: reject keys a model does not declare (set for Python construction).
_FORBID_UNKNOWN = "sightline.forbid_unknown"
_CONSTRUCTION_CONTEXT: dict[str, Any] = {_FORBID_UNKNOWN: True}

Comparator = Literal["<", "<="]


def _ordered(left: Any, op: Comparator, right: Any) -> bool:
    return bool(left < right) if op == "<" else bool(left <= right)


def _same_value(a: Any, b: Any) -> bool:
    """JSON equality: ``False`` is not ``0`` and ``1.0`` is ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    return bool(a == b)


@dataclass(frozen=True)
class Compare:
    """``left op right`` must hold whenever both fields are set (numbers or timestamps)."""

    left: str
    op: Comparator
    right: str

    def check(self, model: BaseModel) -> None:
        left, right = getattr(model, self.left), getattr(model, self.right)
        if left is None or right is None:
            return
        if not _ordered(left, self.op, right):
            relation = "less than" if self.op == "<" else "less than or equal to"
            raise ValueError(f"{self.left} ({_show(left)}) must be {relation} {self.right} ({_show(right)})")


@dataclass(frozen=True)
class SubsetOf:
    """Every item of list ``field`` must also appear in list ``of``."""

    field: str
    of: str

    def check(self, model: BaseModel) -> None:
        container = list(getattr(model, self.of))
        extra = [item for item in getattr(model, self.field) if item not in container]
        if extra:
            raise ValueError(f"{self.field} may only contain values of {self.of}; not in it: {sorted(map(str, extra))}")


@dataclass(frozen=True)
class When:
    """When the value at ``path`` (dotted) is one of ``values``, ``field`` must be set (``"required"``)
    or null (``"null"``); ``otherwise`` says the same for every other value of ``path``."""

    field: str
    path: str
    values: tuple[Any, ...]
    then: Literal["required", "null"]
    otherwise: Literal["required", "null", "any"] = "any"

    def _controlling(self, model: BaseModel) -> tuple[bool, Any]:
        value: Any = model
        for part in self.path.split("."):
            value = getattr(value, part, None)
            if value is None:
                return False, None
        return True, value

    def check(self, model: BaseModel) -> None:
        present, value = self._controlling(model)
        if not present:
            return
        matches = any(_same_value(value, candidate) for candidate in self.values)
        expectation = self.then if matches else self.otherwise
        actual = getattr(model, self.field)
        shown = "/".join(str(v).lower() if isinstance(v, bool) else str(v) for v in self.values)
        condition = f"{self.path} is {shown}" if matches else f"{self.path} is not {shown}"
        if expectation == "required" and actual is None:
            raise ValueError(f"{self.field} is required when {condition}")
        if expectation == "null" and actual is not None:
            raise ValueError(f"{self.field} must be null when {condition}")

    def json_schema(self) -> dict[str, Any]:
        condition: dict[str, Any] = {"enum": [_json_value(v) for v in self.values]}
        for part in reversed(self.path.split(".")):
            condition = {"properties": {part: condition}, "required": [part]}
        rule: dict[str, Any] = {"if": condition, "then": _expectation(self.field, self.then)}
        if self.otherwise != "any":
            rule["else"] = _expectation(self.field, self.otherwise)
        return rule


@dataclass(frozen=True)
class NotBoth:
    """The lists ``first`` and ``second`` are not both non-empty."""

    first: str
    second: str

    def check(self, model: BaseModel) -> None:
        if getattr(model, self.first) and getattr(model, self.second):
            raise ValueError(f"{self.second} must be empty when {self.first} is not")

    def json_schema(self) -> dict[str, Any]:
        return {
            "if": {"properties": {self.first: {"minItems": 1}}, "required": [self.first]},
            "then": {"properties": {self.second: {"maxItems": 0}}},
        }


Rule = Compare | SubsetOf | When | NotBoth


def _expectation(field: str, what: str) -> dict[str, Any]:
    if what == "required":
        return {"properties": {field: {"not": {"type": "null"}}}, "required": [field]}
    return {"properties": {field: {"type": "null"}}}


def _json_value(value: Any) -> Any:
    return value.value if hasattr(value, "value") else value


def _show(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else repr(value)


def _extend_json_schema(schema: dict[str, Any], cls: type[Any]) -> None:
    """``json_schema_extra`` hook of :class:`Contract`: emit the class's rules and wire requirements."""
    if not (isinstance(cls, type) and issubclass(cls, Contract)):
        return
    compares = [[r.left, r.op, r.right] for r in cls.__rules__ if isinstance(r, Compare)]
    if compares:
        schema[KW_COMPARE] = compares
    subsets = [[r.field, r.of] for r in cls.__rules__ if isinstance(r, SubsetOf)]
    if subsets:
        schema[KW_SUBSET] = subsets
    conditions = [r.json_schema() for r in cls.__rules__ if isinstance(r, When | NotBoth)]
    if conditions:
        schema["allOf"] = conditions
    if cls.__wire_required__:
        required = set(schema.get("required", ())) | set(cls.__wire_required__)
        schema["required"] = [name for name in cls.model_fields if name in required]


class Contract(BaseModel):
    """Base of every event and sub-object."""

    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        allow_inf_nan=False,
        json_schema_extra=_extend_json_schema,
    )

    #: Cross-field rules, enforced here and exported to the JSON Schema.
    __rules__: ClassVar[tuple[Rule, ...]] = ()
    #: Fields that have a Python default yet must be present on the wire.
    __wire_required__: ClassVar[tuple[str, ...]] = ()

    def __init__(self, /, **data: Any) -> None:
        """Build from keyword arguments; unlike parsing, unknown names are rejected (typos)."""
        __tracebackhide__ = True
        self.__pydantic_validator__.validate_python(data, self_instance=self, context=_CONSTRUCTION_CONTEXT)

    # Parsing (model_validate*, nested models) must not go through this __init__: mark it the way pydantic
    # marks BaseModel.__init__ and RootModel.__init__ so validation keeps building instances directly.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_when_constructing(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and info.context and info.context.get(_FORBID_UNKNOWN):
            unknown = sorted(str(key) for key in data if key not in cls.model_fields)
            if unknown:
                raise ValueError(f"unknown field(s) for {cls.__name__}: {', '.join(unknown)}")
        return data

    @model_validator(mode="after")
    def _check_rules(self) -> Self:
        for rule in self.__rules__:
            rule.check(self)
        return self


# --- list markers: usable inside ``Annotated[list[...], ...]`` --------------------------------------------


def _item_key(item: Any, names: Sequence[str]) -> Hashable:
    values = tuple(getattr(item, name) for name in names)
    return values[0] if len(values) == 1 else values


@dataclass(frozen=True)
class UniqueItems:
    """The list holds no duplicate values (JSON Schema ``uniqueItems``)."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["uniqueItems"] = True
        return json_schema

    @staticmethod
    def _check(items: list[Any]) -> list[Any]:
        seen: list[Any] = []
        for item in items:
            if item in seen:
                raise ValueError(f"duplicate item {str(item)!r}")
            seen.append(item)
        return items


@dataclass(frozen=True)
class UniqueBy:
    """No two objects of the list share the value(s) of ``names``."""

    names: tuple[str, ...]

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema[KW_UNIQUE_BY] = list(self.names)
        return json_schema

    def _check(self, items: list[Any]) -> list[Any]:
        seen: set[Hashable] = set()
        for item in items:
            key = _item_key(item, self.names)
            if key in seen:
                raise ValueError(f"{'/'.join(self.names)} must be unique; {key!r} appears more than once")
            seen.add(key)
        return items


@dataclass(frozen=True)
class SortedDisjoint:
    """Objects are in ascending ``start`` order and no two ranges ``[start, end)`` overlap."""

    start: str = "start_s"
    end: str = "end_s"

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema[KW_SORTED_DISJOINT] = {"start": self.start, "end": self.end}
        return json_schema

    def _check(self, items: list[Any]) -> list[Any]:
        for index in range(1, len(items)):
            previous_end = getattr(items[index - 1], self.end)
            start = getattr(items[index], self.start)
            if start < previous_end:
                raise ValueError(
                    f"items must be sorted by {self.start} and must not overlap: item {index} starts at {start} "
                    f"before item {index - 1} ends at {previous_end}"
                )
        return items
