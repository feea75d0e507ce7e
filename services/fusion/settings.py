"""Settings of the fusion stage: the `SIGHTLINE_FUSION__*` variables (a group of services.common.settings)."""

from __future__ import annotations

from pydantic import BaseModel


class FusionSettings(BaseModel):
    """Configuration of the fusion stage."""
