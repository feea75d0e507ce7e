"""Hypothesis strategies of adversarial Kafka records for a topic, built from the contract's example event.

Each strategy draws a `Fuzzed` record: its kind (what is wrong with it), value bytes, key and headers.
Kinds: invalid JSON, wrong types, unknown schema versions, missing fields, oversize values (up to the
topic's own size limit), unicode edge cases (lone surrogates, NUL, bidi controls, invalid UTF-8), numeric
extremes and out-of-order windows; headers and keys are absent, empty or garbage throughout.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from services.common.contracts import TOPICS

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples" / "v1"

KINDS = (
    "invalid_json",
    "wrong_type",
    "unknown_version",
    "missing_field",
    "oversize",
    "unicode",
    "numeric_extreme",
    "window_order",
)

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Fuzzed:
    kind: str
    value: bytes
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    def __repr__(self) -> str:  # hypothesis prints failing examples: keep oversize ones readable
        shown = self.value if len(self.value) <= 300 else self.value[:300] + b"...(%d bytes)" % len(self.value)
        return f"Fuzzed({self.kind!r}, {shown!r}, key={self.key!r}, headers={self.headers!r})"


def example_document(topic: str) -> dict[str, Any]:
    event_type = TOPICS[topic].event_type
    path = sorted(EXAMPLES.glob(f"{event_type}*.json"))[0]
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def _paths(node: Any, prefix: Path_ = ()) -> list[tuple[Path_, Any]]:
    """Every (path, value) in a JSON document, containers included (the root excluded)."""
    found: list[tuple[Path_, Any]] = []
    items: list[tuple[str | int, Any]] = []
    if isinstance(node, dict):
        items = list(node.items())
    elif isinstance(node, list):
        items = list(enumerate(node))
    for name, value in items:
        found.append(((*prefix, name), value))
        found.extend(_paths(value, (*prefix, name)))
    return found


def _set(document: dict[str, Any], path: Path_, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    node: Any = changed
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return changed


def _delete(document: dict[str, Any], path: Path_) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    node: Any = changed
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return changed


def _json(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")


_ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
_EDGE_TEXT = st.sampled_from(
    [
        "",
        "\x00",
        "\ud800",
        "\udfff",
        "\u202e\u2066evil",
        "\ufeff",
        "e\u0301",
        "😀" * 50,
        "\u0000abc",
        "\uff46\uff55\uff4c\uff4c",
        " ",
    ]
)
_EDGE_TIMES = st.sampled_from(
    ["0001-01-01T00:00:00Z", "1899-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "2299-12-31T23:59:59.999Z",
     "2300-01-01T00:00:00Z", "9999-12-31T23:59:59.999999+14:00", "2026-02-29T10:00:00Z", "2026-03-29T02:30:00+01:00"]
)  # fmt: skip
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T")
_EDGE_NUMBERS = st.sampled_from([-1, -(2**63), 2**63, 2**64 + 1, 10**30, -0.0, 1e308, -1e308, 5e-324, 0.1])


def _json_type(value: Any) -> str:
    return "number" if isinstance(value, int | float) and not isinstance(value, bool) else type(value).__name__


_WINDOWS = (("start_s", "end_s"), ("chunk_index", "total_chunks"), ("segment_index", "total_segments"))


def _window_paths(document: dict[str, Any]) -> list[tuple[Path_, Path_]]:
    """(start, end) pairs of time windows and (index, total) pairs of manifests, wherever they appear."""
    pairs = []
    for path, value in _paths(document):
        if isinstance(value, dict):
            for low, high in (
                ("start_s", "end_s"),
                ("chunk_index", "total_chunks"),
                ("segment_index", "total_segments"),
            ):
                if low in value and high in value:
                    pairs.append(((*path, low), (*path, high)))
    for low, high in (("start_s", "end_s"), ("chunk_index", "total_chunks"), ("segment_index", "total_segments")):
        if low in document and high in document:
            pairs.append(((low,), (high,)))
    return pairs


def _get(document: Any, path: Path_) -> Any:
    for part in path:
        document = document[part]
    return document


@st.composite
def fuzzed(draw: st.DrawFn, topic: str, kinds: tuple[str, ...] = KINDS) -> Fuzzed:
    """One adversarial record for ``topic``."""
    document = example_document(topic)
    kind = draw(st.sampled_from(kinds))
    paths = _paths(document)
    leaves = [(p, v) for p, v in paths if not isinstance(v, dict | list)]
    if kind == "invalid_json":
        raw = _json(document)
        value = draw(
            st.one_of(
                st.integers(0, len(raw) - 1).map(lambda n: raw[:n]),  # truncated
                st.binary(max_size=64),
                st.sampled_from([b"", b"null", b"[]", b"42", b'"text"', b"{", b"\xff\xfe{}", b"NaN", b"{}"]),
            )
        )
    elif kind == "wrong_type":
        path, old = draw(st.sampled_from(paths))
        new = draw(_ANY_JSON.filter(lambda v: _json_type(v) != _json_type(old)))
        value = _json(_set(document, path, new))
    elif kind == "unknown_version":
        version = draw(st.sampled_from(["2.0", "0.9", "1", "", "1.0.0", "v1", "1.-1", "10.0"]) | st.text(max_size=6))
        value = _json(dict(document, schema_version=version))
    elif kind == "missing_field":
        path, _ = draw(st.sampled_from(paths))
        value = _json(_delete(document, path))
    elif kind == "oversize":
        strings = [p for p, v in leaves if isinstance(v, str)] or [("event_type",)]
        path = draw(st.sampled_from(strings))
        room = TOPICS[topic].max_message_bytes - len(_json(document)) - 64
        size = draw(st.integers(min_value=min(4096, room), max_value=room))
        value = _json(_set(document, path, draw(st.sampled_from(["x", "é", "界"])) * (size // 3)))
    elif kind == "unicode":
        strings = [p for p, v in leaves if isinstance(v, str)]
        path = draw(st.sampled_from(strings))
        text = draw(_EDGE_TEXT | st.text(min_size=1, max_size=20))
        changed = _set(document, path, text)
        encoding = draw(st.sampled_from(["raw", "escaped", "not_utf8"]))
        # "escaped": valid JSON escapes, lone surrogates included ("\ud800")
        value = json.dumps(changed).encode("ascii") if encoding == "escaped" else _json(changed)
        if encoding == "not_utf8":  # bytes that are not UTF-8 at all, inside a string
            value = value.replace(b'"', b'"\xc3\x28', 1)
    elif kind == "numeric_extreme":  # numbers, and the far ends of timestamps
        numbers = [(p, _EDGE_NUMBERS) for p, v in leaves if _json_type(v) == "number"]
        times = [(p, _EDGE_TIMES) for p, v in leaves if isinstance(v, str) and _TIMESTAMP.match(v)]
        path, values = draw(st.sampled_from(numbers + times))
        value = _json(_set(document, path, draw(values)))
    else:  # window_order
        pairs = _window_paths(document)
        if not pairs:
            value = _json(dict(document, occurred_at="2026-13-45T99:99:99Z"))
        else:
            low, high = draw(st.sampled_from(pairs))
            a, b = _get(document, low), _get(document, high)
            shift = draw(st.sampled_from([0, 1, 1000]) if a < b else st.sampled_from([1, 1000]))
            # the window reversed, empty, or the unit past its manifest's end
            value = _json(_set(_set(document, low, b + shift), high, a))
    key = draw(st.none() | st.just(b"") | st.binary(max_size=16) | st.just(b"acme-eu/INT-1"))
    headers = draw(st.lists(st.tuples(st.text(max_size=8), st.binary(max_size=16)), max_size=3).map(tuple))
    return Fuzzed(kind, value, key, headers)
