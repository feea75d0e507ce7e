"""The interview-completed event an HR system would publish for a generated sample."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from services.common.competency import CompetencyModel, CompetencyModelLibrary
from services.common.contracts import ConsentScope, InterviewCompleted
from services.common.settings import PROJECT_ROOT, get_settings
from services.samples.generate import SampleResult

_TEMPLATE = PROJECT_ROOT / "schemas" / "examples" / "v1" / "interview-completed.en-IE.json"
_LOCALES = {"en": ("en-US", "US"), "zh": ("zh-CN", "CN")}
#: The MIME type an HR system would declare for each container.
CONTENT_TYPES = {"mp4": "video/mp4", "mov": "video/quicktime", "webm": "video/webm", "mkv": "video/x-matroska",
                 "avi": "video/x-msvideo", "m4a": "audio/mp4", "mp3": "audio/mpeg", "wav": "audio/wav",
                 "ogg": "audio/ogg", "c2": "audio/codec2"}  # fmt: skip


def question_id(bank_id: str, repeat: int) -> str:
    """The id a sample question is sent with: its bank id, numbered from the second time it is asked."""
    return bank_id if repeat == 0 else f"{bank_id}-{repeat + 1}"


def _competency_model(model_id: str) -> CompetencyModel:
    library = CompetencyModelLibrary.from_directory(get_settings().speech.competency_models_dir)
    versions = [m for m in library if m.id == model_id]
    if not versions:
        raise ValueError(f"no competency model {model_id!r} in {get_settings().speech.competency_models_dir}")
    return max(versions, key=lambda m: m.version)


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


#: When a sample interview ended, unless the caller says (fixed, so tests' events are the same every run).
SAMPLE_ENDED = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def interview_event(
    result: SampleResult,
    *,
    tenant_id: str = "demo",
    interview_id: str | None = None,
    job_id: str = "JOB-SWE-1",
    competency_model: str = "software-engineer",
    windows: Literal["given", "untimed", "none"] = "given",
    ended: datetime = SAMPLE_ENDED,
) -> InterviewCompleted:
    """An event pointing at the sample by file:// with its checksum and the scripted questions.

    Question ids are the question bank's ids (``conflict``, ``incident``; a repeat gets ``-2``), as an HR
    system would send them, so answers are scored against the competencies the job's model names for
    them; the model also says which questions are pressure questions.

    ``windows``: ``given`` sends each question's window from the script; ``untimed`` lists the questions in
    the order asked without windows (``untimed_questions``); ``none`` sends no question at all, so Sightline
    looks for the job's question bank in the recording.
    """
    truth = result.truth
    model = _competency_model(competency_model)
    pressure = {q.id for q in model.questions if q.pressure}
    template = InterviewCompleted.model_validate_json(_TEMPLATE.read_bytes())
    locale, jurisdiction = _LOCALES[truth.lang]
    interview_id = interview_id or f"sample-{result.media_path.stem}"
    started = ended - timedelta(seconds=truth.duration_s)
    video = truth.spec.video
    content_type = CONTENT_TYPES[truth.spec.file_format]
    if not video:  # an audio-only webm or mkv is declared as audio
        content_type = content_type.replace("video/", "audio/")
    data = template.model_dump(mode="json")
    data.update(
        event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"sightline-sample:{tenant_id}:{interview_id}")),
        occurred_at=ended.isoformat(),
        tenant_id=tenant_id,
        interview_id=interview_id,
        candidate_ref=f"cand_{hashlib.sha256(interview_id.encode()).hexdigest()[:10]}",
        locale=locale,
        jurisdiction=jurisdiction,
        interview_started_at=started.isoformat(),
        interview_ended_at=ended.isoformat(),
        media=[
            {
                "uri": result.media_path.resolve().as_uri(),
                "kind": "video_with_audio" if video and truth.spec.audio else ("video" if video else "audio"),
                "content_type": content_type,
                "size_bytes": result.media_path.stat().st_size,
                "checksum": {"algorithm": "sha256", "value": _sha256(result.media_path)},
            }
        ],
    )
    asked = [
        {"question_id": question_id(q.bank_id, q.repeat), "text": q.question.text, "pressure": q.bank_id in pressure}
        for q in truth.questions
    ]
    data["questions"] = (
        [{**a, "start_s": q.start, "end_s": q.end} for a, q in zip(asked, truth.questions, strict=True)]
        if windows == "given"
        else []
    )
    data["untimed_questions"] = asked if windows == "untimed" else []
    # The candidate consents to every analysis; the jurisdiction's policy (applied at ingest) decides. The notice
    # came with the invitation, three weeks ahead (more than the ten business days NYC asks for).
    data["consent"]["scopes"] = [scope.value for scope in ConsentScope]
    data["consent"]["notice_given_at"] = (started - timedelta(days=21)).isoformat()
    data["job"] = {
        "job_id": job_id,
        "title": model.title.en,
        "competency_model": {"id": model.id, "version": model.version},
    }
    data.pop("callback", None)
    return InterviewCompleted.model_validate(data)
