"""Constrained scalar types shared by the contracts.

Every pattern uses the subset of regular-expression syntax on which ECMA-262 (what JSON Schema
specifies), Python's ``re`` and pydantic's Rust engine agree: explicit ASCII classes instead of
``\\d``/``\\w``/``\\s``, anchored with ``^...$``, no look-around.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import AwareDatetime, BeforeValidator, Field, WithJsonSchema

# --- patterns ----------------------------------------------------------------------------------------------

#: Tenant ids are lower-case DNS labels: they appear in bucket prefixes, metric labels and message keys.
TENANT_ID_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
#: Identifiers issued by other systems (interview, job, question, competency...). Safe as an object-key
#: path segment and inside a message key: no '/', ':' or whitespace.
EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
#: snake_case machine codes (failure codes, flags, consent scopes, dimension and model names).
CODE_PATTERN = r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$"
#: Free-form version labels: "2025.1", "v3", "large-v3", "1.4.2+cu121".
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$"
#: Emitting service, optionally with its version: "sightline-ingest/0.1.0", "workday-connector".
PRODUCER_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}(?:/[A-Za-z0-9][A-Za-z0-9._+-]{0,63})?$"
#: BCP 47 subset in canonical case: language, optional script, optional region.
LOCALE_PATTERN = r"^[a-z]{2,3}(?:-[A-Z][a-z]{3})?(?:-(?:[A-Z]{2}|[0-9]{3}))?$"
#: ISO 3166-1 alpha-2 country ("DE", "CN", or the reserved "EU") or ISO 3166-2 subdivision ("US-IL").
JURISDICTION_PATTERN = r"^[A-Z]{2}(?:-[A-Z0-9]{1,3})?$"
#: Pseudonymous candidate reference: starts with a letter, contains a digit, no '@', '+' or spaces.
CANDIDATE_REF_PATTERN = r"^[A-Za-z][A-Za-z0-9._:-]*[0-9][A-Za-z0-9._:-]*$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
BUCKET_PATTERN = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
OBJECT_KEY_PATTERN = r"^[A-Za-z0-9_.=+-][A-Za-z0-9_.=+/-]{0,1023}$"
CONTENT_TYPE_PATTERN = r"^[a-z]+/[a-z0-9][a-z0-9.+-]*$"
FORMAT_NAME_PATTERN = r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$"
_NO_SPACE = r"[^ \t\n\r]"
#: Where the HR system's media can be fetched: S3, HTTPS or (local development only) a file.
MEDIA_URI_PATTERN = (
    rf"^(?:s3://[a-z0-9][a-z0-9.-]{{1,61}}[a-z0-9]/{_NO_SPACE}+"
    rf"|https://[A-Za-z0-9.-]+(?::[0-9]{{1,5}})?/{_NO_SPACE}*"
    rf"|file:///{_NO_SPACE}+)$"
)
HTTPS_URL_PATTERN = rf"^https://[A-Za-z0-9.-]+(?::[0-9]{{1,5}})?(?:/{_NO_SPACE}*)?$"
TOPIC_NAME_PATTERN = r"^sightline\.[a-z0-9]+(?:-[a-z0-9]+)*(?:\.[a-z0-9]+(?:-[a-z0-9]+)*)*\.v[1-9][0-9]*$"
SCHEMA_VERSION_PATTERN = r"^1\.(?:0|[1-9][0-9]*)$"
#: Standard base64 with padding.
BASE64_PATTERN = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
#: At least one character that is not ASCII white space.
NOT_BLANK_PATTERN = _NO_SPACE
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
#: RFC 3339 date-time with a mandatory offset, upper-case 'T' and 'Z', at most microseconds.
TIMESTAMP_PATTERN = (
    r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)

_TIMESTAMP_RE = re.compile(TIMESTAMP_PATTERN)
_UUID_RE = re.compile(UUID_PATTERN)

#: Upper bound of any media-timeline position or duration: 24 hours.
MAX_SECONDS = 86_400.0


# --- wire-shape guards: the same inputs the JSON Schema accepts, no pydantic leniency -----------------------


def _integral(value: Any) -> Any:
    """JSON Schema counts 3.0 as an integer; so do we."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _json_int(value: Any) -> Any:
    """For Literal[...] of integers: JSON true is not 1."""
    if isinstance(value, bool):
        raise ValueError("expected an integer, not a boolean")
    return _integral(value)


