"""A JSON Schema validator that enforces everything the exported schemas say.

Plain draft 2020-12 validators treat the ``x-sightline-*`` keywords as annotations and skip them, and
``format`` only annotates unless format checking is on. :func:`validator_for` returns a draft 2020-12
validator that also

* enforces the Sightline keywords (the cross-field rules of the models),
* checks ``date-time`` (RFC 3339) and ``uuid`` formats,
* evaluates ``pattern`` as ECMA-262 does: ``$`` matches only at the very end (Python's ``re`` also
  matches before a final newline).

The tests hold it to one promise: it accepts exactly the documents the models accept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators  # type: ignore[import-untyped]
from jsonschema.protocols import Validator  # type: ignore[import-untyped]

from .base import KW_COMPARE, KW_SORTED_DISJOINT, KW_SUBSET, KW_UNIQUE_BY
from .types import TIMESTAMP_PATTERN

_TIMESTAMP_RE = re.compile(TIMESTAMP_PATTERN)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _comparable(value: Any) -> Any:
    """Numbers as they are, RFC 3339 strings as aware datetimes, anything else None (not comparable)."""
    if _number(value):
        return value
    if isinstance(value, str) and _TIMESTAMP_RE.match(value):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _compare(validator: Validator, rules: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for left_name, op, right_name in rules:
        left, right = _comparable(instance.get(left_name)), _comparable(instance.get(right_name))
        if left is None or right is None or _number(left) != _number(right):
            continue
        if not (left < right if op == "<" else left <= right):
            relation = "less than" if op == "<" else "less than or equal to"
            yield ValidationError(
                f"{left_name} ({instance[left_name]!r}) must be {relation} {right_name} ({instance[right_name]!r})"
            )


def _subset(validator: Validator, rules: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for field, of in rules:
        items, container = instance.get(field), instance.get(of)
        if not isinstance(items, list) or not isinstance(container, list):
            continue
        extra = [item for item in items if item not in container]
        if extra:
            yield ValidationError(f"{field} may only contain values of {of}; not in it: {extra!r}")


def _unique_by(validator: Validator, names: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "array"):
        return
    seen: list[Any] = []
    for item in instance:
        if not isinstance(item, dict) or any(name not in item for name in names):
            continue
        key = [item[name] for name in names]
        if key in seen:
            yield ValidationError(f"{'/'.join(names)} must be unique; {key!r} appears more than once")
            return
        seen.append(key)


def _sorted_disjoint(
    validator: Validator, spec: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "array"):
        return
    start_name, end_name = spec["start"], spec["end"]
    for index in range(1, len(instance)):
        previous, current = instance[index - 1], instance[index]
        if not isinstance(previous, dict) or not isinstance(current, dict):
            continue
        previous_end: Any = previous.get(end_name)
        start: Any = current.get(start_name)
        if _number(previous_end) and _number(start) and start < previous_end:
            yield ValidationError(
                f"items must be sorted by {start_name} and must not overlap: item {index} starts at {start} "
                f"before item {index - 1} ends at {previous_end}"
            )


@cache
def _ecma_regex(pattern: str) -> re.Pattern[str]:
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _pattern(validator: Validator, pattern: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _ecma_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


FORMAT_CHECKER = FormatChecker()


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _TIMESTAMP_RE.match(value):
        return False
    datetime.fromisoformat(value)
    return True


FORMAT_CHECKER.checks("date-time", raises=ValueError)(_is_date_time)


SightlineValidator = validators.extend(
    Draft202012Validator,
    validators={
        KW_COMPARE: _compare,
        KW_SUBSET: _subset,
        KW_UNIQUE_BY: _unique_by,
        KW_SORTED_DISJOINT: _sorted_disjoint,
        "pattern": _pattern,
    },
)


def validator_for(schema: Mapping[str, Any]) -> Validator:
    """A validator enforcing ``schema`` completely (Sightline keywords and formats included)."""
    return SightlineValidator(schema, format_checker=FORMAT_CHECKER)


def errors(schema: Mapping[str, Any], instance: Any) -> list[str]:
    """Every problem of ``instance``, as 'path: message' lines (empty when valid)."""
    found = sorted(validator_for(schema).iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in found]
