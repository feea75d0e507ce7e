"""Per-question visual behaviour from the vision-features events of one interview (a pure function).

Chunks are independent, so an episode that crosses a chunk boundary arrives in two pieces: pieces
that touch are joined first, then the look-away minimum duration is applied, then everything is
clipped to each question's window. Counts of nods and shakes come from their times; ratios are
weighted by the frames of the per-second rows that fall in the window. Duplicate events of a chunk
(replays) count once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from services.common.contracts import TimeRange, VisionFeatures

#: Pieces closer than this (seconds) are one episode (a frame period of slack at chunk boundaries).
JOIN_GAP_S = 0.15


class Window(BaseModel):
    model_config = ConfigDict(frozen=True)

    question_id: str
    start_s: float
    end_s: float


class Period(BaseModel):
    model_config = ConfigDict(frozen=True)

    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class QuestionBehaviour(BaseModel):
    model_config = ConfigDict(frozen=True)

    question_id: str
    start_s: float
    end_s: float
    frames_analysed: int
    face_present_ratio: float | None = Field(description="Null when no frame fell in the window.")
    eye_contact_ratio: float | None
    nod_count: int
    shake_count: int
    look_aways: list[Period]
    smiles: list[Period] = Field(description="Empty when expressions were not inferred.")
    smile_s: float | None
    frown_s: float | None = Field(description="Approximate: chunk totals shared by the window's share of each chunk.")
    face_absent: list[Period]
    second_face: list[Period]
    motion_energy: float | None

    @property
    def look_away_count(self) -> int:
        return len(self.look_aways)

    @property
    def smile_count(self) -> int:
        return len(self.smiles)


class InterviewBehaviour(BaseModel):
    model_config = ConfigDict(frozen=True)

    chunks_received: int
    chunks_expected: int
    emotion_inference_performed: bool
    look_aways: list[Period]
    smiles: list[Period]
    face_absent: list[Period]
    second_face: list[Period]
    questions: list[QuestionBehaviour]


def join(pieces: Iterable[TimeRange | Period], gap_s: float = JOIN_GAP_S, min_s: float = 0.0) -> list[Period]:
    """Pieces merged where they touch or overlap (within ``gap_s``); results shorter than ``min_s`` are dropped."""
    merged: list[list[float]] = []
    for piece in sorted(pieces, key=lambda p: p.start_s):
        if merged and piece.start_s <= merged[-1][1] + gap_s:
            merged[-1][1] = max(merged[-1][1], piece.end_s)
        else:
            merged.append([piece.start_s, piece.end_s])
    return [Period(start_s=a, end_s=b) for a, b in merged if b - a >= min_s - 1e-9]


def clip(periods: Sequence[Period], start_s: float, end_s: float) -> list[Period]:
    out = []
    for p in periods:
        a, b = max(p.start_s, start_s), min(p.end_s, end_s)
        if b > a:
            out.append(Period(start_s=a, end_s=b))
    return out


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def unique_chunks(events: Iterable[VisionFeatures]) -> list[VisionFeatures]:
    by_index: dict[int, VisionFeatures] = {}
    for e in events:
        by_index.setdefault(e.chunk_index, e)
    return [by_index[k] for k in sorted(by_index)]


def aggregate(
    events: Iterable[VisionFeatures], windows: Sequence[Window] | None = None, look_away_min_s: float = 1.0
) -> InterviewBehaviour:
    """Behaviour per question window (the interview's questions when ``windows`` is None)."""
    chunks = unique_chunks(events)
    if windows is None:
        questions = chunks[0].context.questions if chunks else []
        windows = [Window(question_id=q.question_id, start_s=q.start_s, end_s=q.end_s) for q in questions]
    summaries = [c.summary for c in chunks]
    look = join((r for s in summaries for r in s.episodes.look_away), min_s=look_away_min_s)
    smiles = join(r for s in summaries for r in s.episodes.smile)
    absent = join(r for s in summaries for r in s.episodes.face_absent)
    second = join(r for s in summaries for r in s.episodes.second_face)
    nods = sorted(t for s in summaries for t in s.nod_times_s)
    shakes = sorted(t for s in summaries for t in s.shake_times_s)
    performed = any(s.emotion_inference.performed for s in summaries)
    rows = [row for c in chunks for row in c.seconds]
    out = []
    for w in windows:
        frames = faces = contact = motion = 0.0
        for row in rows:
            share = _overlap(row.second, row.second + 1, w.start_s, w.end_s)
            if share <= 0:
                continue
            n = row.frames * share
            frames += n
            faces += n * row.face_present_ratio
            if row.eye_contact_ratio is not None:
                contact += n * row.face_present_ratio * row.eye_contact_ratio
            motion += n * row.motion_energy
        window_smiles = clip(smiles, w.start_s, w.end_s)
        frown = None
        if performed:
            frown = sum(
                (c.summary.frown_s or 0.0) * _overlap(c.start_s, c.end_s, w.start_s, w.end_s) / (c.end_s - c.start_s)
                for c in chunks
            )
        out.append(
            QuestionBehaviour(
                question_id=w.question_id,
                start_s=w.start_s,
                end_s=w.end_s,
                frames_analysed=round(frames),
                face_present_ratio=faces / frames if frames else None,
                eye_contact_ratio=contact / faces if faces else None,
                nod_count=sum(1 for t in nods if w.start_s <= t < w.end_s),
                shake_count=sum(1 for t in shakes if w.start_s <= t < w.end_s),
                look_aways=clip(look, w.start_s, w.end_s),
                smiles=window_smiles,
                smile_s=sum(p.duration_s for p in window_smiles) if performed else None,
                frown_s=frown,
                face_absent=clip(absent, w.start_s, w.end_s),
                second_face=clip(second, w.start_s, w.end_s),
                motion_energy=motion / frames if frames else None,
            )
        )
    return InterviewBehaviour(
        chunks_received=len(chunks),
        chunks_expected=chunks[0].total_chunks if chunks else 0,
        emotion_inference_performed=performed,
        look_aways=look,
        smiles=smiles,
        face_absent=absent,
        second_face=second,
        questions=out,
    )


__all__ = ["InterviewBehaviour", "Period", "QuestionBehaviour", "Window", "aggregate", "clip", "join"]
