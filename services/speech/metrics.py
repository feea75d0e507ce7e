"""Speaking behaviour of one answer: rate, pauses, fillers, time to first word, pitch and loudness variation.

Rates are per minute of *speaking time* (first word to last word, pauses included), so a long silence before
the answer shows up in time to first word, not in a slow rate. Pitch comes from a YIN estimator (de
Cheveigné & Kawahara, 2002) over voiced frames, its variation is the standard deviation in semitones around
the median; loudness variation is the standard deviation of frame RMS level in dB over frames above the
loud level. Both are what separates a monotone delivery from a lively one.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from services.speech.text import TimedWord, han_count

SAMPLE_RATE = 16_000
_FRAME = 1024  # 64 ms: two periods of the lowest pitch searched
_HOP = 320  # 20 ms
_F0_MIN, _F0_MAX = 70.0, 400.0
_YIN_THRESHOLD = 0.15
_OCTAVE_ERROR_ST = 11.0
_SILENCE_FLOOR_DB = -60.0
_SPEECH_BELOW_PEAK_DB = 25.0


@dataclass(frozen=True)
class Pause:
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class Behaviour:
    """The measures of `SpeakingMetrics`, segment-relative times."""

    duration_s: float
    word_count: int
    wpm: float
    cpm: float
    pauses: list[Pause]
    pause_ratio: float
    filler_count: int
    filler_rate: float
    time_to_first_word_s: float | None
    speaking_time_s: float
    pitch_variation_st: float | None
    energy_variation_db: float | None

    @property
    def pause_mean_s(self) -> float | None:
        return sum(p.duration_s for p in self.pauses) / len(self.pauses) if self.pauses else None

    @property
    def pause_longest_s(self) -> float:
        return max((p.duration_s for p in self.pauses), default=0.0)


def find_pauses(words: Sequence[TimedWord], min_pause_s: float) -> list[Pause]:
    """Silences between consecutive words at least ``min_pause_s`` long."""
    return [
        Pause(prev.end_s, word.start_s)
        for prev, word in itertools.pairwise(words)
        if word.start_s - prev.end_s >= min_pause_s
    ]


def _count_units(words: Sequence[TimedWord]) -> tuple[int, int]:
    """(words, characters): a Han character counts as a word; other characters are letters and digits."""
    text = "".join(w.text for w in words)
    han = han_count(text)
    latin_words = sum(
        1 for token in text.split() if any(c.isalnum() and not ("\u3400" <= c <= "\u9fff") for c in token)
    )
    letters = sum(1 for c in text if c.isalnum())
    return han + latin_words, letters


def speaking_behaviour(
    words: Sequence[TimedWord],
    audio: NDArray[np.float32],
    duration_s: float,
    filler_count: int,
    min_pause_s: float = 0.5,
) -> Behaviour:
    """All measures of one segment; word times are relative to the segment start."""
    pitch = pitch_variation_semitones(audio)
    energy = energy_variation_db(audio)
    if not words:
        return Behaviour(duration_s, 0, 0.0, 0.0, [], 0.0, 0, 0.0, None, 0.0, pitch, energy)
    first_start = voice_onset(audio, words[0].start_s, words[0].end_s)
    speaking = max(words[-1].end_s - first_start, 1e-3)
    minutes = speaking / 60.0
    units, characters = _count_units(words)
    pauses = find_pauses(words, min_pause_s)
    pause_total = sum(p.duration_s for p in pauses)
    return Behaviour(
        duration_s=duration_s,
        word_count=units,
        wpm=min(units / minutes, 1000.0),
        cpm=min(characters / minutes, 5000.0),
        pauses=pauses,
        pause_ratio=min(1.0, pause_total / duration_s) if duration_s > 0 else 0.0,
        filler_count=filler_count,
        filler_rate=min(filler_count / minutes, 1000.0),
        time_to_first_word_s=max(0.0, first_start),
        speaking_time_s=speaking,
        pitch_variation_st=pitch,
        energy_variation_db=energy,
    )


# --- prosody ------------------------------------------------------------------------------------------------


def _frames(audio: NDArray[np.float32], frame: int, hop: int) -> NDArray[np.float64]:
    if audio.size < frame:
        return np.zeros((0, frame))
    count = 1 + (audio.size - frame) // hop
    index = np.arange(frame)[None, :] + hop * np.arange(count)[:, None]
    return np.asarray(audio.astype(np.float64)[index], dtype=np.float64)


def frame_levels_db(audio: NDArray[np.float32], frame: int = _FRAME, hop: int = _HOP) -> NDArray[np.float64]:
    """RMS level of each frame, dB relative to full scale."""
    frames = _frames(audio, frame, hop)
    rms = np.sqrt(np.mean(frames**2, axis=1) + 1e-12)
    return np.asarray(20.0 * np.log10(rms), dtype=np.float64)


def _speech_mask(levels: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Frames loud enough to be voice: above the absolute floor and within 25 dB of the segment's loud
    level (its 95th percentile), which leaves out room tone and breaths."""
    if levels.size == 0:
        return np.zeros(0, dtype=bool)
    loud = float(np.percentile(levels, 95))
    return np.asarray((levels > _SILENCE_FLOOR_DB) & (levels > loud - _SPEECH_BELOW_PEAK_DB), dtype=bool)


