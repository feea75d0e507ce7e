"""Erasure without the stores: retention rules, which rows a table gives up, what a receipt keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.common.contracts import TOPICS, CandidateErasureRequested, decode_as, encode
from services.common.jurisdictions import DEFAULT_RULES
from services.common.sealing import SEALED_TOPICS
from services.erasure.erase import ErasureReceipt, _match, digest
from services.erasure.retention import _expired, interview_retention_days, jurisdiction_retention
from services.erasure.settings import RETENTION_CEILING_DAYS, RetentionSettings
from services.sink.erasure import RETENTION_EXPIRED, retention_requests

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("jurisdiction", "days", "deadline"),
    [
        ("DE", 180, 30),
        ("EU", 180, 30),
        ("FR-75", 180, 30),
        ("CN", 180, 15),  # PIPL: within 15 days of the request (services.common.jurisdictions)
        ("US-IL", 365, 30),  # Illinois AIVI: 30 days from the request
        ("US-NY", 365, 30),
        ("US", 365, 30),
        ("BR", 365, 30),
    ],
)
def test_retention_by_jurisdiction_defaults(jurisdiction: str, days: int, deadline: int) -> None:
    rule = jurisdiction_retention(jurisdiction, RetentionSettings())
    assert rule.retention_days == days
    assert rule.request_deadline_days == deadline


def test_a_tenant_may_shorten_retention_never_lengthen_it() -> None:
    settings = RetentionSettings(tenant_days={"acme": 90, "globex": 300})
    assert interview_retention_days("acme", "US-IL", settings) == 90
    assert interview_retention_days("globex", "DE", settings) == 180
    assert interview_retention_days("other", "DE", settings) == 180


def test_retention_beyond_the_ceiling_is_refused() -> None:
    with pytest.raises(ValidationError, match="1-365"):
        RetentionSettings(jurisdiction_days={"US": RETENTION_CEILING_DAYS + 1})


def test_only_interviews_past_their_own_retention_expire() -> None:
    rows = [
        ("acme", "de-old", "DE", NOW - timedelta(days=181)),
        ("acme", "de-young", "DE", NOW - timedelta(days=179)),
        ("acme", "il-mid", "US-IL", NOW - timedelta(days=200)),
        ("acme", "il-old", "US-IL", NOW - timedelta(days=366)),
    ]
    expired = _expired(rows, RetentionSettings(), NOW)
    assert [e.interview_id for e in expired] == ["de-old", "il-old"]


def test_retention_requests_group_by_tenant_with_stable_ids() -> None:
    pairs = [("acme", "b"), ("globex", "x"), ("acme", "a")]
    first, again = retention_requests(pairs, NOW), retention_requests(list(reversed(pairs)), NOW)
    assert [(r.tenant_id, r.interview_ids) for r in first] == [("acme", ["a", "b"]), ("globex", ["x"])]
    assert [r.event_id for r in first] == [r.event_id for r in again]
    assert all(r.reason == RETENTION_EXPIRED and r.scope == "interviews" for r in first)
    for request in first:  # what the sink would read back from the topic
        assert decode_as(CandidateErasureRequested, encode(request)) == request


def test_a_candidate_request_needs_a_candidate_and_interviews_scope_needs_interviews() -> None:
    base = {
        "event_id": "3c9e7a51-2f4b-4d8e-b6a0-9e1d5c7f2a84",
        "occurred_at": NOW,
        "tenant_id": "acme",
        "reason": "candidate_request",
        "requested_by": "cli",
        "requested_at": NOW,
    }
    with pytest.raises(ValidationError, match="candidate_ref is required"):
        CandidateErasureRequested(**base, scope="candidate")
    with pytest.raises(ValidationError, match="interview_ids is required"):
        CandidateErasureRequested(**base, scope="interviews")


def test_rows_of_the_tenant_interviews_and_candidate_are_selected() -> None:
    where = _match(frozenset({"tenant_id", "interview_id", "candidate_ref"}), "acme", ["iv-1"], "cand_1a")
    assert where is not None
    assert "tenant_id = 'acme' AND has(['iv-1'], interview_id)" in where
    assert "candidate_ref = 'cand_1a'" in where


def test_ids_are_quoted_in_the_statement() -> None:
    where = _match(frozenset({"tenant_id", "interview_id"}), "acme", ["it's"], None)
    assert where is not None and "'it\\'s'" in where


def test_dead_letters_are_matched_by_their_payload_too() -> None:
    where = _match(frozenset({"tenant_id", "interview_id", "payload_b64"}), "acme", ["iv-1"], None)
    assert where is not None and "tryBase64Decode(payload_b64)" in where and "'\"iv-1\"'" in where
    assert "interview_id = ''" in where  # only letters that did not name their interview are searched


def test_tables_that_cannot_hold_the_candidate_are_left_alone() -> None:
    assert _match(frozenset({"version", "checksum"}), "acme", ["iv-1"], "cand_1a") is None


def test_a_receipt_keeps_digests_not_identifiers() -> None:
    receipt = ErasureReceipt(
        erasure_id="e1",
        tenant_id="acme",
        reason="candidate_request",
        scope="candidate",
        subject_digest=digest("acme", "cand_1a"),
        interview_digests=[digest("acme", "iv-1")],
        requested_by="cli",
        requested_at=NOW,
        completed_at=NOW,
        objects_deleted={"raw": 3},
        keys_destroyed=1,
        rows_deleted={"interviews": 1},
    )
    row = receipt.row()
    assert len(row) == len(ErasureReceipt.COLUMNS)
    assert "cand_1a" not in repr(row) and "iv-1" not in repr(row)
    assert digest("acme", "cand_1a") != digest("globex", "cand_1a")  # the tenant is part of the digest


def test_start_times_read_as_text_through_the_chdb_owner_count_too() -> None:
    rows = [("acme", "de-old", "DE", "2025-11-01 09:00:00.000")]
    [expired] = _expired(rows, RetentionSettings(), NOW)
    assert expired.started_at == datetime(2025, 11, 1, 9, tzinfo=UTC)


def test_plain_topics_drop_a_candidates_records_within_the_shortest_erasure_deadline() -> None:
    """Records on topics that are not sealed cannot be made unreadable: their retention is the erasure."""
    shortest = min(rules.deletion_deadline_days for rules in DEFAULT_RULES.values())
    plain = {name: spec for name, spec in TOPICS.items() if name not in SEALED_TOPICS}
    assert "sightline.interview-completed.v1" in plain and "sightline.dead-letter.ingest.v1" in plain
    too_long = {name: spec.retention for name, spec in plain.items() if spec.retention_ms > shortest * 86_400_000}
    assert not too_long, f"kept past the {shortest}-day erasure deadline: {too_long}"
