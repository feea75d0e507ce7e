"""The HR callback: each finished profile announced to the webhook the HR system gave in interview-completed.

Why here, in the sink process, as a loop of its own: the sink is already the service that turns pipeline
events into things outside the bus (ClickHouse rows); a callback is one more such delivery, needs no
model, no GPU and no state, and scales with the number of profiles, not with media. Running it as a
second `StageWorker` in its own consumer group (like the stage-status reader) keeps its offsets, retries
and back-pressure apart from the row writer: a slow or failing HR endpoint never delays a row, and a
ClickHouse outage never delays a callback. It reports statuses (unit "callback") and dead letters as the sink.

What is sent (`CallbackBody`, JSON, POST; its JSON Schema is committed as
``schemas/callback/v1/profile-summary.schema.json``, written by ``python -m services.sink.callback``): the
profile summary (label, overall, dimension scores, data
quality, versions) and a presigned link to the report that expires after
`SIGHTLINE_SINK__CALLBACK_LINK_EXPIRY_S`. Headers:

* ``X-Sightline-Event-Id``: the profile-ready event id; the same on every retry and replay, for the
  receiver to de-duplicate;
* ``X-Sightline-Timestamp``: Unix seconds when this attempt was signed;
* ``X-Sightline-Signature``: ``v1=`` + hex HMAC-SHA256, keyed with the secret named by the callback's
  ``auth_ref``, over ``<timestamp>.<body>``. Receivers recompute it and refuse timestamps older than a few
  minutes, so a captured request cannot be replayed later. Without an ``auth_ref`` nothing is signed.

Any failure (unreachable, a non-2xx answer, an unknown secret) is retried with the workers' backoff
(`SIGHTLINE_WORKER__MAX_ATTEMPTS`, `..._BACKOFF_*`) and then dead-lettered on the sink's dead-letter topic
with the reason, from where `sightline dlq replay sink` sends it again once the cause is fixed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from services.common.contracts import EventBase, ProfileReady, StageName, topic_for
from services.common.contracts.common import ObjectRef
from services.common.handler import MessageMeta, Retryable
from services.common.objectstore import ObjectStore
from services.common.settings import PROJECT_ROOT, Settings
from services.sink.settings import SinkSettings

USER_AGENT = "sightline-sink-callback"
STATUS_UNIT = "callback"
SIGNATURE_VERSION = "v1"


class CallbackError(Exception):
    """The callback could not be delivered (the message says why); retried, then dead-lettered."""


class DimensionSummary(BaseModel):
    """One dimension of the profile, without its evidence (that is in the report)."""

    model_config = ConfigDict(frozen=True)

    dimension: str = Field(description="Competency id or behaviour name.")
    kind: str = Field(description="competency or behaviour.")
    score: float = Field(ge=0, le=100, description="Score 0-100.")
    confidence: float = Field(ge=0, le=1, description="How much evidence backs the score, 0-1.")


class ReportAccess(BaseModel):
    """Where to read the report."""

    model_config = ConfigDict(frozen=True)

    url: str = Field(description="Link to the HTML report: presigned by Sightline, or the HR system's own page.")
    expires_at: datetime | None = Field(
        description="When a presigned link stops working; null for a link the HR system gave."
    )


class CallbackBody(BaseModel):
    """What the HR system's callback endpoint receives when a profile is ready (a suggestion: a person
    confirms every label)."""

    model_config = ConfigDict(frozen=True)

    event_type: Literal["profile-summary"] = Field("profile-summary", description="Always 'profile-summary'.")
    event_id: str = Field(description="event_id of the profile-ready event; the same on every retry, to de-duplicate.")
    tenant_id: str = Field(description="Tenant of the interview.")
    interview_id: str = Field(description="Interview id from the HR system.")
    candidate_ref: str = Field(description="Pseudonymous candidate reference from the HR system.")
    job_id: str = Field(description="Job (requisition) id.")
    profile_id: str = Field(description="Id of the profile version.")
    profile_version: int = Field(ge=1, description="1 for the first profile, incremented by each re-scoring.")
    label: Literal["recommend", "pending", "reject"] = Field(
        description="Suggested label, to be confirmed by a person."
    )
    needs_human_review: bool = Field(description="Always true.")
    overall: float | None = Field(ge=0, le=100, description="Overall score 0-100; null when the evidence allows none.")
    dimensions: list[DimensionSummary] = Field(description="Dimension scores.")
    data_quality: list[str] = Field(description="Why the profile may rest on weaker evidence.")
    scoring_model_version: str = Field(description="Version of the fusion scoring model.")
    competency_model: dict[str, str] = Field(description="The competency model that scored it: {id, version}.")
    report: ReportAccess = Field(description="The report.")
    produced_at: datetime = Field(description="When fusion produced the profile.")


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """``v1=<hex HMAC-SHA256 of "<timestamp>.<body>">``."""
    digest = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def summary(event: ProfileReady, report: ReportAccess) -> CallbackBody:
    ctx = event.context
    return CallbackBody(
        event_id=str(event.event_id),
        tenant_id=event.tenant_id,
        interview_id=event.interview_id,
        candidate_ref=ctx.candidate_ref,
        job_id=ctx.job.job_id,
        profile_id=str(event.profile_id),
        profile_version=event.profile_version,
        label=event.label.value,
        needs_human_review=event.needs_human_review,
        overall=event.overall,
        dimensions=[
            DimensionSummary(dimension=d.dimension, kind=str(d.kind), score=d.score, confidence=d.confidence)
            for d in event.dimensions
        ],
        data_quality=[str(f) for f in event.data_quality],
        scoring_model_version=event.scoring_model_version,
        competency_model={"id": ctx.job.competency_model.id, "version": ctx.job.competency_model.version},
        report=report,
        produced_at=event.occurred_at,
    )


def load_secrets(settings: SinkSettings) -> dict[str, bytes]:
    """Signing secrets by name: the file's, then the environment's (which win)."""
    secrets: dict[str, bytes] = {}
    if settings.callback_secrets_file is not None:
        try:
            document = json.loads(Path(settings.callback_secrets_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"callback secrets file {settings.callback_secrets_file}: {exc}") from None
        if not isinstance(document, dict) or not all(isinstance(v, str) for v in document.values()):
            raise ValueError(f"callback secrets file {settings.callback_secrets_file}: expected {{name: secret}}")
        secrets.update({str(k): v.encode() for k, v in document.items()})
    secrets.update({k: v.get_secret_value().encode() for k, v in settings.callback_secrets.items()})
    return secrets


class CallbackSender:
    """Stage handler: POST the summary of each profile-ready that carries a callback."""

    stage = StageName.SINK
    input_topics: Sequence[str] = (topic_for(ProfileReady),)
    output_topics: Sequence[str] = ()
    #: Statuses say unit "callback", apart from the sink's row writer's statuses on the same profile-ready.
    status_unit = STATUS_UNIT

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sink = settings.sink
        self.secrets = load_secrets(settings.sink)  # a broken file stops the start, with its reason
        self.store = ObjectStore(settings.s3)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        context = ssl.create_default_context()
        if self.sink.callback_ca_file is not None:
            context.load_verify_locations(cafile=str(self.sink.callback_ca_file))
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context),
            timeout=aiohttp.ClientTimeout(total=self.sink.callback_timeout_s),
            headers={"User-Agent": USER_AGENT},
        )

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _report(self, event: ProfileReady) -> ReportAccess:
        if not isinstance(event.report, ObjectRef):
            return ReportAccess(url=event.report.url, expires_at=None)
        expiry = self.sink.callback_link_expiry_s
        url = self.store.presigned_get(event.report.bucket, event.report.key, expiry_s=expiry)
        return ReportAccess(url=url, expires_at=datetime.now(UTC) + timedelta(seconds=expiry))

    async def handle(self, event: EventBase, meta: MessageMeta) -> Sequence[EventBase]:
        if not isinstance(event, ProfileReady) or event.context.callback is None:
            return []
        callback = event.context.callback
        secret = None
        if callback.auth_ref is not None:
            secret = self.secrets.get(callback.auth_ref)
            if secret is None:
                raise CallbackError(
                    f"no signing secret named {callback.auth_ref!r} is configured "
                    "(SIGHTLINE_SINK__CALLBACK_SECRETS or ..._SECRETS_FILE); add it and replay the dead letter"
                )
        body = summary(event, self._report(event)).model_dump_json().encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "X-Sightline-Event-Id": str(event.event_id),
            "X-Sightline-Timestamp": str(timestamp),
        }
        if secret is not None:
            headers["X-Sightline-Signature"] = signature(secret, timestamp, body)
        await self._post(callback.url, body, headers)
        return []

    async def _post(self, url: str, body: bytes, headers: dict[str, Any]) -> None:
        assert self._session is not None, "start() first"
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                if 200 <= response.status < 300:
                    return
                answer = (await response.text(errors="replace"))[:300]
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Retryable(f"callback to {url} failed: {type(exc).__name__}: {exc}") from None
        raise CallbackError(f"callback to {url} answered HTTP {response.status}: {answer}")


SCHEMA_PATH = PROJECT_ROOT / "schemas" / "callback" / "v1" / "profile-summary.schema.json"
SCHEMA_ID = "https://sightline.dev/schemas/callback/v1/profile-summary.schema.json"


def json_schema_text() -> str:
    """The JSON Schema of the callback body, as committed under schemas/."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID}
    schema |= CallbackBody.model_json_schema()
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    """Write the committed JSON Schema of the callback body."""
    SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA_PATH.write_text(json_schema_text(), encoding="utf-8")
    print(SCHEMA_PATH)
    return 0


__all__ = ["STATUS_UNIT", "CallbackBody", "CallbackError", "CallbackSender", "load_secrets", "signature", "summary"]

if __name__ == "__main__":
    raise SystemExit(main())
