"""Identities the tests act as: a tokens document shared by every process a test starts.

Tokens here are fixed strings (tests only); the document holds their SHA-256 as production does.
"""

from __future__ import annotations

import json

from services.identity.tokens import token_digest

#: name -> (tenant, role)
IDENTITIES: dict[str, tuple[str, str]] = {
    "ops": ("*", "admin"),
    "ops-auditor": ("*", "auditor"),  # the only kind of identity that reads every tenant's demographics
    "acme-admin": ("acme", "admin"),
    "acme-analyst": ("acme", "analyst"),
    "acme-reviewer": ("acme", "reviewer"),
    "acme-auditor": ("acme", "auditor"),
    "acme-us-auditor": ("acme-us", "auditor"),
    "acme-us-analyst": ("acme-us", "analyst"),
    "acme-us-reviewer": ("acme-us", "reviewer"),
    "acme-us-admin": ("acme-us", "admin"),
    "demo-auditor": ("demo", "auditor"),
    "globex-analyst": ("globex", "analyst"),
    "globex-admin": ("globex", "admin"),
    "globex-auditor": ("globex", "auditor"),
}


def token_of(name: str) -> str:
    return f"test-token-{name}"


def tokens_json() -> str:
    return json.dumps(
        {
            "identities": [
                {"name": name, "tenant_id": tenant, "role": role, "token_sha256": token_digest(token_of(name))}
                for name, (tenant, role) in IDENTITIES.items()
            ]
        }
    )


def identity_env(name: str) -> dict[str, str]:
    """Environment variables that make a process act as ``name``."""
    return {
        "SIGHTLINE_IDENTITY__TOKENS_JSON": tokens_json(),
        "SIGHTLINE_IDENTITY__TOKEN": token_of(name),
    }
