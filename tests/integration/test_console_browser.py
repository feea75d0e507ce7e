"""The review console end to end, in Debian's headless chromium against the local stack.

Profiles and their decisions go through the real sink into chDB, the reports into the S3 gateway; the
console runs as `sightline console` in a process of its own, reading through the sink's chDB owner and
publishing decisions to the broker. A reviewer signs in, reads the queue and a report, overrides a label
(first forgetting the reason), sees the profile leave the queue once the sink stored the decision, and is
refused another tenant's interview; a reviewer of that tenant sees only their own queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from services.common.contracts import EventBase, ProfileReady, SpeechResults, VisionFeatures
from services.common.objectstore import ObjectStore
from services.common.settings import Settings, settings_env
from services.common.worker import StageWorker
from services.console.auth import hash_password
from services.report import ReportInput, render_report_to_store, report_key
from services.sink.stage import SinkStage
from tests.cdp import CHROMIUM, Browser, Page
from tests.integration.kafka_helpers import wait_for
from tests.integration.test_sink import (
    Candidate,
    Review,
    all_stored,
    expected_counts,
    interview_events,
    publish_events,
    query,
    sink_settings,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (scripts/ensure-system-packages.sh)"
    ),
]

ROOT = Path(__file__).resolve().parents[2]
SECRET = "console-test-session-key-0123456789abcdef"

# acme-eu: two profiles waiting in REQ-1187 (one never reviewed, one re-scored after its review), one
# reviewed, one waiting in REQ-2040. huaxin-cn: one waiting, never visible to acme-eu.
NEW = Candidate("IV-Q1", "cand_queue001", 0.55, label="pending")
RESCORED = Candidate(
    "IV-Q2", "cand_queue002", 0.2, label="reject", profile_versions=2, reviews=(Review(1, "reject", 3),)
)
REVIEWED = Candidate("IV-Q3", "cand_queue003", 0.9, label="recommend", reviews=(Review(1, "recommend", 2),))
OTHER_JOB = Candidate("IV-Q4", "cand_queue004", 0.7, label="recommend", job_id="REQ-2040", job_title="Data Analyst")
HUAXIN = Candidate("HX-Q1", "cand_huaxin01", 0.6, label="pending", tenant_id="huaxin-cn")
CANDIDATES = (NEW, RESCORED, REVIEWED, OTHER_JOB, HUAXIN)

USERS = {
    ("acme-eu", "rev-0042"): ("reviewer", "acme reviewer password"),
    ("huaxin-cn", "rev-hx-07"): ("reviewer", "huaxin reviewer password"),
}


def with_stored_reports(settings: Settings, events: Sequence[EventBase]) -> list[EventBase]:
    """Each profile renders its report into the report bucket and points at it, as fusion does; IV-Q4 keeps
    the contract example's reference, which points at another interview's object."""
    store = ObjectStore(settings.s3)
    bucket = settings.s3.report_bucket
    store.ensure_bucket(bucket)
    out: list[EventBase] = []
    for event in events:
        if isinstance(event, ProfileReady) and event.interview_id != OTHER_JOB.interview_id:
            mine = [e for e in events if (e.tenant_id, e.interview_id) == (event.tenant_id, event.interview_id)]
            report = ReportInput(
                profile=event,
                vision=[e for e in mine if isinstance(e, VisionFeatures)],
                speech=[e for e in mine if isinstance(e, SpeechResults)],
            )
            event = event.model_copy(
                update={"report": render_report_to_store(store, bucket, report_key(report), report)}
            )
        out.append(event)
    return out


@contextlib.asynccontextmanager
async def running_sink(settings: Settings) -> AsyncIterator[None]:
    """The sink consuming for the whole test, as it does beside a console in production."""
    worker = StageWorker(SinkStage(settings), settings, group_id="g-console-sink")
    task = asyncio.create_task(worker.run())
    try:
        yield
    finally:
        worker.stop()
        await asyncio.wait_for(task, 60)


def start_console(
    settings: Settings, tmp_path: Path, **env_overrides: str
) -> tuple[subprocess.Popen[bytes], str, Path]:
    """`sightline console` on a free port, with its users in a file; returns the process, URL and log."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    users = tmp_path / "users.json"
    users.write_text(json.dumps({"users": [
        {"tenant_id": t, "username": u, "role": role, "password_hash": hash_password(pw)}
        for (t, u), (role, pw) in USERS.items()
    ]}))  # fmt: skip
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLINE_")}
    env = {
        **clean,
        **settings_env(settings),
        "PYTHONPATH": str(ROOT),
        "SIGHTLINE_CONSOLE__PORT": "0",
        "SIGHTLINE_CONSOLE__USERS_FILE": str(users),
        "SIGHTLINE_CONSOLE__SESSION_SECRET": SECRET,
        "SIGHTLINE_OBSERVABILITY__LOG_FORMAT": "json",
        **env_overrides,
    }
    log = tmp_path / "console.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "console"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=log.open("wb"),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("review console on "):
                return process, line.removeprefix("review console on ").strip(), log
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"the console did not start:\n{log.read_text(errors='replace')[-3000:]}")


