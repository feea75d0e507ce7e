"""The sample generator's room: background noise at the chosen speech-to-noise ratio, a second voice where the truth
says and nowhere else, and three distinct English candidate voices. The same seed gives the same interview, so the
difference between a quiet recording and a noisy one is what the room added."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.samples import SampleSpec, generate_interview
from services.samples.room_sound import SECOND_VOICE_DB
from services.samples.speech import read_wav_mono

BASE = SampleSpec(seed=3, duration=40, video=False, container="wav", interviewer_voice=False)


def _audio(spec: SampleSpec, out: Path, name: str) -> tuple[np.ndarray, int, SampleSpec]:
    result = generate_interview(spec, out, name=name)
    audio, rate = read_wav_mono(result.media_path.read_bytes())
    return audio, rate, result.truth.spec


def _rms(a: np.ndarray) -> float:
    return float(np.sqrt(np.mean(a.astype(np.float64) ** 2)))


def _mask(ranges: list[tuple[float, float]], n: int, rate: int) -> np.ndarray:
    mask = np.zeros(n, bool)
    for start, end in ranges:
        mask[int(start * rate) : int(end * rate)] = True
    return mask


@pytest.fixture(scope="module")
def quiet(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray, Path]:
    out = tmp_path_factory.mktemp("room")
    result = generate_interview(BASE, out, name="quiet")
    audio, rate = read_wav_mono(result.media_path.read_bytes())
    speech = _mask([(r.start, r.end) for r in result.truth.speech.candidate], audio.size, rate)
    return audio, speech, out


@pytest.mark.parametrize("noise", ["fan", "ambient", "babble"])
def test_background_noise_is_mixed_at_the_chosen_speech_to_noise_ratio(
    quiet: tuple[np.ndarray, np.ndarray, Path], noise: str
) -> None:
    clean, speech, out = quiet
    noisy, _, _ = _audio(BASE.model_copy(update={"noise": noise, "snr_db": 12.0}), out, noise)
    added = noisy - clean
    snr = 20 * np.log10(_rms(clean[speech]) / _rms(added))
    assert 10.5 <= snr <= 13.0, snr  # the speech's RMS includes its short gaps: a little under the level it was set
    assert _rms(added[: added.size // 2]) == pytest.approx(_rms(added[added.size // 2 :]), rel=0.35)  # steady


def test_a_second_voice_speaks_where_the_truth_says_quieter_than_the_candidate(
    quiet: tuple[np.ndarray, np.ndarray, Path],
) -> None:
    clean, speech, out = quiet
    result = generate_interview(BASE.model_copy(update={"second_voice": True}), out, name="second")
    audio, rate = read_wav_mono(result.media_path.read_bytes())
    background = result.truth.speech.background
    assert background and all(b.text for b in background)
    answers = [(q.answer.start, q.answer.end) for q in result.truth.questions]
    assert all(any(a <= b.start and b.end <= e + 0.01 for a, e in answers) for b in background)
    behind = _mask([(b.start, b.end) for b in background], audio.size, rate)
    added = audio - clean
    assert _rms(added[~behind]) < 1e-4  # nothing anywhere else
    level_db = 20 * np.log10(_rms(added[behind]) / _rms(clean[speech]))
    assert -SECOND_VOICE_DB - 4 <= level_db <= -SECOND_VOICE_DB + 1, level_db


def test_three_english_voices_are_three_voices(quiet: tuple[np.ndarray, np.ndarray, Path]) -> None:
    _, _, out = quiet
    voices = []
    for voice in (0, 1, 2):
        spec = BASE.model_copy(update={"voice": voice, "duration": 15.0})
        result = generate_interview(spec, out, name=f"voice{voice}")
        voices.append((result.truth.generator.tts["candidate"], result.truth.speech.candidate[0].end))
    assert len({name for name, _ in voices}) == 3
    assert len({round(end, 2) for _, end in voices}) == 3  # other voices, other timing
