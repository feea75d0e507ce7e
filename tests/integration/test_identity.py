"""Tenant isolation through every read: the command line (with the warehouse in the process, and through the
embedded database's owner) and the owner's HTTP endpoint. An identity of tenant acme asks for globex's
interview and is refused with a clear message; every read and refusal lands in the access log."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.common.chdb_owner import read_owner
from services.common.clickhouse import DirectWarehouse
from services.common.migrations import migrate
from services.common.objectstore import ObjectStore
from services.common.settings import ClickHouseSettings, Settings, settings_env
from tests.identities import identity_env, token_of

ROOT = Path(__file__).resolve().parents[2]
STATUS_COLUMNS = ["event_id", "tenant_id", "interview_id", "stage", "state", "attempt", "occurred_at"]


def seed_statuses(dsn: str) -> None:
    """A migrated directory with one interview of acme and two of globex."""
    warehouse = DirectWarehouse(ClickHouseSettings(dsn=dsn))
    migrate(warehouse)
    at = datetime.now(UTC) - timedelta(hours=1)
    rows = [
        [uuid.uuid4(), tenant, interview, "ingest", "completed", 1, at]
        for tenant, interview in (("acme", "iv-a"), ("globex", "iv-b"), ("globex", "iv-b2"))
    ]
    warehouse.insert("sightline.stage_status", rows, STATUS_COLUMNS, dedup_token="identity-test")
    warehouse.close()


def sightline(dsn: str, who: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    variables = {**os.environ, "SIGHTLINE_CLICKHOUSE__DSN": dsn, "COLUMNS": "200", **identity_env(who), **env}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=variables, capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip


def access_log(dsn: str, *args: str) -> list[dict[str, Any]]:
    done = sightline(dsn, "ops", "access-log", "--format", "json", "--limit", "1000", *args)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def refused_in_log(dsn: str, actor: str) -> list[tuple[str, str, str]]:
    rows = access_log(dsn, "--actor", actor, "--outcome", "refused")
    return sorted((r["action"], r["tenant_id"], r["interview_id"]) for r in rows)


@pytest.fixture(scope="module")
def dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    dsn = f"chdb://{tmp_path_factory.mktemp('identity') / 'ch'}"
    seed_statuses(dsn)
    return dsn


CROSS_TENANT_READS = [
    # (who, command, message on stderr)
    ("acme-analyst", ["status", "iv-b"], "refused: no status recorded for interview iv-b in tenant acme"),
    ("acme-reviewer", ["status", "iv-b"], "refused: no status recorded for interview iv-b in tenant acme"),
    ("acme-auditor", ["status", "iv-b"], "refused: no status recorded for interview iv-b in tenant acme"),
    ("acme-reviewer", ["report", "iv-b", "--tenant", "globex"], "may not read tenant globex's data"),
    ("acme-auditor", ["report", "iv-b"], "may not use report (roles allowed: admin, analyst, reviewer)"),
    ("acme-analyst", ["status", "--tenant", "globex"], "may not read tenant globex's data"),
    ("acme-analyst", ["report", "iv-b", "--tenant", "globex"], "may not read tenant globex's data"),
    ("acme-analyst", ["query", "SELECT 1"], "may not use query (roles allowed: admin)"),
    ("acme-auditor", ["audit", "bias", "--tenant", "globex", "--from", "2026-01-01", "--to", "2026-12-31"],
     "may not read tenant globex's data"),
    ("acme-analyst", ["calibrate", "--tenant", "globex", "--job", "REQ-1"], "may not read tenant globex's data"),
    ("acme-analyst", ["dlq", "list", "sink", "--from", "table"], "may not use dlq (roles allowed: admin)"),
    ("acme-auditor", ["access-log", "--tenant", "globex"], "may not read tenant globex's data"),
    ("acme-analyst", ["access-log"], "may not use access-log (roles allowed: admin, auditor)"),
]  # fmt: skip


def test_every_command_refuses_another_tenants_interview_and_logs_it(dsn: str) -> None:
    for who, command, message in CROSS_TENANT_READS:
        done = sightline(dsn, who, *command)
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert message in " ".join(done.stderr.split()), (command, done.stderr)
        assert "iv-b" not in done.stdout
    assert refused_in_log(dsn, "acme-analyst") == [
        ("access-log", "acme", ""),
        ("calibrate", "globex", ""),
        ("dlq", "acme", ""),
        ("query", "acme", ""),
        ("report", "globex", "iv-b"),
        ("status", "acme", "iv-b"),
        ("status", "globex", ""),
    ]
    assert refused_in_log(dsn, "acme-auditor") == [
        ("access-log", "globex", ""),
        ("audit", "globex", ""),
        ("report", "acme", "iv-b"),
        ("status", "acme", "iv-b"),
    ]
    assert refused_in_log(dsn, "acme-reviewer") == [("report", "globex", "iv-b"), ("status", "acme", "iv-b")]


def test_a_tenant_sees_only_its_own_rows_and_an_admin_only_its_tenant(dsn: str) -> None:
    mine = sightline(dsn, "acme-analyst", "status", "--format", "json")
    assert [json.loads(line)["interview_id"] for line in mine.stdout.splitlines()] == ["iv-a"], mine.stderr
    theirs = sightline(dsn, "globex-analyst", "status", "iv-b", "--format", "json")
    assert theirs.returncode == 0 and json.loads(theirs.stdout)["tenant_id"] == "globex", theirs.stderr
    # An admin's SQL is filtered to its tenant by the engine, even when it asks for another's rows ...
    sql = "SELECT DISTINCT tenant_id, interview_id FROM sightline.stage_status ORDER BY interview_id"
    admin = sightline(dsn, "acme-admin", "query", "--format", "json", sql)
    assert admin.returncode == 0, admin.stderr
    assert [json.loads(line)["interview_id"] for line in admin.stdout.splitlines()] == ["iv-a"]
    sneaky = "SELECT interview_id FROM sightline.interview_progress WHERE tenant_id = 'globex'"
    assert sightline(dsn, "acme-admin", "query", "--format", "json", sneaky).stdout == ""
    # ... what a filter cannot reach is refused ...
    for sql in ("SELECT * FROM merge('sightline', '^stage_status$')", "SELECT query FROM system.query_log",
                "SELECT * FROM file('/etc/passwd', 'LineAsString')"):  # fmt: skip
        refused = sightline(dsn, "acme-admin", "query", sql)
        assert refused.returncode == 1 and refused.stderr.startswith("refused: "), sql
        assert "may not use table functions" in refused.stderr or "may not read the system database" in refused.stderr
    # ... and the platform's admin reads every tenant.
    both = sightline(dsn, "ops", "query", "--format", "json", "SELECT DISTINCT tenant_id FROM sightline.stage_status")
    assert sorted(json.loads(line)["tenant_id"] for line in both.stdout.splitlines()) == ["acme", "globex"]
    # The allowed reads are logged too, with who, role, tenant and where from.
    logged = access_log(dsn, "--actor", "acme-admin", "--outcome", "allowed")
    assert {r["action"] for r in logged} == {"query"}
    assert all(r["role"] == "admin" and r["actor_tenant"] == "acme" and r["origin"].startswith("cli ") for r in logged)
    # A tenant's admin reads its own tenant's log only.
    own = sightline(dsn, "acme-admin", "access-log", "--format", "json", "--limit", "1000")
    assert own.returncode == 0 and {json.loads(line)["tenant_id"] for line in own.stdout.splitlines()} == {"acme"}


def test_no_identity_no_reads(dsn: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLINE_IDENTITY__")}
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "status"],
        env={**env, "SIGHTLINE_CLICKHOUSE__DSN": dsn}, capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 1 and "no identity: no credentials: set SIGHTLINE_IDENTITY__TOKEN" in done.stderr
    unknown = sightline(dsn, "ops", "status", SIGHTLINE_IDENTITY__TOKEN="not-a-token")
    assert unknown.returncode == 1 and "the token is not known" in unknown.stderr
    assert "--role" not in sightline(dsn, "ops", "query", "--help").stdout  # roles come from tokens only


# ---- the owner's endpoint ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def owned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`sightline db serve` owning a seeded directory; yields its DSN."""
    dsn = f"chdb://{tmp_path_factory.mktemp('identity-owned') / 'ch'}"
    seed_statuses(dsn)
    with serving(dsn):
        yield dsn


