"""The events: one model per event type, mirrored by ``schemas/events/v1/<event-type>.schema.json``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID, uuid5

from pydantic import Field

from .base import Compare, Contract, NotBoth, UniqueBy, UniqueItems, When
from .common import (
    Accommodations,
    Callback,
    CompetencyModelRef,
    ConsentScopes,
    Evidence,
    FailureReason,
    InterviewContext,
    Job,
    ObjectRef,
    Progress,
    Questions,
    Quote,
    ReportLink,
    TimeRanges,
    UntimedQuestions,
)
from .types import (
    INTEGRAL,
    LITERAL_BOOL,
    LITERAL_INT,
    AudioTrackChoice,
    Base64,
    CandidateRef,
    Code,
    ContentType,
    Count,
    Degrees,
    DimensionKind,
    ExternalId,
    FormatName,
    Index,
    Jurisdiction,
    Locale,
    MediaKind,
    MediaUri,
    OpenDataQualityFlag,
    OpenEmotionInferenceReason,
    OpenFailureCode,
    OpenMediaFlag,
    OpenOutcomeStage,
    OpenOverrideReason,
    PositiveSeconds,
    Producer,
    ProfileLabel,
    RaceEthnicity,
    Ratio,
    ReviewAction,
    SchemaVersion,
    Score,
    Seconds,
    Sex,
    Sha256,
    StageName,
    StageState,
    TenantId,
    Text,
    Timestamp,
    TopicName,
    Total,
    Uuid,
    Version,
)

#: Namespace of :func:`deterministic_event_id` (uuid5 of "https://sightline.dev/ns/events"). Never change it.
EVENT_ID_NAMESPACE = UUID("0e958416-a549-55c9-874d-721761fec1ba")


def deterministic_event_id(*parts: str) -> UUID:
    """A UUIDv5 derived from ``parts``: the same inputs always give the same id, so a replayed stage
    re-emits identical event ids and consumers can de-duplicate. Parts are joined unambiguously
    (``("a:b", "c")`` and ``("a", "b:c")`` differ)."""
    if not parts:
        raise ValueError("deterministic_event_id needs at least one part")
    for part in parts:
        if not isinstance(part, str):
            raise TypeError(f"deterministic_event_id parts must be str, got {type(part).__name__}")
    return uuid5(EVENT_ID_NAMESPACE, json.dumps(parts, ensure_ascii=False, separators=(",", ":")))


# --- envelopes ---------------------------------------------------------------------------------------------


class Envelope(Contract):
    """Fields every message on a Sightline topic carries."""

    __wire_required__ = ("schema_version", "event_type")

    schema_version: SchemaVersion = Field(
        "1.0",
        description="Contract version '1.N' this event was written against. The topic name carries the major "
        "version; a consumer accepts any minor version of its major and ignores fields it does not know.",
    )
    event_id: Uuid = Field(
        description="Unique id of this event. Internal stages derive it from their input (UUIDv5), so a replay "
        "emits the same id; consumers de-duplicate on it."
    )
    event_type: str = Field(description="Name of the event type; fixes the schema of the rest of the message.")
    occurred_at: Timestamp = Field(description="When the producer emitted the event (RFC 3339 with offset).")

    #: Name of the event type (the ``event_type`` literal), set on every concrete event class.
    EVENT_TYPE: ClassVar[str] = ""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        default = cls.model_fields["event_type"].default
        if isinstance(default, str) and default:
            cls.EVENT_TYPE = default


class EventBase(Envelope):
    """Fields of every event about one interview."""

    tenant_id: TenantId = Field(description="Customer the interview belongs to (lower-case DNS label).")
    interview_id: ExternalId = Field(
        description="Interview id from the HR system, unique within the tenant. (tenant_id, interview_id) "
        "identifies an interview everywhere in Sightline."
    )
    producer: Producer | None = Field(
        None, description="Service that emitted the event, optionally with its version: 'sightline-ingest/0.1.0'."
    )
    caused_by: Uuid | None = Field(
        None, description="event_id of the event whose processing produced this one (lineage); null for sources."
    )


# --- input event -------------------------------------------------------------------------------------------


class Checksum(Contract):
    """Checksum of a media file, computed by the HR system, verified by ingest."""

    algorithm: Literal["sha256"] = Field(description="Hash algorithm; only sha256.")
    value: Sha256 = Field(description="Digest, lower-case hexadecimal.")


class MediaSource(Contract):
    """A recording of the interview, where ingest can fetch it."""

    uri: MediaUri = Field(
        description="s3://bucket/key, https://... (may be presigned) or file:///... (local development only). "
        "Never copied into internal events: a presigned URL is a credential."
    )
    kind: MediaKind = Field(
        description="video, audio or video_with_audio. All items of one interview share the timeline "
        "(time 0 = start of the interview); a separate audio item is preferred over an embedded track."
    )
    content_type: ContentType = Field(description="Declared MIME type (video/mp4, video/webm, audio/mpeg...).")
    size_bytes: Annotated[int, Field(ge=1), INTEGRAL] | None = Field(None, description="Size in bytes when known.")
    checksum: Checksum | None = Field(None, description="Checksum to verify after download, when known.")


class Consent(Contract):
    """The candidate's consent as recorded by the HR system."""

    __rules__ = (When("granted_at", "granted", (True,), then="required"),)

    granted: bool = Field(description="False: the candidate did not consent; nothing is analysed (no_consent).")
    scopes: ConsentScopes = Field(
        description="Processing the candidate agreed to (video_analysis, audio_analysis, transcription, "
        "face_analysis, emotion_inference, automated_scoring, biometric_processing: the separate consent to face "
        "data that CN and US-IL ask for on top of face_analysis). Unknown scopes are kept and grant nothing."
    )
    version: Version = Field(description="Version of the consent text the candidate agreed to.")
    granted_at: Timestamp | None = Field(None, description="When consent was given; required when granted.")
    record_ref: ExternalId = Field(description="Id of the consent record in the HR system (audit trail).")
    notice_given_at: Timestamp | None = Field(
        None,
        description="When the candidate was told, before the interview, that an automated tool assesses it, what "
        "it measures and how. Required where the jurisdiction asks for notice (EU, US-IL, US-NYC, CN): without it, "
        "or when it came after the interview started (in US-NYC: less than 10 business days before), nothing is "
        "analysed (no_notice).",
    )


