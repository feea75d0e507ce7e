"""Speech: real-time factor of faster-whisper and openai-whisper on the same audio in the same run (word
timestamps on), word error rate per generated English answer, Mandarin detection, and the answer-scoring rate.

The timed audio is a generated audio-only interview (espeak-ng voices, 60 s, interviewer and candidate).
Each engine transcribes it once to warm up and then twice measured (the faster run counts, for every engine
alike); the real-time factor is processing seconds per audio second. Both engines run the same whisper-base
weights from the installed packages, with word timestamps, the same prompts and greedy decoding for the
speed ratio. What differs is the engines' own decoding scheme: faster-whisper (int8, CTranslate2) cuts the
audio at silences found by its VAD into chunks of at most 30 s and decodes them as one batch, without
temperature fallback; openai-whisper (float32, PyTorch) decodes the whole audio window after window with its
default fallback, as it does in the stage. The default faster-whisper setting (beam 5) is timed too.

Accuracy is measured on real recordings (``tests/speech_clips.py``: JFK, LibriVox and playing-card clips in
English, AISHELL-1 utterances in Mandarin, installed from packages): word error rate per English set and
character error rate for Mandarin (``services.speech.wer``, ``services.speech.cer``), for faster-whisper with
beam 5 (the default) and greedy and for openai-whisper greedy. The targets are English WER ≤ 10 % on clean
read speech (JFK, LibriVox) and Mandarin CER ≤ 15 %; the cards (isolated words) are reported beside them.

The synthetic voices are measured too, per answer, without a target (espeak-ng is hard for whisper-base):
on the answers of the timed audio (words placed in the answer's time range; a cut-off answer up to its last
complete phrase), and on all six English answers of the question bank spoken by the candidate voice, each
transcribed on its own as the stage gets it. Word counts with and without the filler prompt show whether the
prompt cost content (whisper-base can skip a passage after some prompts); the real-time factor without it
shows what it costs in time.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from services.common.competency import CompetencyModelLibrary
from services.common.settings import Settings
from services.samples import GroundTruth, SampleSpec, generate_interview
from services.samples.bank import BANK
from services.speech.engines import SAMPLE_RATE, Engine, FasterWhisperEngine, OpenAIWhisperEngine, Transcription
from services.speech.scoring import AnswerScorer, E5Embedder
from services.speech.settings import SpeechSettings
from services.speech.text import TimedText
from services.speech.wer import word_error_rate
from tests.speech_clips import TARGETS, transcribe_sets

AUDIO_SPEC = SampleSpec(seed=5, duration=60.0, video=False, lang="en", candidate="strong")
#: Long enough for every question of the bank to be asked once; answers are cut out one by one.
BANK_SPEC = SampleSpec(seed=0, duration=400.0, video=False, lang="en", candidate="strong", interviewer_voice=False)
ZH_SPEC = SampleSpec(seed=1, duration=25.0, video=False, lang="zh", candidate="strong", interviewer_voice=False)
LEAD_S = 0.5  # audio kept before an answer starts, as the frames stage cuts segments
MEASURED_RUNS = 2


def _generate(spec: SampleSpec) -> tuple[np.ndarray, GroundTruth]:
    with tempfile.TemporaryDirectory(prefix="bench-speech-") as tmp:
        result = generate_interview(spec, Path(tmp))
        raw = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(result.media_path), "-f", "f32le", "-ac", "1", "-ar",
             str(SAMPLE_RATE), "-"],
            check=True,
            capture_output=True,
        ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype=np.float32), result.truth


def _rtf(engine: Engine, audio: np.ndarray, **options: Any) -> tuple[dict[str, Any], Transcription]:
    engine.transcribe(audio[: 10 * SAMPLE_RATE], **options)  # warm-up
    timings = []
    for _ in range(MEASURED_RUNS):
        started = time.perf_counter()
        heard = engine.transcribe(audio, **options)
        timings.append(time.perf_counter() - started)
    seconds = len(audio) / SAMPLE_RATE
    return {
        "rtf": round(min(timings) / seconds, 4),
        "rtf_runs": [round(t / seconds, 4) for t in timings],
        "words": len(heard.words),
        "language": heard.language,
    }, heard


def _spoken(truth: GroundTruth, audio_s: float) -> list[tuple[str, str, float, float]]:
    """(bank id, text, start, end) of each answer's complete phrases within the audio."""
    out = []
    for question in truth.questions:
        phrases = [s for s in question.answer.segments if s.kind != "pause" and s.end <= audio_s]
        if phrases:
            out.append((question.bank_id, " ".join(s.text for s in phrases), phrases[0].start, phrases[-1].end))
    return out


def _wer_in_audio(heard: Transcription, truth: GroundTruth, audio_s: float) -> dict[str, float]:
    """Per answer of a whole recording: the words heard inside the answer's time range against its script."""
    rates = {}
    for bank_id, text, start, end in _spoken(truth, audio_s):
        said = "".join(w.text for w in heard.words if start - 0.3 <= (w.start_s + w.end_s) / 2 <= end + 0.3)
        rates[bank_id] = round(word_error_rate(text, said), 3)
    return rates


def _wer_per_answer(engine: Engine, audio: np.ndarray, truth: GroundTruth) -> dict[str, float]:
    """Per answer cut out of the recording and transcribed on its own."""
    rates = {}
    for question in truth.questions:
        answer = question.answer
        if answer.truncated or question.repeat or question.bank_id in rates:
            continue
        clip = audio[int((answer.start - LEAD_S) * SAMPLE_RATE) : int(answer.end * SAMPLE_RATE)]
        rates[question.bank_id] = round(word_error_rate(answer.text, engine.transcribe(clip).text), 3)
    return rates