def _json_bool(value: Any) -> Any:
    """For Literal[True]: JSON 1 is not true."""
    if not isinstance(value, bool):
        raise ValueError("expected a boolean")
    return value


def _timestamp_shape(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("expected an RFC 3339 date-time string")
    if not _TIMESTAMP_RE.match(value):
        raise ValueError("expected an RFC 3339 date-time with offset, like 2025-03-01T09:30:00Z")
    return datetime.fromisoformat(value)  # raises ValueError for impossible dates (2025-02-30)


def _uuid_shape(value: Any) -> Any:
    if isinstance(value, UUID):
        return value
    if not isinstance(value, str) or not _UUID_RE.match(value):
        raise ValueError("expected a UUID in 8-4-4-4-12 hexadecimal form")
    return UUID(value)


# --- scalar aliases ----------------------------------------------------------------------------------------

#: Put after the constraints: ``Annotated[int, Field(ge=1), INTEGRAL]`` (constraints must reach the int schema).
INTEGRAL = BeforeValidator(_integral)
#: Guards for ``Literal`` types, whose matching would otherwise take 1 for true and true for 1.
LITERAL_INT = BeforeValidator(_json_int)
LITERAL_BOOL = BeforeValidator(_json_bool)
Int = Annotated[int, INTEGRAL]
Count = Annotated[int, Field(ge=0), INTEGRAL]
Index = Annotated[int, Field(ge=0, le=99_999), INTEGRAL]
Total = Annotated[int, Field(ge=1, le=100_000), INTEGRAL]
Seconds = Annotated[float, Field(ge=0, le=MAX_SECONDS)]
PositiveSeconds = Annotated[float, Field(gt=0, le=MAX_SECONDS)]
Ratio = Annotated[float, Field(ge=0, le=1)]
Score = Annotated[float, Field(ge=0, le=100)]
Degrees = Annotated[float, Field(ge=-180, le=180)]

Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_timestamp_shape),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": TIMESTAMP_PATTERN}),
]
Uuid = Annotated[
    UUID,
    BeforeValidator(_uuid_shape),
    WithJsonSchema({"type": "string", "format": "uuid", "pattern": UUID_PATTERN}),
]

Text = Annotated[str, Field(min_length=1, max_length=4000, pattern=NOT_BLANK_PATTERN)]
ShortText = Annotated[str, Field(min_length=1, max_length=300, pattern=NOT_BLANK_PATTERN)]
TenantId = Annotated[str, Field(min_length=1, max_length=63, pattern=TENANT_ID_PATTERN)]
ExternalId = Annotated[str, Field(min_length=1, max_length=128, pattern=EXTERNAL_ID_PATTERN)]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=CODE_PATTERN)]
Version = Annotated[str, Field(min_length=1, max_length=64, pattern=VERSION_PATTERN)]
Producer = Annotated[str, Field(min_length=1, max_length=129, pattern=PRODUCER_PATTERN)]
Locale = Annotated[str, Field(min_length=2, max_length=16, pattern=LOCALE_PATTERN)]
Jurisdiction = Annotated[str, Field(min_length=2, max_length=6, pattern=JURISDICTION_PATTERN)]
CandidateRef = Annotated[str, Field(min_length=8, max_length=128, pattern=CANDIDATE_REF_PATTERN)]
Sha256 = Annotated[str, Field(min_length=64, max_length=64, pattern=SHA256_PATTERN)]
Bucket = Annotated[str, Field(min_length=3, max_length=63, pattern=BUCKET_PATTERN)]
ObjectKey = Annotated[str, Field(min_length=1, max_length=1024, pattern=OBJECT_KEY_PATTERN)]
ContentType = Annotated[str, Field(min_length=3, max_length=255, pattern=CONTENT_TYPE_PATTERN)]
FormatName = Annotated[str, Field(min_length=1, max_length=64, pattern=FORMAT_NAME_PATTERN)]
MediaUri = Annotated[str, Field(min_length=8, max_length=4096, pattern=MEDIA_URI_PATTERN)]
HttpsUrl = Annotated[str, Field(min_length=9, max_length=4096, pattern=HTTPS_URL_PATTERN)]
TopicName = Annotated[str, Field(min_length=1, max_length=249, pattern=TOPIC_NAME_PATTERN)]
SchemaVersion = Annotated[str, Field(min_length=3, max_length=16, pattern=SCHEMA_VERSION_PATTERN)]
Base64 = Annotated[str, Field(pattern=BASE64_PATTERN)]


