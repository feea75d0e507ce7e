"""Question windows found with the real models (voice encoder, whisper, e5) in generated interviews, against the
generator's script: two voices (an interviewer's espeak-ng voice asks, a different one answers; in Mandarin the
candidate is FastSpeech2 and the interviewer espeak-ng) and one voice (questions on screen). Windows must lie
within 1.5 s of the script and carry the right questions, or, where content cannot tell (one voice, no order),
the result must say so."""

from __future__ import annotations

import random
import subprocess

import numpy as np
import pytest

from services.common.competency import CompetencyModelLibrary
from services.common.settings import get_settings
from services.samples import SampleResult, SampleSpec, generate_interview
from services.samples.speech import read_wav_mono
from services.speech.engines import Engine, Transcription, load_engine
from services.speech.scoring import E5Embedder
from services.speech.turns import Stretch, cut, pieces, speech_stretches, two_voices
from services.speech.voices import VoiceEncoder
from services.speech.windows import (
    FLAG_BY_ORDER,
    FLAG_ONE_VOICE,
    FLAG_UNCERTAIN,
    UNLISTED_PREFIX,
    Found,
    Listed,
    find_windows,
)

TOLERANCE_S = 1.5


@pytest.fixture(scope="module")
def models() -> tuple[Engine, VoiceEncoder, E5Embedder]:
    settings = get_settings().speech.model_copy(update={"beam_size": 1})
    return load_engine(settings), VoiceEncoder(), E5Embedder()


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SampleResult]:
    out = tmp_path_factory.mktemp("window-samples")
    specs = {
        "two-strong": SampleSpec(seed=1, duration=90.0, video=False, candidate="strong"),
        "two-weak": SampleSpec(seed=31, duration=60.0, video=False, candidate="weak"),
        "one": SampleSpec(seed=3, duration=60.0, video=False, interviewer_voice=False),
        # Mandarin, the interviewer another speaker (espeak-ng), whose questions whisper-base does not catch
        "two-zh": SampleSpec(seed=5, duration=60.0, video=False, lang="zh", interviewer_tts="espeak"),
    }
    return {name: generate_interview(spec, out, name=name) for name, spec in specs.items()}


def _audio(result: SampleResult) -> np.ndarray:
    wav = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(result.media_path), "-ac", "1", "-ar", "16000", "-f", "wav", "-"],
        check=True,
        capture_output=True,
    ).stdout
    audio, rate = read_wav_mono(wav)
    assert rate == 16000
    return audio


@pytest.fixture(scope="module")
def heard(
    recordings: dict[str, SampleResult], models: tuple[Engine, VoiceEncoder, E5Embedder]
) -> dict[str, tuple[np.ndarray, Transcription]]:
    engine = models[0]
    return {name: (audio := _audio(r), engine.transcribe(audio)) for name, r in recordings.items()}


def _script_list(result: SampleResult) -> list[Listed]:
    return [Listed(q.bank_id, q.question.text) for q in result.truth.questions]


def _bank() -> list[Listed]:
    library = CompetencyModelLibrary.from_directory(get_settings().speech.competency_models_dir)
    model = max((m for m in library if m.id == "software-engineer"), key=lambda m: m.version)
    return [Listed(q.id, q.text.en) for q in model.questions]


def _find(name: str, listed: list[Listed], heard: dict, models: tuple, ordered: bool = False) -> Found:
    audio, transcription = heard[name]
    _, voices, e5 = models
    return find_windows(audio, transcription.words, listed, voices, e5.embed, ordered)


def _assert_windows(found: Found, result: SampleResult) -> None:
    truth = result.truth.questions
    assert len(found.windows) == len(truth)
    for window, scripted in zip(found.windows, truth, strict=True):
        assert window.start_s == pytest.approx(scripted.start, abs=TOLERANCE_S), (window, scripted.question_id)
        assert window.answer_start_s == pytest.approx(scripted.answer.start, abs=TOLERANCE_S)
        assert window.end_s == pytest.approx(scripted.end, abs=TOLERANCE_S)