class InterviewCompleted(EventBase):
    """Published by the HR system when an interview recording is complete and may be analysed."""

    __rules__ = (
        Compare("interview_started_at", "<", "interview_ended_at"),
        NotBoth("questions", "untimed_questions"),
    )

    event_type: Literal["interview-completed"] = Field(
        "interview-completed", description="Always 'interview-completed'."
    )
    candidate_ref: CandidateRef = Field(
        description="Pseudonymous reference to the candidate, never a name, e-mail address or phone number: "
        "8-128 characters of [A-Za-z0-9._:-], starting with a letter and containing a digit."
    )
    job: Job = Field(description="The job the candidate interviewed for.")
    locale: Locale = Field(
        description="Language of the interview, BCP 47 in canonical case: en-US, en-GB, de-DE, zh-CN, zh-Hans-CN."
    )
    jurisdiction: Jurisdiction = Field(
        description="Most specific legal jurisdiction that applies: ISO 3166-1 alpha-2 country (DE, CN, US), "
        "ISO 3166-2 subdivision (US-IL), or EU when only the Union is known. Drives the policy table "
        "(emotion inference is never performed under EU jurisdictions)."
    )
    consent: Consent = Field(description="The candidate's consent.")
    media: Annotated[list[MediaSource], UniqueBy(("kind",)), Field(min_length=1, max_length=3)] = Field(
        description="The recording(s), at most one per kind."
    )
    questions: Questions = Field(
        description="Questions in order, with non-overlapping answer windows. Empty when the HR system does not "
        "know the windows: Sightline then finds them in the recording (the interviewer's turns, or the answers "
        "of a one-voice recording) for the questions of untimed_questions, or of the job's competency model "
        "when that is empty too; the profile's question_windows says what was found and how surely."
    )
    untimed_questions: UntimedQuestions = Field(
        default_factory=list,
        description="Questions asked, in order, whose windows are not known (questions must then be empty); the "
        "recording is searched for them.",
    )
    interview_started_at: Timestamp = Field(description="Wall-clock start of the interview (media time 0).")
    interview_ended_at: Timestamp = Field(description="Wall-clock end of the interview; after the start.")
    callback: Callback | None = Field(None, description="Optional webhook to notify besides the profile-ready topic.")
    accommodations: Accommodations = Field(
        default_factory=list,
        description="Accommodations the candidate asked for (stutter, facial_difference, no_camera, low_vision): "
        "the measures each would distort are not scored, and the profile says so.",
    )


# --- ingest ------------------------------------------------------------------------------------------------


class VideoStream(Contract):
    """The video stream found by probing."""

    codec: Code = Field(description="Codec name as reported by the demuxer (h264, vp9, av1, hevc).")
    width: Annotated[int, Field(ge=1, le=16_384), INTEGRAL] = Field(
        description="Coded width in pixels, before rotation."
    )
    height: Annotated[int, Field(ge=1, le=16_384), INTEGRAL] = Field(
        description="Coded height in pixels, before rotation."
    )
    fps: Annotated[float, Field(gt=0, le=1000)] = Field(description="Nominal frame rate (frames per second).")
    avg_fps: Annotated[float, Field(gt=0, le=1000)] = Field(description="Average frame rate over the stream.")
    variable_frame_rate: bool = Field(description="True when frame durations vary (typical of browser recordings).")
    rotation_deg: Annotated[Literal[0, 90, 180, 270], LITERAL_INT] = Field(
        0, description="Display rotation, clockwise degrees; frames downstream are already upright."
    )
    frame_count: Count | None = Field(None, description="Frames in the stream when the container says so.")


class AudioStream(Contract):
    """The audio stream found by probing."""

    codec: Code = Field(description="Codec name as reported by the demuxer (aac, opus, mp3, pcm_s16le).")
    sample_rate: Annotated[int, Field(ge=1000, le=384_000), INTEGRAL] = Field(description="Samples per second.")
    channels: Annotated[int, Field(ge=1, le=32), INTEGRAL] = Field(description="Channel count.")
    track: Annotated[int, Field(ge=0, le=63), INTEGRAL] = Field(
        0, description="Position of this stream among the file's audio streams (0 = first): the one analysed."
    )
    track_count: Annotated[int, Field(ge=1, le=64), INTEGRAL] = Field(
        1, description="Audio streams in the file; with several, `track_choice` says why this one was analysed."
    )
    track_choice: AudioTrackChoice = Field(
        AudioTrackChoice.ONLY,
        description="only: the file has one audio stream; default: the stream marked default that carries sound; "
        "first_with_sound: the first stream carrying sound (the default one is silent or none is marked); "
        "first: no stream carries sound, the default or first one is analysed.",
    )


class Probe(Contract):
    """What the stored file turned out to contain."""

    __rules__ = (When("audio", "video", (None,), then="required"),)

    duration_s: PositiveSeconds = Field(description="Duration of the recording in seconds.")
    container: FormatName = Field(description="Container format (mp4, webm, matroska, wav).")
    video: VideoStream | None = Field(None, description="The video stream; null when there is none.")
    audio: AudioStream | None = Field(None, description="The audio stream; null when there is none.")


class StoredMedia(Contract):
    """One media item of the interview, copied into Sightline's bucket and probed."""

    source_index: Index = Field(description="Position of the item in interview-completed media[].")
    kind: MediaKind = Field(description="Kind declared by the HR system.")
    object: ObjectRef = Field(description="The stored copy.")
    probe: Probe = Field(description="Streams found in the stored copy.")


class MediaIngested(EventBase):
    """Ingest stored and probed the recording(s) of an interview; frame extraction may start."""

    event_type: Literal["media-ingested"] = Field("media-ingested", description="Always 'media-ingested'.")
    context: InterviewContext = Field(description="The interview context every later stage carries forward.")
    media: Annotated[list[StoredMedia], UniqueBy(("source_index",)), Field(min_length=1, max_length=3)] = Field(
        description="The stored items, in source order."
    )
    flags: Annotated[list[OpenMediaFlag], UniqueItems(), Field(max_length=32)] = Field(
        default_factory=list,
        description="Facts about the media (audio_only, video_only, separate_audio_track, variable_frame_rate, "
        "rotated, low_resolution, low_frame_rate, duration_mismatch, multiple_audio_tracks). Unknown flags are "
        "ignored.",
    )


# --- frames ------------------------------------------------------------------------------------------------


class FrameChunkReady(EventBase):
    """A chunk of sampled, upright frames is stored; one event per chunk, total_chunks is the manifest."""

    __rules__ = (Compare("chunk_index", "<", "total_chunks"), Compare("start_s", "<", "end_s"))

    event_type: Literal["frame-chunk-ready"] = Field("frame-chunk-ready", description="Always 'frame-chunk-ready'.")
    context: InterviewContext = Field(description="The interview context.")
    chunk_index: Index = Field(description="0-based position of the chunk; < total_chunks.")
    total_chunks: Total = Field(description="How many chunks the interview has (the manifest; same in every chunk).")
    start_s: Seconds = Field(description="Media time of the chunk's first frame, seconds.")
    end_s: Seconds = Field(description="Media time where the chunk ends (exclusive), seconds.")
    frame_count: Annotated[int, Field(ge=1, le=1_000_000), INTEGRAL] = Field(description="Frames in the pack.")
    sample_fps: Annotated[float, Field(gt=0, le=120)] = Field(description="Frames sampled per second of media.")
    width: Annotated[int, Field(ge=1, le=16_384), INTEGRAL] = Field(
        description="Width of the stored (upright) frames, pixels."
    )
    height: Annotated[int, Field(ge=1, le=16_384), INTEGRAL] = Field(
        description="Height of the stored (upright) frames."
    )
    object: ObjectRef = Field(description="The frame pack.")
    pack_format: FormatName = Field(
        description="Name and version of the pack layout, understood by the reader (for example 'npz-rgb24-v1')."
    )


