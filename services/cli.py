"""`sightline`: the operator's command line.

Exit codes: 0 success, 1 the command ran and found a problem (unhealthy, query error),
2 usage error (click's own), 3 a dependency (broker, store, database) could not be reached.
"""

from __future__ import annotations

import asyncio
import csv
import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from services.access import Action
from services.common.console import make_console
from services.common.contracts.types import StageName
from services.common.settings import Settings, get_settings, iter_env_vars
from services.identity.commands import authorized, current_caller, own_tenant, read_only, reading, refuse_unknown
from services.identity.tokens import ALL_TENANTS

EXIT_PROBLEM = 1
EXIT_UNREACHABLE = 3

if TYPE_CHECKING:
    from services.backup import BackupTarget
    from services.common.clickhouse import DirectWarehouse

console = make_console()
err_console = make_console(stderr=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="sightline")
def cli() -> None:
    """Sightline: streaming analysis of recorded job interviews.

    Configuration comes from SIGHTLINE_* environment variables (`sightline config` lists them). Commands that
    read interviews act as the identity of the token in SIGHTLINE_IDENTITY__TOKEN (or __TOKEN_FILE).
    """


# ---- configuration ------------------------------------------------------------------------------


@cli.command("config")
@click.option("--markdown", is_flag=True, help="Print the table as Markdown (the README's table).")
def config_cmd(markdown: bool) -> None:
    """List every configuration variable with its default and meaning."""
    rows = iter_env_vars()
    if markdown:
        click.echo("| Variable | Default | Meaning |\n|---|---|---|")
        for name, default, description in rows:
            click.echo(f"| `{name}` | `{default}` | {description} |" if default else f"| `{name}` | | {description} |")
        return
    table = Table("variable", "default", "meaning", show_lines=False)
    for row in rows:
        table.add_row(*row)
    console.print(table)


# ---- database -----------------------------------------------------------------------------------


@cli.group("db")
def db() -> None:
    """ClickHouse schema and the local embedded database."""


@db.command("migrate")
@click.option("--print", "print_only", is_flag=True, help="Print every migration's DDL; connect to nothing.")
@click.option("--cluster", default=None, help="With --print: the cluster (default: clickhouse.cluster).")
@click.option("--replicated/--no-replicated", default=None, help="With --print: Replicated*MergeTree engines.")
@click.option("--sharded/--no-sharded", default=None, help="With --print: local tables behind Distributed ones.")
def db_migrate(print_only: bool, cluster: str | None, replicated: bool | None, sharded: bool | None) -> None:
    """Apply pending ClickHouse migrations (idempotent).

    With the embedded chDB, a running owner process (the sink or `sightline db serve`) applies them. On a
    cluster (SIGHTLINE_CLICKHOUSE__CLUSTER, __REPLICATED, __SHARDED) the DDL runs ON CLUSTER; `--print` shows
    it for review (options override the settings for the printout).
    """
    if print_only:
        _print_migrations(cluster, replicated, sharded)
        return
    from services.common.chdb_owner import OwnerUnavailable, RemoteWarehouse, open_warehouse
    from services.common.clickhouse import DirectWarehouse, is_chdb
    from services.common.migrations import MigrationError, migrate
    from services.identity.tokens import IdentityError, own_token

    settings = get_settings()
    try:
        token = own_token(settings.identity)
    except IdentityError:
        token = None  # enough while no process owns the directory; the owner refuses without an admin's token
    try:
        warehouse = open_warehouse(settings.clickhouse, token=token)
        if isinstance(warehouse, RemoteWarehouse):
            applied = warehouse.migrate()
        else:
            applied = [f"{m.version:04d}_{m.name}" for m in migrate(warehouse)]
            if isinstance(warehouse, DirectWarehouse) and not is_chdb(settings.clickhouse.dsn):
                _tenant_access(warehouse, print_only=False)
            warehouse.close()
    except OwnerUnavailable as exc:
        err_console.print(f"[red]{exc}")
        sys.exit(EXIT_UNREACHABLE)
    except (MigrationError, RuntimeError, PermissionError) as exc:
        err_console.print(f"[red]migration failed: {exc}")
        sys.exit(EXIT_PROBLEM)
    click.echo("applied: " + ", ".join(applied) if applied else "database is up to date")