@contextlib.contextmanager
def serving(dsn: str, **env: str) -> Iterator[None]:
    """`sightline db serve` owning ``dsn`` (with ``env`` besides the platform admin's identity) while in the block."""
    variables = {**os.environ, "SIGHTLINE_CLICKHOUSE__DSN": dsn, "SIGHTLINE_OBSERVABILITY__HTTP_PORT": "0",
                 **identity_env("ops"), **env}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "db", "serve"], env=variables, stderr=subprocess.PIPE, text=True,
        cwd=ROOT,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while read_owner(dsn) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"db serve did not start: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.1)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def post(dsn: str, body: dict[str, Any], token: str | None, path: str = "/sql") -> tuple[int, dict[str, Any]]:
    record = read_owner(dsn)
    assert record is not None
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(record.url + path, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        return exc.code, dict(json.loads(exc.read()))


def named(dsn: str, who: str | None, query: str, **parameters: Any) -> tuple[int, dict[str, Any]]:
    return post(dsn, {"query": query, "parameters": parameters}, token_of(who) if who else None, "/named")


def interviews(answer: dict[str, Any]) -> list[str]:
    return sorted({row[answer["columns"].index("interview_id")] for row in answer["rows"]})


def test_the_endpoint_runs_named_queries_with_the_tokens_tenant(owned: str) -> None:
    progress = {"interview": "", "limit": 10}
    assert named(owned, None, "status.progress", **progress)[0] == 401
    status, answer = post(owned, {"query": "status.progress", "parameters": progress}, "forged", "/named")
    assert status == 401 and "not known" in answer["error"]
    for who in ("acme-analyst", "acme-reviewer", "acme-auditor", "acme-admin"):
        status, answer = named(owned, who, "status.progress", **progress)
        assert status == 200 and interviews(answer) == ["iv-a"], (who, answer)
        # Another tenant's interview: not there for this identity.
        status, answer = named(owned, who, "status.progress", interview="iv-b", limit=10)
        assert status == 200 and answer["rows"] == [], (who, answer)
        # A tenant named in the request is not the identity's: refused as forged, not run for globex.
        status, answer = named(owned, who, "status.progress", tenant="globex", **progress)
        assert status == 403, (who, answer)
        assert answer["error"] == (
            f"refused: {who} ({who.split('-')[1]} of tenant acme) may not read tenant globex's data (a named query "
            "reads the tenant of the identity asking)"
        )
    status, answer = named(owned, "acme-analyst", "status.progress", tenant="acme", **progress)
    assert status == 200 and interviews(answer) == ["iv-a"]  # its own tenant, named: the same
    status, answer = named(owned, "globex-analyst", "status.progress", **progress)
    assert status == 200 and interviews(answer) == ["iv-b", "iv-b2"]
    # The platform's identities read every tenant, or the one they name.
    assert interviews(named(owned, "ops", "status.progress", **progress)[1]) == ["iv-a", "iv-b", "iv-b2"]
    assert interviews(named(owned, "ops", "status.progress", tenant="globex", **progress)[1]) == ["iv-b", "iv-b2"]

    # Roles the query does not list, unknown queries and parameters that do not fit.
    status, answer = named(owned, "acme-analyst", "audit.demographics")
    assert (
        status == 403 and "may not run the named query audit.demographics (roles allowed: auditor)" in answer["error"]
    )
    status, answer = named(owned, "acme-reviewer", "access-log.read", since="2026-01-01 00:00:00", actor="",
                           interview="", outcome="", limit=5)  # fmt: skip
    assert status == 403 and "roles allowed: admin, auditor" in answer["error"]
    status, answer = named(owned, "acme-analyst", "SELECT 1")
    assert status == 400 and "no named query 'SELECT 1'" in answer["error"]
    status, answer = named(owned, "acme-analyst", "status.progress", interview="", limit="10 OR 1=1")
    assert status == 400 and "limit must be a UInt32" in answer["error"]
    status, answer = named(owned, "acme-analyst", "status.progress", interview="", limit=10, db="globex")
    assert status == 400 and "unknown: ['db']" in answer["error"]

    logged = access_log(owned, "--actor", "acme-analyst")
    endpoint = {(r["action"], r["outcome"]) for r in logged if r["origin"].startswith("db endpoint")}
    assert endpoint >= {("named", "allowed"), ("named", "refused")}
    forged = [r for r in logged if r["outcome"] == "refused" and "globex" in r["subject"]]
    assert forged and all("may not read tenant globex's data" in r["reason"] for r in forged)


def test_the_endpoint_runs_arbitrary_sql_for_admins_only(owned: str) -> None:
    sql = "SELECT DISTINCT interview_id FROM sightline.stage_status ORDER BY interview_id"
    for who in ("acme-analyst", "acme-reviewer", "acme-auditor", "globex-analyst"):
        status, answer = post(owned, {"sql": sql}, token_of(who))
        assert status == 403, (who, answer)
        assert "may not run arbitrary SQL (admins only)" in answer["error"]
    status, answer = post(owned, {"sql": sql}, token_of("acme-admin"))
    assert status == 200 and answer["rows"] == [["iv-a"]]  # the engine filters globex's rows out
    by_tenant = "SELECT DISTINCT interview_id FROM sightline.stage_status WHERE tenant_id = {tenant:String}"
    status, answer = post(owned, {"sql": by_tenant, "parameters": {"tenant": "globex"}}, token_of("acme-admin"))
    assert (
        status == 403
        and answer["error"] == "refused: acme-admin (admin of tenant acme) may not read tenant globex's data"
    )
    status, answer = post(owned, {"sql": "SELECT * FROM merge('sightline', 'stage')"}, token_of("acme-admin"))
    assert status == 403 and "table functions" in answer["error"]
    status, answer = post(owned, {"sql": sql}, token_of("ops"))
    assert status == 200 and answer["rows"] == [["iv-a"], ["iv-b"], ["iv-b2"]]

    admin = sightline(
        owned, "acme-admin", "query", "--format", "json", "SELECT DISTINCT tenant_id FROM sightline.stage_status"
    )
    assert admin.returncode == 0 and [json.loads(line) for line in admin.stdout.splitlines()] == [{"tenant_id": "acme"}]
    migrate_as_analyst = sightline(owned, "acme-analyst", "db", "migrate")
    assert migrate_as_analyst.returncode == 1 and "may not apply migrations" in migrate_as_analyst.stderr

    logged = access_log(owned, "--actor", "acme-analyst")
    refused = [r for r in logged if (r["action"], r["outcome"]) == ("sql", "refused")]
    assert refused and all("may not run arbitrary SQL (admins only)" in r["reason"] for r in refused)
    assert all(r["role"] == "analyst" and r["actor_tenant"] == "acme" for r in logged)


def test_the_command_line_reads_through_the_owner_with_named_queries(owned: str) -> None:
    refused = sightline(owned, "acme-reviewer", "status", "iv-b")  # every role alike through the owner: see above
    assert refused.returncode == 1 and "refused: no status recorded for interview iv-b in tenant acme" in refused.stderr
    auditor = sightline(owned, "acme-auditor", "access-log", "--format", "json", "--limit", "1000")
    assert auditor.returncode == 0 and {json.loads(line)["tenant_id"] for line in auditor.stdout.splitlines()} == {
        "acme"
    }
    audit = sightline(owned, "acme-auditor", "audit", "bias", "--tenant", "acme", "--from", "2026-01-01", "--to",
                      "2026-12-31", "--format", "json")  # fmt: skip
    assert audit.returncode == 0, audit.stderr
    letters = sightline(owned, "acme-admin", "dlq", "list", "sink", "--from", "table")
    assert letters.returncode == 0, letters.stderr
    logged = access_log(owned, "--actor", "acme-auditor", "--outcome", "allowed")
    assert {"access-log.read", "audit.demographics"} <= {r["subject"].split(" ")[0] for r in logged}


def test_a_report_of_another_tenants_interview_is_refused_without_saying_it_exists(
    dsn: str, stack_settings: Settings
) -> None:
    store = ObjectStore(stack_settings.s3)
    bucket = stack_settings.s3.work_bucket
    store.ensure_bucket(bucket)
    store.client.put_object(bucket, "globex/iv-b/fusion/profiles/v1.json", io.BytesIO(b"{}"), 2)
    s3_env = settings_env(stack_settings.s3, "SIGHTLINE_S3__")
    for interview in ("iv-b", "iv-nowhere"):  # another tenant's, and nobody's: the same answer
        done = sightline(dsn, "acme-analyst", "report", interview, **s3_env)
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"refused: no profile of interview {interview} in tenant acme" in " ".join(done.stderr.split())
        assert "globex" not in done.stderr
    logged = access_log(dsn, "--actor", "acme-analyst", "--outcome", "refused")
    assert {r["interview_id"] for r in logged if r["action"] == "report"} >= {"iv-b", "iv-nowhere"}
