"""Where a profile's report goes: the report bucket, one object per profile version.

The report is the HR-facing HTML page (`services.report`), rendered from the same inputs the profile was
scored from, with the interview's key frames inlined. With rendering switched off, a JSON document of the
profile and its per-answer measures takes its place, so `profile-ready.report` always points at something.
Keys depend only on the interview and the version, so a replay overwrites the same object.
"""

from __future__ import annotations

import json
from typing import Any

from services.common.contracts import ObjectRef, ProfileReady
from services.common.objectstore import ObjectStore, StoredObject
from services.fusion.behaviour import AnswerBehaviour
from services.fusion.inputs import InterviewInputs
from services.fusion.scoring import ProfileScores
from services.report.model import KeyFrame, ReportInput
from services.report.render import render_html
from services.report.store import HTML_CONTENT_TYPE

_EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
JSON_CONTENT_TYPE = "application/json"


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
        "blinks": a.blinks,
        "blink_rate": a.blink_rate,
        "mouth_opening": a.mouth_opening,
        "brow_lowering": a.brow_lowering,
        "metrics": speech.metrics.model_dump(mode="json") if speech else None,
        "competency_scores": [c.model_dump(mode="json") for c in speech.competency_scores] if speech else [],
    }


def _ref(stored: StoredObject) -> ObjectRef:
    return ObjectRef(
        bucket=stored.bucket,
        key=stored.key,
        sha256=stored.sha256,
        size_bytes=stored.size,
        content_type=stored.content_type,
    )


class ReportWriter:
    def __init__(self, store: ObjectStore, bucket: str, *, render_html: bool = True) -> None:
        self.store = store
        self.bucket = bucket
        self.render_html = render_html

    def key(self, inputs: InterviewInputs, version: int) -> str:
        ingested = inputs.ingested
        suffix = "html" if self.render_html else "json"
        return f"{ingested.tenant_id}/{ingested.interview_id}/report/profile-v{version}.{suffix}"

    def planned(self, inputs: InterviewInputs, version: int) -> ObjectRef:
        """A reference to where the report will be, before it exists (for the draft profile)."""
        return ObjectRef(
            bucket=self.bucket,
            key=self.key(inputs, version),
            sha256=_EMPTY_SHA256,
            size_bytes=0,
            content_type=HTML_CONTENT_TYPE if self.render_html else JSON_CONTENT_TYPE,
        )

    def write(self, inputs: InterviewInputs, scores: ProfileScores, profile: ProfileReady) -> ObjectRef:
        key = self.key(inputs, profile.profile_version)
        if self.render_html:
            page = render_html(self.report_input(inputs, profile))
            return _ref(self.store.put_bytes(self.bucket, key, page.encode("utf-8"), HTML_CONTENT_TYPE))
        document = {
            "profile": profile.model_dump(mode="json", exclude={"report"}),
            "answers": [_answer_summary(a) for a in scores.answers],
            "confidence": scores.confidence,
        }
        body = json.dumps(document, ensure_ascii=False, sort_keys=True, indent=1).encode()
        return _ref(self.store.put_bytes(self.bucket, key, body, JSON_CONTENT_TYPE))

    def report_input(self, inputs: InterviewInputs, profile: ProfileReady) -> ReportInput:
        frames = [
            KeyFrame.from_object_key(ref.key, self.store.get_bytes(ref.bucket, ref.key))
            for ref in inputs.keyframes.values()
        ]
        speech = list(inputs.answer_speech)
        return ReportInput(profile=profile, vision=list(inputs.vision), speech=speech, key_frames=frames)


class ProfileNotFound(LookupError):
    """No stored profile for the interview (or not that version)."""


def find_tenants(
    store: ObjectStore, work_bucket: str, interview_id: str, *, among: list[str] | None = None
) -> list[str]:
    """Tenants (of ``among``, default every tenant) that have a stored profile for an interview id (ids are
    unique only within a tenant)."""
    tenants = among if among is not None else [
        o.object_name.rstrip("/")
        for o in store.client.list_objects(work_bucket, recursive=False)
        if o.object_name and o.is_dir
    ]  # fmt: skip
    return [t for t in tenants if store.list_keys(work_bucket, f"{t}/{interview_id}/fusion/profiles/")]


def stored_report_input(
    store: ObjectStore, work_bucket: str, tenant_id: str, interview_id: str, *, version: int | None = None
) -> ReportInput:
    """The report input of a stored profile (latest version by default), from fusion's ledger."""
    from services.fusion.ledger import Ledger

    ledger = Ledger(store, work_bucket)
    snap = ledger.snapshot(tenant_id, interview_id)
    if not snap.profiles:
        raise ProfileNotFound(f"no profile stored for {tenant_id}/{interview_id}")
    chosen = version if version is not None else max(snap.profiles)
    if chosen not in snap.profiles:
        raise ProfileNotFound(f"{tenant_id}/{interview_id} has profile versions {sorted(snap.profiles)}, not {chosen}")
    profile = ledger.profile(tenant_id, interview_id, chosen)
    inputs = ledger.load(tenant_id, interview_id, snap, ledger.manifest(tenant_id, interview_id))
    return ReportWriter(store, "unused").report_input(inputs, profile)
