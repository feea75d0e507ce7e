"""Generated interview answers with their truth, cut as the speech stage gets them, and the scores of what an engine
heard in them (filler recall). Shared by the speech tests (tests/unit/test_speech_asr.py) and `make eval`."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from services.samples import SampleSpec, generate_interview
from services.samples.ground_truth import GroundTruth, Utterance
from services.speech.engines import SAMPLE_RATE, Transcription
from services.speech.fillers import find_fillers
from services.speech.text import TimedText

#: Audio kept before the answer starts, so the first word is not clipped and time to first word is > 0.
LEAD_S = 0.5


@dataclass(frozen=True)
class Answer:
    audio: np.ndarray
    truth: Utterance
    offset_s: float  # media time of audio[0]
    #: What a second voice in the room said during the answer (the truth's background speech).
    background: tuple[str, ...] = ()


def decode(path: Path) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "1", "-ar", str(SAMPLE_RATE), "-"],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.float32)


def answers(spec: SampleSpec, out: Path, max_s: float | None = None, name: str | None = None) -> list[Answer]:
    """The complete answers of the interview ``spec`` generates, each from `LEAD_S` before it starts; with
    ``max_s``, cut after the last phrase that ends within that many seconds."""
    result = generate_interview(spec, out, name=name)
    return answers_of(result.media_path, result.truth, max_s)


def answers_of(media: Path, truth: GroundTruth, max_s: float | None = None) -> list[Answer]:
    audio = decode(media)
    out = []
    for question in truth.questions:
        answer = question.answer
        if answer.truncated:
            continue
        start = answer.start - LEAD_S
        end = answer.end
        if max_s is not None:
            end = max(seg.end for seg in answer.segments if seg.kind != "pause" and seg.end <= start + max_s) + 0.3
        heard_behind = tuple(b.text for b in truth.speech.background if b.start < end and b.end > start)
        out.append(Answer(audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)], answer, start, heard_behind))
    return out


def filler_recall(truth: Utterance, offset_s: float, heard: Transcription) -> tuple[int, int]:
    """(truth fillers heard at their time, truth fillers)."""
    found = find_fillers(TimedText(heard.words), heard.language)
    hits = 0
    for filler in truth.fillers:
        start, end = filler.start - offset_s, filler.end - offset_s
        if any(f.text.lower().strip(",.") == filler.text.lower() and f.start_s < end + 0.6 and f.end_s > start - 0.6
               for f in found):  # fmt: skip
            hits += 1
    return hits, len(truth.fillers)


__all__ = ["LEAD_S", "Answer", "answers", "answers_of", "decode", "filler_recall"]
