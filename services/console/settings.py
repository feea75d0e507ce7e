"""Settings of the review console (``SIGHTLINE_CONSOLE__*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr


class ConsoleSettings(BaseModel):
    """The review console: where it listens, who may sign in, how sessions are signed."""

    host: str = Field("127.0.0.1", description="Address the review console listens on.")
    port: int = Field(8088, ge=0, le=65535, description="Port of the review console; 0 picks a free one.")
    users_file: Path | None = Field(
        None,
        description="JSON file of the console's users (tenant, username, role, scrypt password hash); "
        "`sightline console hash-password` makes the hashes.",
    )
    users_json: SecretStr | None = Field(
        None, description="The users document itself (same format as the file), e.g. from a Kubernetes secret."
    )
    session_secret: SecretStr | None = Field(
        None,
        description="Key that signs session cookies (32+ characters); unset outside production, a random key "
        "is drawn at start, so sessions end with the process.",
    )
    session_ttl_s: int = Field(8 * 3600, ge=60, description="Lifetime of a console session.")
    secure_cookies: bool = Field(False, description="Send the session cookie over HTTPS only (set behind TLS).")
    queue_limit: int = Field(500, ge=1, le=10_000, description="Most profiles listed on the review queue page.")