async def sign_in(page: Page, url: str, tenant: str, username: str) -> int:
    await page.goto(f"{url}/queue")
    assert await page.evaluate("location.pathname") == "/login"  # no session: sent to sign in
    password = USERS[(tenant, username)][1]
    await page.fill({"#tenant": tenant, "#username": username, "#password": password})
    return await page.submit("form")


async def waiting(page: Page) -> list[str]:
    return list(await page.evaluate("[...document.querySelectorAll('tr.waiting')].map(r => r.dataset.interview)"))


async def test_reviewer_reads_a_report_overrides_and_the_queue_shrinks(
    stack_settings: Settings, tmp_path: Path
) -> None:
    settings = await sink_settings(stack_settings)
    events = with_stored_reports(settings, [e for c in CANDIDATES for e in interview_events(c)])
    await publish_events(settings, events)
    async with running_sink(settings):
        expected = expected_counts(CANDIDATES)
        await wait_for(lambda: all_stored(settings, expected), 90, "the sink to store the profiles")
        console, url, log = start_console(settings, tmp_path)
        try:
            async with Browser.launch(tmp_path / "chromium") as browser:
                page = await browser.page()
                await review_as_acme(page, url, settings, log)
                # Refusals and the missing favicon are network errors; nothing else (a blocked load, a
                # Content-Security-Policy violation) may be logged.
                problems = [m for m in page.messages if m.startswith(("error", "warning")) and " network:" not in m]
                assert not problems, problems
        finally:
            console.terminate()
            assert console.wait(30) == 0, log.read_text(errors="replace")[-3000:]
        await decision_kept_when_the_broker_is_down(settings, tmp_path / "no-broker")


