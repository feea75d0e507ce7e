"""The sink's handler: events become buffered rows; one that cannot be stored is refused with a reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.common.contracts import VisionFeatures
from services.common.handler import MessageMeta, Rejected
from services.common.settings import Settings
from services.sink.stage import INVALID_ROW, SinkStage

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples" / "v1"
META = MessageMeta("sightline.vision-features.v1", 2, 41, None, None, ())


def vision(faces_max: int = 1) -> VisionFeatures:
    data = json.loads((EXAMPLES / "vision-features.json").read_text())
    data["seconds"][0]["faces_max"] = faces_max
    return VisionFeatures.model_validate(data)


async def test_an_event_is_buffered_as_rows_and_nothing_is_emitted() -> None:
    stage = SinkStage(Settings())
    event = vision()
    assert await stage.handle(event, META) == []
    assert len(stage.batches.buffers["vision_chunks"].rows) == 1
    assert len(stage.batches.buffers["behaviour_timeline"].rows) == len(event.seconds)


async def test_an_event_that_cannot_be_stored_is_rejected_and_recorded_with_its_reason() -> None:
    stage = SinkStage(Settings())
    with pytest.raises(Rejected) as refused:
        await stage.handle(vision(faces_max=70_000), META)
    assert refused.value.code == INVALID_ROW
    assert "faces_max=70000" in refused.value.message and "sightline.vision-features.v1/2/41" in refused.value.message
    (row,) = stage.batches.buffers["sink_rejected_rows"].rows
    assert row[0] == "vision-features" and "faces_max=70000" in row[2]
    assert stage.batches.buffers["behaviour_timeline"].rows == []  # nothing of the event is half-stored
