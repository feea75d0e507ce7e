"""Sub-objects shared by several events: object references, time ranges, evidence, the interview context."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .base import Compare, Contract, NotBoth, SortedDisjoint, SubsetOf, UniqueBy, UniqueItems, When
from .types import (
    NOT_BLANK_PATTERN,
    Accommodation,
    Bucket,
    CandidateRef,
    Code,
    ContentType,
    Count,
    EvidenceKind,
    ExternalId,
    HttpsUrl,
    Jurisdiction,
    Locale,
    ObjectKey,
    OpenConsentScope,
    OpenFailureCode,
    Seconds,
    Sha256,
    ShortText,
    Text,
    Timestamp,
    Uuid,
    Version,
)


class ObjectRef(Contract):
    """A stored object (claim check): where it is and how to verify what was read."""

    bucket: Bucket = Field(description="Bucket name (S3 naming rules).")
    key: ObjectKey = Field(
        description="Object key inside the bucket; never starts with '/', no white space. "
        "Sightline keys start with '<tenant_id>/<interview_id>/'."
    )
    sha256: Sha256 = Field(description="SHA-256 of the object's bytes, lower-case hexadecimal.")
    size_bytes: Count = Field(description="Size of the object in bytes.")
    content_type: ContentType = Field(
        description="MIME type without parameters, lower case (video/mp4, audio/wav, application/x-ndjson)."
    )

    @property
    def uri(self) -> str:
        """``s3://bucket/key``."""
        return f"s3://{self.bucket}/{self.key}"


class TimeRange(Contract):
    """A half-open range [start_s, end_s) on the media timeline: seconds from the first frame or sample
    of the ingested recording."""

    __rules__ = (Compare("start_s", "<", "end_s"),)

    start_s: Seconds = Field(description="Start, seconds from the start of the recording (inclusive).")
    end_s: Seconds = Field(description="End, seconds from the start of the recording (exclusive); > start_s.")

    @property
    def duration_s(self) -> float:
        """Length of the range in seconds."""
        return self.end_s - self.start_s


#: Ranges in ascending order that do not overlap (episodes, answer windows).
TimeRanges = Annotated[list[TimeRange], SortedDisjoint(), Field(max_length=10_000)]


class Quote(Contract):
    """Words of the candidate that support a score, with where they were said."""

    __rules__ = (Compare("start_s", "<", "end_s"),)

    start_s: Seconds = Field(description="Start of the quote on the media timeline, seconds.")
    end_s: Seconds = Field(description="End of the quote on the media timeline, seconds; > start_s.")
    quote: Text = Field(description="The quoted words, verbatim from the transcript.")


class Evidence(Contract):
    """Why a profile dimension got its score: a quote, a moment to watch, or a stored key frame."""

    __rules__ = (
        Compare("start_s", "<=", "end_s"),
        When("text", "kind", (EvidenceKind.QUOTE,), then="required"),
        When("object", "kind", (EvidenceKind.KEY_FRAME,), then="required"),
    )

    kind: EvidenceKind = Field(description="quote (text required), moment, or key_frame (object required).")
    start_s: Seconds = Field(description="Start on the media timeline, seconds.")
    end_s: Seconds = Field(description="End on the media timeline, seconds; equals start_s for an instant.")
    text: Text | None = Field(None, description="The quote, or a short caption of the moment or frame.")
    object: ObjectRef | None = Field(None, description="The stored key frame (image), when kind is key_frame.")


class CompetencyModelRef(Contract):
    """The competency model a job is assessed against, pinned to a version."""

    id: ExternalId = Field(description="Competency model id in the HR system.")
    version: Version = Field(description="Version of the model; scores are only comparable within one version.")


class Job(Contract):
    """The position the interview was for."""

    job_id: ExternalId = Field(description="Job (requisition) id in the HR system.")
    title: ShortText = Field(description="Job title as shown to the candidate.")
    competency_model: CompetencyModelRef = Field(description="The competency model answers are scored against.")


class Question(Contract):
    """One interview question and the window of the recording in which it was asked and answered."""

    __rules__ = (Compare("start_s", "<", "end_s"),)

    question_id: ExternalId = Field(description="Question id, unique within the interview.")
    text: Annotated[str, Field(min_length=1, max_length=1000, pattern=NOT_BLANK_PATTERN)] = Field(
        description="The question as asked, in the interview's language (at most 1000 characters)."
    )
    start_s: Seconds = Field(description="When the question starts, seconds from the start of the recording.")
    end_s: Seconds = Field(description="When the answer window ends, seconds from the start of the recording.")
    pressure: bool = Field(False, description="True for a deliberately stressful question (time pressure, challenge).")


#: Questions: unique ids, ascending, non-overlapping windows; empty when the windows are to be found in the
#: recording (see UntimedQuestions).
Questions = Annotated[
    list[Question],
    UniqueBy(("question_id",)),
    SortedDisjoint(),
    Field(max_length=100),
]


