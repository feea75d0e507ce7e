"""What fusion scores: everything stored about one interview, gathered into one value.

Pure data: `services.fusion.ledger` fills it from the object store, `services.fusion.scoring` reads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from services.common.contracts import MediaIngested, ObjectRef, Question, SpeechResults, VisionFeatures
from services.fusion.found import found_questions, per_answer_speech, windows_missing


@dataclass(frozen=True)
class Manifest:
    """How many parts the interview has, as frames announced it in its completed status."""

    media_event_id: str
    chunks: int
    segments: int
    frames_failed: str | None = None  # the failure reason when frames could not process the media


@dataclass(frozen=True)
class JobModel:
    """What scoring needs of the job's competency model (see services.common.competency)."""

    model_id: str
    version: str
    competency_weights: Mapping[str, float]
    question_competencies: Mapping[str, Sequence[str]] = field(default_factory=dict)
    pressure_questions: frozenset[str] = frozenset()
    recommend_at: float | None = None
    reject_below: float | None = None


@dataclass(frozen=True)
class InterviewInputs:
    ingested: MediaIngested
    manifest: Manifest
    vision: Sequence[VisionFeatures]
    speech: Sequence[SpeechResults]
    failed_chunks: frozenset[int] = frozenset()
    failed_segments: frozenset[int] = frozenset()
    keyframes: Mapping[str, ObjectRef] = field(default_factory=dict)  # "<question_id>-<start|middle|end>"
    job_model: JobModel | None = None

    @property
    def windows_found(self) -> bool:
        """The interview came without question windows: speech found them (`services.fusion.found`)."""
        return windows_missing(self.ingested.context)

    @property
    def questions(self) -> Sequence[Question]:
        """The questions with their windows: as given, or as found in the recording."""
        if not self.windows_found:
            return self.ingested.context.questions
        pressure = self.job_model.pressure_questions if self.job_model else frozenset()
        return found_questions(self.ingested.context, self.speech, pressure)

    @property
    def answer_speech(self) -> Sequence[SpeechResults]:
        """Speech results one per answer: as received, or cut from the found windows."""
        return per_answer_speech(self.speech) if self.windows_found else self.speech

    @property
    def vision_received(self) -> int:
        return len({v.chunk_index for v in self.vision} | set(self.failed_chunks))

    @property
    def speech_received(self) -> int:
        return len({s.segment_index for s in self.speech} | set(self.failed_segments))

    @property
    def complete(self) -> bool:
        return self.vision_received >= self.manifest.chunks and self.speech_received >= self.manifest.segments
