"""What the microphone hears besides the interview: background noise at a chosen signal-to-noise ratio, and a second
person speaking in the room during some answers.

Noise is made here, never downloaded: ``fan`` (a low, steady rumble with a blade tone), ``ambient`` (pink noise, a
room's air and traffic), ``babble`` (several espeak-ng voices reading other sentences at once, mixed down to a
murmur). Its level is set against the speech's (clips are levelled to `speech.TARGET_RMS`): ``snr_db`` is the
ratio of the speech's RMS to the noise's. The second voice reads unrelated sentences at `SECOND_VOICE_DB` below
the candidate, a second into every other answer (the first, the third, ...); the truth lists when and what
(``speech.background``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from services.samples.ground_truth import BackgroundSpeech, GroundTruth
from services.samples.speech import TARGET_RMS, EspeakSynthesizer, level, trim

F32 = NDArray[np.float32]

#: The second voice's level below the candidate's, in dB (someone across the room, not beside the microphone).
SECOND_VOICE_DB = 12.0
#: espeak-ng voices of the background: the second person, and the babble's crowd.
SECOND_VOICE = ("en-us+m2", 165, 35)
BABBLE_VOICES = (("en-us+m1", 170, 40), ("en-gb+f2", 160, 60), ("en-us+f4", 175, 55), ("en-gb+m4", 150, 30))
#: What the second voice and the babble say: sentences the interview never holds.
BACKGROUND_LINES = (
    "Did anyone see where I left the car keys this morning",
    "The delivery should arrive some time after lunch today",
    "Can you turn the kettle on while you are in the kitchen",
    "I think the train was late again because of the weather",
)
#: Seconds of babble made and looped (a crowd's murmur does not need to be longer to sound continuous).
BABBLE_LOOP_S = 12.0


def _pink(rng: np.random.Generator, n: int) -> F32:
    """Pink (1/f) noise of unit RMS, shaped in the frequency domain."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spectrum.size, dtype=np.float64)
    spectrum[1:] /= np.sqrt(f[1:])
    spectrum[0] = 0
    out = np.fft.irfft(spectrum, n)
    return (out / (np.std(out) + 1e-12)).astype(np.float32)


def _fan(rng: np.random.Generator, n: int, sample_rate: int) -> F32:
    """A fan: brown noise (a low rumble) with the blade's tone and its harmonic, unit RMS."""
    brown = np.cumsum(rng.standard_normal(n))
    brown -= np.convolve(brown, np.ones(401) / 401, mode="same")  # keep it from drifting: a high-pass
    t = np.arange(n) / sample_rate
    blade = 0.5 * np.sin(2 * np.pi * 118 * t) + 0.25 * np.sin(2 * np.pi * 236 * t)
    out = brown / (np.std(brown) + 1e-12) + blade
    return (out / np.std(out)).astype(np.float32)


def _babble(sample_rate: int) -> F32:
    """Several voices reading at once, looped, unit RMS."""
    synth = EspeakSynthesizer()
    n = int(BABBLE_LOOP_S * sample_rate)
    mix = np.zeros(n, np.float32)
    for k, speaker in enumerate(BABBLE_VOICES):
        text = ". ".join(BACKGROUND_LINES[k:] + BACKGROUND_LINES[:k])
        voice = level(trim(synth.say(speaker, text, sample_rate), sample_rate))
        voice = np.tile(voice, -(-n // max(1, voice.size)))[:n]
        mix += np.roll(voice, k * n // 5)
    return (mix / (np.std(mix) + 1e-12)).astype(np.float32)


class RoomSound:
    """The background of one recording: call `add` on every block of the interview's audio."""

    def __init__(self, truth: GroundTruth, sample_rate: int) -> None:
        spec = truth.spec
        self.sample_rate = sample_rate
        rng = np.random.default_rng(spec.seed + 29)
        n = int(BABBLE_LOOP_S * sample_rate)
        unit = {
            "none": None,
            "fan": lambda: _fan(rng, n, sample_rate),
            "ambient": lambda: _pink(rng, n),
            "babble": lambda: _babble(sample_rate),
        }[spec.noise]
        self._noise = None if unit is None else unit() * np.float32(TARGET_RMS / 10 ** (spec.snr_db / 20))
        self._voices: list[tuple[int, F32]] = []
        if spec.second_voice:
            self._place_second_voice(truth)

    def _place_second_voice(self, truth: GroundTruth) -> None:
        synth = EspeakSynthesizer()
        gain = np.float32(10 ** (-SECOND_VOICE_DB / 20))
        answers = [q.answer for q in truth.questions if q.answer.end - q.answer.start > 3.0]
        for k, answer in enumerate(answers[::2]):
            text = BACKGROUND_LINES[k % len(BACKGROUND_LINES)]
            audio = level(trim(synth.say(SECOND_VOICE, text, self.sample_rate), self.sample_rate)) * gain
            start = answer.start + 1.0
            end = min(truth.duration_s, start + audio.size / self.sample_rate)
            if end - start < 1.0:
                continue
            self._voices.append((round(start * self.sample_rate), audio))
            truth.speech.background.append(BackgroundSpeech(start=round(start, 3), end=round(end, 3), text=text))

    def add(self, buf: F32, b0: int) -> None:
        """Mix the background into ``buf``, the block of samples starting at sample ``b0``."""
        n = buf.size
        if self._noise is not None:
            idx = np.arange(b0, b0 + n) % self._noise.size
            buf += self._noise[idx]
        for start, audio in self._voices:
            lo, hi = max(start, b0), min(start + audio.size, b0 + n)
            if hi > lo:
                buf[lo - b0 : hi - b0] += audio[lo - start : hi - start]


__all__ = ["BACKGROUND_LINES", "SECOND_VOICE_DB", "RoomSound"]