class AudioReady(EventBase):
    """A mono 16 kHz audio segment is stored, normally one per question's answer window."""

    __rules__ = (Compare("segment_index", "<", "total_segments"), Compare("start_s", "<", "end_s"))

    event_type: Literal["audio-ready"] = Field("audio-ready", description="Always 'audio-ready'.")
    context: InterviewContext = Field(description="The interview context.")
    segment_index: Index = Field(description="0-based position of the segment; < total_segments.")
    total_segments: Total = Field(description="How many segments the interview has (the manifest).")
    question_id: ExternalId | None = Field(
        None, description="Question whose answer window this segment covers; null for audio outside any question."
    )
    start_s: Seconds = Field(description="Media time where the segment starts, seconds.")
    end_s: Seconds = Field(description="Media time where the segment ends (exclusive), seconds.")
    sample_rate: Annotated[Literal[16000], LITERAL_INT] = Field(16000, description="Always 16000 Hz.")
    channels: Annotated[Literal[1], LITERAL_INT] = Field(1, description="Always 1 (mono).")
    object: ObjectRef = Field(description="The stored audio.")
    format: FormatName = Field(description="Encoding of the stored audio (wav-pcm-s16le, flac).")


class FrameRangeRequested(EventBase):
    """Frames asks one of its replicas to decode a time range of a long recording's video (claim-check: the
    event references the stored media, never carries it). The ranges of an interview cover whole chunks of
    the chunk grid, so the chunks they produce are those one sequential pass would produce."""

    __rules__ = (
        Compare("range_index", "<", "total_ranges"),
        Compare("start_s", "<", "end_s"),
        Compare("chunk_start", "<", "chunk_end"),
        Compare("chunk_end", "<=", "total_chunks"),
    )

    event_type: Literal["frame-range-requested"] = Field(
        "frame-range-requested", description="Always 'frame-range-requested'."
    )
    context: InterviewContext = Field(description="The interview context (consent is checked again per range).")
    media_event_id: Uuid = Field(
        description="event_id of the media-ingested event the range belongs to: the chunks' object keys and event "
        "ids derive from it, as in a single pass."
    )
    video: StoredMedia = Field(description="The stored media item whose video stream is decoded (a reference).")
    range_index: Index = Field(description="0-based position of the range; < total_ranges.")
    total_ranges: Total = Field(description="How many ranges the interview's video is split into.")
    start_s: Seconds = Field(description="Media time where the range starts (a chunk boundary), seconds.")
    end_s: PositiveSeconds = Field(
        description="Media time where the range ends (exclusive; the last range runs to the end of the stream)."
    )
    chunk_start: Index = Field(description="First chunk index the range produces.")
    chunk_end: Total = Field(description="Chunk index after the last one the range produces (exclusive).")
    total_chunks: Total = Field(description="How many chunks the interview has (the manifest).")
    chunk_s: Annotated[float, Field(gt=0, le=3600)] = Field(description="Length of one chunk of the grid, seconds.")
    sample_fps: Annotated[float, Field(gt=0, le=120)] = Field(description="Frames sampled per second of media.")


# --- vision ------------------------------------------------------------------------------------------------


class HeadPose(Contract):
    """Head orientation in degrees, camera frame: yaw left/right, pitch up/down, roll tilt."""

    yaw_deg: Degrees = Field(description="Yaw in degrees; 0 faces the camera, positive turns to the image's left.")
    pitch_deg: Degrees = Field(description="Pitch in degrees; positive looks up.")
    roll_deg: Degrees = Field(description="Roll in degrees; positive tilts clockwise in the image.")


class Episodes(Contract):
    """Behaviour episodes within the chunk, clipped to its window; fusion joins episodes across chunks."""

    look_away: TimeRanges = Field(default_factory=list, description="Gaze away from the camera for >= 1 s.")
    smile: TimeRanges = Field(default_factory=list, description="Smiling.")
    face_absent: TimeRanges = Field(default_factory=list, description="No face detected.")
    second_face: TimeRanges = Field(default_factory=list, description="More than one face in view.")


class EmotionInference(Contract):
    """Whether facial expressions were classified, and why (or why not)."""

    performed: bool = Field(description="True when expression_distribution was computed.")
    reason: OpenEmotionInferenceReason = Field(
        description="permitted, no_consent, jurisdiction_prohibits, no_face_detected or disabled."
    )


class ImageQuality(Contract):
    """How usable the chunk's pictures were for face analysis."""

    brightness_mean: Ratio = Field(description="Mean luma of the frames, 0 black to 1 white.")
    sharpness_mean: Annotated[float, Field(ge=0, le=1e9)] = Field(
        description="Mean variance of the Laplacian of the face region (of the frame without a face); higher is "
        "sharper."
    )
    blurry_ratio: Ratio = Field(description="Share of frames whose sharpness is below the configured blur threshold.")
    dark_ratio: Ratio = Field(description="Share of frames darker than the configured brightness threshold.")


# -- face mesh (services/vision/landmarks.py) ----------------------------------------------------------------


class FaceLandmarks(Contract):
    """The 468-point face mesh's measures over one chunk (services/vision/landmarks.py and face_measures.py)."""

    frames_measured: Count = Field(description="Frames whose face the mesh measured.")
    frames_too_small: Count = Field(
        description="Frames with a face too small in the picture for the mesh: the measures are not supported there."
    )
    supported: bool = Field(
        description="False when most frames with a face had it too small for the mesh: the landmark measures of "
        "the chunk are then null (not measured), not zero."
    )
    measured_s: Seconds = Field(description="Seconds of the chunk covered by measured frames (for rates).")
    eyes_closed: TimeRanges = Field(
        default_factory=list,
        description="Every run of frames with the eyes closed, clipped to the chunk; aggregation joins pieces "
        "across chunks and counts a closure of 0.05-0.5 s as a blink, a longer one as eyes closed.",
    )
    blink_count: Count = Field(0, description="Blinks (closures of 0.05-0.5 s) inside the chunk, edges excluded.")
    eye_openness_mean: Annotated[float, Field(ge=0, le=5)] | None = Field(
        None, description="Mean eye aspect ratio (lid gap over eye width) over measured frames with the eyes open."
    )
    mouth_opening_mean: Ratio | None = Field(
        None, description="Mean inner-lip gap over the face's height, over measured frames."
    )
    brow_height_mean: Ratio | None = Field(
        None,
        description="Mean brow height above the upper eyelid over the face's height; lowered brows (a frown) give "
        "less. Null when expressions were not inferred (a frown is read as an expression).",
    )
    mouth_width_mean: Ratio | None = Field(
        None, description="Mean mouth-corner distance over the face's width; null when expressions were not inferred."
    )
    mouth_corner_lift_mean: Annotated[float, Field(ge=-1, le=1)] | None = Field(
        None,
        description="Mean height of the mouth corners above the lips' middle, in face heights (a smile lifts them); "
        "null when expressions were not inferred.",
    )