def _print_migrations(cluster: str | None, replicated: bool | None, sharded: bool | None) -> None:
    from services.common.cluster_ddl import Topology
    from services.common.migrations import migration_script

    configured = get_settings().clickhouse
    topology = Topology(
        configured.cluster if cluster is None else cluster,
        configured.replicated if replicated is None else replicated,
        configured.sharded if sharded is None else sharded,
    )
    if (topology.replicated or topology.sharded) and not topology.cluster:
        raise click.UsageError("--replicated and --sharded need a cluster (--cluster or clickhouse.cluster)")
    for name, statements in migration_script(configured.database, topology):
        click.echo(f"-- {name}")
        for statement in statements:
            click.echo(statement + ";\n")


@db.command("tenant-access")
@click.option("--print", "print_only", is_flag=True, help="Print the statements; change nothing.")
def db_tenant_access(print_only: bool) -> None:
    """Per-tenant roles, grants and row policies on a ClickHouse server, for the tenants of the identities
    (SIGHTLINE_IDENTITY__TOKENS_FILE). `db migrate` applies them too where the server allows it."""
    warehouse = _own_warehouse("or use --print there")
    try:
        _tenant_access(warehouse, print_only=print_only)
    finally:
        warehouse.close()


def _own_warehouse(hint: str = "") -> DirectWarehouse:
    """A direct connection (a server, or the embedded directory while no other process owns it); else exit."""
    from services.common.chdb_owner import OwnerUnavailable, open_warehouse
    from services.common.clickhouse import DirectWarehouse

    try:
        warehouse = open_warehouse(get_settings().clickhouse)
    except OwnerUnavailable as exc:
        err_console.print(f"[red]{exc}")
        sys.exit(EXIT_UNREACHABLE)
    if not isinstance(warehouse, DirectWarehouse):
        suffix = f" ({hint})" if hint else ""
        err_console.print(f"[red]another process owns the embedded database; stop it first{suffix}")
        sys.exit(EXIT_PROBLEM)
    return warehouse


@db.command("backup")
@click.option("--name", help="Backup name (default: <database>-<UTC time>).")
@click.option("--base", help="Name of an earlier backup: write only what it lacks (restoring then needs both).")
def db_backup(name: str | None, base: str | None) -> None:
    """Back up the whole database to S3 (SIGHTLINE_CLICKHOUSE__BACKUP_URL); installation-wide admins only."""
    from services.backup import BackupError, BackupTarget, backup_database, new_backup_name

    authorized(Action.BACKUP, ALL_TENANTS)
    settings = get_settings()
    target = BackupTarget.from_settings(settings)
    _ensure_backup_bucket(settings, target)
    warehouse = _own_warehouse()
    try:
        result = backup_database(warehouse, target, name or new_backup_name(warehouse.database), base=base)
    except BackupError as exc:
        err_console.print(f"[red]backup failed: {exc}")
        sys.exit(EXIT_PROBLEM)
    finally:
        warehouse.close()
    click.echo(json.dumps({"name": result.name, "backup_id": result.backup_id, "url": result.url}))


@db.command("restore")
@click.argument("name")
@click.option("--replace", is_flag=True, help="Drop the database first when it has tables (it is refused otherwise).")
def db_restore(name: str, replace: bool) -> None:
    """Recreate the database from backup NAME; installation-wide admins only."""
    from services.backup import BackupError, BackupTarget, restore_database

    authorized(Action.RESTORE, ALL_TENANTS)
    warehouse = _own_warehouse()
    try:
        result = restore_database(warehouse, BackupTarget.from_settings(get_settings()), name, replace=replace)
    except BackupError as exc:
        err_console.print(f"[red]restore failed: {exc}")
        sys.exit(EXIT_PROBLEM)
    finally:
        warehouse.close()
    click.echo(json.dumps({"name": result.name, "backup_id": result.backup_id, "restored_from": result.url}))


def _ensure_backup_bucket(settings: Settings, target: BackupTarget) -> None:
    """Create the default bucket on the object store; a configured backup_url's bucket is the operator's."""
    from services.common.objectstore import ObjectStore

    if not settings.clickhouse.backup_url:
        try:
            ObjectStore(settings.s3).ensure_bucket(target.bucket)
        except Exception as exc:
            err_console.print(f"[red]object store unreachable at {settings.s3.endpoint}: {exc}")
            sys.exit(EXIT_UNREACHABLE)


