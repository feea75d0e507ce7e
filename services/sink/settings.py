"""Settings of the sink stage: the `SIGHTLINE_SINK__*` variables (a group of services.common.settings).

Batch size and age come from the ClickHouse group (`SIGHTLINE_CLICKHOUSE__INSERT_BATCH_*`).
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class SinkSettings(BaseModel):
    """Configuration of the sink stage."""

    status_group_id: str = Field(
        "sightline-sink-status",
        description="Consumer group of the sink's stage-status reader (statuses are read apart from the data "
        "topics so the sink reports no status about a status).",
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
