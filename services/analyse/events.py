"""The interview-completed event for one recording, as an HR system would send it.

Idempotent: the event id is derived from the file's sha256 and every option that changes the analysis
(tenant, job model, questions, language, jurisdiction, candidate, consent scopes), so analysing the same
file with the same options again publishes the same event id and every stage re-emits the same outputs.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from pydantic import ValidationError

from services.analyse.consent import with_attested_notice
from services.analyse.inputs import InputError, Recording
from services.analyse.questions import QuestionPlan, QuestionsError, bank_questions, plan_questions, read_questions_file
from services.common.competency import CompetencyModel, CompetencyModelLibrary, UnknownCompetencyModel
from services.common.contracts import (
    Consent,
    ContractError,
    InterviewCompleted,
    Probe,
    decode_as,
    deterministic_event_id,
    encode,
    topic_for,
)
from services.ingest.probe import ProbeFailed, probe_file

PRODUCER = "sightline-analyse"
#: The job's competency model when neither --job nor the manifest names one.
DEFAULT_JOB = "software-engineer"
#: The interview's language: ``auto`` leaves it to speech's language detection ("und", undetermined).
LOCALES = {"auto": "und", "en": "en", "zh": "zh"}
#: The strictest entry of the default policy table (emotion inference never performed).
DEFAULT_JURISDICTION = "EU"
CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".avi": "video/x-msvideo",
    ".m4a": "audio/mp4",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".ogg": "audio/ogg",
}


@dataclass(frozen=True)
class Options:
    """The command line's options; a manifest row overrides the per-recording ones."""

    consent: Consent
    tenant: str = "local"
    job: str | None = None
    questions: Path | None = None
    language: str = "auto"
    jurisdiction: str = DEFAULT_JURISDICTION


@dataclass(frozen=True)
class Planned:
    """A recording and the event that analyses it."""

    recording: Recording
    event: InterviewCompleted
    windows_known: bool

    @property
    def event_id(self) -> str:
        return str(self.event.event_id)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_model(library: CompetencyModelLibrary, job: str) -> CompetencyModel:
    """``id`` (its highest version) or ``id@version``; an unknown model names the shipped ones."""
    model_id, _, version = job.partition("@")
    try:
        return library.find(model_id, version or None)
    except UnknownCompetencyModel as exc:
        raise InputError(f"{exc}; `sightline models list` shows them") from None


def plan(recording: Recording, options: Options, library: CompetencyModelLibrary, now: datetime) -> Planned:
    """Probe and checksum the file, choose its questions and build its validated event."""
    where = recording.source or str(recording.path)
    language = recording.language or options.language
    if language not in LOCALES:
        raise InputError(f"{where}: language must be one of {', '.join(LOCALES)}, not {language!r}")
    model = find_model(library, recording.job or options.job or DEFAULT_JOB)
    try:
        probe = probe_file(recording.path, recording.path.name)
    except ProbeFailed as exc:
        raise InputError(f"{where}: {exc.message}") from None
    questions_file = recording.questions or options.questions
    try:
        specs = read_questions_file(questions_file) if questions_file else bank_questions(model, language)
        questions = plan_questions(
            specs, model, probe.duration_s, language, where=str(questions_file or where), from_file=bool(questions_file)
        )
    except QuestionsError as exc:
        raise InputError(str(exc)) from None
    sha256 = file_sha256(recording.path)
    jurisdiction = recording.jurisdiction or options.jurisdiction
    candidate = recording.candidate_ref or f"cand-sha256-{sha256[:16]}"
    event_id = deterministic_event_id(
        PRODUCER,
        options.tenant,
        sha256,
        f"{model.id}@{model.version}",
        json.dumps([questions.questions, questions.untimed], sort_keys=True),
        language,
        jurisdiction,
        candidate,
        ",".join(sorted(options.consent.scopes)),
    )
    event = _event(
        recording, options, model, probe, questions, event_id, sha256, now, language, jurisdiction, candidate
    )
    return Planned(recording, event, questions.windows_known)


def interview_id(path: Path, event_id: UUID) -> str:
    """Readable and unique: the file's name, then the event id's start."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-._")[:48] or "recording"
    return f"{stem}-{event_id.hex[:10]}"


def _event(
    recording: Recording,
    options: Options,
    model: CompetencyModel,
    probe: Probe,
    questions: QuestionPlan,
    event_id: UUID,
    sha256: str,
    now: datetime,
    language: str,
    jurisdiction: str,
    candidate: str,
) -> InterviewCompleted:
    where = recording.source or str(recording.path)
    ended = datetime.fromtimestamp(recording.path.stat().st_mtime, UTC).replace(microsecond=0)
    kind = "video_with_audio" if probe.video and probe.audio else ("video" if probe.video else "audio")
    started = ended - timedelta(seconds=probe.duration_s)
    data = {
        "event_id": str(event_id),
        "occurred_at": now.isoformat(),
        "tenant_id": options.tenant,
        "interview_id": interview_id(recording.path, event_id),
        "producer": PRODUCER,
        "candidate_ref": candidate,
        "job": {
            "job_id": model.id,
            "title": model.title.get(language),
            "competency_model": {"id": model.id, "version": model.version},
        },
        "locale": LOCALES[language],
        "jurisdiction": jurisdiction,
        "consent": with_attested_notice(options.consent, started).model_dump(mode="json"),
        "media": [
            {
                "uri": recording.path.resolve().as_uri(),
                "kind": kind,
                "content_type": CONTENT_TYPES.get(recording.path.suffix.lower(), "application/octet-stream"),
                "size_bytes": recording.path.stat().st_size,
                "checksum": {"algorithm": "sha256", "value": sha256},
            }
        ],
        "questions": questions.questions,
        "untimed_questions": questions.untimed,
        "interview_started_at": started.isoformat(),
        "interview_ended_at": ended.isoformat(),
    }
    try:
        event = InterviewCompleted.model_validate(data)
        # The same checks a message from an HR system meets on the topic.
        return decode_as(InterviewCompleted, encode(event), topic=topic_for(InterviewCompleted))
    except (ValidationError, ContractError) as exc:
        raise InputError(f"{where}: the interview-completed event is not valid: {exc}") from None


__all__ = ["DEFAULT_JOB", "DEFAULT_JURISDICTION", "Options", "Planned", "file_sha256", "find_model", "plan"]