class VisionSummary(Contract):
    """Aggregates of one chunk; the per-frame values are in the timeline object."""

    __rules__ = (
        When("expression_distribution", "emotion_inference.performed", (True,), then="required", otherwise="null"),
        When("smile_intensity_mean", "emotion_inference.performed", (False,), then="null"),
        When("frown_s", "emotion_inference.performed", (False,), then="null"),
        When("expression_volatility", "emotion_inference.performed", (False,), then="null"),
    )

    frames_analysed: Count = Field(description="Frames of the chunk that were analysed.")
    face_present_ratio: Ratio = Field(
        description="Share of analysed frames with the candidate's face detected, or followed by the face mesh where "
        "the detector lost it (a head turned far aside)."
    )
    mean_head_pose: HeadPose | None = Field(None, description="Mean head pose over frames with a face; null if none.")
    eye_contact_ratio: Ratio | None = Field(
        None, description="Share of frames with a face in which the gaze meets the camera; null if no face."
    )
    nod_count: Count = Field(description="Head nods detected.")
    shake_count: Count = Field(description="Head shakes detected.")
    episodes: Episodes = Field(description="Look-away, smile, face-absent and second-face episodes.")
    expression_distribution: dict[Code, Ratio] | None = Field(
        None,
        description="Share of face frames per expression (neutral, happiness, surprise, sadness, anger, disgust, "
        "fear, contempt). Present only when emotion_inference.performed is true, null otherwise.",
    )
    emotion_inference: EmotionInference = Field(description="Whether expressions were classified.")
    motion_energy: Ratio = Field(description="Mean normalised inter-frame difference in the person region, 0-1.")
    posture_stability: Ratio | None = Field(
        None, description="1 = steady posture, 0 = constant movement; null when no body was detected."
    )
    nod_times_s: Annotated[list[Seconds], Field(max_length=10_000)] = Field(
        default_factory=list, description="Media time of each counted nod (lowest point of the chin), ascending."
    )
    shake_times_s: Annotated[list[Seconds], Field(max_length=10_000)] = Field(
        default_factory=list, description="Media time of each counted head shake (middle of its swing), ascending."
    )
    look_away_count: Count = Field(0, description="Look-away episodes that start in the chunk.")
    smile_intensity_mean: Ratio | None = Field(
        None,
        description="Mean smile intensity 0-1 over face frames; null when no face or when expressions were not "
        "inferred.",
    )
    frown_s: Seconds | None = Field(
        None, description="Seconds with a frowning expression; null when expressions were not inferred."
    )
    expression_volatility: Ratio | None = Field(
        None,
        description="Mean change of the expression distribution between consecutive face frames (half the L1 "
        "distance), 0-1; null when expressions were not inferred or fewer than two face frames.",
    )
    image_quality: ImageQuality | None = Field(None, description="Brightness and sharpness of the analysed frames.")
    face_landmarks: FaceLandmarks | None = Field(
        None, description="The face mesh's measures (blinks, mouth, brows); null when the mesh did not run."
    )


class SecondBehaviour(Contract):
    """Behaviour in one second of media: the row the per-second timeline table in ClickHouse is built from."""

    second: Annotated[int, Field(ge=0, le=86_400), INTEGRAL] = Field(
        description="Whole media second the row covers: [second, second + 1)."
    )
    frames: Count = Field(description="Frames analysed in the second.")
    face_present_ratio: Ratio = Field(description="Share of the second's frames with the candidate's face.")
    faces_max: Count = Field(description="Most faces seen in one frame of the second.")
    head_pose: HeadPose | None = Field(None, description="Mean head pose over frames with a face; null if none.")
    eye_contact_ratio: Ratio | None = Field(None, description="Share of face frames facing the camera; null if none.")
    smile_intensity: Ratio | None = Field(None, description="Mean smile intensity 0-1 over face frames; null if none.")
    dominant_expression: Code | None = Field(
        None, description="Most probable expression over the second; null when not inferred or no face."
    )
    motion_energy: Ratio = Field(description="Mean normalised inter-frame difference in the person region, 0-1.")


class GazeSample(Contract):
    """The head's pose against the line of sight in one analysed frame: 0 looks into the lens wherever the face sits
    in the picture. Null angles: no face in the frame. A yaw with a null pitch: the face detector lost the face
    and the face mesh followed it (a head turned far aside); only its yaw is measured."""

    t_s: Seconds = Field(description="Media time of the frame, seconds.")
    yaw_deg: Degrees | None = Field(description="Yaw against the line of sight; positive turns to the image's left.")
    pitch_deg: Degrees | None = Field(
        description="Pitch against the line of sight; positive looks up. Null where the yaw is a followed face's."
    )


# --- vision: hands and upper body (sampled frames) ----------------------------------------------------------


class HandPlace(Contract):
    """Where one visible hand is against the candidate's face: its landmarks' middle, in face widths from the face
    box's centre (x positive to the image's right, y positive downwards)."""

    dx: Annotated[float, Field(ge=-100, le=100)] = Field(description="Horizontal offset, face widths.")
    dy: Annotated[float, Field(ge=-100, le=100)] = Field(description="Vertical offset, face widths.")


class BodySample(Contract):
    """Hands and upper body in one sampled frame (MediaPipe's palm, hand and pose models; the vision stage samples
    frames at its ``body_sample_hz``). Null values: the model found nothing to measure, never a zero."""

    t_s: Seconds = Field(description="Media time of the frame, seconds.")
    hands: Annotated[int, Field(ge=0, le=2), INTEGRAL] = Field(description="Hands found (at most two).")
    hand_places: Annotated[list[HandPlace], Field(max_length=2)] = Field(
        default_factory=list, description="Each hand's place against the face; empty without a face box near in time."
    )
    hand_face_touch: bool | None = Field(
        None, description="A hand's landmarks lie on the face box; null without hands or without a face box."
    )
    hand_motion: Annotated[float, Field(ge=0, le=1000)] | None = Field(
        None,
        description="Mean landmark speed of the hands since the previous sample of the chunk, face widths per "
        "second; null where a hand is missing in either sample.",
    )
    body: bool = Field(description="Whether the pose model found an upper body.")
    shoulder_tilt_deg: Degrees | None = Field(
        None, description="Shoulder line against the horizontal, positive when the image's right shoulder is lower."
    )
    shoulder_width: Ratio | None = Field(
        None, description="Distance between the shoulders, fraction of the frame width."
    )
    shoulder_centre: Annotated[list[Annotated[float, Field(ge=-1, le=2)]], Field(min_length=2, max_length=2)] | None = (
        Field(None, description="Middle of the shoulders (x, y), fractions of the frame.")
    )
    head_height: Annotated[float, Field(ge=-10, le=10)] | None = Field(
        None, description="Height of the nose above the shoulders' middle, in shoulder widths."
    )


