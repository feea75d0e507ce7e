"""The demo's review step against the local stack: the console started in-process, a reviewer signed in over
HTTP, a confirmation sent through the decision form and stored by the real sink in chDB; run again, it finds
the profile reviewed and records nothing; a profile that does not exist is reported, not decided."""

from __future__ import annotations

import pytest

from services.common.settings import Settings
from services.demo_review import REVIEWER, review_profile
from tests.integration.kafka_helpers import wait_for
from tests.integration.test_console_browser import running_sink
from tests.integration.test_sink import (
    Candidate,
    all_stored,
    expected_counts,
    interview_events,
    publish_events,
    query,
    sink_settings,
)

pytestmark = pytest.mark.integration

TENANT = "demo-review"
DECIDED = Candidate("DR-1", "cand_demorev01", 0.55, label="pending", tenant_id=TENANT)
WAITING = Candidate("DR-2", "cand_demorev02", 0.8, label="recommend", tenant_id=TENANT)
DECISIONS = (
    "SELECT interview_id, action, suggested_label, final_label, reviewer_id, reviewer_role, producer "
    f"FROM sightline.review_decisions FINAL WHERE tenant_id = '{TENANT}'"
)


async def test_demo_reviewer_confirms_once_and_a_rerun_changes_nothing(
    stack_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = await sink_settings(stack_settings)
    await publish_events(settings, [e for c in (DECIDED, WAITING) for e in interview_events(c)])
    async with running_sink(settings):
        expected = expected_counts((DECIDED, WAITING))
        await wait_for(lambda: all_stored(settings, expected), 90, "the sink to store the profiles")

        assert await review_profile(settings, TENANT, "DR-1")
        first = capsys.readouterr().out
        assert "2 awaiting review" in first and "1 awaiting review" in first
        assert f"{REVIEWER} confirmed the suggested label pending of DR-1" in first
        assert "the sink stored the decision; DR-1 left the queue" in first
        stored = [["DR-1", "confirm", "pending", "pending", REVIEWER, "reviewer", "sightline-console"]]
        assert await query(settings, DECISIONS) == stored

        assert await review_profile(settings, TENANT, "DR-1")
        again = capsys.readouterr().out
        assert "DR-1 is already reviewed" in again and "1 awaiting review" in again and "confirmed" not in again
        assert await query(settings, DECISIONS) == stored

        assert not await review_profile(settings, TENANT, "DR-404")
        missing = capsys.readouterr().out
        assert "review step failed" in missing and "DR-404 is not a profiled interview of tenant demo-review" in missing