# --- enumerations ------------------------------------------------------------------------------------------


class StageName(StrEnum):
    """A processing stage of the pipeline. Closed: a new stage means new topics."""

    INGEST = "ingest"
    FRAMES = "frames"
    VISION = "vision"
    SPEECH = "speech"
    FUSION = "fusion"
    SINK = "sink"


class StageState(StrEnum):
    """Where a stage is with one unit of work. Closed."""

    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"
    RETRYING = "retrying"


class MediaKind(StrEnum):
    """What a media item carries. Closed."""

    VIDEO = "video"
    AUDIO = "audio"
    VIDEO_WITH_AUDIO = "video_with_audio"


class ProfileLabel(StrEnum):
    """Suggested outcome of a profile; a human confirms it. Closed."""

    RECOMMEND = "recommend"
    PENDING = "pending"
    REJECT = "reject"


class ReviewAction(StrEnum):
    """What a reviewer did with a profile's suggested label. Closed."""

    CONFIRM = "confirm"
    OVERRIDE = "override"


class OverrideReason(StrEnum):
    """Known reasons for overriding a suggested label. Open: consumers keep unknown snake_case reasons."""

    EVIDENCE_MISREAD = "evidence_misread"
    MISSING_CONTEXT = "missing_context"
    POOR_RECORDING_QUALITY = "poor_recording_quality"
    LANGUAGE_OR_ACCENT = "language_or_accent"
    JOB_FIT_NOT_CAPTURED = "job_fit_not_captured"
    OTHER_EVIDENCE = "other_evidence"
    POLICY = "policy"


class OutcomeStage(StrEnum):
    """How far a candidate went after the interview. Open: consumers keep unknown snake_case stages."""

    HIRED = "hired"
    OFFER_DECLINED = "offer_declined"
    REJECTED = "rejected"
    WITHDREW = "withdrew"
    LEFT_WITHIN_PROBATION = "left_within_probation"
    PASSED_PROBATION = "passed_probation"


class EvidenceKind(StrEnum):
    """What a piece of evidence points at: a spoken quote, a moment of the recording, or a stored key frame.
    Closed."""

    QUOTE = "quote"
    MOMENT = "moment"
    KEY_FRAME = "key_frame"


class DimensionKind(StrEnum):
    """Where a profile dimension comes from: the job's competency model or observed behaviour. Closed."""

    COMPETENCY = "competency"
    BEHAVIOUR = "behaviour"


class ConsentScope(StrEnum):
    """Known consent scopes. Open: consumers keep unknown snake_case scopes and never act on them."""

    VIDEO_ANALYSIS = "video_analysis"
    AUDIO_ANALYSIS = "audio_analysis"
    TRANSCRIPTION = "transcription"
    FACE_ANALYSIS = "face_analysis"
    EMOTION_INFERENCE = "emotion_inference"
    AUTOMATED_SCORING = "automated_scoring"
    #: The separate consent to processing face data as biometric data (face geometry) that some jurisdictions
    #: ask for on top of face_analysis (services/common/jurisdictions.py): PIPL art. 29, BIPA § 15(b).
    BIOMETRIC_PROCESSING = "biometric_processing"


