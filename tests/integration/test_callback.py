"""The HR callback through the real worker loop: profile-ready in, a signed POST to a local HTTPS receiver out.

The receiver (aiohttp on 127.0.0.1, a self-signed certificate the sender is told to trust) checks the
signature with its own copy of the secret, refuses stale timestamps, and fetches the presigned report
link from the local S3 gateway. Failures are retried with the workers' backoff and then dead-lettered.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import json
import ssl
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from services.common.contracts import (
    DeadLetter,
    ObjectRef,
    ProfileReady,
    StageStatus,
    dead_letter_topic,
    decode_dead_letter,
    deterministic_event_id,
    encode,
    message_key,
    topic_for,
)
from services.common.objectstore import ObjectStore
from services.common.settings import Settings
from services.common.worker import StageWorker
from services.sink.callback import STATUS_UNIT, CallbackSender
from tests.integration.kafka_helpers import create_topics, isolated, publish, read_all, read_topic, wait_for
from tests.integration.stage_fixtures import example
from tests.integration.test_sink import query, run_sink_until, sink_settings

SECRET = "whsec-7f3a9c21e4b0"
REPORT = b"<!doctype html><title>report</title><p>the candidate's report</p>"
TOLERANCE_S = 300


@dataclass
class Receiver:
    """An HR endpoint: answers `fail_first` requests with 503, then verifies and accepts."""

    fail_first: int = 0
    secret: bytes = SECRET.encode()
    requests: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)

    def verified(self, request: web.Request, body: bytes) -> str | None:
        """Why the request is refused, or None: the receiver's own check, as an HR system would write it."""
        timestamp, sent = request.headers.get("X-Sightline-Timestamp"), request.headers.get("X-Sightline-Signature")
        if timestamp is None or sent is None:
            return "unsigned"
        if abs(time.time() - int(timestamp)) > TOLERANCE_S:
            return "stale timestamp"
        expected = "v1=" + hmac.new(self.secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        return None if hmac.compare_digest(expected, sent) else "bad signature"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append({"headers": dict(request.headers), "body": body})
        if len(self.requests) <= self.fail_first:
            return web.Response(status=503, text="busy")
        refusal = self.verified(request, body)
        if refusal is not None:
            return web.Response(status=401, text=refusal)
        self.accepted.append({"headers": dict(request.headers), "body": json.loads(body)})
        return web.Response(status=204)


def _certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@dataclass(frozen=True)
class Endpoint:
    url: str
    cert: Path
    receiver: Receiver


@pytest.fixture
async def endpoint(tmp_path: Path) -> AsyncIterator[Endpoint]:
    cert, key = _certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hooks/profiles", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Endpoint(f"https://127.0.0.1:{port}/hooks/profiles", cert, receiver)
    finally:
        await runner.cleanup()


def _settings(stack_settings: Settings, endpoint: Endpoint, **sink: Any) -> Settings:
    settings = isolated(stack_settings, max_attempts=3)
    update = {
        "callback_secrets": {"acme_hr_webhook": SecretStr(SECRET)},
        "callback_ca_file": endpoint.cert,
        "callback_link_expiry_s": 900,
        "callback_group_id": f"g-callback-{uuid.uuid4().hex[:8]}",
        **sink,
    }
    return settings.model_copy(update={"sink": settings.sink.model_copy(update=update)})


def _profile(url: str | None, auth_ref: str | None = "acme_hr_webhook", n: int = 0) -> ProfileReady:
    data: dict[str, Any] = copy.deepcopy(example("profile-ready"))
    data["event_id"] = str(deterministic_event_id("callback-test", str(n), str(uuid.uuid4())))
    data["interview_id"] = f"INT-CB-{n}"
    data["context"]["callback"] = None if url is None else {"url": url, "auth_ref": auth_ref}
    # Recent, so the sink's rows are within their retention (TTL from the interview start).
    data["context"]["interview_started_at"] = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    return ProfileReady.model_validate(data)


async def _prepare(settings: Settings, profiles: list[ProfileReady]) -> None:
    await create_topics(settings.kafka, [topic_for(ProfileReady), topic_for(StageStatus), dead_letter_topic("sink")])
    store = ObjectStore(settings.s3)
    report = profiles[0].report
    assert isinstance(report, ObjectRef)
    await asyncio.to_thread(store.ensure_bucket, report.bucket)
    await asyncio.to_thread(store.put_bytes, report.bucket, report.key, REPORT, "text/html")
    await publish(settings.kafka, topic_for(ProfileReady), [(message_key(p), encode(p)) for p in profiles])


async def _run_until(settings: Settings, done: Callable[[], Any], timeout_s: float = 60) -> None:
    worker = StageWorker(CallbackSender(settings), settings, group_id=settings.sink.callback_group_id)
    task = asyncio.create_task(worker.run())
    try:
        await wait_for(lambda: task.done() or done(), timeout_s, "the callback")
    finally:
        worker.stop()
        await asyncio.wait_for(task, 60)


async def _statuses(settings: Settings, profile: ProfileReady, final: str) -> list[StageStatus]:
    def finished(records: list[Any]) -> bool:
        return any(s.state == final for s in _mine(records, profile))

    return _mine(await read_topic(settings.kafka, topic_for(StageStatus), finished), profile)


def _mine(records: list[Any], profile: ProfileReady) -> list[StageStatus]:
    statuses = [StageStatus.model_validate_json(r.value) for r in records]
    return [s for s in statuses if s.caused_by == profile.event_id]


async def test_the_profile_summary_reaches_the_endpoint_signed_after_a_retry(
    stack_settings: Settings, endpoint: Endpoint
) -> None:
    settings = _settings(stack_settings, endpoint)
    endpoint.receiver.fail_first = 1  # the endpoint is busy once: the sender backs off and tries again
    profile, silent = _profile(endpoint.url, n=1), _profile(None, n=2)
    await _prepare(settings, [profile, silent])
    await _run_until(settings, lambda: endpoint.receiver.accepted)

    (accepted,) = endpoint.receiver.accepted
    assert len(endpoint.receiver.requests) == 2  # the refused one and the retry; nothing for the silent profile
    body, headers = accepted["body"], accepted["headers"]
    assert headers["X-Sightline-Event-Id"] == str(profile.event_id)
    assert (body["interview_id"], body["label"], body["overall"]) == ("INT-CB-1", "recommend", profile.overall)
    assert [d["dimension"] for d in body["dimensions"]] == [d.dimension for d in profile.dimensions]
    assert body["competency_model"] == {"id": "software-engineer", "version": "1.0"}
    # The report link: presigned, expiring as configured, and it serves the report.
    link = body["report"]["url"]
    assert parse_qs(urlparse(link).query)["X-Amz-Expires"] == ["900"]
    async with aiohttp.ClientSession() as session, session.get(link) as response:
        assert response.status == 200 and await response.read() == REPORT
    statuses = await _statuses(settings, profile, "completed")
    assert [s.state for s in statuses] == ["started", "retrying", "completed"]
    assert all(s.stage == "sink" and s.unit == STATUS_UNIT for s in statuses)
    assert "HTTP 503" in (statuses[1].reason.message if statuses[1].reason else "")


async def test_a_wrong_secret_is_refused_by_the_receiver_and_the_message_is_dead_lettered(
    stack_settings: Settings, endpoint: Endpoint
) -> None:
    settings = _settings(
        stack_settings, endpoint, callback_secrets={"acme_hr_webhook": SecretStr("not-the-shared-secret")}
    )
    profile = _profile(endpoint.url, n=3)
    await _prepare(settings, [profile])
    letters: list[DeadLetter] = []

    async def dead_lettered() -> bool:
        records = await read_all(settings.kafka, dead_letter_topic("sink"), quiet_s=0.5)
        letters[:] = [decode_dead_letter(r.value) for r in records]
        return bool(letters)

    await _run_until(settings, dead_lettered)
    assert len(endpoint.receiver.requests) == 3 and not endpoint.receiver.accepted  # every attempt refused
    (letter,) = letters
    assert letter.stage == "sink" and letter.attempts == 3 and letter.interview_id == "INT-CB-3"
    assert "answered HTTP 401: bad signature" in letter.error.message
    assert ProfileReady.model_validate_json(base64.b64decode(letter.payload_b64)) == profile
    statuses = await _statuses(settings, profile, "failed")
    assert statuses[-1].state == "failed" and statuses[-1].reason is not None
    assert "bad signature" in statuses[-1].reason.message


async def test_an_unknown_secret_name_is_dead_lettered_without_sending(
    stack_settings: Settings, endpoint: Endpoint
) -> None:
    settings = _settings(stack_settings, endpoint)
    profile = _profile(endpoint.url, auth_ref="nobody_configured_this", n=4)
    await _prepare(settings, [profile])
    statuses: list[StageStatus] = []

    async def failed() -> bool:
        records = await read_all(settings.kafka, topic_for(StageStatus), quiet_s=0.5)
        statuses[:] = _mine(records, profile)
        return any(s.state == "failed" for s in statuses)

    await _run_until(settings, failed)
    assert endpoint.receiver.requests == []  # never sent unsigned
    reason = statuses[-1].reason
    assert reason is not None and "no signing secret named 'nobody_configured_this'" in reason.message


async def test_the_sink_process_announces_beside_writing_rows_with_statuses_of_their_own(
    stack_settings: Settings, endpoint: Endpoint
) -> None:
    settings = await sink_settings(stack_settings)
    callback = _settings(stack_settings, endpoint).sink
    sink = callback.model_copy(update={"callback_enabled": True, "status_group_id": settings.sink.status_group_id})
    settings = settings.model_copy(update={"sink": sink})
    profile = _profile(endpoint.url, n=5)
    await _prepare(settings, [profile])

    async def stored_and_announced() -> bool:
        rows = await query(settings, "SELECT count() FROM sightline.profiles FINAL")
        return bool(endpoint.receiver.accepted) and rows == [[1]]

    await run_sink_until(settings, "g-sink-callback", lambda: _safely(stored_and_announced))
    statuses = await _statuses(settings, profile, "completed")
    completed = [s for s in statuses if s.state == "completed"]
    # One from the row writer, one from the callback sender: distinct ids, so neither replaces the other.
    assert sorted(str(s.unit) for s in completed) == ["None", STATUS_UNIT]
    assert len({s.event_id for s in statuses}) == len(statuses) == 4


async def _safely(check: Callable[[], Any]) -> bool:
    try:
        return bool(await check())
    except Exception:  # the tables are being created
        return False
