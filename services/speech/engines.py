"""Transcription engines behind one interface: faster-whisper (default) and openai-whisper (reference).

Both run the same whisper-base weights from the installed packages (`services.speech.weights`). A segment
is transcribed in two steps: the language is detected first and restricted to the configured languages
(Whisper otherwise mistakes accented English for other languages), then the audio is decoded with word
timestamps and a language-specific prompt (Simplified Chinese, optional fillers). whisper-base sometimes
skips a passage after a prompt; when speech-like audio is left without words for seconds, the segment is
decoded again without the filler prompt and the fuller transcript wins.

faster-whisper cuts the segment at silences the voice-activity detector finds into chunks of at most one
Whisper window (30 s) and decodes them through its batched pipeline: every chunk is encoded once, no window
overlaps the previous one, and no word is cut at a window edge. Language detection and every decoding pass
of a segment share the encoder output of the chunks. Windows are encoded only as long as the speech in them
(rounded up, at least 10 s, `encoded_frames`) rather than padded to 30 s: the encoder is most of the cost,
and most chunks of an answer are shorter than a window. A GPU decodes several chunks per batch; on CPU,
where a batch costs what its chunks cost one by one, each chunk is a batch of its own, so a short chunk is
not padded to the length of a long one. Segments in flight at once run on separate model workers, one
thread each on CPU (`parallelism`). Without VAD the audio is decoded window after window.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from services.common.cpus import available_cores
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
#: Longest chunk decoded at once: one Whisper window.
CHUNK_S = 30.0
#: Silences the voice-activity detector splits speech at: short, so that chunks can end between phrases.
VAD_MIN_SILENCE_MS = 160
#: Frames of log-mel features per second (10 ms hop).
FRAMES_PER_S = 100
#: Shortest encoded window: with much less context Whisper's decoder loses track of where speech ends
#: (repeats itself, stops early); 10 s kept the word error rate of padded windows on the generated answers.
MIN_WINDOW_FRAMES = 10 * FRAMES_PER_S
#: Chunks batched together when the setting says auto: on a GPU a batch fills the device; on CPU the
#: same work costs the same batched or not, and one chunk at a time is encoded only as long as it is.
GPU_BATCH_SIZE = 8
CPU_BATCH_SIZE = 1
#: The language is detected on the chunks at the start of a segment (weighted by their speech), at least
#: this many when there are, encoded just as decoding will encode them, so decoding reuses the encodings.
LANGUAGE_CHUNKS = 4
#: Encoder batches kept per transcription for reuse: the detection's (and a re-decode's) encodings.
_ENCODINGS_KEPT = LANGUAGE_CHUNKS
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


def speech_chunks(speech: list[tuple[int, int]], max_samples: int) -> list[tuple[int, int]]:
    """Consecutive speech ranges (samples) joined into chunks spanning at most ``max_samples``, silences
    between them included; a range longer than that is cut."""
    chunks: list[tuple[int, int]] = []
    for start, end in speech:
        if chunks and end - chunks[-1][0] <= max_samples:
            chunks[-1] = (chunks[-1][0], end)
            continue
        while end - start > max_samples:
            chunks.append((start, start + max_samples))
            start += max_samples
        chunks.append((start, end))
    return chunks


def encoded_frames(features: NDArray[np.float32], step_s: int) -> int:
    """How many feature frames of a batch of padded windows to encode: up to the last frame any window fills
    (the pipeline pads with exact zeros, which log-mel features of real audio never are), rounded up to
    ``step_s`` seconds, at least `MIN_WINDOW_FRAMES`; the full window when ``step_s`` is 0."""
    total = int(features.shape[-1])
    if step_s <= 0:
        return total
    filled = np.flatnonzero(np.any(features != 0, axis=tuple(range(features.ndim - 1))))
    used = int(filled[-1]) + 1 if filled.size else 0
    step = step_s * FRAMES_PER_S
    return min(total, max(MIN_WINDOW_FRAMES, -(-used // step) * step))


def parallelism(settings: SpeechSettings, device: str, cores: int) -> tuple[int, int]:
    """(model workers, threads per worker). On CPU, segments run side by side with one thread each by
    default: beam search on one segment keeps a second thread mostly waiting (measured on 2 cores: 4 answers
    took 17 s and 22 CPU-seconds on one worker with 2 threads, 7 s and 14 CPU-seconds on 2 workers with 1)."""
    if device == "cuda":
        return settings.workers or 1, settings.cpu_threads
    workers = settings.workers or cores
    return workers, settings.cpu_threads or max(1, cores // workers)


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
    """CTranslate2 Whisper (int8 on CPU, float16 on GPU), Silero VAD and batched chunks."""

    name = "faster-whisper"

    def __init__(self, settings: SpeechSettings) -> None:
        from faster_whisper import WhisperModel

        self.settings = settings
        self.device = resolve_device(settings.device)
        compute_type = settings.compute_type
        if compute_type == "auto":
            compute_type = "float16" if self.device == "cuda" else "int8"
        self.version = _package_version("faster-whisper")
        auto_batch = GPU_BATCH_SIZE if self.device == "cuda" else CPU_BATCH_SIZE
        self.batch_size = settings.batch_size or auto_batch
        model_dir = ctranslate2_model_dir(settings.model_cache_dir)
        self.workers, threads = parallelism(settings, self.device, available_cores())
        # CTranslate2 sets the OpenMP thread count of the thread that loads the model, which would leave torch
        # in the same process (openai-whisper, vision in tests) on one thread: load it on a thread of its own.
        with ThreadPoolExecutor(1, thread_name_prefix="whisper-load") as loader:
            self.model = loader.submit(
                WhisperModel,
                str(model_dir),
                device=self.device,
                compute_type=compute_type,
                cpu_threads=threads,
                num_workers=self.workers,
            ).result()
        # faster-whisper encodes through this method everywhere (language detection, sequential and batched
        # decoding); inside `_sharing_encodings` identical features are encoded once.
        self._encode = self.model.encode
        self.model.encode = self._encode_once
        self._calls = threading.local()

    # ---- encoder outputs shared within one transcription ----------------------------------------------

    @contextmanager
    def _sharing_encodings(self) -> Iterator[None]:
        self._calls.encodings = []
        try:
            yield
        finally:
            self._calls.encodings = None

    def _encode_once(self, features: NDArray[np.float32]) -> Any:
        kept: list[tuple[NDArray[np.float32], Any]] | None = getattr(self._calls, "encodings", None)
        if kept is None:
            return self._encode_trimmed(features)
        for seen, output in kept:
            if seen.shape == features.shape and np.array_equal(seen, features):
                return output
        output = self._encode_trimmed(features)
        kept.append((features, output))
        del kept[:-_ENCODINGS_KEPT]
        return output

    def _encode_trimmed(self, features: NDArray[np.float32]) -> Any:
        frames = encoded_frames(features, self.settings.window_step_s)
        if frames < features.shape[-1]:
            features = np.ascontiguousarray(features[..., :frames])
        return self._encode(features)

    # ---- transcription ---------------------------------------------------------------------------------

    def transcribe(self, audio: Audio, filler_prompt: bool | None = None) -> Transcription:
        if audio.size < SAMPLE_RATE // 10:
            return Transcription(None, 0.0, "", [], 0.0 if self.settings.vad else None)
        fillers = self.settings.filler_prompt if filler_prompt is None else filler_prompt
        with self._sharing_encodings():
            if self.settings.vad:
                chunks, ratio = self._chunks(audio)
                if not chunks:
                    return Transcription(None, 0.0, "", [], 0.0)
                language, probability = self._detect_batched(audio, chunks)
                decode: Callable[[bool], Transcription] = partial(
                    self._decode_batched, audio, chunks, language, probability, ratio
                )
            else:
                language, probability = self._detect_sequential(audio)
                decode = partial(self._decode_sequential, audio, language, probability)
            heard = decode(fillers)
            if fillers and longest_unworded_speech_s(heard.words, audio) >= SKIPPED_SPEECH_S:
                plain = decode(False)
                heard = plain if len(plain.words) > len(heard.words) else heard
        return heard

    def _chunks(self, audio: Audio) -> tuple[list[tuple[float, float]], float]:
        """Chunks of speech (seconds) and the share of the audio that is speech."""
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        options = VadOptions(min_silence_duration_ms=VAD_MIN_SILENCE_MS, max_speech_duration_s=CHUNK_S)
        speech = [(int(s["start"]), int(s["end"])) for s in get_speech_timestamps(audio, options)]
        ratio = min(1.0, sum(end - start for start, end in speech) / audio.size)
        chunks = speech_chunks(speech, int(CHUNK_S * SAMPLE_RATE))
        return [(start / SAMPLE_RATE, end / SAMPLE_RATE) for start, end in chunks], ratio

    def _language_votes(self, encoder_output: Any, weights: list[float], votes: dict[str, float]) -> None:
        """Add Whisper's language-token probabilities of encoded windows to ``votes``, weighted."""
        for weight, ranked in zip(weights, self.model.model.detect_language(encoder_output), strict=True):
            for token, p in ranked:
                language = token[2:-2]  # "<|en|>"
                votes[language] = votes.get(language, 0.0) + weight * float(p)

    def _detect_batched(self, audio: Audio, chunks: list[tuple[float, float]]) -> tuple[str, float]:
        """Language of the first chunks, encoded exactly as the batched pipeline will encode them: in its
        batches, each cut at int(seconds * rate), its last feature frame dropped, padded to a window."""
        from faster_whisper.audio import pad_or_trim

        batch = self.batch_size
        first = chunks[: max(batch, min(len(chunks), LANGUAGE_CHUNKS))]
        features = [
            pad_or_trim(self.model.feature_extractor(audio[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)])[..., :-1])
            for a, b in first
        ]
        votes: dict[str, float] = {}
        for i in range(0, len(first), batch):
            encoded = self.model.encode(np.stack(features[i : i + batch]))
            self._language_votes(encoded, [b - a for a, b in first[i : i + batch]], votes)
        return pick_language(votes, self.settings.languages)

    def _detect_sequential(self, audio: Audio) -> tuple[str, float]:
        """Language of the first window, encoded exactly as sequential decoding will encode it."""
        from faster_whisper.audio import pad_or_trim

        features = self.model.feature_extractor(audio)
        window = self.model.feature_extractor.nb_max_frames
        first = pad_or_trim(features[:, : min(window, features.shape[-1] - 1)])
        votes: dict[str, float] = {}
        self._language_votes(self.model.encode(first), [1.0], votes)
        return pick_language(votes, self.settings.languages)

    def _options(self, language: str, fillers: bool) -> dict[str, Any]:
        return {
            "language": language,
            "beam_size": self.settings.beam_size,
            "word_timestamps": True,
            "initial_prompt": initial_prompt(language, fillers),
        }

    def _decode_batched(
        self,
        audio: Audio,
        chunks: list[tuple[float, float]],
        language: str,
        probability: float,
        ratio: float,
        fillers: bool,
    ) -> Transcription:
        from faster_whisper import BatchedInferencePipeline

        options = self._options(language, fillers)
        if options["initial_prompt"]:  # tokenised like sequential decoding and openai-whisper do it
            options["initial_prompt"] = " " + options["initial_prompt"].strip()
        pipeline = BatchedInferencePipeline(self.model)  # holds per-call state: one per call
        segments, _ = pipeline.transcribe(
            audio,
            batch_size=self.batch_size,
            clip_timestamps=[{"start": a, "end": b} for a, b in chunks],
            vad_filter=False,
            **options,
        )
        return self._heard(segments, language, probability, ratio)

    def _decode_sequential(self, audio: Audio, language: str, probability: float, fillers: bool) -> Transcription:
        segments, _ = self.model.transcribe(
            audio, vad_filter=False, condition_on_previous_text=False, **self._options(language, fillers)
        )
        return self._heard(segments, language, probability, None)

    @staticmethod
    def _heard(segments: Any, language: str, probability: float, ratio: float | None) -> Transcription:
        words: list[TimedWord] = []
        texts: list[str] = []
        for segment in segments:
            texts.append(segment.text)
            for w in segment.words or []:
                words.append(TimedWord(w.word, float(w.start), float(max(w.end, w.start)), float(w.probability)))
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
    "speech_chunks",
]