class UntimedQuestion(Contract):
    """A question asked in the interview whose window in the recording the HR system does not know."""

    question_id: ExternalId = Field(description="Question id, unique within the interview.")
    text: Annotated[str, Field(min_length=1, max_length=1000, pattern=NOT_BLANK_PATTERN)] = Field(
        description="The question as asked, in the interview's language (at most 1000 characters)."
    )
    pressure: bool = Field(False, description="True for a deliberately stressful question (time pressure, challenge).")


#: Questions without windows, in the order they were asked; Sightline finds their windows in the recording.
UntimedQuestions = Annotated[list[UntimedQuestion], UniqueBy(("question_id",)), Field(max_length=100)]

#: Consent scopes without duplicates.
ConsentScopes = Annotated[list[OpenConsentScope], UniqueItems(), Field(max_length=32)]

#: Accommodations without duplicates.
Accommodations = Annotated[list[Accommodation], UniqueItems(), Field(max_length=8)]


class Callback(Contract):
    """Where to announce the finished profile besides the profile-ready topic."""

    url: HttpsUrl = Field(
        description="HTTPS endpoint that receives a signed summary of each finished profile with a time-limited "
        "report link, as a POST (docs/operations.md, HR callback)."
    )
    auth_ref: Code | None = Field(
        None,
        description="Name of the signing secret configured in Sightline for this endpoint (HMAC-SHA256 of the "
        "body); never the secret itself. Without it nothing is signed.",
    )


class InterviewContext(Contract):
    """Everything about the interview a stage may need, copied forward by every internal event so that no
    stage looks anything up. Filled by ingest from the interview-completed event and the jurisdiction policy."""

    __rules__ = (SubsetOf("permitted_analyses", "consent_scopes"), NotBoth("questions", "untimed_questions"))

    source_event_id: Uuid = Field(description="event_id of the interview-completed event this work derives from.")
    candidate_ref: CandidateRef = Field(description="Pseudonymous candidate reference from the HR system.")
    job: Job = Field(description="The job and its competency model.")
    locale: Locale = Field(description="Language of the interview, BCP 47 (en-US, zh-CN).")
    jurisdiction: Jurisdiction = Field(description="Legal jurisdiction the interview falls under (DE, EU, CN, US-IL).")
    consent_scopes: ConsentScopes = Field(description="What the candidate consented to (empty: consent not granted).")
    permitted_analyses: ConsentScopes = Field(
        description="What may actually be done: the consent scopes the jurisdiction's policy also allows, decided "
        "once at ingest so every stage applies the same decision. Stages act only on scopes listed here."
    )
    policy_version: Version = Field(description="Version of the jurisdiction policy table that produced the decision.")
    interview_started_at: Timestamp = Field(description="Wall-clock start of the interview (media time 0).")
    interview_completed_at: Timestamp | None = Field(
        None,
        description="occurred_at of the interview-completed event: where the end-to-end latency to the profile is "
        "measured from; null from producers that predate it.",
    )
    questions: Questions = Field(
        description="The questions with their answer windows, in order; empty when the windows are to be found."
    )
    untimed_questions: UntimedQuestions = Field(
        default_factory=list,
        description="Questions asked without known windows, from interview-completed; empty when questions has "
        "windows.",
    )
    accommodations: Accommodations = Field(
        default_factory=list,
        description="Accommodations the candidate asked for, copied from interview-completed; fusion switches off "
        "the measures each would distort and the profile's explanation says so.",
    )
    callback: Callback | None = Field(
        None,
        description="The HR system's webhook from interview-completed, announced the finished profile by the sink; "
        "null when it gave none.",
    )


class FailureReason(Contract):
    """Why a unit of work failed or is being retried."""

    code: OpenFailureCode = Field(
        description="snake_case machine code (no_consent, unreachable_source, truncated_media, not_media, "
        "over_limits, invalid_event, internal_error, ...). Unknown codes are treated as internal_error."
    )
    message: Text = Field(description="Human-readable explanation; no personal data, no secrets.")
    retryable: bool = Field(description="True when the same input may succeed later (transient cause).")


class ReportLink(Contract):
    """A rendered report reachable by URL (for example a page of the HR system)."""

    url: HttpsUrl = Field(description="HTTPS URL of the report.")


class Progress(Contract):
    """How many of the expected inputs arrived."""

    __rules__ = (Compare("received", "<=", "expected"),)

    received: Count = Field(description="Inputs received.")
    expected: Count = Field(description="Inputs announced by the manifest (total_chunks or total_segments).")


__all__ = [
    "Accommodations",
    "Callback",
    "CompetencyModelRef",
    "ConsentScopes",
    "Evidence",
    "FailureReason",
    "InterviewContext",
    "Job",
    "ObjectRef",
    "Progress",
    "Question",
    "Questions",
    "Quote",
    "ReportLink",
    "TimeRange",
    "TimeRanges",
    "UntimedQuestion",
    "UntimedQuestions",
]
