"""What every section of the report renders from: the input with its derived facts, and shared helpers."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cached_property

from services.common.contracts import InferredWindow, Question, SecondBehaviour, SpeechResults, VisionFeatures

from . import charts, facts, fmt
from .i18n import Language, text
from .model import KeyFrame, ReportInput


@dataclass(frozen=True)
class View:
    """The report input with what every section needs derived once."""

    report: ReportInput

    @property
    def lang(self) -> Language:
        return self.report.report_language

    def t(self, key: str, **values: object) -> str:
        return text(self.lang, key, **values)

    @cached_property
    def vision(self) -> list[VisionFeatures]:
        return facts.latest_vision(self.report.vision)

    @cached_property
    def speech(self) -> list[SpeechResults]:
        return facts.latest_speech(self.report.speech)

    @cached_property
    def seconds(self) -> list[SecondBehaviour]:
        return facts.per_second(self.vision)

    @cached_property
    def emotion(self) -> facts.EmotionStatus:
        return facts.emotion_status(self.vision)

    @cached_property
    def duration_s(self) -> float:
        return facts.interview_duration(self.report)

    @property
    def questions(self) -> list[Question]:
        return list(self.report.profile.context.questions)

    def question_label(self, index: int) -> str:
        return f"Q{index + 1}"

    @cached_property
    def bands(self) -> list[charts.Band]:
        return [
            charts.Band(
                self.question_label(i),
                q.start_s,
                q.end_s,
                q.pressure,
                f"{self.question_label(i)} {fmt.clock_range(q.start_s, q.end_s)}: {q.text}",
            )
            for i, q in enumerate(self.questions)
        ]

    def speech_for(self, question_id: str) -> SpeechResults | None:
        return next((s for s in self.speech if s.question_id == question_id), None)

    def found_window(self, question_id: str) -> InferredWindow | None:
        """The window as found in the recording, for an interview that came without windows."""
        found = self.report.profile.question_windows
        return next((w for w in found.windows if w.question_id == question_id), None) if found else None

    @cached_property
    def accommodated(self) -> dict[str, str]:
        """Measures the profile left out because of an accommodation → the reason: the report does not show them
        either, so a reviewer is not swayed by what the assessment agreed not to look at."""
        found = self.report.profile.explanation
        if found is None:
            return {}
        return {n.measure: n.reason for n in found.not_measured if n.reason.startswith("accommodation_")}

    @property
    def uses_characters(self) -> bool:
        """Chinese speaking rate is counted in characters, not words."""
        return self.lang == "zh"


def image_uri(frame: KeyFrame) -> str:
    """The key frame as a data: URI, so the page needs no other file."""
    return f"data:{frame.content_type};base64,{base64.b64encode(frame.image).decode('ascii')}"
