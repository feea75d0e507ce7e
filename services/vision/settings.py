"""Settings of the vision stage: the `SIGHTLINE_VISION__*` variables (a group of services.common.settings)."""

from __future__ import annotations

from pydantic import BaseModel


class VisionSettings(BaseModel):
    """Configuration of the vision stage."""
