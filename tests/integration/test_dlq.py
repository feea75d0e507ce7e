"""`sightline dlq list|replay` against the local broker: letters back to their source topic, byte for byte."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from services.common.contracts import InterviewCompleted, dead_letter_for, dead_letter_topic, encode, topic_for
from services.common.settings import Settings
from services.dlq import REPLAY_HEADER
from tests.integration.kafka_helpers import create_topics, isolated, publish, read_all
from tests.integration.stage_fixtures import example

SOURCE = topic_for(InterviewCompleted)
DLQ = dead_letter_topic("ingest")


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SIGHTLINE_CLICKHOUSE__DSN": settings.clickhouse.dsn,
        "SIGHTLINE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "SIGHTLINE_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "dlq", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )


def _logged(settings: Settings, dsn: str) -> Settings:
    """Reading dead letters is written to the access log: a migrated database holds it."""
    return settings.model_copy(update={"clickhouse": settings.clickhouse.model_copy(update={"dsn": dsn})})


async def test_list_and_replay_put_the_exact_message_back(stack_settings: Settings, access_log_dsn: str) -> None:
    settings = _logged(isolated(stack_settings), access_log_dsn)
    await create_topics(settings.kafka, [SOURCE, DLQ])
    good = InterviewCompleted.model_validate(dict(example("interview-completed"), interview_id="iv-dlq-1"))
    value = encode(good)
    transient = dead_letter_for(
        stage="ingest", topic=SOURCE, partition=2, offset=41, value=value, key=b"acme-eu/iv-dlq-1",
        headers=[("content-type", b"application/json")], error=TimeoutError("media host timed out"),
        retryable=True, attempts=5,
    )  # fmt: skip
    broken = dead_letter_for(
        stage="ingest", topic=SOURCE, partition=0, offset=7, value=b"{not json", error=ValueError("not JSON")
    )
    await publish(settings.kafka, DLQ, [(None, encode(transient)), (None, encode(broken))])

    listed = _cli(settings, "list", "ingest", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    docs = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {d["event_id"] for d in docs} == {str(transient.event_id), str(broken.event_id)}
    assert all("payload_b64" not in d for d in docs)

    dry = _cli(settings, "replay", "ingest", "--retryable", "--dry-run")
    assert dry.returncode == 0 and f"would replay {transient.event_id}" in dry.stdout
    assert str(broken.event_id) not in dry.stdout
    assert await read_all(settings.kafka, SOURCE, quiet_s=1.0) == []

    done = _cli(settings, "replay", "ingest", "--retryable")
    assert done.returncode == 0, done.stderr
    assert "replayed 1 message(s)" in done.stderr
    (record,) = await read_all(settings.kafka, SOURCE, quiet_s=1.0)
    assert record.value == value and record.key == b"acme-eu/iv-dlq-1"
    assert record.headers["content-type"] == b"application/json"
    assert record.headers[REPLAY_HEADER] == str(transient.event_id).encode()


def test_an_unreachable_broker_is_exit_code_3(stack_settings: Settings, access_log_dsn: str) -> None:
    settings = _logged(isolated(stack_settings), access_log_dsn)
    settings = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"bootstrap_servers": "127.0.0.1:1"})}
    )
    result = _cli(settings, "list", "ingest")
    assert result.returncode == 3 and "could not read dead letters" in result.stderr