def _steady(mask: NDArray[np.bool_], margin: int = 3) -> NDArray[np.bool_]:
    """Speech frames with speech on both sides: a frame straddling an onset has no single period."""
    if mask.size == 0:
        return mask
    padded = np.pad(mask.astype(np.int32), margin)
    window = np.convolve(padded, np.ones(2 * margin + 1, dtype=np.int32), mode="valid")
    return np.asarray(window == 2 * margin + 1, dtype=bool)


def voice_onset(audio: NDArray[np.float32], start_s: float, end_s: float) -> float:
    """When the voice really starts within a word Whisper placed at [start_s, end_s]: the first 20 ms frame
    there within 30 dB of the segment's loud level. Whisper tends to start the first word of a window early
    (at the window or VAD-chunk start), which would shorten the time to the first word."""
    frame, hop = 320, 160
    levels = frame_levels_db(audio, frame, hop)
    if levels.size == 0:
        return start_s
    threshold = max(_SILENCE_FLOOR_DB, float(np.percentile(levels, 95)) - 30.0)
    first = max(0, int(start_s * SAMPLE_RATE / hop))
    last = min(levels.size, int(end_s * SAMPLE_RATE / hop) + 1)
    loud = np.flatnonzero(levels[first:last] > threshold)
    return (first + int(loud[0])) * hop / SAMPLE_RATE if loud.size else start_s


#: No spoken word lasts this long; a recognised word that does was stretched over something not recognised.
MAX_WORD_S = 2.0


def longest_unworded_speech_s(words: Sequence[TimedWord], audio: NDArray[np.float32], margin_s: float = 0.3) -> float:
    """Most speech-like audio inside one stretch that no recognised word covers, seconds (the speech frames
    of the gap, short pauses between phrases excluded). A large value means the recogniser skipped a passage,
    which Whisper does after some prompts. A word said to last longer than `MAX_WORD_S` covers nothing: when
    Whisper skips a passage it often stretches the next words over it instead of leaving a gap."""
    hop = 160
    levels = frame_levels_db(audio, 320, hop)
    if levels.size == 0:
        return 0.0
    speech = _speech_mask(levels)
    covered = np.zeros(levels.size, dtype=bool)
    for word in words:
        if word.end_s - word.start_s > MAX_WORD_S:
            continue
        first = max(0, int((word.start_s - margin_s) * SAMPLE_RATE / hop))
        last = min(levels.size, int((word.end_s + margin_s) * SAMPLE_RATE / hop) + 1)
        covered[first:last] = True
    most = in_gap = 0
    for is_covered, is_speech in zip(covered, speech, strict=True):
        in_gap = 0 if is_covered else in_gap + int(is_speech)
        most = max(most, in_gap)
    return most * hop / SAMPLE_RATE


