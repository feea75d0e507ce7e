"""Self-identified demographics: stored apart by the real sink, and readable only by the auditor role."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from services.common.contracts import CandidateDemographics, deterministic_event_id
from services.common.settings import Settings
from tests.identities import identity_env
from tests.integration.stage_fixtures import example
from tests.integration.test_sink import all_stored, publish_events, run_sink_until, sink_settings, stored_demographics

#: Recent, so that the table's retention (365 days after the answer) keeps the rows.
SELF_ID_AT = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)


def demographics_event(
    candidate_ref: str, sex: str, race: str, *, tenant_id: str = "acme-us", days_later: int = 0
) -> CandidateDemographics:
    """A candidate's self-identification, answered `days_later` days after `SELF_ID_AT`."""
    data: dict[str, Any] = example("candidate-demographics")
    collected = SELF_ID_AT + timedelta(days=days_later)
    data.update(
        event_id=str(deterministic_event_id("self-id", tenant_id, candidate_ref, str(days_later))),
        tenant_id=tenant_id,
        interview_id=f"IV-{candidate_ref}",
        candidate_ref=candidate_ref,
        sex=sex,
        race_ethnicity=race,
        collected_at=collected.isoformat(),
        occurred_at=(collected + timedelta(minutes=5)).isoformat(),
    )
    return CandidateDemographics.model_validate(data)


def cli_query(settings: Settings, sql: str, **env: str) -> subprocess.CompletedProcess[str]:
    variables = {
        **os.environ,
        "SIGHTLINE_CLICKHOUSE__DSN": settings.clickhouse.dsn,
        "SIGHTLINE_CLICKHOUSE__DATABASE": settings.clickhouse.database,
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "query", "--format", "json", sql],
        env=variables,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_demographics_are_stored_apart_and_only_auditors_read_them(stack_settings: Settings) -> None:
    settings = await sink_settings(stack_settings)
    later = demographics_event("cand_self0001", "female", "asian", days_later=10)
    events = [
        later,  # arrives first but was answered last: it stays the candidate's answer
        demographics_event("cand_self0001", "declined_to_answer", "declined_to_answer"),
        demographics_event("cand_self0002", "male", "black_or_african_american"),
        demographics_event("cand_self0003", "non_binary", "two_or_more_races", tenant_id="acme-eu"),
    ]
    await publish_events(settings, [*events, *events])  # every event twice: a replay changes nothing
    await run_sink_until(settings, "g-demo-1", lambda: all_stored(settings, {"candidate_demographics": 3}))
    rows = await asyncio.to_thread(stored_demographics, settings)
    assert rows == [  # the candidate answered "female, asian" last: that answer stays
        ["acme-eu", "cand_self0003", "non_binary", "two_or_more_races"],
        ["acme-us", "cand_self0001", "female", "asian"],
        ["acme-us", "cand_self0002", "male", "black_or_african_american"],
    ]

    table = f"{settings.clickhouse.database}.candidate_demographics"
    for who in ("ops", "acme-us-admin"):  # even an admin's SQL may not name the table
        refused = cli_query(settings, f"SELECT sex FROM {table}", **identity_env(who))
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "refused: the admin role may not read candidate_demographics" in refused.stderr
        assert refused.stdout == ""
    for who in ("acme-us-reviewer", "acme-us-auditor"):  # other roles run no SQL at all (the audit reads for them)
        refused = cli_query(settings, f"SELECT sex FROM {table}", **identity_env(who))
        assert refused.returncode == 1 and "may not use query (roles allowed: admin)" in refused.stderr
    # The other tables stay readable by admins.
    other = cli_query(settings, f"SELECT count() AS n FROM {settings.clickhouse.database}.profiles")
    assert other.returncode == 0 and json.loads(other.stdout) == {"n": 0}
