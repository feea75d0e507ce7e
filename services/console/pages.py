"""The console's HTML pages, written with the report's escaping builder (every value is escaped)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from urllib.parse import quote

from services.common.contracts.types import OverrideReason, ProfileLabel, ReviewAction
from services.report.markup import Html, el, join, void

from .auth import ConsoleUser
from .queries import QueueEntry, StoredProfile

#: Pages load nothing from elsewhere and run no script; forms post only back to the console.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

_STYLE = """
body { margin: 0; font: 14px/1.5 "DejaVu Sans", sans-serif; color: #222; }
header { display: flex; justify-content: space-between; align-items: center; padding: 8px 24px;
  background: #08519c; color: #fff; }
header a, header button { color: #fff; }
header form { display: inline; }
main { padding: 16px 24px 48px; max-width: 1200px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 18px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #d9dde3; }
.flash { padding: 8px 12px; border-left: 4px solid #2e7d32; background: #eef7ee; }
.errors { padding: 8px 12px; border-left: 4px solid #b23b3b; background: #fbeeee; }
fieldset { border: 1px solid #d9dde3; margin: 8px 0; }
iframe.report { width: 100%; height: 900px; border: 1px solid #d9dde3; }
label { margin-right: 12px; }
"""


def page(title: str, body: Html, user: ConsoleUser | None = None, csrf: str | None = None) -> str:
    bar = None
    if user is not None:
        sign_out = el(
            "form",
            void("input", type="hidden", name="csrf", value=csrf or ""),
            el("button", "Sign out", type="submit", id="sign-out"),
            method="post",
            action="/logout",
        )
        who = f"{user.username} · {user.role} · tenant {user.tenant_id}"
        bar = el("header", el("a", "Review queue", href="/queue"), el("span", who, id="who"), sign_out)
    head = el(
        "head",
        void("meta", charset="utf-8"),
        void("meta", name="viewport", content="width=device-width, initial-scale=1"),
        el("title", f"{title} · Sightline review"),
        el("style", Html(_STYLE)),
    )
    return "<!DOCTYPE html>\n" + el("html", head, el("body", bar, el("main", el("h1", title), body)), lang="en")


def login_page(error: str | None = None, tenant_id: str = "", username: str = "") -> str:
    form = el(
        "form",
        el("p", el("label", "Tenant ", void("input", name="tenant", id="tenant", value=tenant_id, required=True))),
        el(
            "p",
            el(
                "label",
                "User ",
                void("input", name="username", id="username", value=username, required=True, autocomplete="username"),
            ),
        ),
        el(
            "p",
            el(
                "label",
                "Password ",
                void(
                    "input",
                    name="password",
                    id="password",
                    type="password",
                    required=True,
                    autocomplete="current-password",
                ),
            ),
        ),
        el("button", "Sign in", type="submit", id="sign-in"),
        method="post",
        action="/login",
    )
    return page("Sign in", join([el("p", error, class_="errors", id="error") if error else None, form]))


def error_page(title: str, message: str, user: ConsoleUser | None = None, csrf: str | None = None) -> str:
    return page(title, el("p", message, class_="errors", id="error"), user, csrf)


def interview_href(interview_id: str) -> str:
    return f"/interviews/{quote(interview_id, safe='')}"


def report_href(interview_id: str, version: int) -> str:
    return f"{interview_href(interview_id)}/v{version}/report"


def queue_page(user: ConsoleUser, csrf: str, entries: Sequence[QueueEntry], flash: str | None, limit: int) -> str:
    parts: list[Html | None] = [el("p", flash, class_="flash", id="flash") if flash else None]
    if not entries:
        parts.append(el("p", "Nothing awaits review.", id="empty"))
    for job_id, group in groupby(entries, key=lambda e: e.job_id):
        rows = [
            el(
                "tr",
                el("td", el("a", e.interview_id, href=interview_href(e.interview_id))),
                el("td", e.candidate_ref),
                el("td", e.label),
                el("td", "" if e.overall is None else f"{e.overall:.1f}"),
                el("td", e.profile_version),
                el("td", e.produced_at),
                el("td", e.awaiting_reason),
                class_="waiting",
                data_interview=e.interview_id,
            )
            for e in group
        ]
        head = el("tr", *(el("th", h) for h in ("Interview", "Candidate", "Suggested", "Overall", "Version",
                                                  "Profiled (UTC)", "Why it waits")))  # fmt: skip
        parts += [el("h2", f"Job {job_id}"), el("table", el("thead", head), el("tbody", *rows), data_job=job_id)]
    if len(entries) >= limit:
        parts.append(el("p", f"Only the first {limit} profiles are listed.", class_="errors"))
    return page(f"Awaiting review · {user.tenant_id}", join(parts), user, csrf)


def interview_page(
    user: ConsoleUser,
    csrf: str,
    profile: StoredProfile,
    decision_id: str,
    errors: dict[str, str] | None = None,
    submitted: dict[str, list[str]] | None = None,
) -> str:
    facts = el(
        "table",
        *(
            el("tr", el("th", name), el("td", value))
            for name, value in (
                ("Candidate", profile.candidate_ref),
                ("Job", f"{profile.job_id} · {profile.job_title}"),
                ("Profile version", str(profile.profile_version)),
                ("Suggested label", profile.label),
                ("Overall", "" if profile.overall is None else f"{profile.overall:.1f}"),
                ("Review state", " · ".join(filter(None, (profile.review_state, profile.awaiting_reason)))),
            )
        ),
        id="facts",
    )  # fmt: skip
    report = report_href(profile.interview_id, profile.profile_version)
    parts: list[Html | None] = [
        facts,
        el("p", el("a", "Open the report on its own page", href=report, id="report-link")),
        el("iframe", src=report, class_="report", title="Candidate report", sandbox=""),
    ]
    if user.may_decide:
        parts.append(decision_form(profile, csrf, decision_id, errors or {}, submitted or {}))
    else:
        parts.append(el("p", f"The {user.role} role reads profiles; reviewers decide on them."))
    return page(f"Interview {profile.interview_id}", join(parts), user, csrf)


def decision_form(
    profile: StoredProfile, csrf: str, decision_id: str, errors: dict[str, str], submitted: dict[str, list[str]]
) -> Html:
    chosen = (submitted.get("action") or [""])[0]
    chosen_label = (submitted.get("override_label") or [""])[0]
    reasons = set(submitted.get("reason_codes") or [])
    problems = el("ul", *(el("li", f"{f}: {p}") for f, p in errors.items()), class_="errors", id="errors")
    actions = el(
        "fieldset",
        el("legend", "Decision"),
        *(
            el("label", void("input", type="radio", name="action", value=a.value, checked=chosen == a.value,
                              required=True, id=f"action-{a.value}"), f" {a.value}")
            for a in ReviewAction
        ),
    )  # fmt: skip
    others = [label for label in ProfileLabel if label.value != profile.label]
    override = el(
        "fieldset",
        el("legend", "On override: the label that should stand, and why (at least one reason)"),
        el(
            "select",
            el("option", "—", value=""),
            *(el("option", lb.value, value=lb.value, selected=chosen_label == lb.value) for lb in others),
            name="override_label",
            id="override_label",
        ),
        el("div", *(
            el("label", void("input", type="checkbox", name="reason_codes", value=r.value, checked=r.value in reasons,
                              id=f"reason-{r.value}"), f" {r.value}")
            for r in OverrideReason
        )),
    )  # fmt: skip
    note = el(
        "p",
        el("label", "Note ", for_="note"),
        el("textarea", (submitted.get("note") or [""])[0], name="note", id="note", rows=3, cols=80, maxlength=4000),
    )
    return el(
        "form",
        problems if errors else None,
        void("input", type="hidden", name="csrf", value=csrf),
        void("input", type="hidden", name="decision_id", value=decision_id),
        void("input", type="hidden", name="profile_version", value=profile.profile_version),
        actions,
        override,
        note,
        el("button", "Record decision", type="submit", id="decide"),
        method="post",
        action=f"{interview_href(profile.interview_id)}/decision",
        id="decision",
    )
