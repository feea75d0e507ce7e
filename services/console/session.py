"""Signed session cookies and the CSRF token tied to each session.

The cookie holds who signed in (tenant, username, role), a random session id and an expiry, signed with
HMAC-SHA256 under the console's secret: the browser can read it but not change it. The CSRF token of a
form is an HMAC of the session id under the same secret, so only pages served to this session carry it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass

COOKIE_NAME = "sightline_console"


@dataclass(frozen=True)
class Session:
    tenant_id: str
    username: str
    role: str
    sid: str
    expires_at: int

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires_at


class SessionSigner:
    """Makes and checks session cookies and CSRF tokens under one secret key."""

    def __init__(self, secret: bytes, ttl_s: int) -> None:
        if len(secret) < 32:
            raise ValueError("the session secret must be at least 32 bytes")
        self._secret = secret
        self.ttl_s = ttl_s

    def new_session(self, tenant_id: str, username: str, role: str, now: float | None = None) -> Session:
        issued = time.time() if now is None else now
        return Session(tenant_id, username, role, secrets.token_urlsafe(18), int(issued) + self.ttl_s)

    def dumps(self, session: Session) -> str:
        body = b64(json.dumps(asdict(session), separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{self._sign('session', body)}"

    def loads(self, cookie: str, now: float | None = None) -> Session | None:
        """The session of a cookie, or None when it is forged, altered, malformed or expired."""
        body, dot, signature = cookie.partition(".")
        if not dot or not hmac.compare_digest(signature, self._sign("session", body)):
            return None
        try:
            session = Session(**json.loads(unb64(body)))
        except (ValueError, TypeError):
            return None
        return None if session.expired(now) else session

    def csrf_token(self, session: Session) -> str:
        return self._sign("csrf", session.sid)

    def csrf_valid(self, session: Session, token: str) -> bool:
        return hmac.compare_digest(token.encode(), self.csrf_token(session).encode())

    def _sign(self, purpose: str, message: str) -> str:
        mac = hmac.new(self._secret, f"{purpose}|{message}".encode(), hashlib.sha256)
        return b64(mac.digest())


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
