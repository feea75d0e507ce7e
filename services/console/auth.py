"""Who may sign in to the console: users per tenant and role, with scrypt password hashes.

Users come from a JSON document (a file, or the value of a setting fed from a secret), never from the
command line. A password is stored as ``scrypt$N$r$p$salt$hash`` (standard library only); checking a
user who does not exist costs as much as checking one who does, so timing does not tell names apart.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.common.contracts.types import EXTERNAL_ID_PATTERN, TENANT_ID_PATTERN

from .session import b64, unb64
from .settings import ConsoleSettings

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_SCHEME = "scrypt"


class ConsoleRole(StrEnum):
    """What a signed-in person may do, always within their own tenant. Closed."""

    REVIEWER = "reviewer"  # reads the queue and reports, confirms or overrides labels
    ANALYST = "analyst"  # reads the queue and reports, decides nothing
    ADMIN = "admin"  # what a reviewer may, for the tenant's whole team


#: Roles whose decisions count as human review.
DECIDING_ROLES = frozenset({ConsoleRole.REVIEWER, ConsoleRole.ADMIN})


class UsersError(ValueError):
    """The users document is missing or malformed."""


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """A salted scrypt hash of ``password`` in the users document's format."""
    if not password:
        raise ValueError("empty password")
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, n, r, p)
    return "$".join([_SCHEME, str(n), str(r), str(p), b64(salt), b64(digest)])


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the ``stored`` hash (constant-time comparison)."""
    n, r, p, salt, expected = _parse(stored)
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32)


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes]:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:
        raise ValueError("not a scrypt$N$r$p$salt$hash password hash")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = unb64(parts[4]), unb64(parts[5])
    except ValueError as exc:
        raise ValueError(f"malformed password hash: {exc}") from None
    if n < 2**10 or n & (n - 1) or not 1 <= r <= 64 or not 1 <= p <= 16 or len(salt) < 8 or len(digest) != 32:
        raise ValueError("password hash parameters out of range")
    return n, r, p, salt, digest


class ConsoleUser(BaseModel):
    """One person who may sign in, in one tenant with one role."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: Annotated[str, Field(pattern=TENANT_ID_PATTERN, max_length=63)]
    username: Annotated[str, Field(min_length=1, max_length=128)]
    role: ConsoleRole
    reviewer_id: Annotated[str, Field(pattern=EXTERNAL_ID_PATTERN)] | None = Field(
        None, description="Pseudonymous id put on decisions (default: the username, when it is a valid id)."
    )
    password_hash: str

    @field_validator("password_hash")
    @classmethod
    def _well_formed(cls, value: str) -> str:
        _parse(value)
        return value

    @property
    def decision_author(self) -> str:
        """The id decisions carry: the pseudonymous reviewer id, never an e-mail address by accident."""
        return self.reviewer_id or self.username

    @property
    def may_decide(self) -> bool:
        return self.role in DECIDING_ROLES


class UsersDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: list[ConsoleUser]


class UserDirectory:
    """The users of every tenant, looked up by (tenant, username)."""

    def __init__(self, users: list[ConsoleUser]) -> None:
        self._users: dict[tuple[str, str], ConsoleUser] = {}
        for user in users:
            key = (user.tenant_id, user.username)
            if key in self._users:
                raise UsersError(f"user {user.username!r} appears twice in tenant {user.tenant_id!r}")
            if user.reviewer_id is None and not _is_external_id(user.username):
                raise UsersError(f"user {user.username!r} of {user.tenant_id!r} needs a reviewer_id")
            self._users[key] = user
        self._dummy_hash = hash_password(secrets.token_urlsafe(16))

    @classmethod
    def parse(cls, document: str | bytes, source: str) -> UserDirectory:
        try:
            parsed = UsersDocument.model_validate_json(document)
        except ValidationError as exc:
            raise UsersError(f"{source} is not a valid users document:\n{exc}") from None
        return cls(parsed.users)

    @classmethod
    def from_settings(cls, settings: ConsoleSettings) -> UserDirectory:
        """Users from ``users_json`` or else ``users_file``; one of them is required."""
        if settings.users_json is not None:
            return cls.parse(settings.users_json.get_secret_value(), "SIGHTLINE_CONSOLE__USERS_JSON")
        if settings.users_file is None:
            raise UsersError("no console users: set SIGHTLINE_CONSOLE__USERS_FILE or SIGHTLINE_CONSOLE__USERS_JSON")
        path = Path(settings.users_file)
        try:
            return cls.parse(path.read_bytes(), str(path))
        except OSError as exc:
            raise UsersError(f"cannot read the users file {path}: {exc.strerror or exc}") from None

    def __len__(self) -> int:
        return len(self._users)

    def authenticate(self, tenant_id: str, username: str, password: str) -> ConsoleUser | None:
        """The user when the password is theirs, else None (unknown users cost one hash check too)."""
        user = self._users.get((tenant_id, username))
        matches = verify_password(password, user.password_hash if user else self._dummy_hash)
        return user if user is not None and matches else None

    def get(self, tenant_id: str, username: str) -> ConsoleUser | None:
        return self._users.get((tenant_id, username))


def _is_external_id(text: str) -> bool:
    return re.fullmatch(EXTERNAL_ID_PATTERN, text) is not None