#: Component name → version ("face_detector": "yunet-2023mar").
ModelVersions = Annotated[dict[Code, Version], Field(min_length=1, max_length=32)]


class VisionFeatures(EventBase):
    """Visual behaviour features of one frame chunk."""

    __rules__ = (Compare("chunk_index", "<", "total_chunks"), Compare("start_s", "<", "end_s"))

    event_type: Literal["vision-features"] = Field("vision-features", description="Always 'vision-features'.")
    context: InterviewContext = Field(description="The interview context.")
    chunk_index: Index = Field(description="Chunk these features belong to (as in frame-chunk-ready).")
    total_chunks: Total = Field(description="Chunks of the interview (the manifest).")
    start_s: Seconds = Field(description="Media time where the chunk starts, seconds.")
    end_s: Seconds = Field(description="Media time where the chunk ends (exclusive), seconds.")
    timeline: ObjectRef = Field(
        description="Per-frame features: Parquet, one row per analysed frame (columns described in the vision "
        "stage's timeline module); expression columns exist only when emotion inference was performed."
    )
    summary: VisionSummary = Field(description="Aggregates over the chunk.")
    seconds: Annotated[list[SecondBehaviour], UniqueBy(("second",)), Field(max_length=600)] = Field(
        description="Per-second behaviour over the chunk, ascending; what the sink stores as the timeline."
    )
    gaze: Annotated[list[GazeSample], Field(max_length=10_000)] = Field(
        default_factory=list,
        description="Every analysed frame's head pose against the line of sight, ascending. Fusion judges eye "
        "contact and look-aways from it against the candidate's own resting pose over the whole interview; the "
        "chunk's eye_contact_ratio, look_away episodes and per-second eye contact judge yaw against the line of "
        "sight alone (the chunk cannot know the interview's resting pose).",
    )
    body: Annotated[list[BodySample], Field(max_length=10_000)] = Field(
        default_factory=list,
        description="Hands and upper body in frames sampled at the stage's body_sample_hz, ascending; empty when "
        "that analysis is switched off (model_versions then names no hand or pose model).",
    )
    model_versions: ModelVersions = Field(description="Versions of the models used, by component.")


# --- speech ------------------------------------------------------------------------------------------------


class Word(Contract):
    """A recognised word with its timing."""

    __rules__ = (Compare("start_s", "<=", "end_s"),)

    word: Annotated[str, Field(min_length=1, max_length=200)] = Field(description="The word as transcribed.")
    start_s: Seconds = Field(description="Media time where the word starts, seconds.")
    end_s: Seconds = Field(description="Media time where the word ends, seconds.")
    probability: Ratio = Field(description="Recogniser confidence, 0-1.")
    filler: bool = Field(False, description="True when the word is (part of) a filler: um, uh, 嗯, 那个...")


class SpeakingMetrics(Contract):
    """How the candidate spoke in the segment."""

    duration_s: PositiveSeconds = Field(description="Length of the segment, seconds.")
    wpm: Annotated[float, Field(ge=0, le=1000)] = Field(description="Words per minute of speaking time.")
    cpm: Annotated[float, Field(ge=0, le=5000)] = Field(
        description="Characters per minute of speaking time (the rate measure for zh, ja)."
    )
    pause_count: Count = Field(description="Silences longer than 0.5 s between words.")
    pause_mean_s: Seconds | None = Field(None, description="Mean pause length, seconds; null without pauses.")
    pause_longest_s: Seconds = Field(description="Longest pause, seconds; 0 without pauses.")
    pause_ratio: Ratio = Field(description="Share of the segment spent in pauses.")
    filler_count: Count = Field(description="Filler words and sounds (um, uh, 嗯, 那个...).")
    filler_rate: Annotated[float, Field(ge=0, le=1000)] = Field(description="Fillers per minute of speaking time.")
    time_to_first_word_s: Seconds | None = Field(
        None, description="From the segment start (end of the question) to the first word; null without words."
    )
    pitch_variation: Annotated[float, Field(ge=0, le=48)] | None = Field(
        None, description="Standard deviation of the voice pitch, semitones; null when unvoiced."
    )
    energy_variation: Annotated[float, Field(ge=0, le=120)] | None = Field(
        None, description="Standard deviation of loudness, dB; null when silent."
    )
    word_count: Count = Field(0, description="Answer length: words (en) or Han characters (zh), fillers included.")
    speaking_time_s: Seconds = Field(0.0, description="From the first to the last word, pauses included, seconds.")
    speech_ratio: Ratio | None = Field(
        None, description="Share of the segment the voice-activity detector kept as speech; null without VAD."
    )


class CompetencyScore(Contract):
    """How an answer scores against one competency of the job's model."""

    competency_id: ExternalId = Field(description="Competency id in the competency model.")
    score: Score = Field(description="Score 0-100.")
    keyword_coverage: Ratio = Field(description="Share of the competency's indicator keywords present.")
    semantic_similarity: Ratio = Field(description="Similarity of the answer to the competency's exemplars, 0-1.")
    structure: Ratio = Field(description="How well the answer is structured (situation, task, action, result).")
    specificity: Ratio = Field(description="Concrete detail (numbers, names of tools, own actions), 0-1.")
    hedging: Ratio = Field(description="Share of hedged statements; higher means less committal.")
    evidence: Annotated[list[Quote], Field(max_length=20)] = Field(
        default_factory=list, description="Quotes that support the score."
    )
    keywords_matched: Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=100)] = (
        Field(default_factory=list, description="The competency's indicator keywords found in the answer.")
    )
    star_parts: Annotated[list[Code], UniqueItems(), Field(max_length=4)] = Field(
        default_factory=list, description="STAR parts the answer contains: situation, task, action, result."
    )


class FoundAnswer(Contract):
    """A question window found in a segment of an interview that came without windows, and its answer."""

    __rules__ = (Compare("start_s", "<=", "answer_start_s"), Compare("answer_start_s", "<", "end_s"))

    question_id: ExternalId = Field(
        description="The listed question matched (untimed_questions, else the job's question bank), or "
        "'unlisted-N' when the question heard matches none of them."
    )
    question_text: Text = Field(description="The listed question's text, or what the interviewer was heard saying.")
    listed: bool = Field(description="False for an unlisted question (scored against every competency).")
    start_s: Seconds = Field(description="Media time the window opens: the question is asked (or shown).")
    answer_start_s: Seconds = Field(description="Media time the candidate starts answering.")
    end_s: Seconds = Field(description="Media time the answer ends.")
    match_confidence: Ratio = Field(
        description="How clearly the question won the match, 0-1 (0.5: a guess; 0 for an unlisted question)."
    )
    metrics: SpeakingMetrics = Field(description="Speaking behaviour of the answer.")
    competency_scores: Annotated[list[CompetencyScore], UniqueBy(("competency_id",)), Field(max_length=100)] = Field(
        default_factory=list, description="Scores of the answer, as in the segment's competency_scores."
    )