def _tenant_access(warehouse: DirectWarehouse, *, print_only: bool) -> None:
    """Apply (or print) the tenants' roles and row policies; say why when the server cannot take them."""
    from services.common.cluster_ddl import Topology
    from services.identity.row_policies import apply_tenant_access, database_tables, tenant_access_ddl
    from services.identity.tokens import IdentityError, TokenDirectory

    try:
        directory = TokenDirectory.from_settings(get_settings().identity)
    except IdentityError as exc:
        err_console.print(f"[yellow]no per-tenant roles: {exc}")
        return
    if print_only:
        tables, topology = database_tables(warehouse), Topology.of(warehouse.settings)
        for statement in tenant_access_ddl(warehouse.database, tables, directory.tenants(), topology):
            click.echo(statement + ";")
        return
    result = apply_tenant_access(warehouse, directory)
    if result.applied:
        click.echo(f"tenant roles and row policies: {len(result.statements)} statements applied")
    else:
        err_console.print(f"[yellow]tenant roles and row policies not applied: {result.reason}")


@db.command("serve")
@click.option("--port", type=int, default=None, help="HTTP port (default: SIGHTLINE_OBSERVABILITY__HTTP_PORT).")
def db_serve(port: int | None) -> None:
    """Own the embedded chDB directory and answer queries from other local processes until stopped.

    Each request must carry a token of SIGHTLINE_IDENTITY__TOKENS_FILE (or __TOKENS_JSON): it is read as that
    identity, bound to its tenant, and written to the access log.
    """
    from services.common.chdb_owner import ChdbOwner, read_owner
    from services.common.health import HealthServer
    from services.common.metrics import create_metrics
    from services.common.migrations import migrate
    from services.common.signals import until_terminated
    from services.identity.tokens import IdentityError, TokenDirectory

    settings = get_settings()
    try:
        directory = TokenDirectory.from_settings(settings.identity)
    except IdentityError as exc:
        err_console.print(f"[red]not serving: {exc}")
        sys.exit(EXIT_PROBLEM)

    async def serve() -> None:
        owner = ChdbOwner(settings.clickhouse, directory)
        migrate(owner.warehouse)
        server = HealthServer(
            registry=create_metrics().registry,
            host=settings.observability.http_host,
            port=port if port is not None else settings.observability.http_port,
            extra_routes=owner.routes(),
            ssl_context=owner.ssl_context(),
        )
        bound = await server.start()
        owner.publish(bound, settings.observability.http_host)
        record = read_owner(settings.clickhouse.dsn)
        click.echo(f"serving {settings.clickhouse.dsn} on {record.url if record else bound}", err=True)
        try:
            await until_terminated()
        finally:
            await server.stop()
            owner.close()

    asyncio.run(serve())


@cli.command("query")
@click.argument("sql")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "tsv", "csv"]), default="table", show_default=True)
def query_cmd(sql: str, fmt: str) -> None:
    """Run a read-only SQL query against the configured ClickHouse (admins only).

    Every table is read as the admin's tenant only (unless the admin acts for every tenant); the query is
    written to the access log. Other roles use the commands that read for them (status, report, audit...).
    Exit code 1 when the query fails or is refused.
    """
    authorized(Action.QUERY, subject=sql)
    columns, rows = read_only(sql, "query failed", Action.QUERY)
    _print_rows(columns, rows, fmt)


