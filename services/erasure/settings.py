"""Retention settings: the `SIGHTLINE_RETENTION__*` variables (a group of services.common.settings).

Imports nothing from services.common, like every stage's settings module.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, Field, model_validator

#: The longest any interview is kept; ClickHouse TTLs (migration 0006) and the buckets' lifecycle rules are set
#: to it as the backstop, so no store keeps data beyond the longest retention even if the schedule stops.
RETENTION_CEILING_DAYS = 365


class RetentionSettings(BaseModel):
    """How long interviews are kept, and how fast a candidate's erasure request is honoured."""

    default_days: int = Field(
        365, ge=1, le=RETENTION_CEILING_DAYS, description="Days an interview is kept after it took place."
    )
    jurisdiction_days: dict[str, int] = Field(
        default_factory=lambda: {"EU": 180, "CN": 180, "US-IL": 365, "US-NY": 365},
        description="Days kept per jurisdiction (EU covers its member states; a subdivision such as US-IL "
        "before its country), as JSON.",
    )
    tenant_days: dict[str, int] = Field(
        default_factory=dict,
        description="Per-tenant retention in days, as JSON; it can only shorten the jurisdiction's.",
    )
    request_deadline_days: int = Field(
        30, ge=1, le=30, description="Days within which a candidate's erasure request must be carried out."
    )
    sweep_interval_s: float = Field(
        3600.0,
        ge=0,
        description="How often the sink erases interviews whose retention ended (0: never; `sightline erase "
        "--expired` does it on demand).",
    )
    group_id: str = Field("sightline-sink-erasure", description="Consumer group of the sink's erasure reader.")

    @model_validator(mode="after")
    def _within_ceiling(self) -> Self:
        for name, days in (*self.jurisdiction_days.items(), *self.tenant_days.items()):
            if not 1 <= days <= RETENTION_CEILING_DAYS:
                raise ValueError(f"retention for {name} must be 1-{RETENTION_CEILING_DAYS} days, not {days}")
        return self
