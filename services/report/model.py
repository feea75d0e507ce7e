"""What a report is rendered from: the profile, the interview's feature events and its key frames."""

from __future__ import annotations

import base64
from pathlib import PurePosixPath
from typing import Annotated, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, model_validator

from services.common.contracts import EventBase, ProfileReady, SpeechResults, VisionFeatures
from services.ingest.policy import may_extract_video

from .i18n import Language, language_for_locale

KeyFramePosition = Literal["start", "middle", "end"]
KEY_FRAME_POSITIONS: tuple[KeyFramePosition, ...] = ("start", "middle", "end")

_CONFIG = ConfigDict(frozen=True, extra="forbid")


def _from_base64(value: object) -> object:
    """Text is the image in standard base64 (how a JSON file carries it); bytes are taken as they are."""
    return base64.b64decode(value, validate=True) if isinstance(value, str) else value


def _to_base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


#: Image bytes: raw in Python, standard base64 in JSON.
ImageBytes = Annotated[
    bytes, BeforeValidator(_from_base64), PlainSerializer(_to_base64, return_type=str, when_used="json")
]


class KeyFrame(BaseModel):
    """A thumbnail the frames stage stored for a question: nearest sampled frame to the start, middle or
    end of its answer window (``.../keyframes/<question_id>-<position>.jpg``)."""

    model_config = _CONFIG

    question_id: str = Field(min_length=1, description="Question whose answer window the frame belongs to.")
    position: KeyFramePosition = Field(description="start, middle or end of the answer window.")
    image: ImageBytes = Field(min_length=1, description="The encoded image (base64 in JSON).")
    content_type: Literal["image/jpeg", "image/png"] = Field("image/jpeg", description="Encoding of image.")
    object_key: str | None = Field(
        None, description="Key the frame is stored under, so key-frame evidence that points at it shows the image."
    )

    @classmethod
    def from_object_key(cls, key: str, image: bytes) -> Self:
        """A key frame named by the frames stage's key convention ``.../<question_id>-<position>.jpg``."""
        stem = PurePosixPath(key).stem
        question_id, _, position = stem.rpartition("-")
        if not question_id or position not in KEY_FRAME_POSITIONS:
            raise ValueError(f"not a key-frame key (<question_id>-start|middle|end.jpg): {key!r}")
        return cls.model_validate({"question_id": question_id, "position": position, "image": image, "object_key": key})


class ReportInput(BaseModel):
    """Everything one report shows. Feature events may repeat (at-least-once delivery) or be missing
    (a partial profile); the renderer de-duplicates and says what is missing."""

    model_config = _CONFIG

    profile: ProfileReady = Field(description="The profile the report explains.")
    vision: list[VisionFeatures] = Field(default_factory=list, description="The interview's vision-features events.")
    speech: list[SpeechResults] = Field(default_factory=list, description="The interview's speech-results events.")
    key_frames: list[KeyFrame] = Field(default_factory=list, description="Key frames by question and position.")
    language: Language | None = Field(None, description="en or zh; null: from the interview locale.")

    @model_validator(mode="after")
    def _one_interview(self) -> Self:
        wanted = (self.profile.tenant_id, self.profile.interview_id)
        events: list[EventBase] = [*self.vision, *self.speech]
        strangers = sorted(
            {f"{e.tenant_id}/{e.interview_id}" for e in events if (e.tenant_id, e.interview_id) != wanted}
        )
        if strangers:
            raise ValueError(f"events of other interviews than {wanted[0]}/{wanted[1]}: {', '.join(strangers)}")
        return self

    @model_validator(mode="after")
    def _key_frames_only_when_permitted(self) -> Self:
        if self.key_frames and not may_extract_video(self.profile.context.permitted_analyses):
            raise ValueError("key frames of an interview whose consent does not permit video and face analysis")
        return self

    @property
    def report_language(self) -> Language:
        return self.language or language_for_locale(self.profile.context.locale)

    def key_frame(self, question_id: str, position: KeyFramePosition) -> KeyFrame | None:
        for frame in self.key_frames:
            if frame.question_id == question_id and frame.position == position:
                return frame
        return None

    def key_frame_by_object_key(self, key: str) -> KeyFrame | None:
        return next((frame for frame in self.key_frames if frame.object_key == key), None)
