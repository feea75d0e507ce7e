"""Settings of identities (``SIGHTLINE_IDENTITY__*``): where tokens are defined and which one this process holds."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr


class IdentitySettings(BaseModel):
    """Tokens and the identities they stand for; never taken from command-line arguments."""

    tokens_file: Path | None = Field(
        None,
        description="JSON file mapping token hashes to identities (name, tenant, role); "
        "`sightline identity new` makes entries.",
    )
    tokens_json: SecretStr | None = Field(
        None, description="The tokens document itself (same format as the file), e.g. from a Kubernetes secret."
    )
    token: SecretStr | None = Field(None, description="The token this process acts with (local use).")
    token_file: Path | None = Field(
        None, description="File holding the token this process acts with (a mounted secret); read when TOKEN is unset."
    )
