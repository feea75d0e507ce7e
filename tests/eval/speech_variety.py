"""The speech stage's engine on generated answers that vary as real rooms do: three candidate voices, background
noise (fan, ambient, babble) at 20, 15 and 10 dB, and a second person speaking in the room during some answers.

Per case, over its answers (each cut as the stage gets it, `tests.speech_answers`): word error rate against the
script, filler recall, time-to-first-word error (the stage's `speaking_behaviour` against the first scripted
phrase), and for the second voice the share of its words that leak into the candidate's transcript. Synthetic
voices are harder for whisper-base than people: the figures compare cases, the targets are on real speech.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from services.samples import SampleSpec
from services.speech.engines import SAMPLE_RATE, FasterWhisperEngine
from services.speech.fillers import find_fillers
from services.speech.metrics import speaking_behaviour
from services.speech.settings import SpeechSettings
from services.speech.text import TimedText
from services.speech.wer import normalise_en, word_errors
from tests.speech_answers import Answer, answers, filler_recall

BASE: dict[str, Any] = {"duration": 45.0, "video": False, "interviewer_voice": False, "candidate": "weak"}
SEEDS = (1, 4)
#: (case, changes to BASE).
CASES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("voice 0, quiet room", {}),
    ("voice 1, quiet room", {"voice": 1}),
    ("voice 2, quiet room", {"voice": 2}),
    ("fan, 20 dB", {"noise": "fan", "snr_db": 20.0}),
    ("ambient, 15 dB", {"noise": "ambient", "snr_db": 15.0}),
    ("babble, 10 dB", {"noise": "babble", "snr_db": 10.0}),
    ("second voice in the room", {"second_voice": True}),
)


def _leak(answer: Answer, heard_text: str) -> tuple[int, int]:
    """(background words heard, background words) over the second voice's sentences within this answer; words
    the answer itself holds are left out."""
    own = set(normalise_en(answer.truth.text))
    heard = set(normalise_en(heard_text))
    words = [w for b in answer.background for w in normalise_en(b) if w not in own and len(re.sub(r"\W", "", w)) > 2]
    return sum(w in heard for w in words), len(words)


def score_case(engine: FasterWhisperEngine, items: list[Answer]) -> dict[str, Any]:
    errors = words = hits = fillers = leaked = background = 0
    ttfw: list[float] = []
    for answer in items:
        heard = engine.transcribe(answer.audio)
        e, n = word_errors(answer.truth.text, heard.text)
        errors, words = errors + e, words + n
        h, t = filler_recall(answer.truth, answer.offset_s, heard)
        hits, fillers = hits + h, fillers + t
        found = find_fillers(TimedText(heard.words), heard.language)
        behaviour = speaking_behaviour(heard.words, answer.audio, len(answer.audio) / SAMPLE_RATE, len(found))
        if behaviour.time_to_first_word_s is not None:
            ttfw.append(abs(behaviour.time_to_first_word_s - (answer.truth.segments[0].start - answer.offset_s)))
        k, m = _leak(answer, heard.text)
        leaked, background = leaked + k, background + m
    return {
        "answers": len(items),
        "wer": round(errors / words, 3) if words else None,
        "filler_recall": round(hits / fillers, 3) if fillers else None,
        "fillers": fillers,
        "ttfw_error_s": round(float(np.mean(ttfw)), 3) if ttfw else None,
        "second_voice_words_leaked": round(leaked / background, 3) if background else None,
    }


def run(out_dir: Path) -> list[dict[str, Any]]:
    engine = FasterWhisperEngine(SpeechSettings())
    rows = []
    for k, (case, changes) in enumerate(CASES):
        items = [
            a
            for seed in SEEDS
            for a in answers(SampleSpec(**{**BASE, **changes, "seed": seed}), out_dir, name=f"speech-{k}-{seed}")
        ]
        rows.append({"case": case, **score_case(engine, items)})
    return rows


__all__ = ["CASES", "run", "score_case"]