class FailureCode(StrEnum):
    """Known failure codes. Open: consumers treat an unknown code like internal_error."""

    NO_CONSENT = "no_consent"
    NO_NOTICE = "no_notice"
    POLICY_FORBIDS = "policy_forbids"
    UNREACHABLE_SOURCE = "unreachable_source"
    CHECKSUM_MISMATCH = "checksum_mismatch"
    TRUNCATED_MEDIA = "truncated_media"
    NOT_MEDIA = "not_media"
    UNSUPPORTED_CODEC = "unsupported_codec"
    OVER_LIMITS = "over_limits"
    INVALID_EVENT = "invalid_event"
    COMPETENCY_MODEL_UNKNOWN = "competency_model_unknown"
    MISSING_OBJECT = "missing_object"
    DEPENDENCY_UNAVAILABLE = "dependency_unavailable"
    TIMEOUT = "timeout"
    INTERNAL_ERROR = "internal_error"


class AudioTrackChoice(StrEnum):
    """Why an audio stream was picked from a file with several."""

    ONLY = "only"
    DEFAULT = "default"
    FIRST_WITH_SOUND = "first_with_sound"
    FIRST = "first"


class MediaFlag(StrEnum):
    """Known facts about ingested media. Open: consumers ignore unknown flags."""

    AUDIO_ONLY = "audio_only"
    VIDEO_ONLY = "video_only"
    SEPARATE_AUDIO_TRACK = "separate_audio_track"
    VARIABLE_FRAME_RATE = "variable_frame_rate"
    ROTATED = "rotated"
    LOW_RESOLUTION = "low_resolution"
    LOW_FRAME_RATE = "low_frame_rate"
    DURATION_MISMATCH = "duration_mismatch"
    MULTIPLE_AUDIO_TRACKS = "multiple_audio_tracks"


class DataQualityFlag(StrEnum):
    """Known reasons a profile rests on weaker evidence. Open: consumers show unknown flags verbatim."""

    AUDIO_ONLY = "audio_only"
    VIDEO_ONLY = "video_only"
    NO_FACE_DETECTED = "no_face_detected"
    LOW_FACE_PRESENCE = "low_face_presence"
    MULTIPLE_FACES = "multiple_faces"
    POOR_LIGHTING = "poor_lighting"  # most frames were too dark for the face measures to be trusted fully
    LOW_AUDIO_QUALITY = "low_audio_quality"
    SHORT_ANSWERS = "short_answers"
    LANGUAGE_MISMATCH = "language_mismatch"
    MISSING_VISION_CHUNKS = "missing_vision_chunks"
    MISSING_SPEECH_SEGMENTS = "missing_speech_segments"
    EMOTION_INFERENCE_NOT_PERMITTED = "emotion_inference_not_permitted"
    TRANSCRIPTION_NOT_PERMITTED = "transcription_not_permitted"
    SCORING_NOT_PERMITTED = "scoring_not_permitted"
    VIDEO_ANALYSIS_NOT_PERMITTED = "video_analysis_not_permitted"  # the recording has video; no frame was used
    AUDIO_ANALYSIS_NOT_PERMITTED = "audio_analysis_not_permitted"  # the recording has audio; none was used
    QUESTION_WINDOWS_INFERRED = "question_windows_inferred"  # found in the recording (see question_windows)
    QUESTION_WINDOWS_NOT_FOUND = "question_windows_not_found"  # no question could be found in the recording
    QUESTION_WINDOWS_INCOMPLETE = "question_windows_incomplete"  # fewer answers found than questions listed
    QUESTION_MATCH_UNCERTAIN = "question_match_uncertain"  # a found window's question is a guess
    QUESTION_NOT_LISTED = "question_not_listed"  # the interviewer asked a question the list does not hold
    QUESTION_MATCHED_BY_ORDER = "question_matched_by_order"  # one voice: content could not tell, the order did
    # hands and upper body
    POSTURE_NOT_MEASURABLE = "posture_not_measurable"  # the pose model ran but never saw both shoulders
    FACE_TOO_SMALL_FOR_LANDMARKS = "face_too_small_for_landmarks"  # no blink, mouth or brow measure: face too small


