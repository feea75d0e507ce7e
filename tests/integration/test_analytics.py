"""Every query in docs/analytics.md, run against rows the real sink wrote from realistic events.

The data: one tenant, two jobs, candidates of known quality (strong to weak), one candidate who
interviewed twice, one profile re-analysed (version 2), one interview still being analysed, one whose
frame extraction failed, and one event the sink must set aside. Each documented query has a check
against what those events say; a query added to the page without a check fails the test.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from statistics import mean
from typing import Any

import pytest

from services.common.contracts import MediaIngested, SpeechResults, VisionFeatures, topic_for
from services.common.settings import Settings
from services.erasure.cli import candidate_request
from tests.integration.kafka_helpers import publish
from tests.integration.test_sink import (
    CHUNKS,
    Candidate,
    Review,
    all_stored,
    blink_count,
    decision_event,
    expected_counts,
    eye_contact,
    hand_touches,
    interview_events,
    profile_event,
    publish_events,
    query,
    run_sink_until,
    sink_settings,
    speech_event,
    vision_event,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "analytics.md"
DA = "Data Analyst"

# Reviews: IV-A0 confirmed; IV-A1 confirmed, then overridden to pending by a second reviewer (the history
# stays, the override is current); IV-A2 never reviewed; IV-A3 confirmed on version 1, then re-scored
# (version 2), so it waits again; IV-B1 overridden. Outcomes for IV-A0, IV-A1, IV-A3 and IV-B1.
A0 = Candidate(
    "IV-A0", "cand_alpha001", 0.5, label="pending", days_ago=20, reviews=(Review(1, "pending", 5),),
    outcome=("rejected", None),
)  # fmt: skip
A1 = Candidate(
    "IV-A1", "cand_alpha001", 0.9, label="recommend", outcome=("hired", 4.5),
    reviews=(
        Review(1, "recommend", 1),
        Review(1, "pending", 20, ("evidence_misread", "poor_recording_quality"), reviewer="rev-0077"),
    ),
)  # fmt: skip
A2 = Candidate("IV-A2", "cand_bravo002", 0.55, label="pending", data_quality=("no_face_detected",))
A3 = Candidate(
    "IV-A3", "cand_charl003", 0.2, label="reject", profile_versions=2, data_quality=("missing_speech_segments",),
    reviews=(Review(1, "reject", 4),), outcome=("rejected", None),
)  # fmt: skip
A4 = Candidate("IV-A4", "cand_delta004", 0.6)
A5 = Candidate("IV-A5", "cand_echo0005", 0.4, failed_stage="frames")
B1 = Candidate(
    "IV-B1", "cand_foxtr006", 0.7, label="recommend", job_id="REQ-2040", job_title=DA,
    data_quality=("missing_speech_segments",), outcome=("hired", 2.0),
    reviews=(Review(1, "pending", 30, ("poor_recording_quality", "language_or_accent")),),
)  # fmt: skip
CANDIDATES = (A0, A1, A2, A3, A4, A5, B1)
JOB = [c for c in CANDIDATES if c.job_id == "REQ-1187"]


def documented_queries() -> dict[str, str]:
    """Title of each `###` section of the page → its SQL block."""
    sections = re.split(r"^### ", DOC.read_text(encoding="utf-8"), flags=re.M)[1:]
    queries = {}
    for section in sections:
        title = section.splitlines()[0].strip()
        block = re.search(r"```sql\n(.*?)```", section, flags=re.S)
        assert block, f"section {title!r} has no SQL block"
        queries[title] = block.group(1)
    return queries


def overall(c: Candidate, version: int | None = None) -> float:
    score = profile_event(c, version or c.profile_versions).overall
    assert score is not None
    return score


def profiled(cs: tuple[Candidate, ...] | list[Candidate]) -> list[Candidate]:
    return [c for c in cs if c.label is not None and c.failed_stage is None]


# ---- one check per documented query ------------------------------------------------------------------------


def interviews_with_status(rows: list[list[Any]]) -> None:
    status = {"IV-A4": "analysing", "IV-A5": "failed"}
    assert [[r[0], r[1], r[4]] for r in rows] == [
        [c.interview_id, c.candidate_ref, status.get(c.interview_id, "profiled")] for c in JOB
    ]  # IV-A0 first: it is the oldest
    media = interview_events(A1)[0]
    assert isinstance(media, MediaIngested)
    assert {(r[2], r[3]) for r in rows} == {(media.context.locale, max(m.probe.duration_s for m in media.media))}


def latest_per_candidate(rows: list[list[Any]]) -> None:
    assert [[*r[:3], r[4]] for r in rows] == [
        ["cand_alpha001", "IV-A1", 1, "recommend"],  # the second interview, not IV-A0
        ["cand_bravo002", "IV-A2", 1, "pending"],
        ["cand_charl003", "IV-A3", 2, "reject"],
    ]
    assert [r[3] for r in rows] == [overall(A1), overall(A2), overall(A3)]


def awaiting_review(rows: list[list[Any]]) -> None:
    # Reviewed profiles (IV-A0, IV-A1, IV-B1) left the queue; IV-A3 came back when version 2 replaced the
    # version its reviewer confirmed.
    assert [r[:2] + r[3:] for r in rows] == [
        ["pending", 1, ["IV-A2"], ["not reviewed yet"]],
        ["reject", 1, ["IV-A3"], ["re-scored after review: version 2 replaces reviewed version 1 (confirm as reject)"]],
    ]


def review_queue(rows: list[list[Any]]) -> None:
    # One row per waiting profile: IV-A2 never reviewed, IV-A3 re-scored after its review (same age: by id).
    assert [r[:5] + r[7:] for r in rows] == [
        ["REQ-1187", "IV-A2", "cand_bravo002", 1, "pending", "awaiting_review", "not reviewed yet"],
        ["REQ-1187", "IV-A3", "cand_charl003", 2, "reject", "rescored_after_review",
         "re-scored after review: version 2 replaces reviewed version 1 (confirm as reject)"],
    ]  # fmt: skip
    assert [r[5] for r in rows] == [overall(A2), overall(A3)]


def funnel(rows: list[list[Any]]) -> None:
    assert rows == [
        ["REQ-1187", "Senior Data Engineer", 6, 5, 4, 1, 2, 1],
        ["REQ-2040", DA, 1, 1, 1, 1, 0, 0],
    ]


def score_distribution(rows: list[list[Any]]) -> None:
    profiles = [profile_event(c, c.profile_versions) for c in profiled(JOB)]
    kinds = {d.dimension: d.kind.value for p in profiles for d in p.dimensions}
    for dimension, kind, n, avg, _, quantiles in rows:
        scores = [d.score for p in profiles for d in p.dimensions if d.dimension == dimension]
        assert n == len(scores) == 4
        assert avg == pytest.approx(mean(scores), abs=0.01)
        assert quantiles == sorted(quantiles) and min(scores) <= quantiles[2] <= max(scores)
        assert kind == kinds[dimension]
    # What fusion emits: the job's competencies, then behaviour dimensions (the example profile's).
    assert [r[0] for r in rows] == [
        "communication", "confidence", "emotional_stability", "logic_structure", "ownership", "problem-solving"
    ]  # fmt: skip
    assert {kinds["ownership"], kinds["communication"]} == {"competency", "behaviour"}


def overall_by_label(rows: list[list[Any]]) -> None:
    assert [(r[0], r[1]) for r in rows] == [("recommend", 1), ("pending", 2), ("reject", 1)]
    assert rows[1][2] == pytest.approx(mean([overall(A0), overall(A2)]), abs=0.051)  # rounded to 0.1


def eye_contact_over_time(rows: list[list[Any]]) -> None:
    expected = []
    for question, start in CHUNKS:
        for window in (start, start + 5):
            values = [eye_contact(A3, question, s - start) for s in range(window, window + 5)]
            expected.append([window, pytest.approx(mean(values), abs=1e-3)])
    assert rows == expected


def look_away_time(rows: list[list[Any]]) -> None:
    analysed = sorted((c for c in JOB if c.failed_stage is None), key=lambda c: c.quality)
    assert [r[0] for r in rows] == [c.interview_id for c in analysed]  # the weakest looks away longest
    for row, c in zip(rows, analysed, strict=True):
        chunks = [vision_event(c, i).summary for i in range(len(CHUNKS))]
        assert row[1] == pytest.approx(sum(sum(e.duration_s for e in s.episodes.look_away) for s in chunks))
        assert row[2] == len(CHUNKS)
        assert row[3] == pytest.approx(mean(s.image_quality.dark_ratio for s in chunks if s.image_quality))


def mesh_and_hands(rows: list[list[Any]]) -> None:
    analysed = [c for c in JOB if c.failed_stage is None]
    assert {r[0] for r in rows} == {c.interview_id for c in analysed}
    assert [r[1] for r in rows] == sorted((r[1] for r in rows), reverse=True)
    by_id = {c.interview_id: c for c in analysed}
    for interview_id, blinks_per_minute, mouth, on_face, samples, tilt in rows:
        c = by_id[interview_id]
        assert blinks_per_minute == pytest.approx(round(blink_count(c) * 60 / 10, 1))  # 10 measured s a chunk
        assert mouth == pytest.approx(0.06)  # the example chunk's mean
        assert on_face == hand_touches(c) * len(CHUNKS) and samples == 10 * len(CHUNKS) and tilt == 2.0


def speaking_rate_by_label(rows: list[list[Any]]) -> None:
    assert [r[0] for r in rows] == ["recommend", "pending", "reject"]
    by_label: dict[str, list[float]] = {}
    for c in profiled(CANDIDATES):
        assert c.label is not None
        by_label.setdefault(c.label, []).extend(speech_event(c, i).metrics.wpm for i in range(len(CHUNKS)))
    assert {r[0]: r[1] for r in rows} == {k: pytest.approx(mean(v), abs=0.05) for k, v in by_label.items()}
    assert rows[0][2] < rows[-1][2]  # stronger candidates use fewer fillers


def pressure_stability(rows: list[list[Any]]) -> None:
    analysed = sorted((c for c in CANDIDATES if c.failed_stage is None), key=lambda c: c.quality)
    assert [r[0] for r in rows] == [c.interview_id for c in analysed]  # weakest drops most
    for row, c in zip(rows, analysed, strict=True):
        assert row[3] == pytest.approx(0.3 * (1 - c.quality), abs=2e-3)


def competency_per_question(rows: list[list[Any]]) -> None:
    analysed = [c for c in JOB if c.failed_stage is None]
    expected = []
    for index, (question, _) in enumerate(CHUNKS):
        scores: dict[str, list[float]] = {}
        for c in analysed:
            for s in speech_event(c, index).competency_scores:
                scores.setdefault(s.competency_id, []).append(s.score)
        for competency in sorted(scores):
            expected.append([question, competency, len(analysed), pytest.approx(mean(scores[competency]), abs=0.05)])
    assert rows == expected


def failures(rows: list[list[Any]]) -> None:
    assert [r[:4] for r in rows] == [["frames", "unreachable_source", 1, 1], ["sink", "invalid_row", 1, 1]]
    assert "faces_max" in rows[1][4]


def not_profiled(rows: list[list[Any]]) -> None:
    assert [[r[0], r[1], list(r[4])] for r in rows] == [["IV-A4", "analysing", []], ["IV-A5", "failed", ["frames"]]]
    assert rows[1][2:4] == ["frames", "failed"]


def data_quality(rows: list[list[Any]]) -> None:
    assert [[r[0], r[1], sorted(r[2])] for r in rows] == [
        ["missing_speech_segments", 2, ["IV-A3", "IV-B1"]],
        ["no_face_detected", 1, ["IV-A2"]],
    ]


def evidence(rows: list[list[Any]]) -> None:
    profile = profile_event(A1, 1)
    moments = [(d.dimension, e.start_s, e.kind.value) for d in profile.dimensions for e in d.evidence]
    expected = [(dimension, kind, start) for dimension, start, kind in sorted(moments)]
    assert [(r[0], r[2], r[3]) for r in rows] == expected
    assert {r[0]: r[1] for r in rows} == {d.dimension: d.score for d in profile.dimensions if d.evidence}
    assert any("Airflow" in r[4] for r in rows if r[0] == "problem-solving")


def rejected(rows: list[list[Any]]) -> None:
    assert [r[:2] for r in rows] == [["vision-features", 1]]
    assert "faces_max=70000" in rows[0][2]


def dead_letters(rows: list[list[Any]]) -> None:
    assert [r[:5] for r in rows] == [["sink", topic_for(SpeechResults), "invalid_event", False, 1]]
    assert rows[0][5].startswith("payload is not valid JSON")


def decision_history(rows: list[list[Any]]) -> None:
    first, second = decision_event(A1, 0), decision_event(A1, 1)
    assert [r[1:] for r in rows] == [
        ["rd-IV-A1-0", 1, "rev-0042", "recruiter", "confirm", "recommend", "recommend", [], "", 0],
        [
            "rd-IV-A1-1", 1, "rev-0077", "recruiter", "override", "recommend", "pending",
            ["evidence_misread", "poor_recording_quality"], "reviewed version 1", 1,
        ],
    ]  # fmt: skip
    assert [r[0] for r in rows] == [d.decided_at.replace(tzinfo=None) for d in (first, second)]  # UTC, naive


def review_state_per_profile(rows: list[list[Any]]) -> None:
    assert rows == [
        ["IV-A0", 1, "pending", "reviewed", 1, "pending", "rev-0042"],
        ["IV-A1", 1, "recommend", "reviewed", 1, "pending", "rev-0077"],
        ["IV-A2", 1, "pending", "awaiting_review", 0, "", ""],
        ["IV-A3", 2, "reject", "rescored_after_review", 1, "reject", "rev-0042"],
    ]


# Hand-computed agreement. REQ-1187, current decisions (suggested -> final): A0 pending -> pending,
# A1 recommend -> pending, A3 reject -> reject. p_o = 2/3. Suggested: 1 recommend, 1 pending, 1 reject;
# final: 2 pending, 1 reject. p_e = (1*0 + 1*2 + 1*1) / 9 = 1/3. kappa = (2/3 - 1/3) / (1 - 1/3) = 0.5.
# REQ-2040: B1 recommend -> pending: p_o = 0, p_e = 1*0 / 1 = 0, kappa = 0.
# All four (one model version): p_o = 2/4; suggested 2 recommend, 1 pending, 1 reject; final 3 pending,
# 1 reject; p_e = (2*0 + 1*3 + 1*1) / 16 = 1/4; kappa = (1/2 - 1/4) / (3/4) = 1/3.
def agreement_per_job(rows: list[list[Any]]) -> None:
    assert rows == [["REQ-1187", 3, 0.667, 0.5], ["REQ-2040", 1, 0.0, 0.0]]


def agreement_per_model_version(rows: list[list[Any]]) -> None:
    profile = profile_event(A1, 1)
    model = profile.context.job.competency_model.version
    assert rows == [[profile.scoring_model_version, model, 4, 0.5, 0.333]]


def override_reasons(rows: list[list[Any]]) -> None:
    assert rows == [
        ["poor_recording_quality", 2, ["recommend", "recommend"], ["pending", "pending"], ["IV-A1", "IV-B1"]],
        ["evidence_misread", 1, ["recommend"], ["pending"], ["IV-A1"]],
        ["language_or_accent", 1, ["recommend"], ["pending"], ["IV-B1"]],
    ]


def time_to_review(rows: list[list[Any]]) -> None:
    # First decision per profile version: A0 5 h, A1 1 h (its later override does not count), A3 4 h; B1 30 h.
    assert rows == [["REQ-1187", 3, 4.0, 5.0], ["REQ-2040", 1, 30.0, 30.0]]


def candidate_erased(rows: list[list[Any]]) -> None:
    # The request published below, for a candidate of no stored interview: one receipt, nothing removed.
    [[erasure_id, reason, requested_at, completed_at, interviews, keys, rows_deleted]] = rows
    assert erasure_id and reason == "candidate_request" and completed_at >= requested_at
    assert interviews == 0 and keys == 0 and not any(rows_deleted.values())


def outcomes_with_profile(rows: list[list[Any]]) -> None:
    v1 = {c.interview_id: overall(c, 1) for c in (A0, A1, A3)}
    assert overall(A3, 2) != v1["IV-A3"]  # the re-score after the decision is not what was decided on
    assert rows == [
        ["IV-A0", "rejected", 1, v1["IV-A0"], "pending", "pending", [], []],
        ["IV-A1", "hired", 1, v1["IV-A1"], "recommend", "pending", ["performance"], [4.5]],
        ["IV-A3", "rejected", 1, v1["IV-A3"], "reject", "reject", [], []],
    ]


CHECKS: dict[str, Callable[[list[list[Any]]], None]] = {
    "Interviews of a job with their status": interviews_with_status,
    "Latest profile of each candidate for a job": latest_per_candidate,
    "Profiles awaiting human review": awaiting_review,
    "Review queue per job": review_queue,
    "Funnel per job": funnel,
    "Score distribution per dimension for a job": score_distribution,
    "Overall score by label": overall_by_label,
    "Eye contact over time in one interview": eye_contact_over_time,
    "Look-away time per interview for a job": look_away_time,
    "Blinks, mouth and hands per interview": mesh_and_hands,
    "Speaking rate and fillers by label": speaking_rate_by_label,
    "Stability under pressure": pressure_stability,
    "Competency scores per question for a job": competency_per_question,
    "Failures by stage and reason": failures,
    "Interviews not profiled yet": not_profiled,
    "Data-quality flags on current profiles": data_quality,
    "Evidence behind a profile's scores": evidence,
    "Rows the sink set aside": rejected,
    "Dead letters by stage and reason": dead_letters,
    "Decisions on one interview, with their history": decision_history,
    "Current review state per profile for a job": review_state_per_profile,
    "AI-human agreement per job": agreement_per_job,
    "AI-human agreement per model version": agreement_per_model_version,
    "Override reasons": override_reasons,
    "Time to review per job": time_to_review,
    "Outcomes with the profile current at decision time": outcomes_with_profile,
    "Was this candidate erased?": candidate_erased,
}


def test_every_documented_query_has_a_check() -> None:
    assert set(documented_queries()) == set(CHECKS)
    assert len(CHECKS) >= 12


def bad_event() -> VisionFeatures:
    data = vision_event(A4, 0).model_dump(mode="json")
    data.update(event_id="6f1d7d3e-8c59-4f55-9a55-3b8f2b1a7c01", chunk_index=7, total_chunks=8)
    data["seconds"][0]["faces_max"] = 70_000
    return VisionFeatures.model_validate(data)


#: A message that is not JSON: the sink dead-letters it, naming no interview (so no failed status).
POISON = b'{"event_type": "speech-results", "tenant_id": '


async def test_documented_queries_answer_from_the_sinks_rows(stack_settings: Settings) -> None:
    settings = await sink_settings(stack_settings)
    erasure = candidate_request("acme", "cand_5d21b8e07a", (), "analytics-test")
    await publish_events(settings, [*(e for c in CANDIDATES for e in interview_events(c)), bad_event(), erasure])
    await publish(settings.kafka, topic_for(SpeechResults), [(None, POISON)])  # dead-lettered by the sink
    expected = expected_counts(CANDIDATES)

    async def loaded() -> bool:
        failed = await query(settings, "SELECT count() FROM sightline.stage_status FINAL WHERE state = 'failed'")
        letters = await query(settings, "SELECT count() FROM sightline.dead_letters FINAL")
        receipts = await query(settings, "SELECT count() FROM sightline.erasure_receipts FINAL")
        return failed == [[2]] and letters == [[1]] and receipts == [[1]] and await all_stored(settings, expected)

    await run_sink_until(settings, "g-analytics", lambda: _safely(loaded))
    problems = []
    for title, sql in documented_queries().items():
        rows: list[list[Any]] = []
        try:
            rows = await query(settings, sql)
            CHECKS[title](rows)
        except Exception as exc:
            problems.append(f"{title}: {exc}\nrows: {rows}")
    assert not problems, "\n\n".join(problems)


async def _safely(check: Callable[[], Any]) -> bool:
    try:
        return bool(await check())
    except Exception:  # the tables are being created
        return False