def _scoring_rate(settings: SpeechSettings) -> dict[str, Any]:
    model = CompetencyModelLibrary.from_directory(settings.competency_models_dir).get("software-engineer", "1.0")
    scorer = AnswerScorer(E5Embedder())
    scorer.score(TimedText.from_plain("warm up the exemplars"), "en", model.competencies, model.scoring)
    answers = [item.answer(lang, cand) for item in BANK for lang in ("en", "zh") for cand in ("strong", "weak")]
    answers = [a.replace("<", "").replace(">", "") for a in answers]
    started = time.perf_counter()
    for i, answer in enumerate(answers):
        scorer.score(TimedText.from_plain(answer), "zh" if i % 4 >= 2 else "en", model.competencies, model.scoring)
    elapsed = time.perf_counter() - started
    return {
        "answers": len(answers),
        "competencies_per_answer": len(model.competencies),
        "answers_per_s": round(len(answers) / elapsed, 2),
        "ms_per_answer": round(1000 * elapsed / len(answers), 1),
    }


def _measure() -> dict[str, Any]:
    base = SpeechSettings()
    greedy = base.model_copy(update={"beam_size": 1})
    audio, truth = _generate(AUDIO_SPEC)
    audio_s = len(audio) / SAMPLE_RATE
    results: dict[str, Any] = {
        "audio_s": round(audio_s, 1),
        "cpu_count": os.cpu_count(),
        "load_average_1m_start": round(os.getloadavg()[0], 2),
    }

    faster = FasterWhisperEngine(greedy)
    results["faster_whisper_greedy"], heard = _rtf(faster, audio)
    results["faster_whisper_greedy"]["wer_per_answer"] = _wer_in_audio(heard, truth, audio_s)
    without, plain = _rtf(faster, audio, filler_prompt=False)
    results["faster_whisper_greedy"]["rtf_without_filler_prompt"] = without["rtf"]
    results["faster_whisper_greedy"]["words_without_filler_prompt"] = len(plain.words)

    faster.settings = base  # the default: beam 5
    results["faster_whisper_beam5"], heard = _rtf(faster, audio)
    results["faster_whisper_beam5"]["wer_per_answer"] = _wer_in_audio(heard, truth, audio_s)
    padded = base.model_copy(update={"window_step_s": 0})  # every window padded to 30 s, as Whisper is trained
    faster.settings = padded
    results["faster_whisper_beam5_padded_windows"], heard = _rtf(faster, audio)
    results["faster_whisper_beam5_padded_windows"]["wer_per_answer"] = _wer_in_audio(heard, truth, audio_s)

    reference = OpenAIWhisperEngine(greedy)
    results["openai_whisper_greedy"], heard = _rtf(reference, audio)
    results["openai_whisper_greedy"]["wer_per_answer"] = _wer_in_audio(heard, truth, audio_s)
    results["load_average_1m_after_timing"] = round(os.getloadavg()[0], 2)
    results["real_speech"] = {"openai_whisper_greedy": transcribe_sets(reference)}

    results["speed_ratio_greedy"] = round(
        results["openai_whisper_greedy"]["rtf"] / results["faster_whisper_greedy"]["rtf"], 2
    )
    results["speed_ratio_faster_beam5_vs_openai_greedy"] = round(
        results["openai_whisper_greedy"]["rtf"] / results["faster_whisper_beam5"]["rtf"], 2
    )

    faster.settings = greedy
    results["real_speech"]["faster_whisper_greedy"] = transcribe_sets(faster)
    faster.settings = base
    results["real_speech"]["faster_whisper_beam5"] = transcribe_sets(faster)
    faster.settings = padded

    bank_audio, bank_truth = _generate(BANK_SPEC)
    results["wer_bank_answers_beam5_padded_windows"] = _wer_per_answer(faster, bank_audio, bank_truth)
    faster.settings = base
    results["wer_bank_answers_beam5"] = _wer_per_answer(faster, bank_audio, bank_truth)
    faster.settings = greedy
    results["wer_bank_answers_greedy"] = _wer_per_answer(faster, bank_audio, bank_truth)
    faster.settings = base

    zh_audio, _ = _generate(ZH_SPEC)
    zh = faster.transcribe(zh_audio)
    results["mandarin"] = {"language": zh.language, "probability": round(zh.language_probability, 3)}

    synthetic = [
        *results["faster_whisper_beam5"]["wer_per_answer"].values(),
        *results["wer_bank_answers_beam5"].values(),
    ]
    results["wer_synthetic_answers_beam5"] = {
        "answers": len(synthetic),
        "mean": round(sum(synthetic) / len(synthetic), 3),
        "max": max(synthetic),
    }
    real = results["real_speech"]["faster_whisper_beam5"]
    results["targets"] = {
        "faster_whisper_greedy_rtf_le_0.1": results["faster_whisper_greedy"]["rtf"] <= 0.1,
        "faster_whisper_beam5_rtf_le_0.1": results["faster_whisper_beam5"]["rtf"] <= 0.1,
        "speed_ratio_greedy_ge_5": results["speed_ratio_greedy"] >= 5,
        "mandarin_detected_zh": zh.language == "zh",
    }
    for name, limit in TARGETS.items():  # on real read speech, with the default decoding
        measure = "cer" if real[name]["language"] == "zh" else "wer"
        results["targets"][f"real_{name}_{measure}_le_{limit}_beam5"] = real[name]["rate"] <= limit
    results["scoring"] = _scoring_rate(base)
    return results


async def run(stack: Settings) -> dict[str, Any]:
    return await asyncio.to_thread(_measure)
