"""Settings of the sink stage: the `SIGHTLINE_SINK__*` variables (a group of services.common.settings).

Batch size and age come from the ClickHouse group (`SIGHTLINE_CLICKHOUSE__INSERT_BATCH_*`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr


class SinkSettings(BaseModel):
    """Configuration of the sink stage."""

    status_group_id: str = Field(
        "sightline-sink-status",
        description="Consumer group of the sink's stage-status reader (statuses are read apart from the data "
        "topics so the sink reports no status about a status).",
    )
    dead_letter_group_id: str = Field(
        "sightline-sink-dead-letters",
        description="Consumer group of the sink's dead-letter reader, which stores every stage's dead letters in "
        "the dead_letters table.",
    )
    max_buffered_rows: int = Field(
        50_000,
        ge=1,
        description="Rows held while ClickHouse is not accepting inserts; consumption pauses beyond it.",
    )
    migrate_on_start: bool = Field(True, description="Apply pending ClickHouse migrations when the sink starts.")
    owner_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="With embedded chDB: port on which the sink answers read-only queries of other local "
        "processes (`sightline query`); 0 picks a free one.",
    )
    max_in_flight: int = Field(
        500,
        ge=1,
        description="Messages the sink handles at once. Handling only buffers rows, so far more than other "
        "stages; commits wait for the batch insert. Replaces SIGHTLINE_WORKER__MAX_IN_FLIGHT for the sink.",
    )
    callback_enabled: bool = Field(
        True,
        description="Announce each profile to the HR system's callback (interview-completed `callback`), from a "
        "loop of its own in the sink process.",
    )
    callback_group_id: str = Field(
        "sightline-sink-callback",
        description="Consumer group of the sink's callback sender (apart from the data rows, so a slow HR endpoint "
        "never delays them).",
    )
    callback_secrets: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Callback signing secrets by name (a callback\'s `auth_ref`), JSON: {"acme_hr_webhook": "..."}.',
    )
    callback_secrets_file: Path | None = Field(
        None,
        description="JSON file of more signing secrets by name (a mounted secret); entries of "
        "SIGHTLINE_SINK__CALLBACK_SECRETS win.",
    )
    callback_timeout_s: float = Field(10.0, gt=0, le=300, description="Time limit of one callback request.")
    callback_ca_file: Path | None = Field(
        None, description="Extra CA certificates (PEM) to trust for callback endpoints, besides the system's."
    )
    callback_link_expiry_s: int = Field(
        86_400,
        ge=60,
        le=604_800,
        description="Lifetime of the presigned report link sent in a callback, seconds (S3 allows at most 7 days).",
    )
