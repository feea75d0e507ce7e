"""`sightline audit bias` for real: interviews, profiles and self-identification written by the sink into chDB,
the audit run through the command line as the auditor, before and after review decisions are recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.common.contracts import ReviewDecision
from services.common.settings import Settings
from tests.identities import identity_env
from tests.integration.stage_fixtures import example
from tests.integration.test_demographics import demographics_event
from tests.integration.test_sink import (
    Candidate,
    all_stored,
    expected_counts,
    interview_events,
    publish_events,
    run_sink_until,
    sink_settings,
)

T = "acme-us"
#: (candidate, sex, race): None for no self-identification on record. Worked by hand in the assertions.
PEOPLE = [
    (Candidate("IV-C1", "cand_c1000001", 0.9, label="recommend", tenant_id=T), "female", "white"),
    (Candidate("IV-C2", "cand_c2000002", 0.8, label="recommend", tenant_id=T), "female", "white"),
    (Candidate("IV-C3", "cand_c3000003", 0.3, label="reject", tenant_id=T), "female", "asian"),
    (Candidate("IV-C4", "cand_c4000004", 0.85, label="recommend", tenant_id=T), "male", "white"),
    (Candidate("IV-C5", "cand_c5000005", 0.2, label="reject", tenant_id=T), "male", "white"),
    (Candidate("IV-C6", "cand_c6000006", 0.25, label="reject", tenant_id=T), "male", "asian"),
    (Candidate("IV-C7", "cand_c7000007", 0.35, label="reject", tenant_id=T), "male", "asian"),
    (Candidate("IV-C8", "cand_c8000008", 0.7, label="recommend", tenant_id=T), None, None),
    (Candidate("IV-C9", "cand_c9000009", 0.4, label="reject", tenant_id=T), "declined_to_answer", "declined_to_answer"),
    # Outside the audit: an interview before the window, and another job.
    (Candidate("IV-OLD", "cand_old00010", 0.1, label="reject", tenant_id=T, days_ago=100), "female", "white"),
    (Candidate("IV-J2", "cand_j2000011", 0.9, label="recommend", tenant_id=T, job_id="REQ-2040"), "male", "asian"),
]

#: (interview, suggested, final, hours after the first decision): IV-C3 and IV-C5 changed their minds.
DECISIONS = [
    ("IV-C1", "recommend", "recommend", 0),
    ("IV-C3", "reject", "recommend", 0),
    ("IV-C3", "reject", "reject", 2),
    ("IV-C5", "reject", "reject", 0),
    ("IV-C5", "reject", "recommend", 3),
]


def audit_cli(settings: Settings, *args: str, who: str = "acme-us-auditor") -> subprocess.CompletedProcess[str]:
    today = datetime.now(UTC).date()
    env = {
        **os.environ,
        "SIGHTLINE_CLICKHOUSE__DSN": settings.clickhouse.dsn,
        "SIGHTLINE_CLICKHOUSE__DATABASE": settings.clickhouse.database,
        **identity_env(who),
    }
    command = ["audit", "bias", "--tenant", T, "--job", "REQ-1187", "--from", str(today - timedelta(days=30))]
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *command, "--to", str(today), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def rates(document: dict[str, object], rate: str, axis: str) -> dict[str, tuple[int, int, float | None]]:
    rows = document["summary"]
    assert isinstance(rows, list)
    return {
        r["category"]: (r["category_applicants"], r["selected"], r["impact_ratio"])
        for r in rows
        if r["rate"] == rate and r["axis"] == axis
    }


def decision_events() -> list[ReviewDecision]:
    """The DECISIONS as the HR system would send them."""
    first = datetime.now(UTC) - timedelta(days=1)
    template = example("review-decision")
    return [
        ReviewDecision.model_validate(
            {
                **template,
                "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"audit-test/{i}")),
                "tenant_id": T,
                "interview_id": iv,
                "decision_id": f"rd-audit-{i}",
                "suggested_label": suggested,
                "action": "confirm" if final == suggested else "override",
                "override_label": None if final == suggested else final,
                "reason_codes": None if final == suggested else ["missing_context"],
                "decided_at": (first + timedelta(hours=h)).isoformat(),
                "occurred_at": (first + timedelta(hours=h)).isoformat(),
            }
        )
        for i, (iv, suggested, final, h) in enumerate(DECISIONS)
    ]


async def test_the_audit_runs_on_the_stored_data_before_and_after_review_decisions(
    stack_settings: Settings, tmp_path: Path
) -> None:
    settings = await sink_settings(stack_settings)
    candidates = [c for c, _, _ in PEOPLE]
    selfid = [demographics_event(c.candidate_ref, s, r) for c, s, r in PEOPLE if s is not None and r is not None]
    await publish_events(settings, [*(e for c in candidates for e in interview_events(c)), *selfid])
    expected = {**expected_counts(candidates), "candidate_demographics": len(selfid)}
    await run_sink_until(settings, "g-audit", lambda: all_stored(settings, expected))

    refused = audit_cli(settings, "--format", "json", who="acme-us-reviewer")
    assert refused.returncode == 1 and "may not use audit (roles allowed: auditor)" in refused.stderr
    assert refused.stdout == ""

    run = audit_cli(settings, "--format", "json")
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["applicants"] == 9 and document["scored"] == 9 and document["reviewed"] == 0
    assert document["human_decisions_recorded"] is True  # the table is there, with nothing in this window
    assert not rates(document, "selection_human", "sex")
    # female: C1, C2 of C1-C3 recommended (2/3); male: C4 of C4-C7 (1/4): ratio 0.25 / 0.667 = 0.375.
    assert rates(document, "selection_suggested", "sex") == {"female": (3, 2, 1.0), "male": (4, 1, 0.375)}
    assert rates(document, "selection_suggested", "race_ethnicity") == {"white": (4, 3, 1.0), "asian": (3, 0, 0.0)}
    assert {r["unknown"] for r in document["summary"]} == {2}  # C8 without an answer, C9 declined
    # Median overall of the nine is C9's (quality 0.4); above it: C1, C2, C4 and C8 (unknown).
    assert rates(document, "scoring", "sex") == {"female": (3, 2, 1.0), "male": (4, 1, 0.375)}
    assert {(f["rate"], f["axis"], f["category"]) for f in document["flags"]} >= {
        ("selection_suggested", "sex", "male"),
        ("selection_suggested", "race_ethnicity", "asian"),
    }
    assert all(f["small_sample"] for f in document["flags"])
    eye = [m for m in document["measures"] if m["measure"] == "eye_contact_ratio" and m["axis"] == "race_ethnicity"]
    assert len(eye) == 1 and {s["category"] for s in eye[0]["categories"]} == {"white", "asian"}
    page = tmp_path / "audit.html"
    html_run = audit_cli(settings, "--format", "html", "--out", str(page))
    assert html_run.returncode == 0 and "No review decisions recorded" in page.read_text(encoding="utf-8")

    decisions = decision_events()
    await publish_events(settings, decisions)
    expected["review_decisions"] = len(decisions)
    await run_sink_until(settings, "g-audit", lambda: all_stored(settings, expected))
    after = json.loads(audit_cli(settings, "--format", "json").stdout)
    assert after["human_decisions_recorded"] is True and after["reviewed"] == 3
    # The current decisions: C1 recommend, C3 reject (changed), C5 recommend (overridden): female 1/2, male 1/1.
    assert rates(after, "selection_human", "sex") == {"female": (2, 1, 0.5), "male": (1, 1, 1.0)}
    csv_run = audit_cli(settings, "--format", "csv")
    assert csv_run.returncode == 0 and csv_run.stdout.startswith("distribution_date,data_from,data_to,applicants,")