class SpeechResults(EventBase):
    """Transcript, speaking behaviour and answer scores of one audio segment."""

    __rules__ = (Compare("segment_index", "<", "total_segments"), Compare("start_s", "<", "end_s"))

    event_type: Literal["speech-results"] = Field("speech-results", description="Always 'speech-results'.")
    context: InterviewContext = Field(description="The interview context.")
    segment_index: Index = Field(description="Segment these results belong to (as in audio-ready).")
    total_segments: Total = Field(description="Segments of the interview (the manifest).")
    question_id: ExternalId | None = Field(None, description="Question answered in the segment; null if none.")
    start_s: Seconds = Field(description="Media time where the segment starts, seconds.")
    end_s: Seconds = Field(description="Media time where the segment ends (exclusive), seconds.")
    language: Locale | None = Field(
        None, description="Language detected in the segment (en, zh); null when nothing was transcribed."
    )
    language_probability: Ratio | None = Field(
        None, description="Detector's probability of the language among the configured ones; null without a language."
    )
    transcript: Annotated[str, Field(max_length=60_000)] | None = Field(
        None, description="Full text of the segment; empty when silent; null when transcription is not permitted."
    )
    words: Annotated[list[Word], Field(max_length=10_000)] = Field(
        default_factory=list, description="Words with timings, in order; empty when not transcribed."
    )
    metrics: SpeakingMetrics = Field(description="Speaking behaviour.")
    competency_scores: Annotated[list[CompetencyScore], UniqueBy(("competency_id",)), Field(max_length=100)] = Field(
        default_factory=list,
        description="Scores against the competencies; empty without a question or when scoring is not permitted.",
    )
    model_versions: ModelVersions = Field(description="Versions of the engines and models used, by component.")
    flags: Annotated[list[Code], UniqueItems(), Field(max_length=16)] = Field(
        default_factory=list,
        description="Why parts are missing or set apart: transcription_not_permitted, scoring_not_permitted, "
        "competency_model_unknown, no_speech, question_read_aloud (the window opened with the question being "
        "read; those words are not in transcript, words, metrics or scores); for a segment whose windows were "
        "found: one_voice, question_windows_not_found, question_windows_incomplete, question_match_uncertain, "
        "question_not_listed, "
        "question_matched_by_order, voice_analysis_not_permitted. Unknown flags are ignored.",
    )
    answers: Annotated[list[FoundAnswer], Field(max_length=100)] = Field(
        default_factory=list,
        description="The question windows found in a segment of an interview that came without windows, in time "
        "order, each with its answer's metrics and scores (the segment's own metrics then cover all of it and "
        "it has no scores). Empty for a segment cut to a given window.",
    )


# --- fusion ------------------------------------------------------------------------------------------------


class DimensionScore(Contract):
    """One dimension of the candidate profile."""

    dimension: ExternalId = Field(
        description="Competency id (kind competency) or behaviour name such as composure or engagement."
    )
    kind: DimensionKind = Field(description="competency or behaviour.")
    score: Score = Field(description="Score 0-100.")
    confidence: Ratio = Field(description="How much evidence backs the score, 0-1.")
    evidence: Annotated[list[Evidence], Field(max_length=50)] = Field(
        default_factory=list, description="Quotes, moments and key frames behind the score."
    )


class Coverage(Contract):
    """How complete the inputs of the profile were."""

    vision_chunks: Progress = Field(description="Vision chunks received vs expected.")
    speech_segments: Progress = Field(description="Speech segments received vs expected.")


class DimensionWeight(Contract):
    """How much one dimension weighed in the overall score."""

    dimension: ExternalId = Field(description="The dimension, as in dimensions.")
    share: Ratio = Field(description="Its share of the overall score: the shares of all dimensions add up to 1.")


class NotMeasured(Contract):
    """A measure the assessment did not use, and why."""

    measure: Code = Field(
        description="speaking_fluency, voice, eye_contact, expression, posture_and_motion or answer_content."
    )
    reason: Code = Field(
        description="Why: accommodation_<kind>, jurisdiction_prohibits, no_consent, no_video, no_audio or "
        "not_permitted. Unknown reasons are shown verbatim."
    )


class Explanation(Contract):
    """What the assessment looked at, what weighed most and what was left out: what a candidate asking "why"
    is told (the report words it in the interview's language)."""

    looked_at: Annotated[list[Code], UniqueItems(), Field(max_length=16)] = Field(
        description="Measures the assessment used: answer_content, speaking_fluency, voice, eye_contact, "
        "expression, posture_and_motion."
    )
    weights: Annotated[list[DimensionWeight], UniqueBy(("dimension",)), Field(max_length=100)] = Field(
        description="Every scored dimension's share of the overall score, largest first; empty without one."
    )
    not_measured: Annotated[list[NotMeasured], UniqueBy(("measure",)), Field(max_length=16)] = Field(
        default_factory=list, description="Measures left out, with the reason."
    )
    accommodations: Accommodations = Field(default_factory=list, description="The accommodations that were applied.")


class InferredWindow(Contract):
    """A question window fusion used that was found in the recording rather than given."""

    __rules__ = (Compare("start_s", "<", "end_s"),)

    question_id: ExternalId = Field(description="The question, as in the profile's context.questions.")
    start_s: Seconds = Field(description="Media time the window opens.")
    end_s: Seconds = Field(description="Media time the window ends.")
    match_confidence: Ratio = Field(description="How clearly the question was recognised, 0-1 (0: unlisted).")
    listed: bool = Field(description="False when the question heard matched none of the listed ones.")


class QuestionWindows(Contract):
    """How the question windows of an interview that came without them were found."""

    method: Code = Field(
        description="two_voices (the interviewer's turns) or one_voice (silence-separated answers of a one-way "
        "interview), mixed when segments of a long recording differed; none when no window was found."
    )
    windows: Annotated[list[InferredWindow], UniqueBy(("question_id",)), Field(max_length=100)] = Field(
        default_factory=list, description="The windows found, in time order; the same as context.questions."
    )
    match_confidence: Ratio | None = Field(
        None, description="The lowest match confidence of the windows; null without windows."
    )


