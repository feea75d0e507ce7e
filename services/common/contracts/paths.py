"""Where the contract files live."""

from __future__ import annotations

import os
from pathlib import Path

#: ``schemas/`` of the checkout; ``SIGHTLINE_SCHEMAS_DIR`` points elsewhere (an image that copies it).
SCHEMAS_DIR = Path(os.environ.get("SIGHTLINE_SCHEMAS_DIR") or Path(__file__).resolve().parents[3] / "schemas")
MAJOR_VERSION = 1
EVENTS_SUBDIR = f"events/v{MAJOR_VERSION}"
EXAMPLES_SUBDIR = f"examples/v{MAJOR_VERSION}"
TOPICS_FILE = "topics.yaml"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_BASE_URL = f"https://sightline.dev/schemas/events/v{MAJOR_VERSION}/"


def schema_file_name(event_type: str) -> str:
    """``interview-completed`` → ``interview-completed.schema.json``."""
    return f"{event_type}.schema.json"


def schema_id(event_type: str) -> str:
    """The ``$id`` of an event's schema."""
    return SCHEMA_BASE_URL + schema_file_name(event_type)
