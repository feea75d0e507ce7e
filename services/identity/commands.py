"""The command line's side of identities: one place that says who runs a command, checks what it may do,
binds its reads to its tenant and writes them to the access log. Every reading command goes through here.

Exit codes as the rest of `sightline`: 1 refused or failed, 3 a dependency could not be reached.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from services.access import AccessDenied, Action, authorize
from services.common.console import make_console
from services.common.settings import get_settings

from .tokens import Caller

if TYPE_CHECKING:
    from .reads import IdentityReads

EXIT_PROBLEM = 1
EXIT_UNREACHABLE = 3

err_console = make_console(stderr=True)


def current_caller() -> Caller:
    """The identity of this process's token; exit 1 with the reason when there is none."""
    from services.identity.access_log import cli_origin
    from services.identity.tokens import IdentityError, resolve_identity

    try:
        identity, token = resolve_identity(get_settings().identity)
    except IdentityError as exc:
        err_console.print(f"[red]no identity: {exc}")
        sys.exit(EXIT_PROBLEM)
    return Caller(identity, token, cli_origin())


def open_reads() -> IdentityReads:
    """The caller's tenant-bound, recorded reads of the configured ClickHouse (exit 3 when unreachable)."""
    from services.common.chdb_owner import OwnerUnavailable

    from .reads import IdentityReads

    caller = current_caller()
    try:
        return IdentityReads(get_settings().clickhouse, caller)
    except (OwnerUnavailable, OSError) as exc:
        err_console.print(f"[red]{exc}")
        sys.exit(EXIT_UNREACHABLE)


def authorized(action: Action, tenant_id: str | None = None, *, interview_id: str = "", subject: str = "") -> Caller:
    """The caller, when its role and tenant permit ``action``; else the refusal is recorded, then exit 1."""
    caller = current_caller()
    try:
        authorize(caller.identity, action, tenant_id)
    except AccessDenied as exc:
        refuse(action, tenant_id or caller.identity.tenant_id, str(exc), interview_id=interview_id, subject=subject)
    return caller


def refuse(action: Action, tenant_id: str, reason: str, *, interview_id: str = "", subject: str = "") -> None:
    """Record a refusal in the access log (best effort: the refusal stands either way), say why, exit 1."""
    if not _database_exists():
        err_console.print(f"[red]refused: {reason}")
        sys.exit(EXIT_PROBLEM)
    try:
        with open_reads() as reads:
            reads.record(action, tenant_id, "refused", interview_id=interview_id, subject=subject, reason=reason)
    except (Exception, SystemExit) as exc:
        err_console.print(f"[yellow]the refusal could not be written to the access log: {exc}")
    err_console.print(f"[red]refused: {reason}")
    sys.exit(EXIT_PROBLEM)


def _database_exists() -> bool:
    """False for an embedded directory that does not exist yet (a refusal does not create one to log in)."""
    from pathlib import Path

    from services.common.chdb_owner import read_owner
    from services.common.clickhouse import chdb_path, is_chdb

    dsn = get_settings().clickhouse.dsn
    return not is_chdb(dsn) or read_owner(dsn) is not None or Path(chdb_path(dsn)).exists()


def own_tenant(caller: Caller, tenant: str | None) -> str | None:
    """The tenant a command reads: the one given, else the caller's own (None: every tenant, platform admins)."""
    if tenant is not None:
        return tenant
    return None if caller.identity.all_tenants else caller.identity.tenant_id


@contextlib.contextmanager
def reading(
    action: Action, failure: str, *, tenant_id: str | None = None, interview_id: str = "", subject: str = ""
) -> Iterator[IdentityReads]:
    """The caller's reads for one command, recorded once in the access log when the block succeeds; a refused
    query is recorded as such. Exit 1 when refused or failed, 3 when ClickHouse is unreachable, and 1 when
    the record cannot be written (nothing is shown without it)."""
    from services.common.chdb_owner import OwnerUnavailable

    with open_reads() as reads:
        tenant = tenant_id or reads.caller.identity.tenant_id
        try:
            yield reads
        except AccessDenied as exc:
            reads.record(action, tenant, "refused", interview_id=interview_id, subject=subject, reason=str(exc))
            err_console.print(f"[red]refused: {exc}")
            sys.exit(EXIT_PROBLEM)
        except OwnerUnavailable as exc:
            err_console.print(f"[red]{exc}")
            sys.exit(EXIT_UNREACHABLE)
        except Exception as exc:
            err_console.print(f"[red]{failure}: {exc}")
            sys.exit(EXIT_PROBLEM)
        try:
            reads.record(action, tenant, interview_id=interview_id, subject=subject)
        except Exception as exc:
            err_console.print(f"[red]not shown: the read could not be written to the access log: {exc}")
            sys.exit(EXIT_PROBLEM)


def read_only(
    sql: str,
    failure: str,
    action: Action,
    parameters: dict[str, Any] | None = None,
    *,
    tenant_id: str | None = None,
    interview_id: str = "",
) -> tuple[list[str], list[list[Any]]]:
    """One read-only query as the caller, bound to its tenant and recorded (see :func:`reading`)."""
    with reading(action, failure, tenant_id=tenant_id, interview_id=interview_id, subject=sql) as reads:
        return reads.query_rows(sql, parameters)


def refuse_unknown(reads: IdentityReads, action: Action, tenant: str | None, interview_id: str, what: str) -> None:
    """An interview not found in the caller's tenant: refused alike whether another tenant has it or no one
    does (saying which would tell one tenant about another's candidates); recorded, exit 1."""
    if tenant is None or reads.caller.identity.all_tenants:  # a platform admin sees every tenant: really unknown
        err_console.print(f"[red]{what} interview {interview_id}")
        sys.exit(EXIT_PROBLEM)
    reason = f"{what} interview {interview_id} in tenant {tenant}; {reads.caller.identity} reads that tenant only"
    reads.record(action, tenant, "refused", interview_id=interview_id, reason=reason)
    err_console.print(f"[red]refused: {reason}")
    sys.exit(EXIT_PROBLEM)
