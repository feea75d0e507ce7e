"""Ground truth written beside each synthetic interview as ``<name>.truth.json``.

Versioned structure (``schema_name`` + ``schema_version``; a change that breaks readers bumps the major part).
All times are seconds from the start of the media, rounded to milliseconds. Pixel-free: positions are given as
fractions of the display (upright) picture, whose size is ``media.video.display_width/height``.

Top level:

- ``spec``: the options the sample was generated from (seed included: same spec, same truth);
- ``media``: what was written (paths relative to the truth file, sizes, rotation, frame rate, frame timestamps
  for variable frame rate, audio rate);
- ``subject``: expression variant and where the faces come from;
- ``questions``: per question its id, the spoken question (interviewer) and the candidate's answer with
  phrase-exact segments, interpolated word times, fillers, pauses, speaking rate, and whether the recording
  cut it short;
- ``events``: head motion and scene events (nods, head shakes, look-aways with direction, no-face and
  second-face ranges; blinks, which may fall inside the others). ``start``/``end`` of each event is the
  interval during which the state fully holds (e.g. no face at all); the ``*_start``/``*_end`` fields around it
  include the transitions;
- ``speech``: merged speaking ranges of candidate and interviewer.

Directions are in image space as the viewer sees the upright picture: ``left`` means toward x = 0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.samples.spec import AudioTrack, Container, Lang, SampleSpec, Variant

SCHEMA_NAME: Final = "sightline.sample-truth"
SCHEMA_VERSION = "1.0"
GENERATOR_VERSION = "1.0.0"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TimeRange(_Model):
    start: float = Field(..., ge=0, description="Seconds from the start of the media.")
    end: float = Field(..., ge=0, description="Seconds from the start of the media (exclusive).")

    @property
    def duration(self) -> float:
        return self.end - self.start

    def contains(self, t: float) -> bool:
        return self.start <= t < self.end


class Word(TimeRange):
    text: str
    interpolated: bool = Field(
        True, description="Word times are spread over the phrase by length; phrase boundaries are exact."
    )


class Segment(TimeRange):
    """A stretch of an utterance: a synthesised phrase, a filler clip or a silent pause."""

    kind: Literal["speech", "filler", "pause"]
    text: str = Field("", description="What was said (empty for pauses).")
    scripted: bool = Field(False, description="For pauses: a deliberate pause from the script (vs a natural gap).")
    words: list[Word] = Field(default_factory=list)


class Filler(TimeRange):
    text: str


class Pause(TimeRange):
    scripted: bool = Field(..., description="True for a deliberate pause written in the script.")


class Utterance(TimeRange):
    """Everything one speaker said for one question."""

    speaker: Literal["interviewer", "candidate"]
    spoken: bool = Field(True, description="False when the question was only shown, not spoken.")
    text: str = Field(..., description="Plain text of what was audible, fillers included.")
    text_marked: str = Field(..., description="Same text with fillers as [um] and pauses as [pause 0.8s] marks.")
    truncated: bool = Field(False, description="The recording ended before the script did.")
    segments: list[Segment] = Field(default_factory=list)
    fillers: list[Filler] = Field(default_factory=list)
    pauses: list[Pause] = Field(default_factory=list, description="Silent gaps of 0.25 s or more inside it.")
    word_count: int = Field(0, description="Words (en) or Han characters (zh), fillers included.")
    speech_rate: float = Field(
        0.0, description="Words per minute (en) or characters per minute (zh) over the utterance, pauses included."
    )


class QuestionTruth(TimeRange):
    """One question and its answer; start/end span both."""

    question_id: str = Field(..., description="Unique in the sample, e.g. q01 (q07 when the bank repeats).")
    bank_id: str = Field(..., description="Which scripted question, e.g. 'incident'.")
    index: int = Field(..., ge=0)
    repeat: int = Field(0, ge=0, description="How often the bank had already been used up (long recordings).")
    question: Utterance
    answer: Utterance


class Nod(TimeRange):
    count: int = Field(..., ge=1, description="Full down-and-up cycles.")
    period_s: float
    amplitude: float = Field(..., description="Peak downward shift as a fraction of display height.")


class Shake(TimeRange):
    count: int = Field(..., ge=1, description="Full left-right cycles.")
    period_s: float
    amplitude: float = Field(..., description="Peak sideways shift as a fraction of display width.")


class LookAway(TimeRange):
    direction: Literal["left", "right"] = Field(..., description="Where the face turns, in image space.")
    turn_s: float = Field(..., description="Seconds spent turning away at the start and back at the end.")


class NoFace(TimeRange):
    side: Literal["left", "right"] = Field(..., description="Where the candidate leaves the frame.")
    leave_start: float = Field(..., description="The candidate starts moving out.")
    back_end: float = Field(..., description="The candidate is back in place.")


class SecondFace(TimeRange):
    side: Literal["left", "right"]
    enter_start: float
    exit_end: float


class Events(_Model):
    nods: list[Nod] = Field(default_factory=list)
    shakes: list[Shake] = Field(default_factory=list)
    look_aways: list[LookAway] = Field(default_factory=list)
    no_face: list[NoFace] = Field(default_factory=list)
    second_face: list[SecondFace] = Field(default_factory=list)
    blinks: list[TimeRange] = Field(
        default_factory=list, description="The eyes shut (scripted blinks, 0.1-0.3 s each), beside any other event."
    )

    def all_ranges(self) -> list[tuple[str, float, float]]:
        """(kind, outer start, outer end) of every event, transitions included, sorted by start."""
        out: list[tuple[str, float, float]] = []
        out += [("nod", e.start, e.end) for e in self.nods]
        out += [("shake", e.start, e.end) for e in self.shakes]
        out += [("look_away", e.start, e.end) for e in self.look_aways]
        out += [("no_face", e.leave_start, e.back_end) for e in self.no_face]
        out += [("second_face", e.enter_start, e.exit_end) for e in self.second_face]
        return sorted(out, key=lambda r: r[1])


class VideoInfo(_Model):
    present: bool
    codec: str = "h264"
    coded_width: int
    coded_height: int
    display_width: int
    display_height: int
    rotation: int = Field(..., description="Clockwise display rotation stored in the container.")
    fps: float = Field(..., description="Nominal frame rate.")
    vfr: bool
    frame_count: int
    frame_timestamps: list[float] | None = Field(
        None, description="Presentation time of every frame (variable frame rate only)."
    )


SPEECH_ONLY: tuple[AudioTrack, ...] = ("speech",)


class AudioInfo(_Model):
    present: bool
    codec: str = "aac"
    sample_rate: int
    channels: int = 1
    tracks: list[AudioTrack] = Field(
        default_factory=lambda: list(SPEECH_ONLY), description="Each audio stream's content."
    )
    default_track: int | None = Field(None, description="Stream marked default; None: the muxer's choice (first).")


class MediaInfo(_Model):
    path: str = Field(..., description="Media file name, relative to the truth file.")
    container: Container
    duration_s: float
    video: VideoInfo
    audio: AudioInfo


class Subject(_Model):
    variant: Variant
    smiling: bool
    face_source: str
    second_face_source: str


class BackgroundSpeech(TimeRange):
    """Another person speaking in the room, not part of the interview."""

    text: str


class SpeechTruth(_Model):
    candidate: list[TimeRange] = Field(default_factory=list, description="When the candidate is audible.")
    interviewer: list[TimeRange] = Field(default_factory=list, description="When the interviewer is audible.")
    background: list[BackgroundSpeech] = Field(
        default_factory=list, description="When a second voice in the room is audible, and what it says."
    )


class GeneratorInfo(_Model):
    name: str = "sightline.samples"
    version: str = GENERATOR_VERSION
    tts: dict[str, str] = Field(default_factory=dict, description="Voice per speaker.")


class GroundTruth(_Model):
    schema_name: Literal["sightline.sample-truth"] = SCHEMA_NAME
    schema_version: str = SCHEMA_VERSION
    generator: GeneratorInfo = Field(default_factory=GeneratorInfo)
    spec: SampleSpec
    lang: Lang
    duration_s: float
    media: MediaInfo | None = Field(None, description="Filled in once the media file is written.")
    subject: Subject
    questions: list[QuestionTruth]
    events: Events
    speech: SpeechTruth

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    def write(self, path: Path) -> None:
        path.write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> GroundTruth:
        return cls.model_validate_json(path.read_text(encoding="utf-8"))


def json_schema() -> str:
    """JSON Schema of the truth file (for other languages and for validation in tests)."""
    return json.dumps(GroundTruth.model_json_schema(), indent=2, ensure_ascii=False) + "\n"
