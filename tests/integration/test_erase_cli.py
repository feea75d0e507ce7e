"""`sightline erase` as an operator runs it: directly on a stopped stack's warehouse, by the retention
schedule's rule, and by publishing a request for the sink."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.common.clickhouse import DirectWarehouse
from services.common.contracts import CandidateErasureRequested, decode_as, topic_for
from services.common.envelope import create_kek_file
from services.common.migrations import migrate
from services.common.objectstore import STAGING_PREFIX, ObjectStore, staging_prefix
from services.common.settings import Settings
from tests.integration.kafka_helpers import create_topics, read_topic

NOW = datetime.now(UTC)


@pytest.fixture
def settings(stack_settings: Settings, tmp_path: Path) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    s3 = stack_settings.s3.model_copy(
        update={
            "raw_bucket": f"raw-{suffix}",
            "work_bucket": f"work-{suffix}",
            "report_bucket": f"rep-{suffix}",
            "keys_bucket": f"keys-{suffix}",
            "kek_ref": f"file:{create_kek_file(tmp_path / 'kek')}",
        }
    )
    kafka = stack_settings.kafka.model_copy(update={"topic_prefix": f"erase{suffix}."})
    clickhouse = stack_settings.clickhouse.model_copy(update={"dsn": f"chdb://{tmp_path / 'chdb'}"})
    return stack_settings.model_copy(update={"s3": s3, "kafka": kafka, "clickhouse": clickhouse})


def env_of(settings: Settings) -> dict[str, str]:
    s3 = settings.s3
    return {
        **os.environ,
        "SIGHTLINE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "SIGHTLINE_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "SIGHTLINE_S3__ENDPOINT": s3.endpoint,
        "SIGHTLINE_S3__RAW_BUCKET": s3.raw_bucket,
        "SIGHTLINE_S3__WORK_BUCKET": s3.work_bucket,
        "SIGHTLINE_S3__REPORT_BUCKET": s3.report_bucket,
        "SIGHTLINE_S3__KEYS_BUCKET": s3.keys_bucket,
        "SIGHTLINE_S3__KEK_REF": s3.kek_ref or "",
        "SIGHTLINE_CLICKHOUSE__DSN": settings.clickhouse.dsn,
    }


def erase(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "erase", *args],
        env=env_of(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


def seed(settings: Settings, interviews: dict[str, tuple[str, datetime]]) -> None:
    """Rows and sealed objects of interviews (id -> candidate, start), as the pipeline leaves them."""
    store = ObjectStore(settings.s3)
    store.ensure_buckets()
    warehouse = DirectWarehouse(settings.clickhouse)
    try:
        migrate(warehouse)
        db = warehouse.database
        for interview, (candidate, started) in interviews.items():
            warehouse.insert(
                f"{db}.interviews",
                [["acme", interview, candidate, "DE", started]],
                ["tenant_id", "interview_id", "candidate_ref", "jurisdiction", "interview_started_at"],
                f"seed-{interview}",
            )
            store.put_bytes(settings.s3.work_bucket, f"acme/{interview}/frames/e/chunks/000000.zip", b"frames")
            store.put_bytes(settings.s3.report_bucket, f"acme/{interview}/report/profile-v1.html", b"<html>")
            # An upload left half-way by an ingest worker that died: staged under the interview's name.
            store.put_bytes(settings.s3.raw_bucket, f"{staging_prefix('acme', interview)}0f3a", b"recording")
    finally:
        warehouse.close()


def left(settings: Settings) -> tuple[set[str], set[str]]:
    """Interviews with rows, and interviews with objects."""
    warehouse = DirectWarehouse(settings.clickhouse)
    try:
        _, rows = warehouse.query_rows(f"SELECT interview_id FROM {warehouse.database}.interviews")
    finally:
        warehouse.close()
    store = ObjectStore(settings.s3)
    keys = [k for b in store.buckets() for k in store.list_keys(b)]
    return {str(r[0]) for r in rows}, {k.removeprefix(STAGING_PREFIX).split("/")[1] for k in keys}


def test_direct_erasure_of_a_candidate_prints_a_receipt_without_them(settings: Settings) -> None:
    seed(settings, {"iv-a1": ("cand_0a1", NOW), "iv-a2": ("cand_0a1", NOW), "iv-b1": ("cand_0b1", NOW)})
    result = erase(settings, "--tenant", "acme", "--candidate", "cand_0a1", "--direct")
    assert result.returncode == 0, result.stderr
    receipt = json.loads(result.stdout)
    assert receipt["interviews"] == 2 and receipt["reason"] == "candidate_request"
    assert receipt["rows_deleted"]["interviews"] == 2 and receipt["keys_destroyed"] == 2
    assert receipt["objects_deleted"][settings.s3.work_bucket] == 2
    assert receipt["objects_deleted"][settings.s3.raw_bucket] == 2  # the staged uploads
    assert "cand_0a1" not in result.stdout and "iv-a1" not in result.stdout
    rows, objects = left(settings)
    assert rows == {"iv-b1"} and objects == {"iv-b1"}


def test_expired_interviews_are_erased_by_their_jurisdictions_retention(settings: Settings) -> None:
    seed(
        settings, {"iv-old": ("cand_0o1", NOW - timedelta(days=200)), "iv-new": ("cand_0n1", NOW - timedelta(days=20))}
    )
    result = erase(settings, "--expired", "--direct")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["reason"] == "retention_expired"  # DE: 180 days
    rows, objects = left(settings)
    assert rows == {"iv-new"} and objects == {"iv-new"}
    again = erase(settings, "--expired", "--direct")
    assert again.returncode == 0 and again.stdout.strip() == "nothing to erase"


async def test_without_direct_the_request_goes_to_the_sink(settings: Settings) -> None:
    topic = topic_for(CandidateErasureRequested)
    await create_topics(settings.kafka, [topic])
    result = erase(settings, "--tenant", "acme", "--candidate", "cand_0c1", "--interview", "iv-c9")
    assert result.returncode == 0, result.stderr
    [record] = await read_topic(settings.kafka, topic, lambda r: len(r) >= 1)
    request = decode_as(CandidateErasureRequested, record.value)
    assert (request.scope, request.candidate_ref, request.interview_ids) == ("candidate", "cand_0c1", ["iv-c9"])
    assert str(request.event_id) in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "either --expired"),
        (["--candidate", "cand_0c1"], "--tenant is required"),
        (["--expired", "--candidate", "cand_0c1"], "either --expired"),
        (["--tenant", "acme", "--candidate", "x"], "candidate_ref"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(settings: Settings, args: list[str], message: str) -> None:
    result = erase(settings, *args)
    assert result.returncode == 2 and message in result.stderr
