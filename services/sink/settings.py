"""Settings of the sink stage: the `SIGHTLINE_SINK__*` variables (a group of services.common.settings)."""

from __future__ import annotations

from pydantic import BaseModel


class SinkSettings(BaseModel):
    """Configuration of the sink stage."""
