"""Row mapping of the sink: events from the contract examples become the rows an analyst queries."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.common.contracts import (
    BodySample,
    CandidateDemographics,
    CandidateOutcome,
    ContractError,
    DeadLetter,
    EventBase,
    MediaIngested,
    ProfileReady,
    ReviewDecision,
    SpeechResults,
    StageStatus,
    VisionFeatures,
    dead_letter_for,
)
from services.dlq import letters_from_table
from services.sink.rows import COLUMNS, Row, RowError, dead_letter_rows, rows_for

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples" / "v1"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return data


def by_table(rows: list[Row], table: str) -> list[dict[str, Any]]:
    return [r.values for r in rows if r.table == table]


def test_media_ingested_becomes_one_interview_row() -> None:
    event = MediaIngested.model_validate(load("media-ingested"))
    (row,) = rows_for(event)
    v = row.values
    assert row.table == "interviews"
    assert (v["tenant_id"], v["interview_id"], v["job_id"]) == ("acme-eu", "INT-2025-004211", "REQ-1187")
    assert v["duration_s"] == 413.28 and v["has_video"] and v["has_audio"]
    assert v["media_flags"] == ["variable_frame_rate"] and v["media_kinds"] == ["video_with_audio"]
    assert v["question_count"] == 3 and v["pressure_question_count"] == 1
    assert json.loads(v["event_json"])["event_id"] == str(event.event_id)


def test_speech_results_become_an_answer_with_its_question_and_scores() -> None:
    event = SpeechResults.model_validate(load("speech-results"))
    (v,) = by_table(rows_for(event), "answers")
    assert v["question_id"] == "q2" and v["question_text"].startswith("Describe a time")
    assert v["pressure"] is False and v["language"] == "en" and v["transcribed"] is True
    assert v["wpm"] == 138.6 and v["pause_count"] == 9 and v["word_count"] == len(event.words)
    assert v["competency.id"] == ["problem-solving", "ownership"]
    assert v["competency.score"] == [78.0, 84.5]
    evidence = json.loads(v["competency.evidence_json"][0])
    assert evidence[0]["start_s"] == 104.58 and "Airflow" in evidence[0]["quote"]
    assert v["model_versions"]["asr_engine"] == "faster-whisper-1.2.1"


def test_an_answer_to_a_pressure_question_is_marked() -> None:
    data = load("speech-results")
    data.update(question_id="q3", segment_index=2, start_s=231.0, end_s=285.0)
    (v,) = by_table(rows_for(SpeechResults.model_validate(data)), "answers")
    assert v["pressure"] is True and v["question_text"].startswith("You have thirty seconds")


def test_vision_features_become_a_chunk_row_and_one_row_per_second() -> None:
    event = VisionFeatures.model_validate(load("vision-features"))
    rows = rows_for(event)
    (chunk,) = by_table(rows, "vision_chunks")
    assert chunk["look_away_s"] == pytest.approx(1.7 + 1.6) and chunk["look_away_episodes"] == 2
    assert chunk["face_absent_s"] == pytest.approx(0.8) and chunk["second_face_s"] == 0
    assert chunk["head_yaw_deg"] == -4.2 and chunk["emotion_inference_reason"] == "jurisdiction_prohibits"
    assert chunk["expression_distribution"] == {} and chunk["emotion_inference_performed"] is False
    assert chunk["nod_times_s"] == event.summary.nod_times_s and chunk["look_away_count"] == 2
    quality = event.summary.image_quality
    assert quality is not None and chunk["sharpness_mean"] == quality.sharpness_mean
    assert chunk["timeline_uri"] == f"s3://{event.timeline.bucket}/{event.timeline.key}"
    seconds = by_table(rows, "behaviour_timeline")
    assert [s["second"] for s in seconds] == [s.second for s in event.seconds]
    first = event.seconds[0]
    assert seconds[0]["eye_contact_ratio"] == first.eye_contact_ratio
    assert seconds[0]["head_yaw_deg"] == (first.head_pose.yaw_deg if first.head_pose else None)
    assert all(s["chunk_index"] == 3 for s in seconds)


def test_a_chunk_row_carries_the_mesh_and_body_measures_and_null_where_not_measured() -> None:
    event = VisionFeatures.model_validate(load("vision-features"))
    marks = event.summary.face_landmarks
    assert marks is not None and marks.supported
    samples = [
        BodySample(t_s=90.5, hands=1, hand_face_touch=True, body=True, shoulder_tilt_deg=2.0, head_height=0.5),
        BodySample(t_s=91.5, hands=0, body=True, shoulder_tilt_deg=4.0, head_height=0.7),
        BodySample(t_s=92.5, hands=0, body=False),
    ]
    (chunk,) = by_table(rows_for(event.model_copy(update={"body": samples})), "vision_chunks")
    assert chunk["landmarks_supported"] is True and chunk["landmark_frames_measured"] == marks.frames_measured
    assert chunk["blink_count"] == marks.blink_count and chunk["eyes_closed_s"] == pytest.approx(0.2)
    assert chunk["mouth_opening_mean"] == marks.mouth_opening_mean
    assert chunk["brow_height_mean"] is None  # emotion inference was not performed in this chunk
    assert (chunk["body_samples"], chunk["hand_samples"], chunk["hand_face_touch_samples"]) == (3, 1, 1)
    assert chunk["upper_body_samples"] == 2 and chunk["shoulder_tilt_mean_deg"] == pytest.approx(3.0)
    assert chunk["head_height_mean"] == pytest.approx(0.6)
    # The face too small for the mesh: the measures were not taken, so they are NULL, not zero.
    small = marks.model_copy(update={"supported": False, "blink_count": 0, "eyes_closed": [], "frames_measured": 0})
    summary = event.summary.model_copy(update={"face_landmarks": small})
    (unsupported,) = by_table(rows_for(event.model_copy(update={"summary": summary})), "vision_chunks")
    assert unsupported["landmarks_supported"] is False
    assert unsupported["blink_count"] is None and unsupported["eyes_closed_s"] is None
    # No mesh at all (switched off, or no face analysis) and no body samples.
    bare = event.summary.model_copy(update={"face_landmarks": None})
    (none,) = by_table(rows_for(event.model_copy(update={"summary": bare})), "vision_chunks")
    assert none["landmarks_supported"] is None and none["blink_count"] is None and none["body_samples"] == 0
    assert none["shoulder_tilt_mean_deg"] is None


def test_profile_ready_becomes_a_profile_and_its_dimensions() -> None:
    event = ProfileReady.model_validate(load("profile-ready"))
    rows = rows_for(event)
    (profile,) = by_table(rows, "profiles")
    assert profile["overall"] == 76.2 and profile["label"] == "recommend" and profile["needs_human_review"]
    assert profile["data_quality"] == ["emotion_inference_not_permitted"]
    assert profile["report_uri"] == "s3://sightline-reports/acme-eu/INT-2025-004211/profile-v1.html"
    assert (profile["vision_chunks_received"], profile["speech_segments_expected"]) == (14, 3)
    dims = {d["dimension"]: d for d in by_table(rows, "profile_dimensions")}
    assert set(dims) == {
        "problem-solving", "ownership", "communication", "confidence", "emotional_stability", "logic_structure"
    }  # fmt: skip
    stability = dims["emotional_stability"]
    assert stability["kind"] == "behaviour" and stability["evidence_count"] == 2
    assert json.loads(stability["evidence_json"])[1]["kind"] == "key_frame"


def test_a_failed_status_keeps_its_reason() -> None:
    (v,) = by_table(rows_for(StageStatus.model_validate(load("stage-status.failed"))), "stage_status")
    assert (v["stage"], v["state"], v["reason_code"]) == ("ingest", "failed", "unreachable_source")
    assert json.loads(v["detail_json"]) == {"http_status": 403, "source_index": 0}


def test_a_review_decision_becomes_one_row_with_the_label_the_reviewer_settled_on() -> None:
    override = ReviewDecision.model_validate(load("review-decision"))
    (row,) = rows_for(override)
    v = row.values
    assert row.table == "review_decisions" and row.key.startswith("acme-eu/INT-2025-004211/decision/rd-000917@")
    assert (v["action"], v["suggested_label"], v["final_label"]) == ("override", "pending", "recommend")
    assert v["reason_codes"] == ["missing_context"] and v["profile_version"] == 1
    assert (v["reviewer_id"], v["reviewer_role"]) == ("rev-0042", "recruiter")
    data = load("review-decision")
    data.update(action="confirm", override_label=None, reason_codes=None, note=None)
    (confirm,) = by_table(rows_for(ReviewDecision.model_validate(data)), "review_decisions")
    assert (confirm["final_label"], confirm["reason_codes"], confirm["note"]) == ("pending", [], "")


def test_an_outcome_becomes_one_row_with_its_ratings() -> None:
    (v,) = by_table(rows_for(CandidateOutcome.model_validate(load("candidate-outcome"))), "candidate_outcomes")
    assert (v["stage"], v["job_id"], v["tenure_days"]) == ("passed_probation", "REQ-1187", 182)
    assert (v["rating.measure"], v["rating.value"], v["rating.at_months"]) == (["performance"], [4.0], [6])
    assert (v["rating.scale_min"], v["rating.scale_max"]) == ([1.0], [5.0])


def test_keys_name_the_row_and_the_event_so_a_different_event_gets_a_different_token() -> None:
    data = load("vision-features")
    first = rows_for(VisionFeatures.model_validate(data))
    assert rows_for(VisionFeatures.model_validate(data)) == first
    data["event_id"] = str(uuid.uuid4())
    other = rows_for(VisionFeatures.model_validate(data))
    assert [r.key.split("@")[0] for r in other] == [r.key.split("@")[0] for r in first]
    assert not {r.key for r in other} & {r.key for r in first}
    assert len({r.key for r in first}) == len(first)


def test_every_row_has_exactly_its_tables_columns() -> None:
    events: list[EventBase] = [
        MediaIngested.model_validate(load("media-ingested")),
        SpeechResults.model_validate(load("speech-results.zh-CN")),
        VisionFeatures.model_validate(load("vision-features.zh-CN")),
        ProfileReady.model_validate(load("profile-ready")),
        StageStatus.model_validate(load("stage-status")),
        ReviewDecision.model_validate(load("review-decision")),
        CandidateOutcome.model_validate(load("candidate-outcome")),
    ]
    for event in events:
        for row in rows_for(event):
            assert list(row.values) == list(COLUMNS[row.table])


def test_a_value_too_large_for_its_column_is_a_row_error() -> None:
    data = load("vision-features")
    data["seconds"][0]["faces_max"] = 70_000
    with pytest.raises(RowError, match="faces_max=70000"):
        rows_for(VisionFeatures.model_validate(data))


def test_demographics_become_one_row_per_candidate_in_their_own_table() -> None:
    event = CandidateDemographics.model_validate(load("candidate-demographics"))
    (row,) = rows_for(event)
    assert row.table == "candidate_demographics"
    assert list(row.values) == list(COLUMNS["candidate_demographics"])
    v = row.values
    assert (v["tenant_id"], v["candidate_ref"], v["sex"], v["race_ethnicity"]) == (
        "acme-us",
        "cand_5d21b8e07a",
        "female",
        "hispanic_or_latino",
    )
    assert row.key == f"acme-us/cand_5d21b8e07a@{event.event_id}"
    assert rows_for(CandidateDemographics.model_validate(load("candidate-demographics"))) == [row]


def _letter(topic: str, value: bytes) -> DeadLetter:
    return dead_letter_for(
        stage="sink", topic=topic, partition=1, offset=9, value=value, key=b"acme-us/cand_1",
        headers=[("traceparent", b"00-ab"), ("x-bin", b"\x00\xff"), ("nothing", None)],
        error=ContractError("invalid event: sex: Input should be 'female'"), timestamp_ms=1_700_000_000_000,
    )  # fmt: skip


def test_a_dead_letter_row_keeps_what_a_replay_needs() -> None:
    letter = _letter("sightline.speech-results.v1", b'{"not": "valid"}')
    (row,) = dead_letter_rows(letter)
    v = row.values
    assert (v["stage"], v["source_topic"], v["source_partition"], v["source_offset"]) == (
        "sink", "sightline.speech-results.v1", 1, 9,
    )  # fmt: skip
    assert (v["error_type"], v["error_code"], v["retryable"], v["payload_withheld"]) == (
        "ContractError", "invalid_event", False, False,
    )  # fmt: skip
    assert base64.b64decode(v["payload_b64"]) == b'{"not": "valid"}'
    assert "payload_b64" not in json.loads(v["letter_json"])
    # Read back as `sightline dlq --from table` does: the same letter, headers and key included.
    (back,) = letters_from_table([[v["letter_json"], v["payload_b64"]]])
    assert back.letter == letter and back.offset is None and not back.payload_withheld


def test_a_demographics_dead_letter_is_stored_without_its_payload() -> None:
    letter = _letter("sightline.candidate-demographics.v1", b'{"sex": "wrote-something-private"}')
    (row,) = dead_letter_rows(letter)
    assert row.values["payload_b64"] == "" and row.values["payload_withheld"] is True
    assert "private" not in json.dumps(row.values, default=str)
    (back,) = letters_from_table([[row.values["letter_json"], row.values["payload_b64"]]])
    assert back.payload_withheld and back.letter.payload_b64 == ""


@pytest.mark.parametrize("year", [1, 1899, 1969, 2106, 2300, 9999])
def test_a_time_clickhouse_would_drop_unseen_is_refused_with_its_column(year: int) -> None:
    # Partitions and TTLs go through toDateTime: out of 1970-2105 a row was accepted and then silently gone.
    data = load("stage-status")
    data["occurred_at"] = f"{year:04d}-06-01T00:00:00Z"
    with pytest.raises(RowError, match=rf"occurred_at in year {year} is outside"):
        rows_for(StageStatus.model_validate(data))
    letter = _letter("sightline.speech-results.v1", b"{}").model_copy(
        update={"occurred_at": datetime(year, 6, 1, tzinfo=UTC)}
    )
    with pytest.raises(RowError, match="occurred_at"):
        dead_letter_rows(letter)


def test_times_at_the_edges_of_the_range_are_stored() -> None:
    data = load("stage-status")
    for moment in ("1970-01-02T00:00:00Z", "2105-12-30T23:59:59Z"):
        data["occurred_at"] = moment
        (row,) = rows_for(StageStatus.model_validate(data))
        assert row.values["occurred_at"].year in (1970, 2105)
