"""The console's web application: routes, sign-in, tenant checks, and publishing decisions.

It is served by the process's health server (services/common/health.py), so /healthz, /readyz and
/metrics sit beside the pages. Reads go to ClickHouse (through the chDB owner locally) and the object
store from worker threads; a decision goes to Kafka through the project's producer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry, Counter

from services.common.chdb_owner import OwnerUnavailable, RemoteWarehouse, open_warehouse, read_owner
from services.common.clickhouse import is_chdb
from services.common.contracts import ReviewDecision, encode, message_headers, message_key, topic_for
from services.common.contracts.types import ProfileLabel
from services.common.kafka import create_producer, physical_topic
from services.common.objectstore import ObjectStore
from services.common.settings import Settings
from services.identity.access_log import AccessRecord, write_access
from services.identity.bound import TenantBoundWarehouse
from services.identity.tokens import Identity, IdentityError, Role, own_token, resolve_identity
from services.report.page import CONTENT_SECURITY_POLICY as REPORT_POLICY

from . import pages, queries
from .auth import ConsoleUser, UserDirectory
from .forms import FormErrors, decision_event, new_decision_id, parse_decision
from .session import COOKIE_NAME, Session, SessionSigner

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SignedInHandler = Callable[[web.Request, ConsoleUser, Session], Awaitable[web.StreamResponse]]

_HEADERS = {
    "Content-Security-Policy": pages.CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Unavailable(RuntimeError):
    """A dependency (database, object store, broker) could not be reached."""


def session_secret(settings: Settings) -> bytes:
    """The configured key; outside production a random one when unset (sessions end with the process)."""
    configured = settings.console.session_secret
    if configured is not None:
        return configured.get_secret_value().encode("utf-8")
    if settings.environment == "production":
        raise ValueError("SIGHTLINE_CONSOLE__SESSION_SECRET is required in production")
    log.warning("no console session secret configured: using a random one; sessions end when the console stops")
    return secrets.token_bytes(32)


def html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8", headers=_HEADERS)


@dataclass
class DecisionPublisher:
    """Publishes review decisions; the producer starts on first use and again after a failure."""

    settings: Settings
    _producer: AIOKafkaProducer | None = None

    async def publish(self, event: ReviewDecision) -> None:
        if self._producer is None:
            producer = create_producer(self.settings.kafka, "console")
            try:
                await producer.start()
            except Exception:
                await producer.stop()
                raise
            self._producer = producer
        topic = physical_topic(self.settings.kafka, topic_for(event))
        try:
            await self._producer.send_and_wait(
                topic, encode(event), key=message_key(event), headers=message_headers(event)
            )
        except Exception:
            await self.close()
            raise

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()


class ReviewConsole:
    """The pages and actions of the console for the users of ``directory``."""

    def __init__(
        self, settings: Settings, directory: UserDirectory, signer: SessionSigner, registry: CollectorRegistry
    ) -> None:
        self.settings = settings
        self.directory = directory
        self.signer = signer
        self.publisher = DecisionPublisher(settings)
        self.store = ObjectStore(settings.s3)
        self.refusals = Counter(
            "sightline_console_refusals", "Requests the console refused.", ["reason"], registry=registry
        )
        self.decisions = Counter(
            "sightline_console_decisions", "Review decisions published.", ["action"], registry=registry
        )

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", "/", self.home),
            ("GET", "/login", self.login_form),
            ("POST", "/login", self.login),
            ("POST", "/logout", self.signed_in(self.logout)),
            ("GET", "/queue", self.signed_in(self.queue)),
            ("GET", "/interviews/{interview_id}", self.signed_in(self.interview)),
            ("GET", r"/interviews/{interview_id}/v{version:\d+}/report", self.signed_in(self.report)),
            ("POST", "/interviews/{interview_id}/decision", self.signed_in(self.decide)),
        ]

    # ---- sessions ---------------------------------------------------------------------------------------

    def signed_in(self, handler: SignedInHandler) -> Handler:
        """Run ``handler`` for a valid session of a user who still exists with the same role; otherwise
        send the browser to sign in. Every POST must carry the session's CSRF token."""

        async def wrapped(request: web.Request) -> web.StreamResponse:
            session = self.signer.loads(request.cookies.get(COOKIE_NAME, ""))
            user = self.directory.get(session.tenant_id, session.username) if session else None
            if session is None or user is None or user.role.value != session.role:
                return _redirect("/login")
            if request.method == "POST":
                form = await request.post()
                if not self.signer.csrf_valid(session, str(form.get("csrf", ""))):
                    return self.refuse(
                        request,
                        user,
                        session,
                        "csrf",
                        "The form expired or did not come from this console; reload the page and try again.",
                    )
            return await handler(request, user, session)

        return wrapped

    def refuse(
        self, request: web.Request, user: ConsoleUser, session: Session, reason: str, message: str
    ) -> web.Response:
        """A 403 page, logged with who asked for what."""
        self.refusals.labels(reason).inc()
        log.warning(
            "console request refused",
            extra={**_who(user), "reason": reason, "method": request.method, "path": request.path},
        )
        return html(pages.error_page("Refused", message, user, self.signer.csrf_token(session)), status=403)

    async def home(self, request: web.Request) -> web.StreamResponse:
        return _redirect("/queue")

    async def login_form(self, request: web.Request) -> web.StreamResponse:
        return html(pages.login_page())

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        tenant, username = (str(form.get(k, "")).strip() for k in ("tenant", "username"))
        password = str(form.get("password", ""))  # as typed: spaces may be part of it
        user = await asyncio.to_thread(self.directory.authenticate, tenant, username, password)
        if user is None:
            self.refusals.labels("sign_in").inc()
            log.warning("console sign-in failed", extra={"tenant_id": tenant, "username": username})
            return html(pages.login_page("Unknown tenant, user or password.", tenant, username), status=401)
        session = self.signer.new_session(user.tenant_id, user.username, user.role.value)
        log.info("console sign-in", extra=_who(user))
        response = _redirect("/queue")
        response.set_cookie(
            COOKIE_NAME,
            self.signer.dumps(session),
            max_age=self.signer.ttl_s,
            path="/",
            httponly=True,
            samesite="Lax",
            secure=self.settings.console.secure_cookies,
        )
        return response

    async def logout(self, request: web.Request, user: ConsoleUser, session: Session) -> web.StreamResponse:
        response = _redirect("/login")
        response.del_cookie(COOKIE_NAME, path="/")
        return response

    # ---- pages ------------------------------------------------------------------------------------------

    async def queue(self, request: web.Request, user: ConsoleUser, session: Session) -> web.StreamResponse:
        limit = self.settings.console.queue_limit
        try:
            entries = await self._read(self._named(queries.awaiting_review), user.tenant_id, limit)
        except Unavailable as exc:
            return self._unavailable(user, session, exc)
        decided = request.query.get("decided")
        flash = f"Decision on {decided} sent; it leaves the queue once stored." if decided else None
        return html(pages.queue_page(user, self.signer.csrf_token(session), entries, flash, limit))

    async def interview(self, request: web.Request, user: ConsoleUser, session: Session) -> web.StreamResponse:
        found = await self._profile(request, user, session)
        if isinstance(found, web.Response):
            return found
        csrf = self.signer.csrf_token(session)
        return html(pages.interview_page(user, csrf, found[0], new_decision_id()))

    async def report(self, request: web.Request, user: ConsoleUser, session: Session) -> web.StreamResponse:
        found = await self._profile(request, user, session)
        if isinstance(found, web.Response):
            return found
        version = int(request.match_info["version"])
        profile = next((p for p in found if p.profile_version == version), None)
        if profile is None:
            return self._not_found(user, session, f"No profile version {version} of this interview.")
        bucket, key = _split_s3_uri(profile.report_uri)
        if bucket != self.settings.s3.report_bucket or not key.startswith(f"{user.tenant_id}/{profile.interview_id}/"):
            # Fusion writes every report under its interview's prefix: anything else is not served.
            log.warning("report outside the tenant's objects", extra={**_who(user), "report_uri": profile.report_uri})
            return self._not_found(user, session, "This profile's report is not in the report store.")
        if not key.endswith(".html"):
            return self._not_found(user, session, "This profile's report was not rendered as HTML.")
        try:
            body = await asyncio.to_thread(self.store.get_bytes, bucket, key)
        except FileNotFoundError:
            return self._not_found(user, session, "The stored report of this profile is missing.")
        except Exception as exc:
            return self._unavailable(user, session, Unavailable(f"object store: {exc}"))
        try:
            await self._record(request, user, "report", profile.interview_id, f"report v{version}")
        except Unavailable as exc:  # no record, no report
            return self._unavailable(user, session, exc)
        log.info("report read", extra={**_who(user), "interview_id": profile.interview_id, "profile_version": version})
        headers = {**_HEADERS, "Content-Security-Policy": f"{REPORT_POLICY}; frame-ancestors 'self'"}
        return web.Response(body=body, content_type="text/html", charset="utf-8", headers=headers)

    async def decide(self, request: web.Request, user: ConsoleUser, session: Session) -> web.StreamResponse:
        if not user.may_decide:
            return self.refuse(request, user, session, "role", f"The {user.role} role may not record decisions.")
        found = await self._profile(request, user, session)
        if isinstance(found, web.Response):
            return found
        form = await request.post()
        submitted = {name: [str(v) for v in form.getall(name)] for name in set(form.keys())}
        version_text = (submitted.get("profile_version") or [""])[0]
        profile = next((p for p in found if str(p.profile_version) == version_text), found[0])
        csrf = self.signer.csrf_token(session)
        try:
            decision = parse_decision(submitted, ProfileLabel(profile.label))
            if decision.profile_version != profile.profile_version:
                raise FormErrors({"profile_version": f"this interview has no profile version {version_text}"})
        except FormErrors as exc:
            decision_id = (submitted.get("decision_id") or [new_decision_id()])[0]
            body = pages.interview_page(user, csrf, profile, decision_id, exc.errors, submitted)
            return html(body, status=400)
        event = decision_event(decision, profile.to_review(), user)
        try:
            await self.publisher.publish(event)
        except Exception as exc:
            facts = {"interview_id": profile.interview_id, "decision_id": decision.decision_id, "error": str(exc)}
            log.error("review decision not published", extra={**_who(user), **facts})
            problem = {"decision": "not recorded: the message broker could not be reached; send the form again"}
            body = pages.interview_page(user, csrf, profile, decision.decision_id, problem, submitted)
            return html(body, status=503)
        self.decisions.labels(decision.action.value).inc()
        facts = {
            "interview_id": profile.interview_id,
            "decision_id": decision.decision_id,
            "event_id": str(event.event_id),
        }
        log.info("review decision published", extra={**_who(user), **facts, "action": decision.action.value})
        return _redirect(f"/queue?decided={quote(profile.interview_id, safe='')}")

    # ---- reads ------------------------------------------------------------------------------------------

    async def _profile(
        self, request: web.Request, user: ConsoleUser, session: Session
    ) -> list[queries.StoredProfile] | web.Response:
        """The interview's profile versions in the user's tenant, or the page to answer with: a refusal when
        the tenant has no such interview (another tenant's is refused the same way, without saying so)."""
        interview_id = request.match_info["interview_id"]
        try:
            found: list[queries.StoredProfile] = await self._read(
                self._named(queries.profile_versions), user.tenant_id, interview_id
            )
        except Unavailable as exc:
            return self._unavailable(user, session, exc)
        if not found:
            with contextlib.suppress(Unavailable):  # the refusal stands whether or not it could be logged
                reason = f"not a profiled interview of tenant {user.tenant_id}"
                await self._record(request, user, "report", interview_id, "profile", refused=reason)
            return self.refuse(
                request,
                user,
                session,
                "tenant",
                f"Interview {interview_id} is not a profiled interview of tenant {user.tenant_id}.",
            )
        return found

    async def _record(
        self, request: web.Request, user: ConsoleUser, action: str, interview_id: str, subject: str,
        refused: str | None = None,
    ) -> None:  # fmt: skip
        """An access-log row for a console user's read (or refused read)."""
        record = AccessRecord(
            action, user.tenant_id, "refused" if refused else "allowed", interview_id=interview_id, subject=subject,
            reason=refused or "", origin=f"console user {user.tenant_id}/{user.username} from {request.remote}",
        )  # fmt: skip
        identity = Identity(name=user.decision_author, tenant_id=user.tenant_id, role=Role(user.role.value))

        def write(warehouse: Any) -> None:
            if isinstance(warehouse, RemoteWarehouse):
                warehouse.record_access(record)  # the owner names the console's identity; origin names the user
            else:
                write_access(warehouse, identity, record)

        await self._read(write)

    def _named(self, query: Callable[..., Any]) -> Callable[..., Any]:
        """``query`` (a function of a reader) given reads bound to the console's identity: the owner binds them
        itself; a ClickHouse server is read directly, bound here the same way."""

        def bound(warehouse: Any, *args: Any) -> Any:
            if isinstance(warehouse, RemoteWarehouse):
                return query(warehouse, *args)
            try:
                identity, _ = resolve_identity(self.settings.identity)
            except IdentityError as exc:
                raise Unavailable(f"the console has no identity at the database: {exc}") from exc
            return query(TenantBoundWarehouse(warehouse, identity), *args)

        return bound

    async def _read(self, query: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(self._read_now, query, *args)

    def _read_now(self, query: Callable[..., Any], *args: Any) -> Any:
        clickhouse = self.settings.clickhouse
        # Never open the embedded directory here: the console would take it from the sink.
        if is_chdb(clickhouse.dsn) and read_owner(clickhouse.dsn) is None:
            raise Unavailable(f"no process owns {clickhouse.dsn}: start the sink or `sightline db serve`")
        try:
            warehouse = open_warehouse(clickhouse, token=console_token(self.settings))
        except (OwnerUnavailable, OSError) as exc:
            raise Unavailable(str(exc)) from exc
        try:
            return query(warehouse, *args)
        except Exception as exc:  # unreachable, or a query the database refused: either way, no page
            raise Unavailable(str(exc)) from exc
        finally:
            warehouse.close()

    def _not_found(self, user: ConsoleUser, session: Session, message: str) -> web.Response:
        return html(pages.error_page("Not found", message, user, self.signer.csrf_token(session)), status=404)

    def _unavailable(self, user: ConsoleUser, session: Session, exc: Exception) -> web.Response:
        log.error("console read failed", extra={"tenant_id": user.tenant_id, "error": str(exc)})
        message = f"The data could not be read right now ({exc}); try again shortly."
        return html(pages.error_page("Unavailable", message, user, self.signer.csrf_token(session)), status=503)


def console_token(settings: Settings) -> str | None:
    """The console's own token for the embedded database's endpoint (its reads are on behalf of signed-in
    users, each bound to the user's tenant by the console's parameterised queries)."""
    try:
        return own_token(settings.identity)
    except IdentityError:
        return None


def _who(user: ConsoleUser) -> dict[str, str]:
    """Who did something, for the log."""
    return {"tenant_id": user.tenant_id, "username": user.username, "role": user.role.value}


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={**_HEADERS, "Location": location})


def _split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        return "", ""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key
