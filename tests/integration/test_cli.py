"""The operator's CLI against the session's local stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from services.common.contracts import TOPICS
from services.common.settings import Settings
from tests.integration.kafka_helpers import read_topic


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "SIGHTLINE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "SIGHTLINE_KAFKA__TOPIC_PREFIX": "cli.",
        "SIGHTLINE_S3__ENDPOINT": settings.s3.endpoint,
        "SIGHTLINE_STACK__HOME": str(settings.stack.home),
        "SIGHTLINE_STACK__KAFKA_PORT": str(settings.stack.kafka_port),
        "SIGHTLINE_STACK__S3_PORT": str(settings.stack.s3_port),
        "SIGHTLINE_STACK__BROKER_STORAGE": settings.stack.broker_storage,
        "SIGHTLINE_CLICKHOUSE__DSN": settings.clickhouse.dsn,
        **extra,
    }


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


async def test_topics_create_is_idempotent_and_creates_the_registry(stack_settings: Settings) -> None:
    env = _env(stack_settings)
    first = _run(["topics", "create"], env)
    assert first.returncode == 0, first.stderr
    assert f"created {len(TOPICS)} topic(s)" in first.stdout
    second = _run(["topics", "create"], env)
    assert second.returncode == 0 and "created 0 topic(s)" in second.stdout
    kafka = stack_settings.kafka.model_copy(update={"topic_prefix": "cli."})
    assert await read_topic(kafka, "sightline.stage-status.v1", lambda r: True) == []


def test_stack_status_reports_the_session_stack_healthy(stack_settings: Settings) -> None:
    result = _run(["stack", "status", "--json"], _env(stack_settings))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "kafka" in result.stdout and "s3" in result.stdout


def test_unreachable_broker_gives_a_clear_error_and_exit_code(stack_settings: Settings) -> None:
    env = _env(
        stack_settings, SIGHTLINE_KAFKA__BOOTSTRAP_SERVERS="127.0.0.1:1", SIGHTLINE_KAFKA__REQUEST_TIMEOUT_MS="2000"
    )
    result = _run(["topics", "create"], env)
    assert result.returncode == 3
    assert "could not reach the broker at 127.0.0.1:1" in result.stderr


def test_query_opens_the_directory_itself_when_no_owner_runs(tmp_path: Path) -> None:
    env = {**os.environ, "SIGHTLINE_CLICKHOUSE__DSN": f"chdb://{tmp_path / 'ch'}"}
    unmigrated = _run(["query", "SELECT 1"], env)  # no access log to write the read to: nothing is shown
    assert unmigrated.returncode == 1 and "could not be written to the access log" in unmigrated.stderr
    assert unmigrated.stdout == ""
    assert _run(["db", "migrate"], env).returncode == 0
    result = _run(["query", "--format", "json", "SELECT 1 + 1 AS two, 'zh' AS lang"], env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"two": 2, "lang": "zh"}
    bad = _run(["query", "SELECT * FROM nowhere.nothing"], env)
    assert bad.returncode == 1 and "query failed" in bad.stderr


async def test_publish_validates_then_sends_to_the_events_topic(stack_settings: Settings, tmp_path: Path) -> None:
    from services.common.contracts import decode

    env = _env(stack_settings, SIGHTLINE_KAFKA__TOPIC_PREFIX="pub.")
    assert _run(["topics", "create"], env).returncode == 0
    example = Path(__file__).resolve().parents[2] / "schemas" / "examples" / "v1" / "interview-completed.zh-CN.json"
    sent = _run(["publish", str(example)], env)
    assert sent.returncode == 0, sent.stderr
    kafka = stack_settings.kafka.model_copy(update={"topic_prefix": "pub."})
    records = await read_topic(kafka, "sightline.interview-completed.v1", lambda r: len(r) >= 1)
    event = decode("sightline.interview-completed.v1", records[0].value)
    assert event.model_dump() == decode("sightline.interview-completed.v1", example.read_bytes()).model_dump()
    broken = tmp_path / "broken.json"
    data = json.loads(example.read_text())
    data["consent"]["granted"] = "perhaps"
    broken.write_text(json.dumps(data))
    refused = _run(["publish", str(broken)], env)
    assert refused.returncode == 1 and "consent" in refused.stderr
