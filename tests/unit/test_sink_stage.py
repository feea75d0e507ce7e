"""The sink's handler: events become buffered rows; one that cannot be stored is refused with a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.common.contracts import ProfileReady, VisionFeatures
from services.common.handler import MessageMeta, Rejected
from services.common.metrics import StageMetrics, create_metrics
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


def _profile(completed_at: datetime | None, version: int = 1) -> ProfileReady:
    data = json.loads((EXAMPLES / "profile-ready.json").read_text())
    data["context"]["interview_completed_at"] = completed_at.isoformat() if completed_at else None
    data["profile_version"] = version
    return ProfileReady.model_validate(data)


def _latencies(metrics: StageMetrics) -> tuple[float, float]:
    """(count, sum) of the end-to-end latency histogram, as /metrics exposes them."""
    samples = {s.name: s.value for family in metrics.registry.collect() for s in family.samples}
    return samples["sightline_profile_latency_seconds_count"], samples["sightline_profile_latency_seconds_sum"]


async def test_a_first_profile_records_the_time_from_interview_completed() -> None:
    stage = SinkStage(Settings())
    stage.use_metrics(metrics := create_metrics())
    meta = MessageMeta("sightline.profile-ready.v1", 0, 7, None, None, ())
    await stage.handle(_profile(datetime.now(UTC) - timedelta(minutes=40)), meta)
    count, total = _latencies(metrics)
    assert count == 1 and 40 * 60 <= total < 41 * 60
    # A rescore's later version, or a profile from a producer that predates the field, measures nothing.
    await stage.handle(_profile(datetime.now(UTC) - timedelta(days=30), version=2), meta)
    await stage.handle(_profile(None), meta)
    assert _latencies(metrics) == (count, total)
    assert len(stage.batches.buffers["profiles"].rows) == 3  # every version is still stored
