"""The role checks: what each role may do, and demographics for auditors only, however the table is spelled."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.access import AccessDenied, Action, Role, authorize, check_query
from services.common.settings import get_settings
from services.identity.tokens import ALL_TENANTS, Identity
from tests.identities import identity_env


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM sightline.candidate_demographics",
        "select sex, count() from SIGHTLINE.CANDIDATE_DEMOGRAPHICS group by sex",
        "SELECT * FROM `sightline`.`candidate_demographics`",
        'SELECT * FROM "candidate_demographics"',
        "SELECT p.label FROM sightline.profiles p JOIN sightline.candidate_demographics d USING (candidate_ref)",
        "SELECT * FROM merge('sightline', '^candidate_demo')",
        "SELECT * FROM merge(currentDatabase(), concat('candidate', '_demo'))",
        "SELECT * FROM sightline.`candidate\\x5fdemographics`",
        "SELECT * FROM loop(sightline, profiles) LIMIT 1",
    ],
)
@pytest.mark.parametrize("role", [Role.ADMIN, Role.ANALYST, Role.REVIEWER])
def test_only_auditors_read_demographics(sql: str, role: Role) -> None:
    with pytest.raises(AccessDenied, match=f"the {role} role may not"):
        check_query(sql, role)


def test_the_refusal_names_the_table_and_who_may_read_it() -> None:
    with pytest.raises(AccessDenied, match=r"may not read candidate_demographics \(only: auditor\)"):
        check_query("SELECT count() FROM sightline.candidate_demographics", Role.REVIEWER)


def test_auditors_read_demographics_and_everyone_reads_the_rest() -> None:
    check_query("SELECT sex, count() FROM sightline.candidate_demographics GROUP BY sex", Role.AUDITOR)
    check_query("SELECT * FROM merge('sightline', '^profiles$')", Role.AUDITOR)
    for role in Role:
        check_query("SELECT label, count() FROM sightline.latest_profiles GROUP BY label", role)
        check_query("SELECT * FROM sightline.profile_dimensions WHERE dimension = 'eye_contact'", role)


def test_a_similar_name_is_not_the_restricted_table() -> None:
    check_query("SELECT * FROM sightline.candidate_demographics_docs", Role.ADMIN)


ROOT = Path(__file__).resolve().parents[2]
#: Where scoring, fusion, reports and reviewers get their data: none of it may name the demographics table.
NEVER_READ_BY = (
    "services/fusion",
    "services/report",
    "services/review",
    "services/vision",
    "services/speech",
    "deploy",
)


def test_no_scoring_fusion_or_report_code_names_the_demographics_table() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for folder in NEVER_READ_BY
        for path in (ROOT / folder).rglob("*")
        if path.is_file()
        and path.suffix in {".py", ".sql", ".json", ".yaml", ".yml"}
        and "candidate_demographics" in path.read_text(encoding="utf-8", errors="replace")
    ]
    assert offenders == []
    # ... while the sink and the audit do, so the name above is the one in use.
    assert "candidate_demographics" in (ROOT / "services" / "sink" / "rows.py").read_text(encoding="utf-8")


def test_the_audit_command_refuses_other_roles_before_reading_anything(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from services.cli import cli

    args = ["audit", "bias", "--tenant", "acme-us", "--from", "2026-01-01", "--to", "2026-06-30"]
    missing = tmp_path / "no-database-here"
    env = {"SIGHTLINE_CLICKHOUSE__DSN": f"chdb://{missing}", **identity_env("acme-reviewer")}
    get_settings.cache_clear()  # settings are read once per process: an earlier test's must not answer here
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 1
    assert "refused: acme-reviewer (reviewer of tenant acme) may not use audit (roles allowed: auditor)" in (
        result.output
    )
    get_settings.cache_clear()  # settings are read once per process
    other_tenant = CliRunner().invoke(cli, args, env={**env, **identity_env("acme-auditor")})
    assert other_tenant.exit_code == 1
    assert "refused: acme-auditor (auditor of tenant acme) may not read tenant acme-us's data" in other_tenant.output
    assert not missing.exists()  # refused before any database was opened
    backwards = CliRunner().invoke(cli, [*args[:5], "2026-07-01", "--to", "2026-06-30"], env=env)
    assert backwards.exit_code == 2 and "--from is after --to" in backwards.output
    get_settings.cache_clear()  # and this test's must not answer later ones


def _as(name: str, tenant: str, role: Role) -> Identity:
    return Identity(name=name, tenant_id=tenant, role=role)


@pytest.mark.parametrize(
    ("action", "allowed"),
    [
        (Action.STATUS, {Role.ADMIN, Role.ANALYST, Role.REVIEWER, Role.AUDITOR}),
        (Action.REPORT, {Role.ADMIN, Role.ANALYST, Role.REVIEWER}),
        (Action.QUERY, {Role.ADMIN}),
        (Action.AUDIT, {Role.AUDITOR}),
        (Action.DEAD_LETTERS, {Role.ADMIN}),
        (Action.CALIBRATE_APPLY, {Role.ADMIN}),
        (Action.ACCESS_LOG, {Role.ADMIN, Role.AUDITOR}),
        (Action.ERASE, {Role.ADMIN}),
        (Action.BACKUP, {Role.ADMIN}),
        (Action.RESTORE, {Role.ADMIN}),
    ],
)
def test_each_action_is_open_to_its_roles_in_their_own_tenant_only(action: Action, allowed: set[Role]) -> None:
    for role in Role:
        me = _as("someone", "acme", role)
        if role in allowed:
            authorize(me, action, "acme")
        else:
            with pytest.raises(AccessDenied, match=f"may not use {action}"):
                authorize(me, action, "acme")
        with pytest.raises(AccessDenied):
            authorize(me, action, "globex")
    authorize(_as("ops", "*", Role.ADMIN), action if Role.ADMIN in allowed else Action.STATUS, "globex")


@pytest.mark.parametrize("role", [Role.ANALYST, Role.REVIEWER])
def test_only_admins_and_auditors_act_for_every_tenant(role: Role) -> None:
    with pytest.raises(ValueError, match="only an admin or an auditor"):
        _as("wide", "*", role)
    assert _as("wide", "*", Role.AUDITOR).may_read_tenant("globex")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM merge('sightline', '^profiles$')",
        "SELECT * FROM file('/etc/passwd', 'LineAsString')",
        "SELECT * FROM url('http://169.254.169.254/', 'RawBLOB')",
        "SELECT * FROM s3('http://127.0.0.1:9000/b/k')",
        "SELECT * FROM remoteSecure('db:9440', sightline.profiles)",
        "SELECT query FROM system.query_log",
        'SELECT * FROM "system"."processes"',
        "SELECT * FROM `system` . `query_log`",
        "SELECT * FROM sightline.`profi\\x6ces`",
    ],
)
def test_what_no_tenant_filter_reaches_is_refused_to_tenant_identities(sql: str) -> None:
    from services.identity.bound import check_tenant_bound

    with pytest.raises(AccessDenied, match=r"may not (use table functions|read the system database|use escaped)"):
        check_tenant_bound(sql, _as("a", "acme", Role.ADMIN))


def test_schema_tables_stay_readable_by_tenant_identities() -> None:
    from services.identity.bound import check_tenant_bound

    check_tenant_bound("SELECT count() FROM system.tables WHERE database = 'sightline'", _as("a", "acme", Role.AUDITOR))


@pytest.mark.parametrize(
    "sql",
    ["DROP TABLE sightline.profiles", "INSERT INTO sightline.access_log SELECT * FROM sightline.access_log",
     "ALTER TABLE sightline.access_log DELETE WHERE 1", "SET readonly = 0", "/* SELECT */ TRUNCATE sightline.x", ""],
)  # fmt: skip
def test_only_reads_reach_the_engine_whoever_asks(sql: str) -> None:
    from services.identity.bound import check_tenant_bound

    with pytest.raises(AccessDenied, match="queries run readonly"):
        check_tenant_bound(sql, _as("ops", "*", Role.ADMIN))


def test_reads_may_start_with_comments_brackets_or_a_with_clause() -> None:
    from services.identity.bound import check_tenant_bound

    for sql in ["-- why\n/* note */ (SELECT 1)", "WITH x AS (SELECT 1) SELECT * FROM x", "explain select 1"]:
        check_tenant_bound(sql, _as("ops", "*", Role.ADMIN))


@pytest.mark.parametrize("action", [Action.BACKUP, Action.RESTORE])
def test_only_an_installation_wide_admin_backs_up_or_restores_every_tenant(action: Action) -> None:
    authorize(_as("ops", ALL_TENANTS, Role.ADMIN), action, ALL_TENANTS)
    with pytest.raises(AccessDenied, match="may not read tenant"):
        authorize(_as("acme-admin", "acme", Role.ADMIN), action, ALL_TENANTS)
    with pytest.raises(AccessDenied, match="may not use"):
        authorize(_as("audit", ALL_TENANTS, Role.AUDITOR), action, ALL_TENANTS)
