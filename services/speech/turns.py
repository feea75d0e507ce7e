"""Who speaks when, in a recording of one or two voices: speech stretches, voices, turns (pure functions).

Speech is found by loudness (`speech_stretches`): frames within `SPEECH_BELOW_PEAK_DB` of the recording's loud
level, joined over short gaps. Each stretch is cut into pieces of at most `PIECE_S` and every piece gets a
voice embedding (`services.speech.voices`); `two_voices` splits the pieces into two clusters (2-means on the
unit sphere, started from the two least similar pieces) and says whether the clusters really are two people:
the same voice gives centroids more alike than `SAME_VOICE_COSINE`, and a "voice" of a few stray pieces is none
(`MIN_VOICE_SHARE`). Labels are smoothed (an isolated piece
takes its neighbours' voice) and consecutive pieces of one voice make a turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from services.speech.metrics import frame_levels_db

SAMPLE_RATE = 16_000
_FRAME = 480  # 30 ms
_HOP = 160  # 10 ms
#: Frames quieter than the recording's loud level (95th percentile) by more than this are not speech.
SPEECH_BELOW_PEAK_DB = 30.0
SILENCE_FLOOR_DB = -60.0
#: Gaps shorter than this inside speech (between words) do not end a stretch.
JOIN_GAP_S = 0.3
#: Stretches shorter than this are clicks or breaths.
MIN_STRETCH_S = 0.2
#: Longest piece embedded at once: short enough that a piece rarely holds two voices.
PIECE_S = 1.5
#: Centroids of two clusters of one voice are at least this alike: one generated voice split in two gave 0.87,
#: two voices 0.66-0.67.
SAME_VOICE_COSINE = 0.78
#: A second voice must hold at least this share of the speech (and two pieces): a few stray pieces of one
#: speaker (a laugh, a cough, a pitch-shifted phrase) are not an interviewer.
MIN_VOICE_SHARE = 0.08

Audio = NDArray[np.float32]
Vectors = NDArray[np.float32]


@dataclass(frozen=True)
class Stretch:
    """A stretch of audio, seconds."""

    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class Turn:
    """Consecutive speech of one voice (0 or 1), seconds."""

    voice: int
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Voices:
    """The pieces' voices and whether there are two."""

    labels: list[int]
    two: bool
    centroid_cosine: float


def speech_stretches(audio: Audio, rate: int = SAMPLE_RATE, join_gap_s: float = JOIN_GAP_S) -> list[Stretch]:
    """Stretches of speech found by loudness, joined over gaps shorter than ``join_gap_s``."""
    levels = frame_levels_db(audio, _FRAME * rate // SAMPLE_RATE, _HOP * rate // SAMPLE_RATE)
    if levels.size == 0:
        return []
    loud = float(np.percentile(levels, 95))
    voiced = (levels > SILENCE_FLOOR_DB) & (levels > loud - SPEECH_BELOW_PEAK_DB)
    hop_s, frame_s = _HOP / SAMPLE_RATE, _FRAME / SAMPLE_RATE
    stretches: list[Stretch] = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], voiced.astype(np.int8), [0]])))
    for first, stop in zip(edges[::2], edges[1::2], strict=True):
        start, end = first * hop_s, (stop - 1) * hop_s + frame_s
        if stretches and start - stretches[-1].end_s < join_gap_s:
            stretches[-1] = Stretch(stretches[-1].start_s, end)
        else:
            stretches.append(Stretch(start, end))
    return [s for s in stretches if s.duration_s >= MIN_STRETCH_S]


def pieces(stretches: Sequence[Stretch], piece_s: float = PIECE_S) -> list[Stretch]:
    """Each stretch cut into equal pieces of at most ``piece_s``."""
    out: list[Stretch] = []
    for s in stretches:
        count = max(1, int(np.ceil(s.duration_s / piece_s - 1e-9)))
        step = s.duration_s / count
        out += [Stretch(s.start_s + i * step, s.start_s + (i + 1) * step) for i in range(count)]
    return out


def cut(audio: Audio, stretch: Stretch, rate: int = SAMPLE_RATE) -> Audio:
    return audio[int(stretch.start_s * rate) : int(stretch.end_s * rate)]


def _unit(vectors: Vectors) -> Vectors:
    norms = np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)
    return np.asarray(vectors / norms, dtype=np.float32)


def two_voices(embeddings: Vectors, weights: Sequence[float] | None = None, iterations: int = 20) -> Voices:
    """Split unit embeddings into two clusters; ``two`` says whether they are two different voices."""
    n = len(embeddings)
    if n < 2:
        return Voices(labels=[0] * n, two=False, centroid_cosine=1.0)
    w = np.asarray(weights if weights is not None else np.ones(n), dtype=np.float64)[:, None]
    similarity = embeddings @ embeddings.T
    a, b = np.unravel_index(int(np.argmin(similarity)), similarity.shape)
    centroids = embeddings[[a, b]].astype(np.float32)
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(iterations):
        new = np.argmax(embeddings @ centroids.T, axis=1)
        if len(set(new.tolist())) < 2:
            break
        centroids = _unit(np.stack([(embeddings[new == k] * w[new == k]).sum(axis=0) for k in (0, 1)]))
        if np.array_equal(new, labels):
            break
        labels = new
    cosine = float(centroids[0] @ centroids[1])
    shares = [float(w[labels == k].sum()) / float(w.sum()) for k in (0, 1)]
    counts = [int((labels == k).sum()) for k in (0, 1)]
    two = cosine < SAME_VOICE_COSINE and min(shares) >= MIN_VOICE_SHARE and min(counts) >= 2
    return Voices(labels=labels.tolist(), two=two, centroid_cosine=cosine)


def smooth(labels: Sequence[int]) -> list[int]:
    """A piece whose neighbours on both sides agree with each other takes their voice."""
    out = list(labels)
    for i in range(1, len(out) - 1):
        if labels[i - 1] == labels[i + 1] != labels[i]:
            out[i] = labels[i - 1]
    return out


def turns(parts: Sequence[Stretch], labels: Sequence[int]) -> list[Turn]:
    """Consecutive pieces of one voice joined into turns."""
    out: list[Turn] = []
    for part, voice in zip(parts, labels, strict=True):
        if out and out[-1].voice == voice:
            out[-1] = Turn(voice, out[-1].start_s, part.end_s)
        else:
            out.append(Turn(voice, part.start_s, part.end_s))
    return out


__all__ = [
    "SAME_VOICE_COSINE",
    "Stretch",
    "Turn",
    "Voices",
    "cut",
    "pieces",
    "smooth",
    "speech_stretches",
    "turns",
    "two_voices",
]
