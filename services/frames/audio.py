"""Audio segments: 16 kHz mono PCM cut per question, stored as WAV.

Segments follow the interview's questions (their answer windows, clipped to the recording); when no
question window lies inside the recording, the audio is cut into bounded segments of
``max_segment_s`` instead. An interview that came without windows (`untimed_segment_s`) gets the whole
recording as one segment, up to `UNTIMED_SEGMENT_S`: speech finds the windows in it, and turns cannot be
followed across a cut. `SegmentAssembler` takes the decoder's audio blocks in order and hands
back each segment as soon as the audio has passed its end, so only the current segment is held in
memory.
"""

from __future__ import annotations

import io
import math
import wave
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from services.frames.decode import AUDIO_RATE, AudioBlock, Samples

DEFAULT_SEGMENT_S = 60.0
#: Longest segment of an interview without windows: an hour of 16 kHz mono PCM is 115 MB.
UNTIMED_SEGMENT_S = 3600.0
WAV_FORMAT = "wav-pcm-s16le"
WAV_CONTENT_TYPE = "audio/wav"


@dataclass(frozen=True)
class Window:
    """A question's answer window as the context gives it."""

    question_id: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Segment:
    index: int
    start_s: float
    end_s: float
    question_id: str | None


def plan_segments(
    windows: Sequence[Window], duration_s: float, max_segment_s: float = DEFAULT_SEGMENT_S
) -> list[Segment]:
    """One segment per question window inside ``[0, duration_s)``; bounded fixed segments otherwise."""
    if not duration_s > 0:
        raise ValueError(f"duration must be positive, got {duration_s}")
    if not max_segment_s > 0:
        raise ValueError(f"segment length must be positive, got {max_segment_s}")
    ranges: list[tuple[float, float, str | None]] = []
    for w in sorted(windows, key=lambda w: w.start_s):
        start, end = max(0.0, w.start_s), min(w.end_s, duration_s)
        if end > start:
            ranges.append((start, end, w.question_id))
    if not ranges:
        count = max(1, math.ceil(duration_s / max_segment_s - 1e-9))
        ranges = [(i * max_segment_s, min(duration_s, (i + 1) * max_segment_s), None) for i in range(count)]
    return [Segment(i, start, end, qid) for i, (start, end, qid) in enumerate(ranges)]


def untimed_segment_s(duration_s: float) -> float:
    """Segment length for an interview without windows: all of it, in hour-long parts beyond an hour."""
    return min(max(duration_s, 1e-3), UNTIMED_SEGMENT_S)


class SegmentAssembler:
    """Routes audio blocks into the planned segments; blocks must arrive in time order."""

    def __init__(self, segments: Sequence[Segment], rate: int = AUDIO_RATE) -> None:
        self.segments = list(segments)
        self.rate = rate
        self._current = 0
        self._parts: list[Samples] = []

    def feed(self, block: AudioBlock) -> list[tuple[Segment, Samples]]:
        """Add a block; return the segments it completed."""
        done: list[tuple[Segment, Samples]] = []
        n = int(block.samples.size)
        block_end = block.start_s + n / self.rate
        while self._current < len(self.segments):
            seg = self.segments[self._current]
            if seg.start_s >= block_end:
                break
            lo = min(n, max(0, round((seg.start_s - block.start_s) * self.rate)))
            hi = min(n, max(0, round((seg.end_s - block.start_s) * self.rate)))
            if hi > lo:
                self._parts.append(block.samples[lo:hi].copy())
            if block_end < seg.end_s:
                break
            done.append((seg, self._take()))
            self._current += 1
        return done

    def finish(self) -> list[tuple[Segment, Samples]]:
        """The remaining segments (the audio ended early): what they got, possibly nothing."""
        done: list[tuple[Segment, Samples]] = []
        while self._current < len(self.segments):
            done.append((self.segments[self._current], self._take()))
            self._current += 1
        return done

    def _take(self) -> Samples:
        parts, self._parts = self._parts, []
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


def wav_bytes(samples: Samples, rate: int = AUDIO_RATE) -> bytes:
    """A mono 16-bit PCM WAV file."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())
    return out.getvalue()


__all__ = [
    "DEFAULT_SEGMENT_S",
    "WAV_CONTENT_TYPE",
    "WAV_FORMAT",
    "Segment",
    "SegmentAssembler",
    "Window",
    "plan_segments",
    "untimed_segment_s",
    "wav_bytes",
]