async def decision_kept_when_the_broker_is_down(settings: Settings, tmp_path: Path) -> None:
    """A console that cannot reach the broker sends the form back with what was entered and records
    nothing: the profile stays in the queue."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{probe.getsockname()[1]}"
    console, url, log = start_console(
        settings, tmp_path, SIGHTLINE_KAFKA__BOOTSTRAP_SERVERS=dead, SIGHTLINE_KAFKA__REQUEST_TIMEOUT_MS="2000"
    )
    try:
        async with Browser.launch(tmp_path / "chromium") as browser:
            page = await browser.page()
            assert await sign_in(page, url, "acme-eu", "rev-0042") == 200
            await page.goto(f"{url}/interviews/IV-Q2")
            await page.fill({"#action-confirm": True, "#note": "Kept when the broker is down."})
            assert await page.submit("#decision") == 503
            assert "the message broker could not be reached" in await page.text("#errors")
            assert await page.evaluate("document.querySelector('#note').value") == "Kept when the broker is down."
            await page.goto(f"{url}/queue")
            assert await waiting(page) == ["IV-Q2", "IV-Q4"]
    finally:
        console.terminate()
        assert console.wait(30) == 0, log.read_text(errors="replace")[-3000:]
    assert "review decision not published" in log.read_text()
    stored = await query(settings, "SELECT count() FROM sightline.review_decisions FINAL WHERE interview_id = 'IV-Q2'")
    assert stored == [[1]]  # only the decision on version 1 from before


async def review_as_acme(page: Page, url: str, settings: Settings, log: Path) -> None:
    # A wrong password is refused; the right one opens the queue.
    await page.goto(f"{url}/login")
    await page.fill({"#tenant": "acme-eu", "#username": "rev-0042", "#password": "guess"})
    assert await page.submit("form") == 401
    assert await sign_in(page, url, "acme-eu", "rev-0042") == 200
    assert await page.evaluate("location.pathname") == "/queue"
    assert await waiting(page) == ["IV-Q1", "IV-Q2", "IV-Q4"]  # per job, oldest first; no other tenant's
    assert await page.evaluate("[...document.querySelectorAll('table[data-job]')].map(t => t.dataset.job)") == [
        "REQ-1187",
        "REQ-2040",
    ]
    assert "re-scored after review: version 2 replaces reviewed version 1" in await page.text(
        "tr[data-interview=IV-Q2]"
    )

    # The interview page, then its report on its own page.
    assert await page.goto(await page.evaluate("document.querySelector('tr[data-interview=IV-Q1] a').href")) == 200
    facts = await page.text("#facts")
    assert "cand_queue001" in facts and "pending" in facts and "awaiting_review" in facts
    report_url = await page.evaluate("document.querySelector('#report-link').href")
    assert await page.goto(report_url) == 200
    assert "cand_queue001" in await page.evaluate("document.title")
    assert await page.evaluate("!!document.querySelector('#verdict') && !!document.querySelector('#dimensions')")

    # A report the profile does not own, or a version that does not exist, is not served.
    assert await page.goto(f"{url}/interviews/IV-Q4/v1/report") == 404
    assert "not in the report store" in await page.text("#error")
    assert await page.goto(f"{url}/interviews/IV-Q1/v9/report") == 404

    # An override without a reason is sent back with what is missing, keeping what was chosen.
    await page.goto(f"{url}/interviews/IV-Q1")
    await page.fill({"#action-override": True, "#override_label": "recommend", "#note": "Strong system design."})
    assert await page.submit("#decision") == 400
    assert "an override needs at least one reason" in await page.text("#errors")
    assert await page.evaluate("document.querySelector('#override_label').value") == "recommend"
    await page.fill({"#reason-missing_context": True})
    assert await page.submit("#decision") == 200
    assert await page.evaluate("location.pathname + location.search") == "/queue?decided=IV-Q1"
    assert "Decision on IV-Q1 sent" in await page.text("#flash")

    # Once the sink has stored the decision, the profile has left the queue.
    async def left_the_queue() -> bool:
        await page.goto(f"{url}/queue")
        return await waiting(page) == ["IV-Q2", "IV-Q4"]

    await wait_for(left_the_queue, 60, "the decided profile to leave the queue")
    stored = await query(
        settings,
        "SELECT action, suggested_label, final_label, reason_codes, note, reviewer_id, reviewer_role, producer "
        "FROM sightline.review_decisions FINAL WHERE tenant_id = 'acme-eu' AND interview_id = 'IV-Q1'",
    )
    assert stored == [
        ["override", "pending", "recommend", ["missing_context"], "Strong system design.", "rev-0042", "reviewer",
         "sightline-console"],
    ]  # fmt: skip

    # Another tenant's interview and its report are refused, and the refusal is logged.
    assert await page.goto(f"{url}/interviews/HX-Q1") == 403
    assert "not a profiled interview of tenant acme-eu" in await page.text("#error")
    assert await page.goto(f"{url}/interviews/HX-Q1/v1/report") == 403
    refusals = [json.loads(line) for line in log.read_text().splitlines() if "console request refused" in line]
    assert [(r["reason"], r["tenant_id"], r["path"]) for r in refusals] == [
        ("tenant", "acme-eu", "/interviews/HX-Q1"),
        ("tenant", "acme-eu", "/interviews/HX-Q1/v1/report"),
    ]

    # Signing out ends the session; huaxin's reviewer sees huaxin's queue only.
    await page.goto(f"{url}/queue")
    assert await page.submit("header form") == 200 and await page.evaluate("location.pathname") == "/login"
    assert await sign_in(page, url, "huaxin-cn", "rev-hx-07") == 200
    assert await waiting(page) == ["HX-Q1"]
    assert await page.goto(f"{url}/interviews/IV-Q2") == 403
