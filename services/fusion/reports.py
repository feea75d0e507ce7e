"""Where a profile's report goes: the report bucket, one object per profile version.

The report key is fixed by the interview and the version (``<tenant>/<interview>/profile-v000001.json``),
so writing it again on a replay overwrites the same object.
"""

from __future__ import annotations

import json
from typing import Any

from services.common.contracts import ObjectRef, ProfileReady
from services.common.objectstore import ObjectStore
from services.fusion.behaviour import AnswerBehaviour
from services.fusion.inputs import InterviewInputs
from services.fusion.scoring import ProfileScores

_EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def _answer_summary(a: AnswerBehaviour) -> dict[str, Any]:
    speech = a.speech
    return {
        "question_id": a.question.question_id,
        "start_s": a.question.start_s,
        "end_s": a.question.end_s,
        "pressure": a.question.pressure,
        "words": a.words,
        "transcript": speech.transcript if speech else None,
        "eye_contact": a.eye_contact,
        "face_present": a.face_present,
        "smile": a.smile,
        "nods": a.nods,
        "shakes": a.shakes,
        "look_aways": [[e.start_s, e.end_s] for e in a.look_aways],
        "metrics": speech.metrics.model_dump(mode="json") if speech else None,
        "competency_scores": [c.model_dump(mode="json") for c in speech.competency_scores] if speech else [],
    }


class ReportWriter:
    def __init__(self, store: ObjectStore, bucket: str, *, enabled: bool = True) -> None:
        self.store = store
        self.bucket = bucket
        self.enabled = enabled

    def key(self, inputs: InterviewInputs, version: int) -> str:
        ingested = inputs.ingested
        return f"{ingested.tenant_id}/{ingested.interview_id}/profile-v{version:06d}.json"

    def planned(self, inputs: InterviewInputs, version: int) -> ObjectRef:
        """A reference to where the report will be, before it exists (for the draft profile)."""
        return ObjectRef(
            bucket=self.bucket,
            key=self.key(inputs, version),
            sha256=_EMPTY_SHA256,
            size_bytes=0,
            content_type="application/json",
        )

    def write(self, inputs: InterviewInputs, scores: ProfileScores, profile: ProfileReady) -> ObjectRef:
        document = {
            "profile": profile.model_dump(mode="json", exclude={"report"}),
            "answers": [_answer_summary(a) for a in scores.answers],
            "confidence": scores.confidence,
        }
        body = json.dumps(document, ensure_ascii=False, sort_keys=True, indent=1).encode()
        stored = self.store.put_bytes(self.bucket, self.key(inputs, profile.profile_version), body, "application/json")
        return ObjectRef(
            bucket=stored.bucket,
            key=stored.key,
            sha256=stored.sha256,
            size_bytes=stored.size,
            content_type=stored.content_type,
        )