class ProfileReady(EventBase):
    """The candidate profile built from all features; a suggestion a human must confirm."""

    __rules__ = (When("overall", "label", (ProfileLabel.RECOMMEND, ProfileLabel.REJECT), then="required"),)

    event_type: Literal["profile-ready"] = Field("profile-ready", description="Always 'profile-ready'.")
    context: InterviewContext = Field(description="The interview context.")
    profile_id: Uuid = Field(description="Id of the profile (UUIDv5 of tenant, interview and profile_version).")
    profile_version: Annotated[int, Field(ge=1), INTEGRAL] = Field(
        description="1 for the first profile of the interview, incremented by each re-analysis."
    )
    dimensions: Annotated[list[DimensionScore], UniqueBy(("dimension",)), Field(max_length=100)] = Field(
        description="Dimension scores with evidence."
    )
    overall: Score | None = Field(
        None, description="Overall score 0-100; null when the evidence does not allow one (label is then pending)."
    )
    label: ProfileLabel = Field(description="Suggested outcome: recommend, pending or reject.")
    needs_human_review: Annotated[Literal[True], LITERAL_BOOL] = Field(
        True, description="Always true: a person confirms every label before it affects the candidate."
    )
    data_quality: Annotated[list[OpenDataQualityFlag], UniqueItems(), Field(max_length=32)] = Field(
        default_factory=list,
        description="Why the profile may rest on weaker evidence (audio_only, no_face_detected, "
        "missing_speech_segments, emotion_inference_not_permitted, ...). Unknown flags are shown verbatim.",
    )
    coverage: Coverage = Field(description="How many of the expected inputs the profile is built from.")
    report: ObjectRef | ReportLink = Field(description="The rendered report: a stored object or a URL.")
    scoring_model_version: Version = Field(description="Version of the fusion scoring model.")
    feature_versions: ModelVersions = Field(description="Versions of the upstream feature extractors, by component.")
    explanation: Explanation | None = Field(
        None, description="Plain-language basis of the profile for the candidate; null from producers that predate it."
    )
    question_windows: QuestionWindows | None = Field(
        None,
        description="Set when the interview came without question windows: how they were found, with the match "
        "confidence per question (context.questions then holds the windows found, and untimed_questions is "
        "empty); null when they were given.",
    )


# --- fairness audit ----------------------------------------------------------------------------------------


class CandidateDemographics(EventBase):
    """A candidate's voluntary self-identification, sent by the HR system for the bias audit only.

    Stored apart (``candidate_demographics``) and readable only by the auditor role: scoring, fusion,
    reports and reviewers never see it. It describes the candidate, not the interview: the audit applies
    the latest answer (by ``collected_at``) to every interview of the candidate at the tenant.
    """

    event_type: Literal["candidate-demographics"] = Field(
        "candidate-demographics", description="Always 'candidate-demographics'."
    )
    candidate_ref: CandidateRef = Field(
        description="Pseudonymous reference to the candidate, as in interview-completed; never a name or address."
    )
    sex: Sex = Field(
        description="Self-identified sex: female, male, non_binary, or declined_to_answer (EEO-1 categories)."
    )
    race_ethnicity: RaceEthnicity = Field(
        description="Self-identified race/ethnicity in the EEO-1 categories, or declined_to_answer."
    )
    collected_at: Timestamp = Field(description="When the candidate answered the self-identification form.")
    form_version: Version = Field(description="Version of the self-identification form the candidate answered.")


# --- human review and outcomes ----------------------------------------------------------------------------


class ReviewDecision(EventBase):
    """A person's decision on a profile: confirm its suggested label or override it. Published by the HR system
    or the review console. A later decision on the same interview supersedes an earlier one (the latest
    decided_at is current); every decision is kept as history."""

    __rules__ = (
        When("override_label", "action", (ReviewAction.OVERRIDE,), then="required", otherwise="null"),
        When("reason_codes", "action", (ReviewAction.OVERRIDE,), then="required"),
    )

    event_type: Literal["review-decision"] = Field("review-decision", description="Always 'review-decision'.")
    decision_id: ExternalId = Field(
        description="Id of the decision in the system that recorded it, unique within the tenant; publishing the "
        "same decision again (same id) replaces it instead of adding one."
    )
    profile_version: Annotated[int, Field(ge=1), INTEGRAL] = Field(
        description="Version of the profile the reviewer read (profile-ready profile_version)."
    )
    suggested_label: ProfileLabel = Field(description="The profile's suggested label the reviewer saw.")
    action: ReviewAction = Field(description="confirm (the suggested label stands) or override.")
    override_label: ProfileLabel | None = Field(
        None, description="The label the reviewer chose instead: required on override, null on confirm."
    )
    reason_codes: Annotated[list[OpenOverrideReason], UniqueItems(), Field(min_length=1, max_length=16)] | None = Field(
        None,
        description="Why (evidence_misread, missing_context, poor_recording_quality, language_or_accent, "
        "job_fit_not_captured, other_evidence, policy); required on override, optional on confirm.",
    )
    note: Text | None = Field(None, description="Free-text note of the reviewer; no personal data beyond the review.")
    reviewer_id: ExternalId = Field(description="Pseudonymous id of the reviewer in the HR system or console.")
    reviewer_role: Code = Field(description="Role of the reviewer (reviewer, recruiter, hiring_manager, admin).")
    decided_at: Timestamp = Field(description="When the reviewer decided.")

    @property
    def final_label(self) -> ProfileLabel:
        """The label the reviewer settled on."""
        return self.override_label or self.suggested_label


class PerformanceRating(Contract):
    """One rating of the hired candidate's performance, on the scale the HR system uses."""

    __rules__ = (
        Compare("scale_min", "<", "scale_max"),
        Compare("scale_min", "<=", "value"),
        Compare("value", "<=", "scale_max"),
    )

    measure: Code = Field(description="What was rated (performance, potential, manager_rating), snake_case.")
    value: Annotated[float, Field(ge=-1000, le=1000)] = Field(description="The rating, within the scale.")
    scale_min: Annotated[float, Field(ge=-1000, le=1000)] = Field(description="Lowest value of the scale.")
    scale_max: Annotated[float, Field(ge=-1000, le=1000)] = Field(description="Highest value of the scale.")
    at_months: Annotated[int, Field(ge=0, le=240), INTEGRAL] | None = Field(
        None, description="Months after the start of employment the rating refers to (6, 12); null if not tied to one."
    )
    rated_at: Timestamp = Field(description="When the rating was given.")


class CandidateOutcome(EventBase):
    """What became of the candidate, published by the HR system (possibly months after the interview). Each event
    states everything known so far; the latest recorded_at of an interview is current."""

    event_type: Literal["candidate-outcome"] = Field("candidate-outcome", description="Always 'candidate-outcome'.")
    candidate_ref: CandidateRef = Field(description="Pseudonymous candidate reference, as in interview-completed.")
    job_id: ExternalId = Field(description="Job (requisition) the outcome is for.")
    stage: OpenOutcomeStage = Field(
        description="How far the candidate went: hired, offer_declined, rejected, withdrew, left_within_probation, "
        "passed_probation. Unknown snake_case stages are kept."
    )
    hired_at: Timestamp | None = Field(None, description="Start of employment, when hired.")
    tenure_days: Annotated[int, Field(ge=0, le=36_500), INTEGRAL] | None = Field(
        None, description="Days employed so far (or until leaving), when hired."
    )
    ratings: Annotated[list[PerformanceRating], UniqueBy(("measure", "at_months")), Field(max_length=32)] = Field(
        default_factory=list, description="Performance ratings with their scale and date, one per measure and month."
    )
    recorded_at: Timestamp = Field(description="When the HR system recorded this state of the outcome.")


