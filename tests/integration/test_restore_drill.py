"""The restore drill on the local stack, as an operator runs it: interviews written as the sink writes them,
`sightline db backup` to the S3 gateway, the embedded database's directory deleted (the machine is lost),
`sightline db restore` into an empty one: every table and view comes back identical."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from services.backup import DEFAULT_BUCKET, BackupError, BackupTarget, restore_database
from services.common.clickhouse import DirectWarehouse, chdb_path
from services.common.migrations import migrate
from services.common.objectstore import ObjectStore
from services.common.settings import Settings
from services.sink.batches import TableBatches
from services.sink.rows import rows_for
from tests.identities import identity_env
from tests.integration.test_sink import Candidate, interview_events

CANDIDATES = (
    Candidate("IV-DR1", "CAND-DR1", 0.8, label="recommend", profile_versions=2),
    Candidate("IV-DR2", "CAND-DR2", 0.3, label="reject", tenant_id="globex"),
    Candidate("IV-DR3", "CAND-DR3", 0.6, failed_stage="vision"),
)


@pytest.fixture
def settings(stack_settings: Settings, tmp_path: Path) -> Settings:
    clickhouse = stack_settings.clickhouse.model_copy(update={"dsn": f"chdb://{tmp_path / 'chdb'}"})
    return stack_settings.model_copy(update={"clickhouse": clickhouse})


def sightline(settings: Settings, identity: str, *args: str) -> subprocess.CompletedProcess[str]:
    s3 = settings.s3
    env = {
        **os.environ,
        **identity_env(identity),
        "SIGHTLINE_CLICKHOUSE__DSN": settings.clickhouse.dsn,
        "SIGHTLINE_S3__ENDPOINT": s3.endpoint,
        "SIGHTLINE_S3__ACCESS_KEY": s3.access_key,
        "SIGHTLINE_S3__SECRET_KEY": s3.secret_key.get_secret_value(),
    }
    cmd = [sys.executable, "-m", "services.cli", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def write_interviews(settings: Settings) -> None:
    warehouse = DirectWarehouse(settings.clickhouse)
    try:
        migrate(warehouse)
        batches = TableBatches(warehouse.database, max_rows=100_000, max_age_s=60)
        for candidate in CANDIDATES:
            batches.add(row for event in interview_events(candidate) for row in rows_for(event))
        assert batches.flush(warehouse) > 0
    finally:
        warehouse.close()


def contents(settings: Settings) -> dict[str, Any]:
    """Every table's rows (all columns, sorted) and every table's and view's definition."""
    warehouse = DirectWarehouse(settings.clickhouse)
    try:
        db = warehouse.database
        _, tables = warehouse.query_rows(
            "SELECT name, engine, create_table_query FROM system.tables WHERE database = {db:String} ORDER BY name",
            {"db": db},
        )
        found: dict[str, Any] = {"definitions": [[str(v) for v in t] for t in tables]}
        for name, engine, _ in tables:
            source = f"{db}.`{name}`"
            if engine != "View":  # a view's rows follow from its tables; its definition is compared above
                _, rows = warehouse.query_rows(f"SELECT * FROM {source} ORDER BY tuple(*)")
                found[name] = sorted(json.dumps(r, default=str) for r in rows)
        _, current = warehouse.query_rows(
            f"SELECT tenant_id, interview_id, profile_version, label FROM {db}.latest_profiles ORDER BY interview_id"
        )
        found["latest_profiles"] = [list(map(str, r)) for r in current]
        return found
    finally:
        warehouse.close()


def test_a_backup_restores_every_table_identically_after_the_database_is_lost(settings: Settings) -> None:
    write_interviews(settings)
    before = contents(settings)
    assert before["latest_profiles"] == [["acme-eu", "IV-DR1", "2", "recommend"], ["globex", "IV-DR2", "1", "reject"]]
    assert len(before["profile_dimensions"]) > 6 and len(before["stage_status"]) > 10

    name = f"drill-{uuid.uuid4().hex[:8]}"
    backed_up = sightline(settings, "ops", "db", "backup", "--name", name)
    assert backed_up.returncode == 0, backed_up.stderr
    assert json.loads(backed_up.stdout)["name"] == name
    assert f"{name}/.backup" in ObjectStore(settings.s3).list_keys(DEFAULT_BUCKET, f"{name}/")

    shutil.rmtree(chdb_path(settings.clickhouse.dsn))  # the machine and its disk are gone
    restored = sightline(settings, "ops", "db", "restore", name)
    assert restored.returncode == 0, restored.stderr
    assert contents(settings) == before

    target = BackupTarget.from_settings(settings)
    warehouse = DirectWarehouse(settings.clickhouse)
    try:
        with pytest.raises(BackupError, match="--replace"):  # over live data only when asked to replace it
            restore_database(warehouse, target, name, replace=False)
        with pytest.raises(BackupError) as missing:
            restore_database(warehouse, target, f"missing-{name}", replace=True)
        assert target.secret_key not in str(missing.value)
        assert restore_database(warehouse, target, name, replace=True).status == "RESTORED"
    finally:
        warehouse.close()
    assert contents(settings) == before


def test_a_tenant_admin_may_not_back_up_or_restore_every_tenant(settings: Settings) -> None:
    refused = sightline(settings, "acme-admin", "db", "backup", "--name", "not-allowed")
    assert refused.returncode == 1 and "may not read tenant *" in refused.stderr
    assert not ObjectStore(settings.s3).list_keys(DEFAULT_BUCKET, "not-allowed/")