class EmotionInferenceReason(StrEnum):
    """Why emotion inference was or was not performed. Open: unknown reasons mean "not performed"."""

    PERMITTED = "permitted"
    NO_CONSENT = "no_consent"
    JURISDICTION_PROHIBITS = "jurisdiction_prohibits"
    NO_FACE_DETECTED = "no_face_detected"
    DISABLED = "disabled"


class Accommodation(StrEnum):
    """An adjustment the candidate asked for: each switches off the measures it would distort (fusion) and the
    profile says so. Closed: an accommodation Sightline does not know must be refused loudly, never ignored."""

    STUTTER = "stutter"  # speaking rate, pauses, fillers and time to first word are not scored
    FACIAL_DIFFERENCE = "facial_difference"  # eye contact, look-aways and expression are not scored
    NO_CAMERA = "no_camera"  # nothing visual is scored
    LOW_VISION = "low_vision"  # eye contact and look-aways are not scored


class Sex(StrEnum):
    """Self-identified sex, in the categories of the EEO-1 Component 1 report (which NYC Local Law 144's
    bias-audit rules adopt), plus non-binary, which EEO-1 accepts in its comments. Closed: a new category
    is a contract change, because the bias audit must list every category it saw."""

    FEMALE = "female"
    MALE = "male"
    NON_BINARY = "non_binary"
    DECLINED_TO_ANSWER = "declined_to_answer"


class RaceEthnicity(StrEnum):
    """Self-identified race/ethnicity, in the EEO-1 Component 1 categories (Hispanic or Latino; then, for
    those not Hispanic or Latino, one race or two or more). Closed, like :class:`Sex`."""

    HISPANIC_OR_LATINO = "hispanic_or_latino"
    WHITE = "white"
    BLACK_OR_AFRICAN_AMERICAN = "black_or_african_american"
    NATIVE_HAWAIIAN_OR_PACIFIC_ISLANDER = "native_hawaiian_or_pacific_islander"
    ASIAN = "asian"
    AMERICAN_INDIAN_OR_ALASKA_NATIVE = "american_indian_or_alaska_native"
    TWO_OR_MORE_RACES = "two_or_more_races"
    DECLINED_TO_ANSWER = "declined_to_answer"


# "Open" enumerations: a known member, or any other snake_case code from a newer minor version.
OpenConsentScope = ConsentScope | Code
OpenFailureCode = FailureCode | Code
OpenMediaFlag = MediaFlag | Code
OpenDataQualityFlag = DataQualityFlag | Code
OpenEmotionInferenceReason = EmotionInferenceReason | Code
OpenOverrideReason = OverrideReason | Code
OpenOutcomeStage = OutcomeStage | Code

#: The EU member states: a jurisdiction "EU" or any of these (or their subdivisions) is under EU law.
EU_MEMBER_STATES = frozenset(
    {
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
        "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
    }
)  # fmt: skip


def jurisdiction_country(jurisdiction: str) -> str:
    """The ISO 3166-1 part of a jurisdiction: ``"US-IL"`` → ``"US"``."""
    return jurisdiction.split("-", 1)[0]


def is_eu_jurisdiction(jurisdiction: str) -> bool:
    """True for ``"EU"``, an EU member state, or a subdivision of one."""
    country = jurisdiction_country(jurisdiction)
    return country == "EU" or country in EU_MEMBER_STATES
