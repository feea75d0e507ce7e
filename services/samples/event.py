"""The interview-completed event an HR system would publish for a generated sample."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.common.contracts import InterviewCompleted
from services.common.settings import PROJECT_ROOT
from services.samples.generate import SampleResult

_TEMPLATE = PROJECT_ROOT / "schemas" / "examples" / "v1" / "interview-completed.en-IE.json"
_LOCALES = {"en": ("en-US", "US"), "zh": ("zh-CN", "CN")}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def interview_event(
    result: SampleResult, *, tenant_id: str = "demo", interview_id: str | None = None, job_id: str = "JOB-SWE-1"
) -> InterviewCompleted:
    """An event pointing at the sample by file:// with its checksum and the scripted questions."""
    truth = result.truth
    template = InterviewCompleted.model_validate_json(_TEMPLATE.read_bytes())
    locale, jurisdiction = _LOCALES[truth.lang]
    interview_id = interview_id or f"sample-{result.media_path.stem}"
    ended = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    started = ended - timedelta(seconds=truth.duration_s)
    video = result.media_path.suffix == ".mp4"
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
                "content_type": "video/mp4" if video else "audio/mp4",
                "size_bytes": result.media_path.stat().st_size,
                "checksum": {"algorithm": "sha256", "value": _sha256(result.media_path)},
            }
        ],
        questions=[
            {
                "question_id": q.question_id,
                "text": q.question.text,
                "start_s": q.start,
                "end_s": q.end,
                "pressure": False,
            }
            for q in truth.questions
        ],
    )
    data["job"]["job_id"] = job_id
    data["job"]["title"] = "Software Engineer"
    data.pop("callback", None)
    return InterviewCompleted.model_validate(data)