class RescoreRequested(EventBase):
    """Score an interview again with another version of its job's competency model, for example the version
    `sightline calibrate --apply` wrote. Fusion answers with a new profile version scored by that model (its
    context names the version); earlier versions stay."""

    event_type: Literal["rescore-requested"] = Field("rescore-requested", description="Always 'rescore-requested'.")
    competency_model: CompetencyModelRef = Field(
        description="The competency model and version to score with; fusion must have it configured."
    )
    reason: Text = Field(description="Why the interview is scored again (which calibration), for operators.")


# --- candidate rights ---------------------------------------------------------------------------------------


class CandidateErasureRequested(Envelope):
    """Erase everything Sightline holds about a candidate (a data subject's request) or about named interviews
    (retention expired). The sink performs it in every store and records an erasure receipt (table
    ``erasure_receipts``) saying what was removed where, without the personal data itself. Not an interview
    event: a candidate may have several interviews."""

    __rules__ = (
        When("candidate_ref", "scope", ("candidate",), then="required"),
        When("interview_ids", "scope", ("interviews",), then="required"),
    )

    event_type: Literal["candidate-erasure-requested"] = Field(
        "candidate-erasure-requested", description="Always 'candidate-erasure-requested'."
    )
    tenant_id: TenantId = Field(description="Tenant whose data is erased; nothing of another tenant is touched.")
    scope: Literal["candidate", "interviews"] = Field(
        description="candidate: every interview of candidate_ref, with their demographics and outcomes; "
        "interviews: the interviews in interview_ids."
    )
    candidate_ref: CandidateRef | None = Field(
        None, description="The candidate to erase; required when scope is candidate."
    )
    interview_ids: Annotated[list[ExternalId], UniqueItems(), Field(min_length=1, max_length=1000)] | None = Field(
        None, description="Interviews to erase; required when scope is interviews (also erased with a candidate)."
    )
    reason: Code = Field(
        description="Why: candidate_request (a data subject's erasure request) or retention_expired (the schedule)."
    )
    requested_by: ExternalId = Field(description="Pseudonymous id of the operator or process that asked.")
    requested_at: Timestamp = Field(description="When the erasure was asked for; deadlines run from here.")


# --- operations --------------------------------------------------------------------------------------------

DetailValue = str | int | float | bool | None


class StageStatus(EventBase):
    """Progress of a stage on one unit of work (an interview, a chunk, a segment)."""

    __rules__ = (
        When(
            "reason",
            "state",
            (StageState.FAILED, StageState.RETRYING),
            then="required",
            otherwise="null",
        ),
    )

    event_type: Literal["stage-status"] = Field("stage-status", description="Always 'stage-status'.")
    stage: StageName = Field(description="The stage reporting.")
    state: StageState = Field(description="started, completed, failed (final) or retrying (will try again).")
    attempt: Annotated[int, Field(ge=1, le=1000), INTEGRAL] = Field(description="Attempt number, 1 for the first try.")
    reason: FailureReason | None = Field(
        None, description="Why it failed or is retried; required for failed and retrying, null otherwise."
    )
    unit: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        None, description="The unit of work within the interview ('chunk 3/12', 'segment 2/8'); null for all of it."
    )
    emitted: Annotated[dict[TopicName, Count], Field(max_length=16)] = Field(
        default_factory=dict,
        description="On completed: events emitted per output topic. The frames stage always reports both "
        "sightline.frame-chunk-ready.v1 and sightline.audio-ready.v1, so fusion knows when a modality has none.",
    )
    detail: Annotated[dict[Code, DetailValue], Field(max_length=32)] = Field(
        default_factory=dict, description="Extra facts (durations, counts, versions) keyed by snake_case name."
    )


class SourceRecord(Contract):
    """Where the dead-lettered message was read."""

    topic: Annotated[str, Field(min_length=1, max_length=249)] = Field(description="Topic of the message.")
    partition: Count = Field(description="Partition of the message.")
    offset: Count = Field(description="Offset of the message.")
    key_b64: Base64 | None = Field(None, description="Message key, base64; null when the message had none.")
    timestamp_ms: Count | None = Field(None, description="Kafka timestamp of the message, ms since the epoch.")


class Header(Contract):
    """A Kafka record header, verbatim."""

    key: Annotated[str, Field(max_length=1024)] = Field(description="Header name.")
    value_b64: Base64 | None = Field(description="Header value, base64; null for a null value.")


class DeadLetterError(Contract):
    """What went wrong with the message."""

    type: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="Error class (ContractError, TimeoutError...)."
    )
    code: OpenFailureCode | None = Field(None, description="Failure code, when the stage classified the error.")
    message: Annotated[str, Field(min_length=1, max_length=4000)] = Field(
        description="What failed, specific enough to fix it (which field, why)."
    )
    retryable: bool = Field(description="True when replaying the message later may succeed.")


class DeadLetter(Envelope):
    """A message a stage gave up on, kept byte-for-byte for inspection and replay. Not an interview event:
    a malformed message may not say which interview it was about."""

    event_type: Literal["dead-letter"] = Field("dead-letter", description="Always 'dead-letter'.")
    stage: StageName = Field(description="The stage that gave up.")
    tenant_id: TenantId | None = Field(None, description="Tenant, when it could be read from the payload.")
    interview_id: ExternalId | None = Field(None, description="Interview, when it could be read from the payload.")
    source: SourceRecord = Field(description="Where the message was read.")
    headers: Annotated[list[Header], Field(max_length=256)] = Field(
        default_factory=list, description="The message's headers, in order."
    )
    error: DeadLetterError = Field(description="Why the stage gave up.")
    attempts: Annotated[int, Field(ge=1, le=1000), INTEGRAL] = Field(description="Attempts made before giving up.")
    payload_b64: Base64 = Field(description="The message value exactly as read, base64 (empty for a null value).")


#: Every event model, by event type.
EVENT_MODELS: dict[str, type[Envelope]] = {
    model.model_fields["event_type"].default: model
    for model in (
        InterviewCompleted,
        MediaIngested,
        FrameChunkReady,
        AudioReady,
        FrameRangeRequested,
        VisionFeatures,
        SpeechResults,
        ProfileReady,
        CandidateDemographics,
        StageStatus,
        DeadLetter,
        ReviewDecision,
        CandidateOutcome,
        RescoreRequested,
        CandidateErasureRequested,
    )
}


def derived_envelope(source: EventBase, stage: str, event_type: str, *parts: str, producer: str) -> dict[str, Any]:
    """Envelope fields of an event a stage derives from ``source``: the same tenant and interview, a
    deterministic id (stage, output type, source id, ``parts``) so replays repeat it, and the lineage."""
    return {
        "event_id": deterministic_event_id(stage, event_type, str(source.event_id), *parts),
        "occurred_at": datetime.now(UTC),
        "tenant_id": source.tenant_id,
        "interview_id": source.interview_id,
        "producer": producer,
        "caused_by": source.event_id,
    }
