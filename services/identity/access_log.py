"""The access log: who (identity, role, tenant) read or was refused what, when, and from where.

Rows go to ``{db}.access_log`` (migration 0007), append-only. A process that holds the warehouse writes
its rows itself; one that reads through the embedded database's owner sends them there, and the owner
puts its own authenticated identity on them (a caller cannot write a row in someone else's name).
A read whose record cannot be written is not shown: the caller fails instead.
"""

from __future__ import annotations

import getpass
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from services.access import PERMITTED, Action
from services.common.clickhouse import DirectWarehouse
from services.common.named_queries import TENANT_ROWS, NamedQuery

from .tokens import Identity

TABLE = "access_log"
COLUMNS = (
    "event_id", "at", "actor", "role", "actor_tenant", "tenant_id", "action", "interview_id", "subject", "outcome",
    "reason", "origin",
)  # fmt: skip
#: Longest subject (SQL text, parameters) kept per row.
SUBJECT_LIMIT = 4000

Outcome = Literal["allowed", "refused"]


@dataclass(frozen=True)
class AccessRecord:
    """What was asked (the actor is put on when the record is written)."""

    action: str
    tenant_id: str
    outcome: Outcome
    interview_id: str = ""
    subject: str = ""
    reason: str = ""
    origin: str = ""
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "tenant_id": self.tenant_id,
            "outcome": self.outcome,
            "interview_id": self.interview_id,
            "subject": self.subject,
            "reason": self.reason,
            "origin": self.origin,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], origin: str) -> AccessRecord:
        outcome = str(data["outcome"])
        if outcome not in ("allowed", "refused"):
            raise ValueError(f"outcome must be allowed or refused, not {outcome!r}")
        return cls(
            action=str(data["action"]),
            tenant_id=str(data["tenant_id"]),
            outcome="allowed" if outcome == "allowed" else "refused",
            interview_id=str(data.get("interview_id") or ""),
            subject=str(data.get("subject") or ""),
            reason=str(data.get("reason") or ""),
            origin=f"{data.get('origin') or ''} via {origin}".strip(),
        )


def cli_origin() -> str:
    """Where a command runs from: user, host and process."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = str(os.getuid())
    return f"cli {user}@{socket.gethostname()} pid {os.getpid()}"


def write_access(warehouse: DirectWarehouse, identity: Identity, record: AccessRecord) -> None:
    """Append ``record`` as done by ``identity``."""
    row = [
        record.event_id, record.at, identity.name, identity.role.value, identity.tenant_id, record.tenant_id,
        record.action, record.interview_id, record.subject[:SUBJECT_LIMIT], record.outcome, record.reason[:1000],
        record.origin,
    ]  # fmt: skip
    warehouse.insert(f"`{warehouse.database}`.{TABLE}", [row], COLUMNS, dedup_token=f"access-{record.event_id}")


#: The access log's rows, newest first; ``actor``, ``interview``, ``outcome`` '' for any.
ACCESS_LOG = NamedQuery(
    "access-log.read",
    "SELECT at, actor, role, actor_tenant, tenant_id, action, interview_id, subject, outcome, reason, origin "
    f"FROM {{db}}.{TABLE} "
    f"WHERE at >= {{since:DateTime64(3)}} AND {TENANT_ROWS} "
    "AND ({actor:String} = '' OR actor = {actor:String}) "
    "AND ({interview:String} = '' OR interview_id = {interview:String}) "
    "AND ({outcome:String} = '' OR outcome = {outcome:String}) "
    "ORDER BY at DESC LIMIT {limit:UInt32}",
    PERMITTED[Action.ACCESS_LOG],
)