def test_two_voices_with_the_interviews_list(recordings, heard, models) -> None:
    listed = _script_list(recordings["two-strong"])
    random.Random(5).shuffle(listed)  # the list's order must not matter with two voices
    found = _find("two-strong", listed, heard, models)
    assert found.method == "two_voices" and found.flags == []
    _assert_windows(found, recordings["two-strong"])
    assert [w.question_id for w in found.windows] == [q.bank_id for q in recordings["two-strong"].truth.questions]
    assert all(w.listed and w.match_confidence >= 0.9 for w in found.windows)


def test_two_voices_against_the_jobs_bank(recordings, heard, models) -> None:
    """The bank words its questions differently from the interviewer; a question it lacks stays unlisted."""
    result = recordings["two-weak"]
    found = _find("two-weak", _bank(), heard, models)
    assert found.method == "two_voices"
    _assert_windows(found, result)
    bank_ids = {q.question_id for q in _bank()}
    for window, scripted in zip(found.windows, result.truth.questions, strict=True):
        if scripted.bank_id in bank_ids:
            assert window.question_id == scripted.bank_id and window.listed
        else:
            assert window.question_id.startswith(UNLISTED_PREFIX) and not window.listed


def test_two_voices_in_mandarin_by_the_listed_order(recordings, heard, models) -> None:
    """The voices give the windows; the questions are not heard, so the interview's order names them."""
    result = recordings["two-zh"]
    found = _find("two-zh", _script_list(result), heard, models, ordered=True)
    assert found.method == "two_voices"
    _assert_windows(found, result)
    assert [w.question_id for w in found.windows] == [q.bank_id for q in result.truth.questions]
    assert found.flags in ([], [FLAG_BY_ORDER])


def test_one_voice_windows_per_answer(recordings, heard, models) -> None:
    result = recordings["one"]
    audio, _ = heard["one"]
    parts = pieces(speech_stretches(audio))
    assert not two_voices(models[1].embed([cut(audio, p) for p in parts])).two
    # the interview's own list, in the order asked: every answer gets its question
    ordered = _find("one", _script_list(result), heard, models, ordered=True)
    assert ordered.method == "one_voice" and FLAG_ONE_VOICE in ordered.flags
    assert [w.question_id for w in ordered.windows] == [q.bank_id for q in result.truth.questions]
    for window, scripted in zip(ordered.windows, result.truth.questions, strict=True):
        assert window.answer_start_s == pytest.approx(scripted.answer.start, abs=TOLERANCE_S)
        assert window.end_s == pytest.approx(scripted.end, abs=TOLERANCE_S)
        assert scripted.start - TOLERANCE_S <= window.start_s <= scripted.answer.start
    # the bank, no order: right by content, or the result says it could not tell
    unordered = _find("one", _bank(), heard, models)
    assert len(unordered.windows) == len(result.truth.questions)
    right = [w.question_id for w in unordered.windows] == [q.bank_id for q in result.truth.questions]
    assert right or FLAG_UNCERTAIN in unordered.flags
    assert FLAG_BY_ORDER not in unordered.flags


def test_voice_encoder_tells_the_two_generated_voices_apart(recordings, heard, models) -> None:
    result = recordings["two-strong"]
    audio, _ = heard["two-strong"]
    truth = result.truth.questions
    asks = [cut(audio, Stretch(q.question.start, q.question.end)) for q in truth]
    answers = [cut(audio, Stretch(q.answer.start, q.answer.start + 3.0)) for q in truth]
    vectors = models[1].embed([*asks, *answers])
    same = [float(vectors[i] @ vectors[j]) for i in range(len(truth)) for j in range(i + 1, len(truth))]
    across = [float(vectors[i] @ vectors[len(truth) + j]) for i in range(len(truth)) for j in range(len(truth))]
    assert min(same) > max(across)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
