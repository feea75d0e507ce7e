"""Assembles the audio track block by block from placed clips (never the whole track in memory)."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator

import numpy as np
from numpy.typing import NDArray

from services.samples.script import ClipRequest, Placement

F32 = NDArray[np.float32]

#: Room tone: a quiet, slightly coloured noise floor plus faint mains hum (real rooms are never silent).
ROOM_NOISE_RMS = 0.0015
HUM_LEVEL = 0.0004
BLOCK_S = 10.0


def iter_pcm_blocks(
    placements: list[Placement],
    clip_audio: Callable[[ClipRequest], F32],
    duration: float,
    sample_rate: int,
    seed: int,
    block_s: float = BLOCK_S,
    background: Callable[[F32, int], None] | None = None,
) -> Iterator[bytes]:
    """Signed 16-bit little-endian mono PCM of the whole recording, in blocks of block_s seconds; ``background``
    mixes what else the room holds into each block (given the block and its first sample)."""
    total = round(duration * sample_rate)
    starts = [round(p.start * sample_rate) for p in placements]
    block = max(1, int(block_s * sample_rate))
    hum_f = 50.0 if seed % 2 == 0 else 60.0
    for b0 in range(0, total, block):
        b1 = min(total, b0 + block)
        n = b1 - b0
        rng = np.random.default_rng([seed, b0])
        noise = rng.standard_normal(n + 2).astype(np.float32) * np.float32(ROOM_NOISE_RMS * 1.4)
        buf = (0.25 * noise[:-2] + 0.5 * noise[1:-1] + 0.25 * noise[2:]).astype(np.float32)
        t = (np.arange(b0, b1, dtype=np.float64) / sample_rate).astype(np.float64)
        buf += (HUM_LEVEL * np.sin(2 * np.pi * hum_f * t)).astype(np.float32)
        # Clips that overlap this block: starting before b1, ending after b0.
        i = bisect.bisect_left(starts, b1) - 1
        while i >= 0:
            audio = clip_audio(placements[i].clip)
            s = starts[i]
            e = s + len(audio)
            if e > b0:
                lo, hi = max(s, b0), min(e, b1)
                buf[lo - b0 : hi - b0] += audio[lo - s : hi - s]
            elif s < b0 - 60 * sample_rate:
                break  # no clip is a minute long: nothing earlier can reach this block
            i -= 1
        if background is not None:
            background(buf, b0)
        pcm = np.clip(np.rint(buf * 32767.0), -32768, 32767).astype("<i2")
        yield pcm.tobytes()


#: A dead microphone's track: a noise floor of about one least significant bit (about -90 dBFS).
SILENCE_NOISE_LSB = 1.0


def iter_silence_blocks(duration: float, sample_rate: int, seed: int, block_s: float = BLOCK_S) -> Iterator[bytes]:
    """PCM blocks like `iter_pcm_blocks` holding only a dead microphone's noise floor (a silent track)."""
    total = round(duration * sample_rate)
    block = max(1, int(block_s * sample_rate))
    for b0 in range(0, total, block):
        n = min(total, b0 + block) - b0
        rng = np.random.default_rng([seed, b0, 1])
        yield np.rint(rng.standard_normal(n) * SILENCE_NOISE_LSB).astype("<i2").tobytes()
