"""The HR callback's pure parts: the signature, the body and its committed JSON Schema, the secrets."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker  # type: ignore[import-untyped]
from pydantic import SecretStr

from services.common.contracts import ProfileReady
from services.sink.callback import SCHEMA_PATH, ReportAccess, json_schema_text, load_secrets, signature, summary
from services.sink.settings import SinkSettings

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples" / "v1"


def test_the_signature_is_hmac_sha256_over_timestamp_and_body() -> None:
    body = b'{"label":"pending"}'
    expected = hmac.new(b"s3cret", b"1765000000." + body, hashlib.sha256).hexdigest()
    assert signature(b"s3cret", 1765000000, body) == f"v1={expected}"
    others = {signature(b"s3cret", 1765000001, body), signature(b"other", 1765000000, body),
              signature(b"s3cret", 1765000000, body + b" ")}  # fmt: skip
    assert f"v1={expected}" not in others and len(others) == 3


def _summary() -> dict[str, Any]:
    profile = ProfileReady.model_validate_json((EXAMPLES / "profile-ready.json").read_bytes())
    report = ReportAccess(url="https://s3.example/r?X-Amz-Expires=900", expires_at=datetime(2025, 3, 14, tzinfo=UTC))
    document: dict[str, Any] = json.loads(summary(profile, report).model_dump_json())
    return document


def test_the_body_summarises_the_profile_and_matches_the_committed_schema() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == json_schema_text(), "run python -m services.sink.callback"
    body = _summary()
    assert (body["event_type"], body["interview_id"], body["label"], body["overall"]) == (
        "profile-summary", "INT-2025-004211", "recommend", 76.2,
    )  # fmt: skip
    assert body["competency_model"] == {"id": "software-engineer", "version": "1.0"}
    assert all(set(d) == {"dimension", "kind", "score", "confidence"} for d in body["dimensions"])  # no evidence
    validator = Draft202012Validator(json.loads(SCHEMA_PATH.read_text()), format_checker=FormatChecker())
    assert list(validator.iter_errors(body)) == []
    assert list(validator.iter_errors({**body, "label": "hire"}))  # the schema is not a formality


def test_secrets_come_from_the_file_and_the_environment_wins(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"a": "from-file", "b": "file-only"}))
    settings = SinkSettings(callback_secrets_file=path, callback_secrets={"a": SecretStr("from-env")})
    assert load_secrets(settings) == {"a": b"from-env", "b": b"file-only"}
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match=f"callback secrets file {path}: expected"):
        load_secrets(settings)
    path.unlink()
    with pytest.raises(ValueError, match="No such file"):
        load_secrets(settings)
