"""Speech: real-time factor of faster-whisper and openai-whisper on the same audio in the same run (word
timestamps on), and the answer-scoring rate.

The audio is a generated audio-only interview (espeak-ng voices, 60 s). Each engine transcribes it once to
warm up and then once measured; the real-time factor is processing seconds per audio second. Both engines
run the same whisper-base weights from the installed packages. Scoring rate: answers per second against a
competency model whose exemplars are already embedded (as in the running stage). Word counts with and
without the filler prompt show whether the prompt cost content (whisper-base can skip a passage after some
prompts).
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
from services.samples import SampleSpec, generate_interview
from services.samples.bank import BANK
from services.speech.engines import SAMPLE_RATE, Engine, FasterWhisperEngine, OpenAIWhisperEngine
from services.speech.scoring import AnswerScorer, E5Embedder
from services.speech.settings import SpeechSettings
from services.speech.text import TimedText

AUDIO_SPEC = SampleSpec(seed=5, duration=60.0, video=False, lang="en", candidate="strong")


def _audio(spec: SampleSpec) -> np.ndarray:
    with tempfile.TemporaryDirectory(prefix="bench-speech-") as tmp:
        media = generate_interview(spec, Path(tmp)).media_path
        raw = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(media), "-f", "f32le", "-ac", "1", "-ar", str(SAMPLE_RATE), "-"],
            check=True,
            capture_output=True,
        ).stdout
    return np.frombuffer(raw, dtype=np.float32)


def _rtf(engine: Engine, audio: np.ndarray) -> dict[str, Any]:
    engine.transcribe(audio[: 10 * SAMPLE_RATE])  # warm-up
    started = time.perf_counter()
    heard = engine.transcribe(audio)
    elapsed = time.perf_counter() - started
    return {
        "rtf": round(elapsed / (len(audio) / SAMPLE_RATE), 4),
        "seconds": round(elapsed, 2),
        "words": len(heard.words),
        "language": heard.language,
    }


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
    audio = _audio(AUDIO_SPEC)
    results: dict[str, Any] = {
        "audio_s": round(len(audio) / SAMPLE_RATE, 1),
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    greedy = base.model_copy(update={"beam_size": 1})
    faster = FasterWhisperEngine(greedy)
    results["faster_whisper_greedy"] = _rtf(faster, audio)
    # the filler prompt must not cost content: words heard with it vs without it
    results["faster_whisper_greedy"]["words_without_filler_prompt"] = len(
        faster.transcribe(audio, filler_prompt=False).words
    )
    faster.settings = base  # the default: beam 5
    results["faster_whisper_beam5"] = _rtf(faster, audio)
    reference = OpenAIWhisperEngine(greedy)
    results["openai_whisper_greedy"] = _rtf(reference, audio)
    results["openai_whisper_greedy"]["words_without_filler_prompt"] = len(
        reference.transcribe(audio, filler_prompt=False).words
    )
    results["speed_ratio_greedy"] = round(
        results["openai_whisper_greedy"]["rtf"] / results["faster_whisper_greedy"]["rtf"], 2
    )
    results["speed_ratio_faster_beam5_vs_openai_greedy"] = round(
        results["openai_whisper_greedy"]["rtf"] / results["faster_whisper_beam5"]["rtf"], 2
    )
    results["targets"] = {
        "faster_whisper_rtf_le_0.1": results["faster_whisper_greedy"]["rtf"] <= 0.1,
        "speed_ratio_ge_5": results["speed_ratio_greedy"] >= 5,
    }
    results["scoring"] = _scoring_rate(base)
    return results


async def run(stack: Settings) -> dict[str, Any]:
    return await asyncio.to_thread(_measure)