def energy_variation_db(audio: NDArray[np.float32]) -> float | None:
    """Standard deviation of the frame level over speech frames, dB; None when (almost) silent."""
    levels = frame_levels_db(audio)
    speech = levels[_speech_mask(levels)]
    if speech.size < 5:
        return None
    return min(float(np.std(speech)), 120.0)


def pitch_track(audio: NDArray[np.float32], sample_rate: int = SAMPLE_RATE) -> NDArray[np.float64]:
    """Fundamental frequency (Hz) of each voiced speech frame (YIN, vectorised over frames)."""
    frames = _frames(audio, _FRAME, _HOP)
    if frames.shape[0] == 0:
        return np.zeros(0)
    frames = frames[_steady(_speech_mask(frame_levels_db(audio)))]
    if frames.shape[0] == 0:
        return np.zeros(0)
    frames = frames - frames.mean(axis=1, keepdims=True)
    window = _FRAME // 2
    max_lag = min(int(sample_rate / _F0_MIN), window)
    min_lag = int(sample_rate / _F0_MAX)
    # r(tau) = sum_{j<W} x_j x_{j+tau}, via FFT of the first W samples against the whole frame
    size = 2 * _FRAME
    head = np.fft.rfft(frames[:, :window], size)
    full = np.fft.rfft(frames, size)
    corr = np.fft.irfft(np.conj(head) * full, size)[:, : max_lag + 1]
    squares = np.cumsum(np.pad(frames**2, ((0, 0), (1, 0))), axis=1)
    energy_0 = squares[:, window][:, None]
    lags = np.arange(max_lag + 1)
    energy_tau = squares[:, lags + window] - squares[:, lags]
    diff = np.maximum(energy_0 + energy_tau - 2.0 * corr, 0.0)
    running = np.cumsum(diff[:, 1:], axis=1) / np.arange(1, max_lag + 1)
    cmnd = np.ones_like(diff)
    cmnd[:, 1:] = diff[:, 1:] / np.maximum(running, 1e-12)
    search = cmnd[:, min_lag:]
    below = search < _YIN_THRESHOLD
    voiced = below.any(axis=1)
    first = np.argmax(below, axis=1)
    # walk from the first crossing down to the bottom of that dip
    rows = np.arange(search.shape[0])
    lag = first.copy()
    for _ in range(max_lag):
        nxt = np.minimum(lag + 1, search.shape[1] - 1)
        step = search[rows, nxt] < search[rows, lag]
        if not step.any():
            break
        lag = np.where(step, nxt, lag)
    tau = lag + min_lag
    # parabolic interpolation around the minimum
    left = cmnd[rows, np.maximum(tau - 1, 1)]
    mid = cmnd[rows, tau]
    right = cmnd[rows, np.minimum(tau + 1, max_lag)]
    denom = left - 2 * mid + right
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (left - right) / np.where(denom == 0, 1, denom), 0.0)
    f0 = sample_rate / (tau + np.clip(shift, -1, 1))
    return np.asarray(f0[voiced & (f0 >= _F0_MIN) & (f0 <= _F0_MAX)], dtype=np.float64)


def pitch_variation_semitones(audio: NDArray[np.float32]) -> float | None:
    """Standard deviation of the pitch in semitones around its median; None with too few voiced frames."""
    f0 = pitch_track(audio)
    if f0.size < 10:
        return None
    semitones = 12.0 * np.log2(f0 / np.median(f0))
    semitones = semitones[np.abs(semitones) < _OCTAVE_ERROR_ST]  # halving/doubling errors of the estimator
    return min(float(np.std(semitones)), 48.0)


__all__ = [
    "Behaviour",
    "Pause",
    "energy_variation_db",
    "find_pauses",
    "frame_levels_db",
    "longest_unworded_speech_s",
    "pitch_track",
    "pitch_variation_semitones",
    "speaking_behaviour",
    "voice_onset",
]
