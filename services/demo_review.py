"""The demo's review step: a reviewer records one decision through the review console, as a browser would.

The console runs in this process on a free loopback port with one reviewer of the demo's tenant, whose
password and session key are drawn at run time and kept in memory (never on a command line or in a file).
Over HTTP the reviewer signs in, reads the queue, opens one interview and sends its decision form with the
page's CSRF token; the demo then waits until the sink has stored the decision (the profile leaves the
queue) and reads the queue again. The sink must be running: it stores the decision, and it owns the chDB
directory the console reads through.

A second run finds the profile already reviewed: it says so and shows the queue, which it leaves as it is.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from types import TracebackType
from urllib.parse import quote, urlencode

from aiohttp import ClientError, ClientSession, ClientTimeout, CookieJar
from pydantic import SecretStr
from rich.table import Table

from services.common.console import make_console
from services.common.settings import Settings
from services.console.auth import ConsoleRole, hash_password
from services.console.serve import build_console

#: The demo's reviewer (a pseudonymous id, as decisions carry it).
REVIEWER = "rev-demo"
STORE_TIMEOUT_S = 60.0  # the sink stores a decision within a few of its flush intervals
POLL_S = 1.0

console = make_console()


class ConsoleError(RuntimeError):
    """The console answered something a browser user would see as a failure."""


# ---- the console's settings for the demo ----------------------------------------------------------------


def demo_console_settings(settings: Settings, tenant_id: str, password: str) -> Settings:
    """``settings`` with a console on a free loopback port whose only user is the demo's reviewer of
    ``tenant_id``, and a session key drawn now (sessions end with the demo)."""
    users = {
        "users": [
            {
                "tenant_id": tenant_id,
                "username": REVIEWER,
                "role": ConsoleRole.REVIEWER.value,
                "password_hash": hash_password(password),
            }
        ]
    }
    update = {
        "host": "127.0.0.1",
        "port": 0,
        "users_file": None,
        "users_json": SecretStr(json.dumps(users)),
        "session_secret": SecretStr(secrets.token_urlsafe(32)),
        "secure_cookies": False,  # plain HTTP on loopback
    }
    return settings.model_copy(update={"console": settings.console.model_copy(update=update)})


# ---- reading the console's pages ------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    """One profile on the review queue page."""

    interview_id: str
    job_id: str
    label: str


@dataclass
class FormControl:
    """A named control of a form: an input (by type), a select (its options) or a textarea."""

    kind: str  # "hidden", "radio", "checkbox", "text", …, "select" or "textarea"
    name: str
    value: str = ""
    checked: bool = False
    options: list[tuple[str, bool]] = field(default_factory=list)  # a select's (value, selected)


@dataclass
class HtmlForm:
    action: str
    method: str
    controls: list[FormControl] = field(default_factory=list)

    def submission(self, choices: Mapping[str, str | Sequence[str]]) -> list[tuple[str, str]]:
        """The fields a browser sends after the user made ``choices`` (a radio's or select's value, a text,
        the values of the checkboxes to tick), in document order; a choice the form does not offer raises."""
        wanted = {name: _values(chosen) for name, chosen in choices.items()}
        offered: dict[str, set[str]] = {}
        for control in self.controls:
            if control.kind in ("radio", "checkbox"):
                offered.setdefault(control.name, set()).add(control.value)
            elif control.kind == "select":
                offered.setdefault(control.name, set()).update(v for v, _ in control.options)
            else:
                offered.setdefault(control.name, set())
        for name, values in wanted.items():
            if name not in offered:
                raise ConsoleError(f"the form has no field {name}")
            if offered[name] and not set(values) <= offered[name]:
                raise ConsoleError(f"the form offers no {sorted(set(values) - offered[name])} for {name}")
        fields: list[tuple[str, str]] = []
        for control in self.controls:
            chosen = wanted.get(control.name)
            if control.kind in ("radio", "checkbox"):
                if control.checked if chosen is None else control.value in chosen:
                    fields.append((control.name, control.value))
            elif control.kind == "select":
                shown = [v for v, selected in control.options if selected] or [v for v, _ in control.options[:1]]
                fields += [(control.name, v) for v in (chosen or shown)[:1]]  # none marked: the first is shown
            elif control.kind not in ("submit", "button", "reset", "image", "file"):
                fields.append((control.name, chosen[0] if chosen else control.value))
        return fields


def _values(chosen: str | Sequence[str]) -> list[str]:
    return [chosen] if isinstance(chosen, str) else list(chosen)


class ConsolePage(HTMLParser):
    """What the demo reads from a console page: its forms by id, its table rows, and the text of elements
    with an id (errors, the flash message)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: dict[str, HtmlForm] = {}
        #: (the enclosing table's attributes, the row's attributes, the cells' text)
        self.rows: list[tuple[dict[str, str], dict[str, str], list[str]]] = []
        self.texts: dict[str, str] = {}
        self._open_ids: list[tuple[str, str]] = []  # (tag, id) of open elements with an id
        self._form: HtmlForm | None = None
        self._table: dict[str, str] = {}
        self._row: tuple[dict[str, str], list[str]] | None = None
        self._cell: list[str] | None = None
        self._text_of: FormControl | None = None  # the textarea or option being read
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a and tag not in ("input", "option"):
            self._open_ids.append((tag, a["id"]))
            self.texts[a["id"]] = ""
        if tag == "form":
            self._form = HtmlForm(a.get("action", ""), a.get("method", "get").lower())
            self.forms[a.get("id", "")] = self._form
        elif tag == "table":
            self._table = a
        elif tag == "tr":
            self._row = (a, [])
        elif tag in ("td", "th"):
            self._cell = []
        elif self._form is not None and "disabled" not in a:
            self._control(tag, a)

    def _control(self, tag: str, a: dict[str, str]) -> None:
        assert self._form is not None
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text").lower()
            default = "on" if kind in ("radio", "checkbox") else ""
            self._form.controls.append(FormControl(kind, a["name"], a.get("value", default), "checked" in a))
        elif tag == "select" and a.get("name"):
            self._form.controls.append(FormControl("select", a["name"]))
        elif tag == "option" and self._form.controls and self._form.controls[-1].kind == "select":
            self._form.controls[-1].options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea" and a.get("name"):
            self._text_of = FormControl("textarea", a["name"])
            self._form.controls.append(self._text_of)

    def handle_endtag(self, tag: str) -> None:
        if self._open_ids and self._open_ids[-1][0] == tag:
            self._open_ids.pop()
        if tag == "form":
            self._form = None
        elif tag == "textarea":
            self._text_of = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row[1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append((self._table, *self._row))
            self._row = None

    def handle_data(self, data: str) -> None:
        for _, element_id in self._open_ids:
            self.texts[element_id] += data
        if self._cell is not None:
            self._cell.append(data)
        if self._text_of is not None:
            self._text_of.value += data

    def text(self, element_id: str) -> str:
        return " ".join(self.texts.get(element_id, "").split())

    def queue(self) -> list[QueueRow]:
        """The profiles awaiting review on a queue page, in the page's order."""
        return [
            QueueRow(row.get("data-interview", ""), table.get("data-job", ""), cells[2] if len(cells) > 2 else "")
            for table, row, cells in self.rows
            if "waiting" in row.get("class", "").split()
        ]

    def facts(self) -> dict[str, str]:
        """The interview page's facts table (Candidate, Job, Review state, …)."""
        return {cells[0]: cells[1] for table, _, cells in self.rows if table.get("id") == "facts" and len(cells) == 2}

    def problem(self) -> str:
        """What an error page or a returned form says is wrong."""
        return self.text("errors") or self.text("error") or "no reason given"


# ---- a reviewer's visit ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    path: str  # where the browser ended up
    location: str  # a redirect's target, when not followed
    page: ConsolePage


class ReviewerBrowser:
    """A reviewer's requests to the console, as a browser makes them: a cookie jar, pages, forms."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        # The console is addressed by IP: aiohttp keeps cookies of IP hosts only in an "unsafe" jar.
        self._http = ClientSession(cookie_jar=CookieJar(unsafe=True), timeout=ClientTimeout(total=60))

    async def __aenter__(self) -> ReviewerBrowser:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._http.close()

    async def sign_in(self, tenant_id: str, username: str, password: str) -> None:
        form = (await self._page("/login")).forms.get("")
        if form is None:
            raise ConsoleError("the sign-in page has no form")
        fields = form.submission({"tenant": tenant_id, "username": username, "password": password})
        answer = await self._send("POST", form.action, fields, follow=True)
        if answer.path == "/login":
            raise ConsoleError(f"sign-in refused ({answer.status}): {answer.page.problem()}")
        if answer.status != 200:
            raise ConsoleError(f"{answer.path} answered {answer.status}: {answer.page.problem()}")

    async def queue(self) -> list[QueueRow]:
        return (await self._page("/queue")).queue()

    async def interview(self, interview_id: str) -> ConsolePage:
        return await self._page(f"/interviews/{quote(interview_id, safe='')}")

    async def decide(self, interview_id: str, choices: Mapping[str, str | Sequence[str]]) -> str:
        """Send the interview's decision form with ``choices`` (the page's CSRF token and decision id go
        with it); returns the flash message of the queue page the console then shows."""
        form = (await self.interview(interview_id)).forms.get("decision")
        if form is None:
            raise ConsoleError(f"the page of {interview_id} has no decision form")
        answer = await self._send("POST", form.action, form.submission(choices), follow=False)
        if answer.status != 303 or not answer.location.startswith("/queue"):
            raise ConsoleError(f"decision on {interview_id} not accepted ({answer.status}): {answer.page.problem()}")
        return (await self._page(answer.location)).text("flash")

    async def wait_until_gone(self, interview_id: str, timeout_s: float) -> list[QueueRow] | None:
        """The queue once ``interview_id`` has left it, or None if it is still there after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            rows = await self.queue()
            if all(r.interview_id != interview_id for r in rows):
                return rows
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(POLL_S)

    async def _page(self, path: str) -> ConsolePage:
        answer = await self._send("GET", path, follow=True)
        if answer.path == "/login" and not path.startswith("/login"):
            raise ConsoleError(f"{path}: the session ended (sent back to sign in)")
        if answer.status != 200:
            raise ConsoleError(f"{path} answered {answer.status}: {answer.page.problem()}")
        return answer.page

    async def _send(
        self, method: str, path: str, fields: list[tuple[str, str]] | None = None, *, follow: bool
    ) -> Answer:
        # A browser sends a form without an enctype URL-encoded.
        form = None if fields is None else urlencode(fields)
        headers = {} if form is None else {"Content-Type": "application/x-www-form-urlencoded"}
        async with self._http.request(
            method, self.base_url + path, data=form, headers=headers, allow_redirects=follow
        ) as response:
            body = await response.text()
            return Answer(response.status, response.url.path, response.headers.get("Location", ""), ConsolePage(body))


