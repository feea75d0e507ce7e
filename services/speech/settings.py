"""Settings of the speech stage: the `SIGHTLINE_SPEECH__*` variables (a group of services.common.settings)."""

from __future__ import annotations

from pydantic import BaseModel


class SpeechSettings(BaseModel):
    """Configuration of the speech stage."""
