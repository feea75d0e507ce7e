"""Settings of the ingest stage: the `SIGHTLINE_INGEST__*` variables (a group of services.common.settings).

The jurisdiction table is a JSON object in the environment, for example
``SIGHTLINE_INGEST__PROHIBITED='{"EU": ["emotion_inference"], "US-IL": ["face_analysis"]}'``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, with_config
from typing_extensions import TypedDict

# This module is imported by services.common.settings, so it must not import from services.common (nor from
# services.ingest.policy, which does); the defaults equal the policy module's, as a unit test checks.


@with_config(ConfigDict(extra="forbid"))
class TenantSources(TypedDict, total=False):
    """Where one tenant's media may be read from (a plain JSON object, so it travels in one variable)."""

    s3: list[str]  # "bucket" or "bucket/prefix/"
    http_hosts: list[str]  # "media.example.com", "*.example.com", "media.example.com:8443"
    allowed_networks: list[str]  # CIDRs that may be reached although not public: "10.20.0.0/16"


class IngestSettings(BaseModel):
    """Configuration of the ingest stage."""

    max_size_bytes: int = Field(
        4 * 1024**3, ge=1, description="Largest media item accepted, in bytes; larger ones fail with over_limits."
    )
    max_duration_s: float = Field(
        3 * 3600.0, gt=0, description="Longest media item accepted, in seconds; longer ones fail with over_limits."
    )
    max_pixels: int = Field(
        8192 * 4320,
        ge=1,
        description="Largest picture (width x height) a video may declare; larger ones (a decompression bomb, "
        "or a frame no stage could hold) fail with over_limits before anything is decoded.",
    )
    max_frame_rate: float = Field(
        240.0,
        gt=0,
        description="Highest frame rate a video may declare, and so the most frames per second of duration it may "
        "declare in all; higher ones fail with over_limits.",
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
    sources: dict[str, TenantSources] = Field(
        default_factory=dict,
        description='Where each tenant\'s media may be read from (JSON): tenant id, or "*" for every tenant → '
        '{"s3": ["bucket", "bucket/prefix/"], "http_hosts": ["media.example.com", "*.example.com:8443"], '
        '"allowed_networks": ["10.20.0.0/16"]}. Nothing is allowed by default; http(s) hosts must resolve to public '
        "addresses unless in an allowed network. Sightline's own buckets are never a source.",
    )
    file_roots: list[Path] | None = Field(
        None,
        description="Directories file:// sources may be read from, outside production only (production refuses "
        "file://). Unset: the local stack's home and the system temporary directory; [] refuses file://.",
    )
    staging_grace_s: float = Field(
        3600.0,
        ge=0,
        description="Age after which a completed upload still staged in the raw bucket counts as left behind by a "
        "worker that died before promoting it, and is removed. Promotion is one server-side copy right after the "
        "upload, so minutes are plenty.",
    )