@cli.command("status")
@click.argument("interview_id", required=False)
@click.option("--tenant", help="Only interviews of this tenant.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True, help="Newest interviews shown.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def status_cmd(interview_id: str | None, tenant: str | None, limit: int, fmt: str) -> None:
    """Where each interview is: per stage, units done, failures with reasons.

    Exit code 1 when a shown interview has failed, or INTERVIEW_ID is unknown.
    """
    from services.status import PROGRESS, STAGE_ORDER, summarise

    caller = authorized(Action.STATUS, tenant, interview_id=interview_id or "")
    tenant = own_tenant(caller, tenant)
    parameters = {"interview": interview_id or "", "limit": limit, **({"tenant": tenant} if tenant else {})}
    with reading(Action.STATUS, "status query failed", tenant_id=tenant, interview_id=interview_id or "",
                  subject=PROGRESS.name) as reads:  # fmt: skip
        interviews = summarise(*reads.named(PROGRESS, parameters))
        if interview_id is not None and not interviews:
            refuse_unknown(reads, Action.STATUS, tenant, interview_id, "no status recorded for")
    if fmt == "json":
        for iv in interviews:
            doc = {
                "tenant_id": iv.tenant_id,
                "interview_id": iv.interview_id,
                "phase": iv.phase,
                "stages": {s: p.text for s, p in iv.stages.items()},
                "failures": iv.reasons,
            }
            click.echo(json.dumps(doc, ensure_ascii=False))
    else:
        table = Table("tenant", "interview", "phase", *STAGE_ORDER, "failures")
        for iv in interviews:
            cells = [iv.stages[s].text if s in iv.stages else "" for s in STAGE_ORDER]
            colour = "red" if iv.failed else ("green" if iv.phase == "profiled" else "yellow")
            table.add_row(iv.tenant_id, iv.interview_id, f"[{colour}]{iv.phase}", *cells, "\n".join(iv.reasons))
        console.print(table)
    if any(iv.failed for iv in interviews):
        sys.exit(EXIT_PROBLEM)


def _print_rows(columns: list[str], rows: list[list[Any]], fmt: str) -> None:
    if fmt == "json":
        for row in rows:
            click.echo(json.dumps(dict(zip(columns, row, strict=True)), default=str, ensure_ascii=False))
    elif fmt in ("tsv", "csv"):
        writer = csv.writer(sys.stdout, delimiter="\t" if fmt == "tsv" else ",", lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        table = Table(*columns)
        for row in rows:
            table.add_row(*(str(v) for v in row))
        console.print(table)


# ---- reports ------------------------------------------------------------------------------------


@cli.command("report")
@click.argument("interview_id")
@click.option("--tenant", help="Tenant of the interview (found by search when only one has it).")
@click.option("--version", "version", type=click.IntRange(1), help="Profile version (default: the latest).")
@click.option("--lang", type=click.Choice(["en", "zh"]), help="Report language (default: the interview's).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Output file [default: ID.html].")
@click.option("--pdf", is_flag=True, help="Also print the report to PDF with the headless browser.")
def report_cmd(
    interview_id: str, tenant: str | None, version: int | None, lang: str | None, out: Path | None, pdf: bool
) -> None:
    """Write the HR report of an interview's profile as one self-contained HTML file."""
    from services.common.objectstore import ObjectStore
    from services.fusion.reports import ProfileNotFound, find_tenants, stored_report_input
    from services.report.render import render_html

    caller = authorized(Action.REPORT, tenant, interview_id=interview_id)
    tenant = own_tenant(caller, tenant)
    settings = get_settings()
    store = ObjectStore(settings.s3)
    bucket = settings.s3.work_bucket
    with reading(Action.REPORT, "report failed", tenant_id=tenant, interview_id=interview_id) as reads:
        try:
            if tenant is None:  # a platform admin: whichever tenant has the interview
                tenants = find_tenants(store, bucket, interview_id)
                if len(tenants) != 1:
                    found = ", ".join(tenants) if tenants else "none"
                    err_console.print(f"[red]{interview_id}: give --tenant (tenants with that interview: {found})")
                    sys.exit(EXIT_PROBLEM)
                tenant = tenants[0]
            elif not find_tenants(store, bucket, interview_id, among=[tenant]):
                refuse_unknown(reads, Action.REPORT, tenant, interview_id, "no profile of")
            report = stored_report_input(store, bucket, tenant, interview_id, version=version)
        except ProfileNotFound as exc:
            err_console.print(f"[red]{exc}")
            sys.exit(EXIT_PROBLEM)
        except Exception as exc:
            err_console.print(f"[red]could not read from the object store at {settings.s3.endpoint}: {exc}")
            sys.exit(EXIT_UNREACHABLE)
    if lang is not None:
        report = report.model_copy(update={"language": lang})
    path = out or Path(f"{interview_id}.html")
    path.write_text(render_html(report), encoding="utf-8")
    click.echo(str(path))
    if pdf:
        pdf_path = path.with_suffix(".pdf")
        done = subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--print-to-pdf={pdf_path}",
             path.resolve().as_uri()],
            capture_output=True, timeout=120, check=False,
        )  # fmt: skip
        if done.returncode != 0 or not pdf_path.exists():
            err_console.print(f"[red]PDF printing failed: {done.stderr.decode(errors='replace')[-500:]}")
            sys.exit(EXIT_PROBLEM)
        click.echo(str(pdf_path))


