"""`sightline erase`: erase a candidate, named interviews, or the interviews whose retention ended.

By default the request is published on ``sightline.candidate-erasure-requested.v1`` and the sink carries
it out (it owns the warehouse and its buffers); ``--direct`` erases in this process, for when no sink runs
(a ClickHouse server, or an embedded chDB directory nobody holds), and prints the receipt.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime

import click

from services.common.contracts import CandidateErasureRequested
from services.common.settings import Settings, get_settings
from services.erasure.erase import ErasureReceipt
from services.identity.tokens import Caller

EXIT_PROBLEM = 1
EXIT_UNREACHABLE = 3
CANDIDATE_REQUEST = "candidate_request"


def candidate_request(
    tenant_id: str, candidate_ref: str | None, interview_ids: tuple[str, ...], requested_by: str
) -> CandidateErasureRequested:
    now = datetime.now(UTC)
    return CandidateErasureRequested(
        event_id=uuid.uuid4(),
        occurred_at=now,
        tenant_id=tenant_id,
        scope="candidate" if candidate_ref else "interviews",
        candidate_ref=candidate_ref,
        interview_ids=list(interview_ids) or None,
        reason=CANDIDATE_REQUEST,
        requested_by=requested_by,
        requested_at=now,
    )


def receipt_summary(receipt: ErasureReceipt) -> dict[str, object]:
    return {
        "erasure_id": receipt.erasure_id,
        "tenant_id": receipt.tenant_id,
        "reason": receipt.reason,
        "interviews": len(receipt.interview_digests),
        "objects_deleted": receipt.objects_deleted,
        "keys_destroyed": receipt.keys_destroyed,
        "rows_deleted": receipt.rows_deleted,
        "completed_at": receipt.completed_at.isoformat(),
    }


def erase_directly(settings: Settings, requests: list[CandidateErasureRequested]) -> list[ErasureReceipt]:
    """Erase in this process: the warehouse must be ours to write (no sink holding the chDB directory)."""
    from services.common.chdb_owner import read_owner
    from services.common.clickhouse import DirectWarehouse, is_chdb
    from services.common.migrations import migrate
    from services.common.objectstore import ObjectStore
    from services.common.sealing import SEALED_TOPICS
    from services.erasure.erase import Eraser

    holder = read_owner(settings.clickhouse.dsn) if is_chdb(settings.clickhouse.dsn) else None
    if holder is not None:
        raise click.UsageError(
            f"process {holder.pid} (the sink or `db serve`) holds the chDB directory: leave out --direct and "
            "the sink erases"
        )
    warehouse = DirectWarehouse(settings.clickhouse)
    try:
        migrate(warehouse)
        eraser = Eraser(warehouse, ObjectStore(settings.s3), sealed_topics=SEALED_TOPICS)
        return [eraser.erase(r) for r in requests]
    finally:
        warehouse.close()


def expired_requests(settings: Settings, caller: Caller, tenant_id: str | None) -> list[CandidateErasureRequested]:
    """Erasure requests for the interviews whose retention ended, read as ``caller`` (bound to its tenant)."""
    from services.erasure.retention import expired_interviews
    from services.identity.reads import IdentityReads
    from services.sink.erasure import retention_requests

    with IdentityReads(settings.clickhouse, caller) as reads:
        expired = expired_interviews(reads, settings.retention, tenant_id=tenant_id)
    return retention_requests([(e.tenant_id, e.interview_id) for e in expired], datetime.now(UTC))


@click.command("erase")
@click.option("--tenant", help="Tenant of the candidate or interviews (with --expired: only this tenant).")
@click.option("--candidate", help="Candidate reference: every interview of the candidate, demographics, outcomes.")
@click.option("--interview", "interviews", multiple=True, help="An interview to erase (repeatable).")
@click.option("--expired", is_flag=True, help="Erase every interview whose retention ended (the schedule's job).")
@click.option("--direct", is_flag=True, help="Erase in this process instead of asking the sink; prints the receipt.")
@click.option("--requested-by", help="Pseudonymous id of who asked (receipt); default: the caller's identity.")
def erase_cmd(
    tenant: str | None,
    candidate: str | None,
    interviews: tuple[str, ...],
    expired: bool,
    direct: bool,
    requested_by: str | None,
) -> None:
    """Erase a candidate's data from every store (objects, data keys, every table) and record a receipt."""
    from pydantic import ValidationError

    from services.access import Action
    from services.common.kafka import publish_events
    from services.identity.commands import authorized

    settings = get_settings()
    if expired == bool(candidate or interviews):
        raise click.UsageError("give either --expired, or --tenant with --candidate and/or --interview")
    # Only an admin erases, and only in its own tenant; an installation-wide admin sweeps every tenant.
    caller = authorized(Action.ERASE, tenant)
    if tenant is None and caller.identity.tenant_id != "*":
        tenant = caller.identity.tenant_id
    requested_by = requested_by or caller.identity.name
    try:
        if expired:
            requests = expired_requests(settings, caller, tenant)
        elif tenant is None:
            raise click.UsageError("--tenant is required with --candidate or --interview")
        else:
            requests = [candidate_request(tenant, candidate, interviews, requested_by)]
    except ValidationError as exc:
        raise click.UsageError(str(exc)) from None
    if not requests:
        click.echo("nothing to erase")
        return
    if direct:
        for receipt in erase_directly(settings, requests):
            click.echo(json.dumps(receipt_summary(receipt), sort_keys=True))
        return
    try:
        asyncio.run(publish_events(settings.kafka, requests, "erase"))
    except Exception as exc:
        click.echo(f"could not publish to {settings.kafka.bootstrap_servers}: {exc}", err=True)
        sys.exit(EXIT_UNREACHABLE)
    for request in requests:
        click.echo(f"erasure {request.event_id} requested; the sink records its receipt in erasure_receipts")
