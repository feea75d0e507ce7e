"""Long interviews at the sizes interview platforms record (720p30, 1080p30, H.264, 48 kHz AAC), made once and
cached under ``.local/cache/bench-realistic/``.

Rendering every frame of a 15- or 60-minute 1080p interview takes longer than the benchmark itself on a small
machine, so a distinct segment (``segment_minutes`` of a generated interview: the generator's H.264 settings,
veryfast x264, CRF 23, one B-frame, a keyframe every 2 s, AAC at 48 kHz) is rendered once and the file is
looped to the wanted length by ffmpeg with stream copy. The result is an ordinary H.264 stream with the
generator's GOP and B-frames; only its content repeats every segment. The interview event lists the
segment's questions again for every repetition, with the bank id numbered as a repeated question.
"""

from __future__ import annotations

import hashlib
import subprocess
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from services.common.contracts import InterviewCompleted, Question
from services.common.settings import PROJECT_ROOT
from services.samples.event import interview_event, question_id
from services.samples.generate import SampleResult, generate_interview
from services.samples.ground_truth import GroundTruth
from services.samples.spec import SampleSpec

CACHE_DIR = PROJECT_ROOT / ".local" / "cache" / "bench-realistic"
#: Display sizes of the recordings interview platforms send.
RESOLUTIONS: dict[str, tuple[int, int]] = {"720p": (1280, 720), "1080p": (1920, 1080)}
FPS = 30
AUDIO_RATE = 48_000
MAX_QUESTIONS = 100  # the contract's limit


@dataclass(frozen=True)
class LongInterview:
    resolution: str
    minutes: float
    segment: SampleResult
    media_path: Path

    @property
    def size(self) -> tuple[int, int]:
        return RESOLUTIONS[self.resolution]


def segment(resolution: str, minutes: float, out_dir: Path = CACHE_DIR) -> SampleResult:
    """The distinct part of the long interviews, rendered once per resolution and length."""
    width, height = RESOLUTIONS[resolution]
    name = f"segment-{resolution}{FPS}-{minutes:g}min"
    media, truth = out_dir / f"{name}.mp4", out_dir / f"{name}.truth.json"
    if media.exists() and truth.exists():
        return SampleResult(media, truth, GroundTruth.read(truth))
    spec = SampleSpec(
        seed=240, duration=minutes * 60, width=width, height=height, fps=FPS, sample_rate=AUDIO_RATE, noise="ambient"
    )
    return generate_interview(spec, out_dir, name=name)


def looped(source: Path, minutes: float, out: Path) -> Path:
    """``source`` repeated to ``minutes`` by stream copy (no re-encoding: the GOP and B-frames stay the same)."""
    if out.exists():
        return out
    partial = out.with_suffix(".partial.mp4")
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-stream_loop", "-1", "-i", str(source),
         "-t", f"{minutes * 60:g}", "-map", "0", "-c", "copy", "-movflags", "+faststart", str(partial)],
        check=True,
    )  # fmt: skip
    partial.rename(out)
    return out


def long_interview(resolution: str, minutes: float, segment_minutes: float) -> LongInterview:
    part = segment(resolution, min(segment_minutes, minutes))
    if minutes <= segment_minutes:
        return LongInterview(resolution, minutes, part, part.media_path)
    stem = part.media_path.stem.replace("segment-", "interview-")
    media = looped(part.media_path, minutes, CACHE_DIR / f"{stem}-x{minutes:g}min.mp4")
    return LongInterview(resolution, minutes, part, media)


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def event(interview: LongInterview, label: str) -> InterviewCompleted:
    """The interview-completed event of the long interview: the segment's event stretched to its length."""
    base = interview_event(interview.segment, interview_id=f"{label}-{uuid.uuid4().hex[:6]}")
    duration_s = interview.minutes * 60
    seg_s = interview.segment.truth.duration_s
    asked = interview.segment.truth.questions
    repeats = 1 + max((q.repeat for q in asked), default=0)
    questions: list[Question] = []
    for k in range(int(duration_s // seg_s) + 1):
        for q, sent in zip(asked, base.questions, strict=True):
            start, end = q.start + k * seg_s, q.end + k * seg_s
            if end <= duration_s and len(questions) < MAX_QUESTIONS:
                qid = question_id(q.bank_id, q.repeat + k * repeats)
                questions.append(sent.model_copy(update={"question_id": qid, "start_s": start, "end_s": end}))
    checksum = base.media[0].checksum
    assert checksum is not None  # interview_event always sends one
    media = base.media[0].model_copy(
        update={
            "uri": interview.media_path.resolve().as_uri(),
            "size_bytes": interview.media_path.stat().st_size,
            "checksum": checksum.model_copy(update={"value": _sha256(interview.media_path)}),
        }
    )
    data = base.model_dump()
    data.update(
        media=[media.model_dump()],
        questions=[q.model_dump() for q in questions],
        interview_started_at=base.interview_ended_at - timedelta(seconds=duration_s),
    )
    return InterviewCompleted.model_validate(data)