# ---- identities and the access log ------------------------------------------------------------------


@cli.group("identity")
def identity_group() -> None:
    """Identities (name, tenant, role) and their tokens; see docs/operations.md."""


@identity_group.command("new")
@click.option("--name", required=True, help="Who the token is for (shown in the access log).")
@click.option("--tenant", required=True, help="Tenant the identity acts in ('*': every tenant, admins only).")
@click.option("--role", type=click.Choice(["admin", "analyst", "reviewer", "auditor"]), required=True)
def identity_new(name: str, tenant: str, role: str) -> None:
    """Draw a new token: prints the token on stderr (give it to its holder) and the tokens-file entry on stdout."""
    from pydantic import ValidationError

    from services.identity.tokens import TokenEntry, new_token, token_digest

    token = new_token()
    try:
        entry = TokenEntry(name=name, tenant_id=tenant, role=role, token_sha256=token_digest(token))
    except ValidationError as exc:
        raise click.BadParameter(str(exc)) from None
    click.echo(entry.model_dump_json())
    click.echo(f"token (shown once; store it in a file or secret, not on a command line): {token}", err=True)


@identity_group.command("whoami")
def identity_whoami() -> None:
    """The identity this process acts as."""
    caller = current_caller()
    click.echo(caller.identity.model_dump_json())


