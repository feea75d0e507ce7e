"""Transcription engines behind one interface: faster-whisper (default) and openai-whisper (reference).

Both run the same whisper-base weights from the installed packages (`services.speech.weights`). A segment
is transcribed in two steps: the language is detected first and restricted to the configured languages
(Whisper otherwise mistakes accented English for other languages), then the audio is decoded with word
timestamps and a language-specific prompt (Simplified Chinese, optional fillers). whisper-base sometimes
skips a passage after a prompt; when speech-like audio is left without words for seconds, the segment is
decoded again without the filler prompt and the fuller transcript wins.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from services.speech.fillers import initial_prompt
from services.speech.metrics import longest_unworded_speech_s
from services.speech.settings import SpeechSettings
from services.speech.text import TimedWord
from services.speech.weights import MODEL_NAME, alignment_heads_dump, ctranslate2_model_dir, openai_whisper_checkpoint

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
#: Speech left without words for this long after decoding with the filler prompt means Whisper skipped a
#: passage (it does after some prompts); the segment is then decoded again without the prompt.
SKIPPED_SPEECH_S = 3.0
Audio = NDArray[np.float32]


@dataclass(frozen=True)
class Transcription:
    """What an engine heard in one segment."""

    language: str | None
    language_probability: float
    text: str
    words: list[TimedWord] = field(default_factory=list)
    #: Share of the audio the voice-activity detector kept as speech; None when the engine has no VAD.
    speech_ratio: float | None = None


class Engine(Protocol):
    name: str
    version: str

    def transcribe(self, audio: Audio, filler_prompt: bool | None = None) -> Transcription: ...


def pick_language(probabilities: dict[str, float], allowed: list[str]) -> tuple[str, float]:
    """The most likely allowed language and its probability renormalised over the allowed ones."""
    candidates = {lang: p for lang, p in probabilities.items() if not allowed or lang in allowed}
    if not candidates:
        candidates = probabilities
    best = max(candidates, key=lambda lang: candidates[lang])
    total = sum(candidates.values())
    return best, (candidates[best] / total if total > 0 else 0.0)


def _cuda_available() -> bool:
    import ctranslate2

    return bool(ctranslate2.get_cuda_device_count() > 0)


def resolve_device(setting: str) -> str:
    if setting == "auto":
        return "cuda" if _cuda_available() else "cpu"
    return setting


def _package_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


class FasterWhisperEngine:
    """CTranslate2 Whisper: int8 on CPU; float16 with the batched pipeline on GPU; Silero VAD built in."""

    name = "faster-whisper"

    def __init__(self, settings: SpeechSettings) -> None:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        self.settings = settings
        self.device = resolve_device(settings.device)
        compute_type = settings.compute_type
        if compute_type == "auto":
            compute_type = "float16" if self.device == "cuda" else "int8"
        self.version = _package_version("faster-whisper")
        model_dir = ctranslate2_model_dir(settings.model_cache_dir)
        self.model = WhisperModel(
            str(model_dir), device=self.device, compute_type=compute_type, cpu_threads=settings.cpu_threads
        )
        self.batched = BatchedInferencePipeline(self.model) if self.device == "cuda" else None

    def detect_language(self, audio: Audio) -> tuple[str, float]:
        _, _, ranked = self.model.detect_language(audio, vad_filter=self.settings.vad)
        return pick_language(dict(ranked), self.settings.languages)

    def transcribe(self, audio: Audio, filler_prompt: bool | None = None) -> Transcription:
        if audio.size < SAMPLE_RATE // 10:
            return Transcription(None, 0.0, "", [], 0.0)
        language, probability = self.detect_language(audio)
        fillers = self.settings.filler_prompt if filler_prompt is None else filler_prompt
        heard = self._decode(audio, language, probability, fillers)
        if fillers and longest_unworded_speech_s(heard.words, audio) >= SKIPPED_SPEECH_S:
            plain = self._decode(audio, language, probability, False)
            heard = plain if len(plain.words) > len(heard.words) else heard
        return heard

    def _decode(self, audio: Audio, language: str, probability: float, fillers: bool) -> Transcription:
        options: dict[str, Any] = {
            "language": language,
            "beam_size": self.settings.beam_size,
            "word_timestamps": True,
            "vad_filter": self.settings.vad,
            "initial_prompt": initial_prompt(language, fillers),
            "condition_on_previous_text": False,
        }
        if self.batched is not None:
            segments, info = self.batched.transcribe(audio, batch_size=self.settings.gpu_batch_size, **options)
        else:
            segments, info = self.model.transcribe(audio, **options)
        words: list[TimedWord] = []
        texts: list[str] = []
        for segment in segments:
            texts.append(segment.text)
            for w in segment.words or []:
                words.append(TimedWord(w.word, float(w.start), float(max(w.end, w.start)), float(w.probability)))
        ratio = None
        if self.settings.vad and info.duration > 0:
            ratio = min(1.0, float(info.duration_after_vad) / float(info.duration))
        return Transcription(language, probability, "".join(texts).strip(), words, ratio)


class OpenAIWhisperEngine:
    """The reference implementation (PyTorch), on the checkpoint converted from the same weights."""

    name = "openai-whisper"

    def __init__(self, settings: SpeechSettings) -> None:
        import whisper

        self.settings = settings
        self.device = resolve_device(settings.device)
        self.version = _package_version("openai-whisper")
        checkpoint = settings.openai_checkpoint or openai_whisper_checkpoint(settings.model_cache_dir)
        if settings.cpu_threads:
            import torch

            torch.set_num_threads(settings.cpu_threads)
        self.model = whisper.load_model(str(checkpoint), device=self.device)
        dims = self.model.dims
        ct2_dir = ctranslate2_model_dir(settings.model_cache_dir)
        self.model.set_alignment_heads(alignment_heads_dump(ct2_dir, dims.n_text_layer, dims.n_text_head))

    def detect_language(self, audio: Audio) -> tuple[str, float]:
        import whisper

        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(audio), self.model.dims.n_mels).to(self.model.device)
        _, probabilities = self.model.detect_language(mel)
        assert isinstance(probabilities, dict)
        return pick_language({k: float(v) for k, v in probabilities.items()}, self.settings.languages)

    def transcribe(self, audio: Audio, filler_prompt: bool | None = None) -> Transcription:
        if audio.size < SAMPLE_RATE // 10:
            return Transcription(None, 0.0, "", [], None)
        if not audio.flags.writeable:  # torch.from_numpy warns on read-only buffers
            audio = audio.copy()
        language, probability = self.detect_language(audio)
        fillers = self.settings.filler_prompt if filler_prompt is None else filler_prompt
        heard = self._decode(audio, language, probability, fillers)
        if fillers and longest_unworded_speech_s(heard.words, audio) >= SKIPPED_SPEECH_S:
            plain = self._decode(audio, language, probability, False)
            heard = plain if len(plain.words) > len(heard.words) else heard
        return heard

    def _decode(self, audio: Audio, language: str, probability: float, fillers: bool) -> Transcription:
        beam = self.settings.beam_size
        result = self.model.transcribe(
            audio,
            language=language,
            word_timestamps=True,
            initial_prompt=initial_prompt(language, fillers),
            condition_on_previous_text=False,
            beam_size=beam if beam > 1 else None,
            fp16=self.device == "cuda",
            verbose=None,
        )
        words = [
            TimedWord(str(w["word"]), float(w["start"]), float(max(w["end"], w["start"])), float(w["probability"]))
            for segment in result["segments"]
            for w in segment.get("words", [])
        ]
        return Transcription(language, probability, str(result["text"]).strip(), words, None)


def load_engine(settings: SpeechSettings) -> Engine:
    """The configured engine, with its model loaded (seconds: call once, off the event loop)."""
    engines: dict[str, Callable[[SpeechSettings], Engine]] = {
        "openai-whisper": OpenAIWhisperEngine,
        "faster-whisper": FasterWhisperEngine,
    }
    engine = engines[settings.engine](settings)
    log.info("speech engine loaded", extra={"engine": engine.name, "model": MODEL_NAME})
    return engine


__all__ = [
    "SAMPLE_RATE",
    "Engine",
    "FasterWhisperEngine",
    "OpenAIWhisperEngine",
    "Transcription",
    "load_engine",
    "pick_language",
]
