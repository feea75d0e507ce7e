# ruff: noqa: RUF001  (Chinese text uses full-width punctuation)
"""Report inputs built from the schema examples with realistic variations (several chunks and answers,
a pressure question, face-absent and second-face episodes, English under EU rules and Chinese with
expressions inferred), shared by the report tests; and tests that these inputs survive a JSON file."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Sequence
from functools import cache
from typing import Any

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from services.common.contracts.paths import EXAMPLES_SUBDIR, SCHEMAS_DIR
from services.report import KeyFrame, ReportInput

CHUNK_S = 30


@cache
def _example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCHEMAS_DIR / EXAMPLES_SUBDIR / name).read_text(encoding="utf-8"))
    return data


def example(name: str) -> dict[str, Any]:
    return copy.deepcopy(_example(name))


def jpeg(colour: tuple[int, int, int], width: int = 160, height: int = 120) -> bytes:
    """A small JPEG: a face-coloured disc on a plain background."""
    image = np.full((height, width, 3), colour, np.uint8)
    cv2.circle(image, (width // 2, height // 2), height // 3, (150, 180, 220), -1)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return bytes(data)


def _second(
    second: int, *, eye: float | None, smile: float | None, expression: str | None, faces: int = 1
) -> dict[str, Any]:
    present = eye is not None
    return {
        "second": second,
        "frames": 10,
        "face_present_ratio": 1.0 if present else 0.0,
        "faces_max": faces if present else 0,
        "head_pose": {"yaw_deg": 2.0, "pitch_deg": -3.0, "roll_deg": 0.5} if present else None,
        "eye_contact_ratio": eye,
        "smile_intensity": smile if present else None,
        "dominant_expression": expression if present else None,
        "motion_energy": 0.04,
    }


def _clip(ranges: Sequence[tuple[float, float]], start: float, end: float) -> list[dict[str, float]]:
    return [{"start_s": max(a, start), "end_s": min(b, end)} for a, b in ranges if a < end and b > start]


def vision_events(
    base: dict[str, Any],
    duration_s: float,
    *,
    eye_contact: Any,
    expressions: Any | None,
    reason: str,
    face_absent: Sequence[tuple[float, float]] = (),
    second_face: Sequence[tuple[float, float]] = (),
) -> list[dict[str, Any]]:
    """One vision-features event per 30 s chunk. ``eye_contact(second)`` gives the curve;
    ``expressions(second)`` the dominant expression, or None when inference is not performed (the
    seconds still carry smile intensity, as a detector without expression inference reports it)."""
    total = math.ceil(duration_s / CHUNK_S)
    events = []
    for index in range(total):
        start, end = index * CHUNK_S, min((index + 1) * CHUNK_S, duration_s)
        event = copy.deepcopy(base)
        seconds = []
        for s in range(start, math.ceil(end)):
            absent = any(a <= s + 0.5 < b for a, b in face_absent)
            seconds.append(
                _second(
                    s,
                    eye=None if absent else eye_contact(s),
                    smile=round(0.35 + 0.3 * math.sin(s / 6), 3),
                    expression=expressions(s) if expressions else None,
                    faces=2 if any(a <= s + 0.5 < b for a, b in second_face) else 1,
                )
            )
        performed = expressions is not None
        distribution = None
        if performed:
            names = [row["dominant_expression"] for row in seconds if row["dominant_expression"]]
            distribution = {name: names.count(name) / len(names) for name in sorted(set(names))}
        event.update(
            event_id=f"00000000-0000-5000-8000-{index:012d}",
            chunk_index=index,
            total_chunks=total,
            start_s=float(start),
            end_s=float(end),
            seconds=seconds,
        )
        event["summary"].update(
            expression_distribution=distribution,
            emotion_inference={"performed": performed, "reason": "permitted" if performed else reason},
            episodes={
                "look_away": [],
                "smile": [],
                "face_absent": _clip(face_absent, start, end),
                "second_face": _clip(second_face, start, end),
            },
        )
        events.append(event)
    return events


def speech_event(
    base: dict[str, Any], index: int, total: int, question: dict[str, Any], metrics: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    event = copy.deepcopy(base)
    event["metrics"].update(metrics)
    event.update(
        event_id=f"00000000-0000-5000-9000-{index:012d}",
        segment_index=index,
        total_segments=total,
        question_id=question["question_id"],
        start_s=question["start_s"],
        end_s=question["end_s"],
    )
    event["metrics"]["duration_s"] = question["end_s"] - question["start_s"]
    event.update(fields)
    return event


def _competency(competency_id: str, score: float, quotes: list[tuple[float, float, str]]) -> dict[str, Any]:
    return {
        "competency_id": competency_id,
        "score": score,
        "keyword_coverage": 0.5,
        "semantic_similarity": 0.7,
        "structure": 0.72,
        "specificity": 0.64,
        "hedging": 0.1,
        "evidence": [{"start_s": a, "end_s": b, "quote": q} for a, b, q in quotes],
    }


# --- English, EU jurisdiction: no emotion inference -------------------------------------------------------------

EN_Q1_TRANSCRIPT = (
    "I built the clickstream pipeline at my last company: Kafka into Flink, then Iceberg tables on S3. "
    "Today I would add data contracts from day one <script>alert('x')</script> & test them in CI."
)
EN_Q1_QUOTE = "I would add data contracts from day one"
EN_Q3_TRANSCRIPT = "Um, first I would, uh, look at the biggest tables and, um, move cold partitions to cheaper storage."
EN_Q3_QUOTE = "move cold partitions to cheaper storage"
EN_FACE_ABSENT = (117.2, 121.0)
EN_SECOND_FACE = (200.0, 203.0)


def _en_eye_contact(second: int) -> float:
    """Steady in q1 and q2, clearly lower during the pressure question q3 (231-285 s)."""
    if second >= 231:
        return 0.35
    return 0.85 if second < 96 else 0.7


def english_input(**profile_changes: Any) -> ReportInput:
    profile = example("profile-ready.json")
    profile.update(profile_changes)
    questions = profile["context"]["questions"]
    duration = questions[-1]["end_s"]
    vision = vision_events(
        example("vision-features.json") | {"context": profile["context"]},
        duration,
        eye_contact=_en_eye_contact,
        expressions=None,
        reason="jurisdiction_prohibits",
        face_absent=[EN_FACE_ABSENT],
        second_face=[EN_SECOND_FACE],
    )
    base = example("speech-results.json")
    base["context"] = profile["context"]
    speech = [
        speech_event(
            base,
            0,
            3,
            questions[0],
            {"wpm": 131.0, "pause_ratio": 0.12, "pause_longest_s": 1.8},
            transcript=EN_Q1_TRANSCRIPT,
            words=[],
            competency_scores=[_competency("problem-solving", 71.0, [(40.2, 43.9, EN_Q1_QUOTE)])],
        ),
        speech_event(base, 1, 3, questions[1], {"wpm": 144.0, "pause_ratio": 0.14, "pause_longest_s": 2.3}),
        speech_event(
            base,
            2,
            3,
            questions[2],
            {"wpm": 92.0, "pause_ratio": 0.31, "pause_longest_s": 4.2, "filler_count": 3},
            transcript=EN_Q3_TRANSCRIPT,
            words=[],
            competency_scores=[_competency("problem-solving", 55.0, [(270.0, 273.5, EN_Q3_QUOTE)])],
        ),
    ]
    if "coverage" not in profile_changes:
        profile["coverage"] = {
            "vision_chunks": {"received": len(vision), "expected": len(vision)},
            "speech_segments": {"received": 3, "expected": 3},
        }
    frames = [
        KeyFrame(question_id=q["question_id"], position=p, image=jpeg((40, 40 + 60 * i, 90)))
        for i, q in enumerate(questions)
        for p in ("start", "middle", "end")
    ]
    stability = next(d for d in profile["dimensions"] if d["dimension"] == "emotional_stability")
    stability_frame = stability["evidence"][1]["object"]["key"]
    frames.append(KeyFrame(question_id="q3", position="middle", image=jpeg((200, 60, 60)), object_key=stability_frame))
    return ReportInput.model_validate({"profile": profile, "vision": vision, "speech": speech, "key_frames": frames})


# --- Chinese, CN jurisdiction: expressions inferred ---------------------------------------------------------------

ZH_Q2_TRANSCRIPT = (
    "我会先听取大家的意见，然后用数据说话。比如上次在定价方案上，我组织了一次小范围测试，最后大家都认可了结果。"
)
ZH_Q2_QUOTE = "我组织了一次小范围测试"
ZH_Q3_TRANSCRIPT = "嗯，我觉得我的经验和这个岗位很匹配，那个，我做过三年会员产品。"


def _zh_expression(second: int) -> str:
    """Mostly neutral, happier in the first answer, some surprise under the pressure question."""
    if 241 <= second < 305 and second % 7 == 0:
        return "surprise"
    return "happiness" if 10 <= second < 40 else "neutral"


def chinese_input() -> ReportInput:
    zh_vision = example("vision-features.zh-CN.json")
    context = zh_vision["context"]
    questions = context["questions"]
    profile = example("profile-ready.json")
    profile.update(
        tenant_id=zh_vision["tenant_id"],
        interview_id=zh_vision["interview_id"],
        context=context,
        data_quality=[],
        dimensions=[
            {"dimension": "stakeholder-management", "kind": "competency", "score": 72.0, "confidence": 0.7,
             "evidence": [{"kind": "quote", "start_s": 130.2, "end_s": 133.0, "text": ZH_Q2_QUOTE}]},
            {"dimension": "product-sense", "kind": "competency", "score": 66.0, "confidence": 0.6, "evidence": []},
            {"dimension": "composure", "kind": "behaviour", "score": 61.0, "confidence": 0.55, "evidence": []},
            {"dimension": "expression-positivity", "kind": "behaviour", "score": 70.0, "confidence": 0.6,
             "evidence": []},
        ],
        overall=67.5,
        label="pending",
    )  # fmt: skip
    vision = vision_events(
        zh_vision, questions[-1]["end_s"], eye_contact=lambda s: 0.8, expressions=_zh_expression, reason="permitted"
    )
    base = example("speech-results.zh-CN.json")
    speech = [
        speech_event(base, 0, 3, questions[0], {"cpm": 212.0}),
        speech_event(
            base,
            1,
            3,
            questions[1],
            {"cpm": 245.0},
            transcript=ZH_Q2_TRANSCRIPT,
            words=[],
            competency_scores=[_competency("stakeholder-management", 74.0, [(130.2, 133.0, ZH_Q2_QUOTE)])],
        ),
        speech_event(
            base, 2, 3, questions[2], {"cpm": 268.0}, transcript=ZH_Q3_TRANSCRIPT, words=[], competency_scores=[]
        ),
    ]
    profile["coverage"] = {
        "vision_chunks": {"received": len(vision), "expected": len(vision)},
        "speech_segments": {"received": 3, "expected": 3},
    }
    frames = [KeyFrame(question_id="Q02", position="middle", image=jpeg((60, 120, 60)))]
    return ReportInput.model_validate({"profile": profile, "vision": vision, "speech": speech, "key_frames": frames})


# --- tests ---------------------------------------------------------------------------------------------------


def test_report_input_survives_a_json_file_with_key_frames_as_base64() -> None:
    report = english_input()
    text = report.model_dump_json()
    first_frame = json.loads(text)["key_frames"][0]["image"]
    assert first_frame.startswith("/9j/")  # base64 of a JPEG's FF D8 FF
    again = ReportInput.model_validate_json(text)
    assert again == report
    assert again.key_frame("q2", "end") == report.key_frame("q2", "end")


def test_key_frame_is_named_by_the_frames_stage_key() -> None:
    frame = KeyFrame.from_object_key("acme-eu/INT-1/frames/0f1e/keyframes/q-10-middle.jpg", b"\xff\xd8")
    assert (frame.question_id, frame.position) == ("q-10", "middle")
    assert frame.object_key == "acme-eu/INT-1/frames/0f1e/keyframes/q-10-middle.jpg"


def test_key_frame_key_must_follow_the_convention() -> None:
    with pytest.raises(ValueError, match="not a key-frame key"):
        KeyFrame.from_object_key("acme-eu/INT-1/frames/0f1e/keyframes/240200.jpg", b"\xff\xd8")


def test_events_of_another_interview_are_refused() -> None:
    report = english_input()
    stranger = chinese_input().vision[0]
    with pytest.raises(ValidationError, match="events of other interviews"):
        ReportInput(profile=report.profile, vision=[*report.vision, stranger])