# ---- the demo's step -------------------------------------------------------------------------------------


def print_queue(title: str, rows: Sequence[QueueRow]) -> None:
    table = Table("interview", "job", "suggested label", title=title, caption=f"{len(rows)} awaiting review")
    for row in rows:
        table.add_row(row.interview_id, row.job_id, row.label)
    console.print(table)


def review_one_profile(settings: Settings, tenant_id: str, interview_id: str) -> bool:
    """Confirm the suggested label of ``interview_id`` through the review console, printing the queue before
    and after; True when the decision is stored (now or by an earlier run)."""
    return asyncio.run(review_profile(settings, tenant_id, interview_id))


async def review_profile(settings: Settings, tenant_id: str, interview_id: str) -> bool:
    """:func:`review_one_profile` on a running event loop."""
    password = secrets.token_urlsafe(24)
    review_console, server = build_console(demo_console_settings(settings, tenant_id, password))
    port = await server.start()
    base_url = f"http://127.0.0.1:{port}"
    console.print(f"review console on {base_url}; the reviewer {REVIEWER} of tenant {tenant_id} signs in")
    try:
        async with ReviewerBrowser(base_url) as browser:
            await browser.sign_in(tenant_id, REVIEWER, password)
            before = await browser.queue()
            print_queue("Review queue", before)
            waiting = next((row for row in before if row.interview_id == interview_id), None)
            if waiting is None:
                state = (await browser.interview(interview_id)).facts().get("Review state", "unknown")
                if state != "reviewed":
                    console.print(f"[red]{interview_id} is not on the queue, yet its review state is {state}")
                    return False
                console.print(f"{interview_id} is already reviewed (an earlier run decided on it): nothing to decide.")
                return True
            flash = await browser.decide(interview_id, {"action": "confirm"})
            console.print(f"{REVIEWER} confirmed the suggested label {waiting.label} of {interview_id}: {flash}")
            sent = time.monotonic()
            after = await browser.wait_until_gone(interview_id, STORE_TIMEOUT_S)
            if after is None:
                console.print(
                    f"[red]{interview_id} is still awaiting review {STORE_TIMEOUT_S:.0f} s after the decision: "
                    "the sink has not stored it (see .local/logs/sink.log)."
                )
                return False
            console.print(
                f"the sink stored the decision; {interview_id} left the queue after {time.monotonic() - sent:.0f} s"
            )
            print_queue("Review queue after the decision", after)
            return True
    except ConsoleError as exc:
        console.print(f"[red]review step failed: {exc}")
        return False
    except (ClientError, TimeoutError) as exc:
        console.print(f"[red]review step failed: the console at {base_url} did not answer ({exc!r})")
        return False
    finally:
        await server.stop()
        await review_console.publisher.close()
