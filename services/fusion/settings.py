"""Settings of the fusion stage: the `SIGHTLINE_FUSION__*` variables (a group of services.common.settings)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FusionSettings(BaseModel):
    """Configuration of the fusion stage."""

    deadline_s: float = Field(
        900.0,
        gt=0,
        description="Seconds without any new part of an interview after which fusion stops waiting and writes a "
        "partial profile flagged with what is missing.",
    )
    sweep_interval_s: float = Field(10.0, gt=0, description="How often overdue interviews are looked for.")
    recommend_at: float = Field(
        70.0,
        ge=0,
        le=100,
        description="Overall score from which the suggested label is 'recommend' (when the "
        "competency model sets no thresholds).",
    )
    reject_below: float = Field(
        45.0,
        ge=0,
        le=100,
        description="Overall score below which the suggested label is 'reject' (when the "
        "competency model sets no thresholds).",
    )
    min_label_confidence: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Below this evidence confidence the label is 'pending' whatever the score (too little data).",
    )
    max_missing_share: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Largest share of vision chunks or speech segments that may be missing (failed or overdue) "
        "before the label stays 'pending' and the profile is flagged insufficient_data.",
    )
    behaviour_weight: float = Field(
        0.3,
        ge=0,
        le=1,
        description="Share of the overall score that comes from behaviour dimensions; competencies of the job's "
        "model share the rest by their weights.",
    )
    render_reports: bool = Field(
        True,
        description="Render each profile's HTML report into the report bucket (false: a JSON document of the "
        "profile and its per-answer measures instead).",
    )
