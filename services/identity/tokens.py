"""Identities and the tokens that stand for them.

An identity is a name, a tenant and a role. The tokens document (a file, or a setting fed from a secret)
maps the SHA-256 of each token to its identity, so the document holds no usable credential; the process's
own token comes from ``SIGHTLINE_IDENTITY__TOKEN`` or the file named by ``SIGHTLINE_IDENTITY__TOKEN_FILE``,
never from a command-line argument (arguments show in ``ps`` and shell history).

Tokens are 32 random bytes, so a plain SHA-256 is enough (no dictionary to guess from); lookups compare
digests, not tokens. The tenant ``*`` is the platform's own (an operator or compliance auditor of the whole
installation): only an admin or an auditor may hold it, and only it reads every tenant's rows.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.common.contracts.types import EXTERNAL_ID_PATTERN, TENANT_ID_PATTERN

from .settings import IdentitySettings

#: The tenant of identities that act for the whole installation.
ALL_TENANTS = "*"
_TENANT_OR_ALL = rf"(?:{TENANT_ID_PATTERN.strip('^$')}|\*)"
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class Role(StrEnum):
    """What an identity may do, always within its tenant. Closed."""

    ADMIN = "admin"  # runs the tenant's pipeline: dead letters, calibration, arbitrary SQL, the access log
    ANALYST = "analyst"  # reads statuses, profiles and reports; decides nothing
    REVIEWER = "reviewer"  # reads profiles and reports, confirms or overrides labels (the console)
    AUDITOR = "auditor"  # runs the bias audit (the only role that reads demographics) and reads the access log


class IdentityError(PermissionError):
    """No identity could be established (missing, unknown or malformed credentials)."""


class Identity(BaseModel):
    """Who acts: a name (for the access log), a tenant and a role."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(pattern=EXTERNAL_ID_PATTERN)]
    tenant_id: Annotated[str, Field(pattern=rf"^{_TENANT_OR_ALL}$", max_length=63)]
    role: Role

    @model_validator(mode="after")
    def _platform_is_admin(self) -> Identity:
        if self.tenant_id == ALL_TENANTS and self.role not in (Role.ADMIN, Role.AUDITOR):
            raise ValueError("only an admin or an auditor may act for every tenant (tenant '*')")
        return self

    @property
    def all_tenants(self) -> bool:
        return self.tenant_id == ALL_TENANTS

    def may_read_tenant(self, tenant_id: str) -> bool:
        return self.all_tenants or tenant_id == self.tenant_id

    def __str__(self) -> str:
        return f"{self.name} ({self.role} of {'every tenant' if self.all_tenants else 'tenant ' + self.tenant_id})"


class TokenEntry(Identity):
    token_sha256: str

    @model_validator(mode="after")
    def _hex_digest(self) -> TokenEntry:
        if not _SHA256_HEX.match(self.token_sha256):
            raise ValueError("token_sha256 must be 64 lowercase hex digits (`sightline identity new` makes them)")
        return self


class TokensDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    identities: list[TokenEntry]


@dataclass(frozen=True)
class Caller:
    """Who runs this process's commands, with the token that proves it and where they run from."""

    identity: Identity
    token: str
    origin: str


def token_digest(token: str) -> str:
    return hashlib.sha256(token.strip().encode("utf-8")).hexdigest()


def new_token() -> str:
    return "slt_" + secrets.token_urlsafe(32)


class TokenDirectory:
    """Identities by the digest of their token."""

    def __init__(self, entries: list[TokenEntry]) -> None:
        self._by_digest: dict[str, Identity] = {}
        names: set[tuple[str, str]] = set()
        for entry in entries:
            if entry.token_sha256 in self._by_digest:
                raise IdentityError(f"two identities share one token ({entry.name!r})")
            if (entry.tenant_id, entry.name) in names:
                raise IdentityError(f"identity {entry.name!r} appears twice in tenant {entry.tenant_id!r}")
            names.add((entry.tenant_id, entry.name))
            self._by_digest[entry.token_sha256] = Identity(name=entry.name, tenant_id=entry.tenant_id, role=entry.role)

    @classmethod
    def parse(cls, document: str | bytes, source: str) -> TokenDirectory:
        try:
            return cls(TokensDocument.model_validate_json(document).identities)
        except ValidationError as exc:
            raise IdentityError(f"{source} is not a valid tokens document:\n{exc}") from None

    @classmethod
    def from_settings(cls, settings: IdentitySettings) -> TokenDirectory:
        if settings.tokens_json is not None:
            return cls.parse(settings.tokens_json.get_secret_value(), "SIGHTLINE_IDENTITY__TOKENS_JSON")
        if settings.tokens_file is None:
            raise IdentityError(
                "no identities are defined: set SIGHTLINE_IDENTITY__TOKENS_FILE or SIGHTLINE_IDENTITY__TOKENS_JSON "
                "(docs/operations.md, 'Identities and roles')"
            )
        try:
            return cls.parse(Path(settings.tokens_file).read_bytes(), str(settings.tokens_file))
        except OSError as exc:
            raise IdentityError(f"cannot read the tokens file {settings.tokens_file}: {exc.strerror or exc}") from None

    def __len__(self) -> int:
        return len(self._by_digest)

    def tenants(self) -> set[str]:
        """Tenants with at least one identity (``*`` included when a platform identity exists)."""
        return {identity.tenant_id for identity in self._by_digest.values()}

    def identify(self, token: str) -> Identity:
        identity = self._by_digest.get(token_digest(token))
        if identity is None:
            raise IdentityError("the token is not known to this installation")
        return identity


def own_token(settings: IdentitySettings) -> str:
    """This process's token: the setting, else the token file's first line."""
    if settings.token is not None and settings.token.get_secret_value().strip():
        return settings.token.get_secret_value().strip()
    if settings.token_file is not None:
        try:
            token = Path(settings.token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise IdentityError(f"cannot read the token file {settings.token_file}: {exc.strerror or exc}") from None
        if token:
            return token
        raise IdentityError(f"the token file {settings.token_file} is empty")
    raise IdentityError(
        "no credentials: set SIGHTLINE_IDENTITY__TOKEN or SIGHTLINE_IDENTITY__TOKEN_FILE "
        "(docs/operations.md, 'Identities and roles')"
    )


def resolve_identity(settings: IdentitySettings) -> tuple[Identity, str]:
    """Who this process acts as, and the token that proves it (for the local database endpoint)."""
    token = own_token(settings)
    return TokenDirectory.from_settings(settings).identify(token), token