@cli.command("access-log")
@click.option("--tenant", help="Tenant whose log is read (default: the caller's; platform admins: every tenant).")
@click.option("--actor", default="", help="Only reads by this identity.")
@click.option("--interview", default="", help="Only reads of this interview.")
@click.option("--outcome", type=click.Choice(["allowed", "refused"]), help="Only allowed or only refused reads.")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="From this day (default: 30 days ago).")
@click.option("--limit", type=click.IntRange(1, 100_000), default=200, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
def access_log_cmd(
    tenant: str | None, actor: str, interview: str, outcome: str | None, since: Any, limit: int, fmt: str
) -> None:
    """Who read what, when and from where, newest first (admins and auditors; the reading is logged too)."""
    from datetime import UTC, datetime, timedelta

    from services.identity.access_log import ACCESS_LOG

    caller = authorized(Action.ACCESS_LOG, tenant)
    tenant = own_tenant(caller, tenant)
    start = since.replace(tzinfo=UTC) if since else datetime.now(UTC) - timedelta(days=30)
    parameters = {"since": start.strftime("%Y-%m-%d %H:%M:%S"), "actor": actor, "interview": interview,
                  "outcome": outcome or "", "limit": limit, **({"tenant": tenant} if tenant else {})}  # fmt: skip
    with reading(Action.ACCESS_LOG, "reading the access log failed", tenant_id=tenant,
                 subject=ACCESS_LOG.name) as reads:  # fmt: skip
        columns, rows = reads.named(ACCESS_LOG, parameters)
    _print_rows(columns, rows, fmt)


# ---- review console -----------------------------------------------------------------------------


@cli.group("console", invoke_without_command=True)
@click.option("--host", help="Address to listen on (default: SIGHTLINE_CONSOLE__HOST).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default: SIGHTLINE_CONSOLE__PORT; 0: a free one).")
@click.pass_context
def console_cmd(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the review console: the queue of profiles awaiting review, reports, confirm or override.

    Users come from SIGHTLINE_CONSOLE__USERS_FILE (or __USERS_JSON); see docs/operations.md.
    """
    if ctx.invoked_subcommand is not None:
        return
    from services.common.logs import configure_logging
    from services.console.auth import UsersError
    from services.console.serve import serve

    settings = get_settings()
    configure_logging(settings.observability.log_level, settings.observability.log_format)
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings = settings.model_copy(update={"console": settings.console.model_copy(update=overrides)})
    try:
        asyncio.run(serve(settings, lambda url: click.echo(f"review console on {url}", err=True)))
    except (UsersError, ValueError) as exc:
        err_console.print(f"[red]console not started: {exc}")
        sys.exit(EXIT_PROBLEM)


@console_cmd.command("hash-password")
def console_hash_password() -> None:
    """Read a password (prompted, or two lines on stdin) and print its hash for the users file."""
    from services.console.auth import hash_password

    password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    click.echo(hash_password(password))


# ---- fairness audit -----------------------------------------------------------------------------


@cli.group("audit")
def audit() -> None:
    """Fairness audits of the stored profiles (docs/fairness.md)."""


@audit.command("bias")
@click.option("--tenant", required=True, help="Tenant audited.")
@click.option("--job", help="Only this job (default: every job of the tenant).")
@click.option("--from", "data_from", type=click.DateTime(["%Y-%m-%d"]), required=True, help="First interview date.")
@click.option("--to", "data_to", type=click.DateTime(["%Y-%m-%d"]), required=True, help="Last interview date.")
@click.option("--format", "fmt", type=click.Choice(["html", "csv", "json"]), default="html", show_default=True)
@click.option(
    "--distribution-date",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Date the employer began using the tool for these jobs (stated in the LL144 summary).",
)
@click.option(
    "--min-share",
    type=click.FloatRange(0, 1),
    default=0.02,
    show_default=True,
    help="Categories under this share of the applicants are reported but left out of the impact ratios (0: none).",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
def audit_bias(
    tenant: str,
    job: str | None,
    data_from: Any,
    data_to: Any,
    fmt: str,
    distribution_date: Any,
    min_share: float,
    out: Path | None,
) -> None:
    """Adverse-impact audit in the NYC Local Law 144 format: selection and scoring rates and impact ratios by
    self-identified sex, race/ethnicity and their intersections, with the measures behind each gap.

    Reads candidate_demographics, so it runs only as an auditor of the tenant (an auditor's token).
    """
    from datetime import UTC, datetime

    from services.audit.bias import bias_audit
    from services.audit.outputs import to_csv, to_json
    from services.audit.page import render_audit_html
    from services.audit.source import load_applicants

    if data_from > data_to:
        raise click.BadParameter("--from is after --to", param_hint="--from")
    authorized(Action.AUDIT, tenant)
    subject = f"bias audit of {tenant} job {job or '(all)'} {data_from.date()}..{data_to.date()}"
    with reading(Action.AUDIT, "audit query failed", tenant_id=tenant, subject=subject) as reads:
        applicants, recorded = load_applicants(reads, tenant, job, data_from.date(), data_to.date())
    result = bias_audit(
        applicants,
        tenant_id=tenant,
        job_id=job,
        data_from=data_from.date(),
        data_to=data_to.date(),
        generated_at=datetime.now(UTC),
        distribution_date=distribution_date.date() if distribution_date else None,
        human_decisions_recorded=recorded,
        min_share=min_share,
    )
    text = {"html": render_audit_html, "csv": to_csv, "json": to_json}[fmt](result)
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(str(out))


# ---- dead letters -------------------------------------------------------------------------------


@cli.group("dlq")
def dlq() -> None:
    """Dead letters: messages a stage gave up on, kept byte for byte."""


_STAGE = click.Choice([s.value for s in StageName])


def _letters(stage: str, interview: str | None, retryable: bool, event_ids: tuple[str, ...], source: str) -> list[Any]:
    from services.dlq import LETTERS, letters_from_table, read_letters, select

    caller = authorized(Action.DEAD_LETTERS, interview_id=interview or "")
    settings = get_settings()
    with reading(Action.DEAD_LETTERS, "reading dead letters failed", interview_id=interview or "",
                  subject=f"dead letters of {stage} from the {source}") as reads:  # fmt: skip
        if source == "table":
            letters = letters_from_table(reads.named(LETTERS, {"stage": StageName(stage).value})[1])
        else:
            try:
                letters = asyncio.run(read_letters(settings.kafka, StageName(stage)))
            except Exception as exc:
                err_console.print(f"[red]could not read dead letters from {settings.kafka.bootstrap_servers}: {exc}")
                sys.exit(EXIT_UNREACHABLE)
    if not caller.identity.all_tenants:  # the topic holds every tenant's letters (the table is filtered already)
        letters = [item for item in letters if item.letter.tenant_id == caller.identity.tenant_id]
    return select(letters, interview_id=interview, only_retryable=retryable, event_ids=set(event_ids) or None)


_dlq_filters = [
    click.argument("stage", type=_STAGE),
    click.option("--interview", help="Only letters about this interview."),
    click.option("--retryable", is_flag=True, help="Only letters whose error may pass on a retry."),
    click.option("--id", "event_ids", multiple=True, help="Only these dead-letter event ids (repeatable)."),
    click.option(
        "--from",
        "source",
        type=click.Choice(["topic", "table"]),
        default="topic",
        show_default=True,
        help="Read the stage's dead-letter topic (the source of truth, 30 days) or the dead_letters table the "
        "sink fills from it (90 days, as soon as the sink stored them).",
    ),
]


def _with_filters(fn: Any) -> Any:
    for option in reversed(_dlq_filters):
        fn = option(fn)
    return fn


@dlq.command("list")
@_with_filters
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def dlq_list(
    stage: str, interview: str | None, retryable: bool, event_ids: tuple[str, ...], source: str, fmt: str
) -> None:
    """Show a stage's dead letters: where each came from and why it failed (never their payloads)."""
    letters = _letters(stage, interview, retryable, event_ids, source)
    if fmt == "json":
        for item in letters:
            click.echo(item.letter.model_dump_json(exclude={"payload_b64"}))
        return
    table = Table("id", "interview", "source", "error", "retryable", "attempts")
    for item in letters:
        letter = item.letter
        source = f"{letter.source.topic}[{letter.source.partition}]@{letter.source.offset}"
        error = f"{letter.error.code or letter.error.type}: {letter.error.message}"[:120]
        table.add_row(str(letter.event_id), letter.interview_id or "", source, error, str(letter.error.retryable),
                      str(letter.attempts))  # fmt: skip
    console.print(table)
    err_console.print(f"{len(letters)} dead letter(s)")


@dlq.command("replay")
@_with_filters
@click.option("--dry-run", is_flag=True, help="Show what would be replayed; publish nothing.")
def dlq_replay(
    stage: str, interview: str | None, retryable: bool, event_ids: tuple[str, ...], source: str, dry_run: bool
) -> None:
    """Republish dead letters, byte for byte, to the topics they were read from.

    Fix the cause first (a dependency back, a bug deployed): stage outputs have deterministic ids, so a
    replay duplicates nothing downstream. Letters that are not retryable fail again unless their
    producer is corrected. From the table, letters whose payload the table withholds (candidate
    demographics) take it from the dead-letter topic.
    """
    from services.dlq import replay, with_withheld_payloads

    letters = _letters(stage, interview, retryable, event_ids, source)
    for item in letters:
        click.echo(f"{'would replay' if dry_run else 'replaying'} {item.letter.event_id} -> {item.letter.source.topic}")
    if dry_run or not letters:
        err_console.print(f"{len(letters)} dead letter(s){' (dry run)' if dry_run else ''}")
        return
    kafka = get_settings().kafka
    try:
        letters = asyncio.run(with_withheld_payloads(kafka, StageName(stage), letters))
    except LookupError as exc:
        err_console.print(f"[red]cannot replay: {exc}")
        sys.exit(EXIT_PROBLEM)
    except Exception as exc:
        err_console.print(f"[red]could not read dead letters from {kafka.bootstrap_servers}: {exc}")
        sys.exit(EXIT_UNREACHABLE)
    try:
        sent = asyncio.run(replay(kafka, letters))
    except Exception as exc:
        err_console.print(f"[red]replay failed: {exc}")
        sys.exit(EXIT_UNREACHABLE)
    err_console.print(f"replayed {sent} message(s)")


# ---- topics -------------------------------------------------------------------------------------


@cli.group("topics")
def topics() -> None:
    """Kafka topics from the topic registry (schemas/topics.yaml)."""


@topics.command("create")
def topics_create() -> None:
    """Create every registered topic that does not exist yet (idempotent)."""
    from services.common.contracts import TOPICS
    from services.common.kafka import ensure_topics, physical_topic

    settings = get_settings()
    wanted: list[tuple[str, int, dict[str, str]]] = [
        (
            physical_topic(settings.kafka, spec.name),
            spec.partitions or settings.kafka.default_partitions,
            {
                "retention.ms": str(spec.retention_ms),
                "cleanup.policy": spec.cleanup_policy,
                "max.message.bytes": str(spec.max_message_bytes),
            },
        )
        for spec in TOPICS.values()
    ]
    try:
        created = asyncio.run(ensure_topics(settings.kafka, wanted))
    except Exception as exc:
        err_console.print(f"[red]could not reach the broker at {settings.kafka.bootstrap_servers}: {exc}")
        sys.exit(EXIT_UNREACHABLE)
    click.echo(f"created {len(created)} topic(s)" + (": " + ", ".join(created) if created else ""))


@cli.command("publish")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def publish_cmd(files: tuple[Path, ...]) -> None:
    """Validate event files (JSON) against the contracts and publish each to its topic."""
    from services.common.contracts import TOPICS, ContractError, decode, encode, message_headers, message_key, topic_for
    from services.common.kafka import create_producer, physical_topic

    settings = get_settings()
    events = []
    for path in files:
        data = path.read_bytes()
        event_type = json.loads(data or b"{}").get("event_type") if data.strip().startswith(b"{") else None
        topic = next((t.name for t in TOPICS.values() if t.event_type == event_type), None)
        try:
            if topic is None:
                raise ContractError(f"unknown or missing event_type {event_type!r}")
            events.append(decode(topic, data))
        except ContractError as exc:
            err_console.print(f"[red]{path}: {exc}")
            sys.exit(EXIT_PROBLEM)

    async def send() -> None:
        producer = create_producer(settings.kafka, "cli")
        await producer.start()
        try:
            for event in events:
                topic = physical_topic(settings.kafka, topic_for(event))
                await producer.send_and_wait(
                    topic, encode(event), key=message_key(event), headers=message_headers(event)
                )
                click.echo(f"published {event.event_type} {event.interview_id} to {topic}")
        finally:
            await producer.stop()

    try:
        asyncio.run(send())
    except Exception as exc:
        err_console.print(f"[red]could not publish to {settings.kafka.bootstrap_servers}: {exc}")
        sys.exit(EXIT_UNREACHABLE)


# ---- workers ------------------------------------------------------------------------------------


@cli.command("worker")
@click.argument("target")
@click.option("--group", default=None, help="Consumer group, after the topic prefix (default: sightline-<stage>).")
def worker_cmd(target: str, group: str | None) -> None:
    """Run a stage handler, given as `module:factory`, on its stream engine until SIGTERM."""
    from services.common.engines import create_worker
    from services.common.handler import FatalWorkerError
    from services.common.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.observability.log_level, settings.observability.log_format)
    module_name, _, attr = target.partition(":")
    if not attr:
        raise click.BadParameter("expected module:factory", param_hint="TARGET")
    factory = getattr(importlib.import_module(module_name), attr)
    handler = factory(settings) if callable(factory) and not hasattr(factory, "handle") else factory
    try:
        create_worker(handler, settings, group_id=group).run_process()
    except FatalWorkerError as exc:
        err_console.print(f"[red]worker stopped: {exc}")
        sys.exit(EXIT_PROBLEM)


def _register_optional_groups() -> None:
    """Command groups owned by other modules."""
    from services.analyse.cli import analyse_cmd, models
    from services.calibrate.cli import calibrate_cmd
    from services.common.contracts.cli import schemas
    from services.common.stack_cli import stack
    from services.erasure.cli import erase_cmd
    from services.plan.cli import plan_cmd

    cli.add_command(stack)
    cli.add_command(analyse_cmd)
    cli.add_command(models)
    cli.add_command(schemas)
    cli.add_command(calibrate_cmd)
    cli.add_command(erase_cmd)
    cli.add_command(plan_cmd)
    try:  # the sample generator is left out of slim production images
        samples = importlib.import_module("services.samples.cli")
    except ImportError:
        return
    cli.add_command(samples.sample)


_register_optional_groups()


def main() -> None:
    cli(prog_name="sightline")


__all__ = ["Settings", "cli", "main"]

if __name__ == "__main__":
    main()
