"""The demo's review step, without a database: reading the console's real pages, filling its forms as a
browser does (what it sends is what the console's form parser accepts), the demo console's users and key,
and signing in over HTTP. The whole step runs against the local stack in `make demo`."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from services.common.contracts.types import OverrideReason, ProfileLabel, ReviewAction
from services.common.settings import ClickHouseSettings, Settings
from services.console import pages
from services.console.auth import ConsoleRole, ConsoleUser, UserDirectory, hash_password
from services.console.forms import parse_decision
from services.console.queries import QueueEntry, StoredProfile
from services.console.serve import build_console
from services.demo_review import REVIEWER, ConsoleError, ConsolePage, QueueRow, ReviewerBrowser, demo_console_settings

USER = ConsoleUser(
    tenant_id="demo", username="rev-demo", role=ConsoleRole.REVIEWER, password_hash=hash_password("pw", n=2**10)
)
STORED = StoredProfile(
    tenant_id="demo", interview_id="demo-en-strong", profile_version=2, label="pending", overall=69.1,
    candidate_ref="cand_0123456789", job_id="JOB-SWE-1", job_title="Software <Engineer>",
    report_uri="s3://sightline-reports/demo/demo-en-strong/report/profile-v2.html", produced_at="2026-11-02 10:00:00",
    review_state="awaiting_review", awaiting_reason="not reviewed yet",
)  # fmt: skip


def entry(interview: str, job: str, label: str) -> QueueEntry:
    return QueueEntry(job, interview, "cand_x", 1, label, 50.0, "2026-11-02 10:00:00", "awaiting_review", "")


def as_form(fields: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Fields as the console's handler hands them to the form parser."""
    form: dict[str, list[str]] = defaultdict(list)
    for name, value in fields:
        form[name].append(value)
    return dict(form)


def test_queue_page_rows_per_job_in_page_order() -> None:
    entries = [entry("demo-en-strong", "JOB-SWE-1", "pending"), entry("a&b <c>", "JOB-SWE-1", "reject"),
               entry("demo-zh-strong", "JOB-DATA-2", "recommend")]  # fmt: skip
    page = ConsolePage(
        pages.queue_page(USER, "tok", entries, "Decision on x sent; it leaves the queue once stored.", 500)
    )
    assert page.queue() == [
        QueueRow("demo-en-strong", "JOB-SWE-1", "pending"),
        QueueRow("a&b <c>", "JOB-SWE-1", "reject"),
        QueueRow("demo-zh-strong", "JOB-DATA-2", "recommend"),
    ]
    assert page.text("flash") == "Decision on x sent; it leaves the queue once stored."
    assert ConsolePage(pages.queue_page(USER, "tok", [], None, 500)).queue() == []


def test_confirming_sends_what_the_console_accepts() -> None:
    page = ConsolePage(pages.interview_page(USER, "tok-123", STORED, "rd-console-9"))
    form = page.forms["decision"]
    assert (form.action, form.method) == ("/interviews/demo-en-strong/decision", "post")
    fields = form.submission({"action": "confirm"})
    # Every field of the form, as a browser sends it: hidden ones, the chosen radio, the empty select and note.
    assert fields == [
        ("csrf", "tok-123"),
        ("decision_id", "rd-console-9"),
        ("profile_version", "2"),
        ("action", "confirm"),
        ("override_label", ""),
        ("note", ""),
    ]
    decision = parse_decision(as_form(fields), ProfileLabel.PENDING)
    assert (decision.action, decision.profile_version, decision.override_label) == (ReviewAction.CONFIRM, 2, None)
    assert page.facts()["Review state"] == "awaiting_review · not reviewed yet"
    assert page.facts()["Job"] == "JOB-SWE-1 · Software <Engineer>"


def test_overriding_ticks_reasons_and_picks_a_label() -> None:
    form = ConsolePage(pages.interview_page(USER, "tok", STORED, "rd-console-9")).forms["decision"]
    fields = form.submission(
        {"action": "override", "override_label": "recommend", "reason_codes": ["missing_context"], "note": "Good."}
    )
    decision = parse_decision(as_form(fields), ProfileLabel.PENDING)
    assert decision.action is ReviewAction.OVERRIDE and decision.override_label is ProfileLabel.RECOMMEND
    assert decision.reason_codes == (OverrideReason.MISSING_CONTEXT,) and decision.note == "Good."


@pytest.mark.parametrize(
    ("choices", "problem"),
    [
        ({"action": "approve"}, r"offers no \['approve'\] for action"),
        ({"override_label": "pending"}, "offers no"),  # the suggested label is not offered as its override
        ({"reason_codes": ["not_a_reason"]}, "offers no"),
        ({"verdict": "yes"}, "no field verdict"),
    ],
)
def test_a_choice_the_form_does_not_offer_is_refused(choices: dict[str, str], problem: str) -> None:
    form = ConsolePage(pages.interview_page(USER, "tok", STORED, "rd-console-9")).forms["decision"]
    with pytest.raises(ConsoleError, match=problem):
        form.submission(choices)


def test_error_pages_say_what_is_wrong() -> None:
    refused = ConsolePage(pages.error_page("Refused", "Interview x is not a profiled interview of tenant demo."))
    assert refused.problem() == "Interview x is not a profiled interview of tenant demo."
    returned = ConsolePage(
        pages.interview_page(USER, "tok", STORED, "rd-1", {"reason_codes": "an override needs at least one reason"})
    )
    assert returned.problem() == "reason_codes: an override needs at least one reason"


def test_demo_console_has_one_reviewer_and_a_fresh_key() -> None:
    first = demo_console_settings(Settings(), "demo", "s3cret password").console
    second = demo_console_settings(Settings(), "demo", "s3cret password").console
    assert (first.host, first.port, first.users_file) == ("127.0.0.1", 0, None)
    assert first.users_json is not None and first.session_secret is not None and second.session_secret is not None
    assert "s3cret" not in first.users_json.get_secret_value()  # only its hash
    assert len(first.session_secret.get_secret_value()) >= 32
    assert first.session_secret.get_secret_value() != second.session_secret.get_secret_value()
    directory = UserDirectory.from_settings(first)
    user = directory.authenticate("demo", REVIEWER, "s3cret password")
    assert len(directory) == 1 and user is not None and user.may_decide
    assert directory.authenticate("demo", REVIEWER, "guess") is None


async def test_signing_in_over_http(tmp_path: Path) -> None:
    """The real console on a free port: a wrong password is refused; the right one keeps the session cookie
    and reaches the queue, which cannot be read here (no process owns the chDB directory)."""
    base = Settings(clickhouse=ClickHouseSettings(dsn=f"chdb://{tmp_path / 'chdb'}"))
    review_console, server = build_console(demo_console_settings(base, "demo", "right password"))
    port = await server.start()
    try:
        async with ReviewerBrowser(f"http://127.0.0.1:{port}") as browser:
            with pytest.raises(ConsoleError, match=r"sign-in refused \(401\): Unknown tenant, user or password"):
                await browser.sign_in("demo", REVIEWER, "wrong password")
            with pytest.raises(ConsoleError, match=r"/queue answered 503: .*no process owns"):
                await browser.sign_in("demo", REVIEWER, "right password")
    finally:
        await server.stop()
        await review_console.publisher.close()
