"""Settings of the ingest stage: the `SIGHTLINE_INGEST__*` variables (a group of services.common.settings).

The jurisdiction table is a JSON object in the environment, for example
``SIGHTLINE_INGEST__PROHIBITED='{"EU": ["emotion_inference"], "US-IL": ["face_analysis"]}'``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

# This module is imported by services.common.settings, so it must not import from services.common (nor from
# services.ingest.policy, which does); the defaults equal the policy module's, as a unit test checks.


class IngestSettings(BaseModel):
    """Configuration of the ingest stage."""

    max_size_bytes: int = Field(
        4 * 1024**3, ge=1, description="Largest media item accepted, in bytes; larger ones fail with over_limits."
    )
    max_duration_s: float = Field(
        3 * 3600.0, gt=0, description="Longest media item accepted, in seconds; longer ones fail with over_limits."
    )
    policy_version: str = Field(
        "policy-2026.12",
        min_length=1,
        description="Version of the jurisdiction policy table, recorded in every interview's context; change it "
        "whenever the table changes.",
    )
    prohibited: dict[str, list[str]] = Field(
        default_factory=lambda: {"EU": ["emotion_inference"]},
        description="Jurisdiction policy table (JSON): key → consent scopes never performed there, on top of the "
        "statutory rule sets of services/common/jurisdictions.py (which it cannot lift). Keys are a "
        'jurisdiction ("US-IL"), a country ("US"), "EU" (any member state) or "*" (everywhere).',
    )
    staging_grace_s: float = Field(
        3600.0,
        ge=0,
        description="Age after which a completed upload still staged in the raw bucket counts as left behind by a "
        "worker that died before promoting it, and is removed. Promotion is one server-side copy right after the "
        "upload, so minutes are plenty.",
    )
