"""The review console's pure parts: passwords and users, signed sessions and CSRF tokens, the decision
form, the review-decision event it becomes, and the pages' escaping. The whole console runs against the
local stack in a browser in tests/integration/test_console_browser.py."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from services.common.contracts import ReviewDecision, decode, encode, topic_for
from services.common.contracts.schemafiles import validate_document
from services.common.contracts.types import OverrideReason, ProfileLabel, ReviewAction
from services.common.settings import Settings
from services.console import pages, queries
from services.console.app import ReviewConsole
from services.console.auth import (
    ConsoleRole,
    ConsoleUser,
    UserDirectory,
    UsersError,
    hash_password,
    verify_password,
)
from services.console.forms import (
    Decision,
    FormErrors,
    ProfileToReview,
    decision_event,
    new_decision_id,
    parse_decision,
)
from services.console.session import COOKIE_NAME, SessionSigner, b64, unb64
from services.console.settings import ConsoleSettings

#: Cheap scrypt parameters for tests (the format and the check are the same).
FAST = {"n": 2**10, "r": 8, "p": 1}
SECRET = b"k" * 32


def user(
    tenant: str = "acme-eu", name: str = "rev-0042", role: ConsoleRole = ConsoleRole.REVIEWER, **kw: str
) -> ConsoleUser:
    return ConsoleUser(
        tenant_id=tenant, username=name, role=role, password_hash=hash_password("pw-" + name, **FAST), **kw
    )


# ---- passwords and users ---------------------------------------------------------------------------------


def test_password_hash_verifies_only_its_password() -> None:
    stored = hash_password("correct horse", **FAST)
    assert stored.startswith("scrypt$1024$8$1$")
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horse ", stored)
    assert hash_password("correct horse", **FAST) != stored  # salted


@pytest.mark.parametrize(
    "stored",
    ["", "plain", "pbkdf2$1$2$3$4$5", "scrypt$1000$8$1$c2FsdHNhbHQ$AAAA", "scrypt$16384$8$1$c2FsdA$" + "A" * 43],
)
def test_malformed_or_weak_hashes_are_refused(stored: str) -> None:
    with pytest.raises(ValueError):
        verify_password("x", stored)


def test_directory_signs_in_per_tenant() -> None:
    directory = UserDirectory([user(), user("huaxin-cn", "rev-0042", ConsoleRole.ANALYST)])
    acme = directory.authenticate("acme-eu", "rev-0042", "pw-rev-0042")
    assert acme is not None and acme.tenant_id == "acme-eu" and acme.may_decide
    huaxin = directory.authenticate("huaxin-cn", "rev-0042", "pw-rev-0042")
    assert huaxin is not None and huaxin.role is ConsoleRole.ANALYST and not huaxin.may_decide
    assert directory.authenticate("acme-eu", "rev-0042", "wrong") is None
    assert directory.authenticate("other-co", "rev-0042", "pw-rev-0042") is None
    assert directory.authenticate("acme-eu", "nobody", "pw-rev-0042") is None


def test_decisions_carry_the_pseudonymous_reviewer_id() -> None:
    with pytest.raises(UsersError, match="needs a reviewer_id"):
        UserDirectory([user(name="ana@acme.example")])
    named = user(name="ana@acme.example", reviewer_id="rev-0099")
    assert UserDirectory([named]).get("acme-eu", "ana@acme.example") == named
    assert named.decision_author == "rev-0099"


def test_users_come_from_a_file_or_a_setting(tmp_path: Path) -> None:
    document = {"users": [json.loads(user().model_dump_json())]}
    path = tmp_path / "users.json"
    path.write_text(json.dumps(document))
    assert len(UserDirectory.from_settings(ConsoleSettings(users_file=path))) == 1
    assert len(UserDirectory.from_settings(ConsoleSettings(users_json=SecretStr(json.dumps(document))))) == 1
    with pytest.raises(UsersError, match="no console users"):
        UserDirectory.from_settings(ConsoleSettings())
    with pytest.raises(UsersError, match="cannot read"):
        UserDirectory.from_settings(ConsoleSettings(users_file=tmp_path / "missing.json"))
    document["users"][0]["role"] = "superuser"
    path.write_text(json.dumps(document))
    with pytest.raises(UsersError, match=r"users\.json is not a valid users document"):
        UserDirectory.from_settings(ConsoleSettings(users_file=path))
    with pytest.raises(UsersError, match="appears twice"):
        UserDirectory([user(), user()])


# ---- sessions ----------------------------------------------------------------------------------------------


def test_session_cookie_round_trips_and_rejects_any_change() -> None:
    signer = SessionSigner(SECRET, ttl_s=600)
    session = signer.new_session("acme-eu", "rev-0042", "reviewer")
    cookie = signer.dumps(session)
    assert signer.loads(cookie) == session
    body, signature = cookie.split(".")
    forged = json.loads(unb64(body))
    forged["tenant_id"] = "huaxin-cn"
    forged_body = b64(json.dumps(forged, separators=(",", ":"), sort_keys=True).encode())
    assert signer.loads(f"{forged_body}.{signature}") is None
    flipped = signature[:-1] + ("B" if signature.endswith("A") else "A")
    assert signer.loads(f"{body}.{flipped}") is None
    assert signer.loads(body) is None and signer.loads("") is None and signer.loads("x.y") is None
    assert SessionSigner(b"o" * 32, ttl_s=600).loads(cookie) is None  # another key
    assert signer.loads(cookie, now=time.time() + 601) is None  # expired


def test_csrf_token_belongs_to_one_session() -> None:
    signer = SessionSigner(SECRET, ttl_s=600)
    mine, theirs = (signer.new_session("acme-eu", n, "reviewer") for n in ("a1", "b2"))
    token = signer.csrf_token(mine)
    assert signer.csrf_valid(mine, token)
    assert not signer.csrf_valid(theirs, token)
    assert not signer.csrf_valid(mine, "") and not signer.csrf_valid(mine, token[:-2])


def test_short_session_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SessionSigner(b"short", ttl_s=600)


# ---- the decision form -------------------------------------------------------------------------------------


def form(**fields: str | list[str]) -> dict[str, list[str]]:
    base: dict[str, str | list[str]] = {"decision_id": "rd-console-1", "profile_version": "2", "action": "confirm"}
    base.update(fields)
    return {k: v if isinstance(v, list) else [v] for k, v in base.items()}


def test_confirm_and_override_are_accepted() -> None:
    confirm = parse_decision(form(note="  Clear answers.  "), ProfileLabel.PENDING)
    assert confirm == Decision("rd-console-1", 2, ReviewAction.CONFIRM, None, (), "Clear answers.")
    override = parse_decision(
        form(action="override", override_label="recommend",
             reason_codes=["missing_context", "policy", "missing_context"]),
        ProfileLabel.PENDING,
    )  # fmt: skip
    assert override.override_label is ProfileLabel.RECOMMEND
    assert override.reason_codes == (OverrideReason.MISSING_CONTEXT, OverrideReason.POLICY)
    assert override.note is None


@pytest.mark.parametrize(
    ("fields", "field", "problem"),
    [
        ({"action": "override", "override_label": "recommend"}, "reason_codes", "at least one reason"),
        ({"action": "override", "override_label": "pending", "reason_codes": "policy"}, "override_label", "other than"),
        ({"action": "override", "override_label": "hire", "reason_codes": "policy"}, "override_label", "choose"),
        ({"action": "override", "override_label": "reject", "reason_codes": "gut_feeling"}, "reason_codes", "unknown"),
        ({"action": "confirm", "override_label": "reject"}, "override_label", "leave the override label empty"),
        ({"action": "approve"}, "action", "confirm or override"),
        ({"action": []}, "action", "confirm or override"),
        ({"decision_id": "../x"}, "decision_id", "malformed"),
        ({"profile_version": "0"}, "profile_version", "positive"),
        ({"note": "x" * 4001}, "note", "at most 4000"),
    ],
)
def test_invalid_forms_say_what_is_wrong(fields: dict[str, str], field: str, problem: str) -> None:
    with pytest.raises(FormErrors) as raised:
        parse_decision(form(**fields), ProfileLabel.PENDING)
    assert problem in raised.value.errors[field]


# ---- the event a form becomes ------------------------------------------------------------------------------

PROFILE = ProfileToReview("acme-eu", "INT-2025-004211", 2, ProfileLabel.PENDING)
AT = datetime(2025, 3, 15, 10, 2, 11, tzinfo=UTC)


def test_override_becomes_a_valid_review_decision() -> None:
    decision = parse_decision(
        form(action="override", override_label="recommend", reason_codes="missing_context", note="Phone screen."),
        ProfileLabel.PENDING,
    )
    event = decision_event(decision, PROFILE, user(reviewer_id="rev-0042"), now=AT)
    data = encode(event)
    assert validate_document("review-decision", data) == []
    again = decode(topic_for(ReviewDecision), data)
    assert isinstance(again, ReviewDecision) and again == event
    assert (again.tenant_id, again.interview_id, again.profile_version) == ("acme-eu", "INT-2025-004211", 2)
    assert again.suggested_label is ProfileLabel.PENDING and again.final_label is ProfileLabel.RECOMMEND
    assert again.reason_codes == ["missing_context"] and again.note == "Phone screen."
    assert (again.reviewer_id, again.reviewer_role, again.producer) == ("rev-0042", "reviewer", "sightline-console")
    assert again.decided_at == AT


def test_confirm_event_has_no_override() -> None:
    event = decision_event(parse_decision(form(), ProfileLabel.PENDING), PROFILE, user(), now=AT)
    assert validate_document("review-decision", encode(event)) == []
    assert event.action is ReviewAction.CONFIRM and event.override_label is None and event.reason_codes is None
    assert event.final_label is ProfileLabel.PENDING


def test_same_form_twice_is_one_event_a_changed_one_replaces_it() -> None:
    first = decision_event(parse_decision(form(note="a"), ProfileLabel.PENDING), PROFILE, user(), now=AT)
    resent = decision_event(parse_decision(form(note="a"), ProfileLabel.PENDING), PROFILE, user(), now=AT)
    changed = decision_event(parse_decision(form(note="b"), ProfileLabel.PENDING), PROFILE, user(), now=AT)
    assert first.event_id == resent.event_id != changed.event_id
    assert first.decision_id == changed.decision_id
    assert new_decision_id() != new_decision_id()


def test_event_only_for_the_users_tenant_and_the_version_read() -> None:
    decision = parse_decision(form(), ProfileLabel.PENDING)
    with pytest.raises(PermissionError):
        decision_event(decision, PROFILE, user("huaxin-cn"))
    with pytest.raises(ValueError, match="version 2"):
        decision_event(parse_decision(form(profile_version="1"), ProfileLabel.PENDING), PROFILE, user())


# ---- queries and pages -------------------------------------------------------------------------------------


def test_the_queue_is_the_documented_query_bound_to_the_tenant() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "analytics.md").read_text(encoding="utf-8")
    section = doc.split("### Review queue per job", 1)[1]
    documented = section.split("```sql", 1)[1].split("```", 1)[0]
    bound = documented.replace("'acme-eu'", "{tenant:String}").replace("sightline.", "sightline_x.")
    assert " ".join(queries.QUEUE.sql("sightline_x").split()) == " ".join([*bound.split(), "LIMIT", "{limit:UInt32}"])


def test_queries_bind_values_as_parameters() -> None:
    for query in (queries.QUEUE, queries.PROFILE):
        sql = query.sql("sightline")
        assert "{tenant:String}" in sql and "acme" not in sql and query.tenant_bound
    assert queries.PROFILE.parameters == {"tenant": "String", "interview": "String"}
    with pytest.raises(ValueError, match="identifier"):
        queries.QUEUE.sql("sightline; DROP TABLE x")


STORED = queries.StoredProfile(
    tenant_id="acme-eu", interview_id="INT-1", profile_version=1, label="pending", overall=61.25,
    candidate_ref="<script>alert(1)</script>", job_id="REQ-1", job_title="Data & <b>Eng</b>",
    report_uri="s3://sightline-reports/acme-eu/INT-1/report/profile-v1.html", produced_at="2025-03-14 09:10:00",
    review_state="awaiting_review", awaiting_reason="not reviewed yet",
)  # fmt: skip


def test_pages_escape_what_they_show_and_carry_the_csrf_token() -> None:
    page = pages.interview_page(user(), "tok-123", STORED, "rd-console-9")
    assert "<script>alert" not in page and "&lt;script&gt;" in page and "Data &amp; &lt;b&gt;" in page
    assert page.count('name="csrf" value="tok-123"') == 2  # the decision form and the sign-out form
    assert 'name="decision_id" value="rd-console-9"' in page and 'action="/interviews/INT-1/decision"' in page
    assert 'src="/interviews/INT-1/v1/report"' in page
    # The suggested label is not offered as its own override.
    assert '<option value="pending"' not in page and '<option value="recommend"' in page


def test_analysts_read_but_get_no_decision_form() -> None:
    page = pages.interview_page(user(role=ConsoleRole.ANALYST), "tok", STORED, "rd-console-9")
    assert 'id="decision"' not in page and "reviewers decide" in page


# ---- the sign-in gate over HTTP (no database needed: every request here stops before reading) --------------


async def test_pages_need_a_session_and_posts_a_csrf_token() -> None:
    directory = UserDirectory([user(), user(name="ana-0007", role=ConsoleRole.ANALYST)])
    signer = SessionSigner(SECRET, ttl_s=600)
    console_registry = CollectorRegistry()
    console = ReviewConsole(Settings(), directory, signer, console_registry)
    app = web.Application()
    for method, path, handler in console.routes():
        app.router.add_route(method, path, handler)
    async with TestClient(TestServer(app)) as client:
        anonymous = await client.get("/queue", allow_redirects=False)
        assert anonymous.status == 303 and anonymous.headers["Location"] == "/login"
        page = await client.get("/login")
        assert page.status == 200 and "form-action 'self'" in page.headers["Content-Security-Policy"]

        wrong = await client.post("/login", data={"tenant": "acme-eu", "username": "rev-0042", "password": "nope"})
        assert wrong.status == 401 and "Unknown tenant, user or password." in await wrong.text()
        assert COOKIE_NAME not in client.session.cookie_jar.filter_cookies(client.make_url("/"))
        ok = await client.post(
            "/login", data={"tenant": "acme-eu", "username": "rev-0042", "password": "pw-rev-0042"},
            allow_redirects=False,
        )  # fmt: skip
        assert ok.status == 303 and ok.headers["Location"] == "/queue"
        cookie = ok.cookies[COOKIE_NAME]
        assert cookie["httponly"] and cookie["samesite"] == "Lax"
        session = signer.loads(cookie.value)
        assert session is not None and (session.tenant_id, session.role) == ("acme-eu", "reviewer")

        no_token = await client.post("/interviews/INT-1/decision", data={"action": "confirm"})
        assert no_token.status == 403 and "did not come from this console" in await no_token.text()
        assert console_registry.get_sample_value("sightline_console_refusals_total", {"reason": "csrf"}) == 1

    # An analyst's valid form is refused for the role; a cookie of a user no longer listed is no session.
    analyst = signer.new_session("acme-eu", "ana-0007", "analyst")
    gone = signer.new_session("acme-eu", "rev-0001", "reviewer")
    async with TestClient(TestServer(app)) as client:
        client.session.cookie_jar.update_cookies({COOKIE_NAME: signer.dumps(analyst)})
        refused = await client.post("/interviews/INT-1/decision", data={"csrf": signer.csrf_token(analyst)})
        assert refused.status == 403 and "may not record decisions" in await refused.text()
        client.session.cookie_jar.update_cookies({COOKIE_NAME: signer.dumps(gone)})
        assert (await client.get("/queue", allow_redirects=False)).headers["Location"] == "/login"
