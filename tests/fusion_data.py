"""Synthetic stage outputs for one interview, with the candidate's behaviour as the ground truth.

A `Candidate` says how someone behaves (eye contact, smiling, speaking rate, fillers, answer quality, and
how much of that changes on the pressure question); `interview_events` turns it into the media-ingested,
vision-features and speech-results events the upstream stages would emit for a 3-question interview.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from services.common.contracts import (
    AudioReady,
    FrameChunkReady,
    MediaIngested,
    SpeechResults,
    StageName,
    StageState,
    StageStatus,
    VisionFeatures,
    deterministic_event_id,
    topic_for,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "schemas" / "examples" / "v1"
CHUNK_S = 4.0
QUESTIONS = (
    ("q1", "Tell me about a project you are proud of.", 0.0, 30.0, False),
    ("q2", "Describe a time you disagreed with a colleague.", 30.0, 60.0, False),
    ("q3", "You have twenty seconds: why should we hire you over the others?", 60.0, 90.0, True),
)
DURATION_S = 90.0


@dataclass(frozen=True)
class Candidate:
    eye_contact: float = 0.8
    smile: float = 0.4
    wpm: float = 140.0
    filler_rate: float = 1.0
    pause_ratio: float = 0.15
    answer_score: float = 80.0
    structure: float = 0.8
    specificity: float = 0.7
    hedging: float = 0.1
    # what the pressure question does to the candidate
    pressure_wpm_factor: float = 1.0
    pressure_fillers_added: float = 0.0
    pressure_look_away_s: float = 0.0
    emotion_inference: bool = True
    second_face_at: float | None = None


STRONG = Candidate()
WEAK = Candidate(
    eye_contact=0.3,
    smile=0.08,
    wpm=85.0,
    filler_rate=9.0,
    pause_ratio=0.45,
    answer_score=35.0,
    structure=0.25,
    specificity=0.2,
    hedging=0.45,
    pressure_wpm_factor=1.6,
    pressure_fillers_added=6.0,
    pressure_look_away_s=12.0,
)


def _example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return data


def _event_id(*parts: str) -> str:
    return str(deterministic_event_id("test", *parts))


def media_ingested(interview_id: str, candidate: Candidate, *, tenant: str = "acme-eu") -> MediaIngested:
    data = _example("media-ingested")
    data.update(tenant_id=tenant, interview_id=interview_id, event_id=_event_id(interview_id, "ingested"))
    context = data["context"]
    context["questions"] = [
        {"question_id": q, "text": text, "start_s": s, "end_s": e, "pressure": p} for q, text, s, e, p in QUESTIONS
    ]
    scopes = ["video_analysis", "audio_analysis", "transcription", "face_analysis", "automated_scoring"]
    if candidate.emotion_inference:
        scopes.append("emotion_inference")
    context["consent_scopes"] = scopes
    context["permitted_analyses"] = scopes
    data["media"][0]["probe"]["duration_s"] = DURATION_S
    return MediaIngested.model_validate(data)


def _question_at(t: float) -> tuple[str, float, float, bool]:
    for q, _, s, e, p in QUESTIONS:
        if s <= t < e:
            return q, s, e, p
    return QUESTIONS[-1][0], QUESTIONS[-1][2], QUESTIONS[-1][3], QUESTIONS[-1][4]


def _looking_away(c: Candidate, t: float) -> bool:
    _, start, _, pressure = _question_at(t)
    return pressure and start + 2.0 <= t < start + 2.0 + c.pressure_look_away_s


def vision_features(ingested: MediaIngested, candidate: Candidate) -> list[VisionFeatures]:
    total = math.ceil(DURATION_S / CHUNK_S)
    base = _example("vision-features")
    events = []
    for index in range(total):
        start, end = index * CHUNK_S, min(DURATION_S, (index + 1) * CHUNK_S)
        seconds = []
        for second in range(int(start), math.ceil(end)):
            away = _looking_away(candidate, second + 0.5)
            second_face = candidate.second_face_at is not None and 0 <= second - candidate.second_face_at < 3
            seconds.append(
                {
                    "second": second,
                    "frames": 10,
                    "face_present_ratio": 1.0,
                    "faces_max": 2 if second_face else 1,
                    "head_pose": {"yaw_deg": 35.0 if away else 2.0, "pitch_deg": 1.0, "roll_deg": 0.0},
                    "eye_contact_ratio": 0.0 if away else candidate.eye_contact,
                    "smile_intensity": candidate.smile if candidate.emotion_inference else None,
                    "dominant_expression": (
                        ("happiness" if candidate.smile > 0.3 else "neutral") if candidate.emotion_inference else None
                    ),
                    "motion_energy": 0.05,
                }
            )
        look_away = [
            {"start_s": float(s["second"]), "end_s": float(s["second"] + 1)}
            for s in seconds
            if s["eye_contact_ratio"] == 0.0
        ]
        merged: list[dict[str, float]] = []
        for r in look_away:
            if merged and merged[-1]["end_s"] == r["start_s"]:
                merged[-1]["end_s"] = r["end_s"]
            else:
                merged.append(dict(r))
        second_faces = [
            {"start_s": float(s["second"]), "end_s": float(s["second"] + 1)} for s in seconds if s["faces_max"] > 1
        ]
        smiles = [{"start_s": start, "end_s": end}] if candidate.smile > 0.3 and candidate.emotion_inference else []
        data = dict(base)
        data.update(
            event_id=_event_id(ingested.interview_id, "vision", str(index)),
            tenant_id=ingested.tenant_id,
            interview_id=ingested.interview_id,
            context=ingested.context.model_dump(mode="json"),
            chunk_index=index,
            total_chunks=total,
            start_s=start,
            end_s=end,
            seconds=seconds,
            # No per-frame gaze: fusion keeps the chunks' own eye contact and look-aways, which these per-second
            # figures describe (tests/unit/test_vision_gaze.py covers judging from the gaze samples).
            gaze=[],
            summary={
                "frames_analysed": 10 * len(seconds),
                "face_present_ratio": 1.0,
                "mean_head_pose": {"yaw_deg": 2.0, "pitch_deg": 1.0, "roll_deg": 0.0},
                "eye_contact_ratio": sum(s["eye_contact_ratio"] for s in seconds) / len(seconds),
                "nod_count": 1,
                "shake_count": 0,
                "episodes": {"look_away": merged, "smile": smiles, "face_absent": [], "second_face": second_faces},
                "expression_distribution": (
                    {"happiness": 0.6, "neutral": 0.4} if candidate.emotion_inference else None
                ),
                "emotion_inference": {
                    "performed": candidate.emotion_inference,
                    "reason": "permitted" if candidate.emotion_inference else "jurisdiction_prohibits",
                },
                "motion_energy": 0.05,
                "posture_stability": 0.9,
            },
        )
        data["timeline"] = dict(base["timeline"], key=f"{ingested.tenant_id}/{ingested.interview_id}/vision/{index}")
        events.append(VisionFeatures.model_validate(data))
    return events


def speech_results(ingested: MediaIngested, candidate: Candidate) -> list[SpeechResults]:
    base = _example("speech-results")
    events = []
    for index, (qid, _, start, end, pressure) in enumerate(QUESTIONS):
        wpm = candidate.wpm * (candidate.pressure_wpm_factor if pressure else 1.0)
        fillers = candidate.filler_rate + (candidate.pressure_fillers_added if pressure else 0.0)
        speaking_s = (end - start - 1.5) * (1 - candidate.pause_ratio)
        n_words = max(1, int(wpm * speaking_s / 60))
        step = speaking_s / n_words
        words = [
            {"word": f"word{i}", "start_s": start + 1.5 + i * step / (1 - candidate.pause_ratio), "probability": 0.9}
            for i in range(n_words)
        ]
        for w in words:
            w["end_s"] = w["start_s"] + step * 0.8
        quote = {
            "start_s": start + 2.0,
            "end_s": start + 6.0,
            "quote": f"In {qid} I led the migration and cut costs 30%",
        }
        data = dict(base)
        data.update(
            event_id=_event_id(ingested.interview_id, "speech", str(index)),
            tenant_id=ingested.tenant_id,
            interview_id=ingested.interview_id,
            context=ingested.context.model_dump(mode="json"),
            segment_index=index,
            total_segments=len(QUESTIONS),
            question_id=qid,
            start_s=start,
            end_s=end,
            language="en",
            transcript=" ".join(w["word"] for w in words),
            words=words,
            metrics=dict(
                base["metrics"],
                duration_s=end - start,
                wpm=wpm,
                cpm=wpm * 5,
                filler_rate=fillers,
                filler_count=round(fillers * speaking_s / 60),
                pause_ratio=candidate.pause_ratio,
                time_to_first_word_s=1.5,
            ),
            competency_scores=[
                {
                    "competency_id": competency,
                    "score": candidate.answer_score,
                    "keyword_coverage": 0.5,
                    "semantic_similarity": 0.6,
                    "structure": candidate.structure,
                    "specificity": candidate.specificity,
                    "hedging": candidate.hedging,
                    "evidence": [quote],
                }
                for competency in ("problem-solving", "ownership")
            ],
        )
        events.append(SpeechResults.model_validate(data))
    return events


def frames_completed(ingested: MediaIngested, chunks: int, segments: int) -> StageStatus:
    return StageStatus.model_validate(
        dict(
            _example("stage-status"),
            event_id=_event_id(ingested.interview_id, "frames-completed"),
            tenant_id=ingested.tenant_id,
            interview_id=ingested.interview_id,
            caused_by=str(ingested.event_id),
            stage=StageName.FRAMES.value,
            state=StageState.COMPLETED.value,
            attempt=1,
            reason=None,
            unit=None,
            emitted={topic_for(FrameChunkReady): chunks, topic_for(AudioReady): segments},
            detail={},
        )
    )


def frames_failed(ingested: MediaIngested, message: str) -> StageStatus:
    data = frames_completed(ingested, 0, 0).model_dump(mode="json")
    data.update(
        event_id=_event_id(ingested.interview_id, "frames-failed"),
        state=StageState.FAILED.value,
        emitted={},
        reason={"code": "not_media", "message": message, "retryable": False},
    )
    return StageStatus.model_validate(data)


def unit_failed(ingested: MediaIngested, stage: StageName, index: int, total: int) -> StageStatus:
    kind = "chunk" if stage == StageName.VISION else "segment"
    return StageStatus.model_validate(
        dict(
            _example("stage-status.failed"),
            event_id=_event_id(ingested.interview_id, "failed", stage.value, str(index)),
            tenant_id=ingested.tenant_id,
            interview_id=ingested.interview_id,
            caused_by=str(uuid.uuid4()),
            stage=stage.value,
            state=StageState.FAILED.value,
            attempt=1,
            unit=f"{kind} {index + 1}/{total}",
            emitted={},
            detail={"unit_kind": kind, "unit_index": index, "unit_total": total},
        )
    )


def without_emotion(candidate: Candidate) -> Candidate:
    return replace(candidate, emotion_inference=False)
