"""The speech stage in the real worker loop on the local stack: audio-ready in, speech-results out.

Answers are spoken by espeak-ng with known text and stored as 16 kHz WAV segments in a fresh work bucket.
Covered: a scored answer (quotes inside the segment), consent without transcription, an unknown
competency model, a corrupt WAV (failed status with the reason) and a replayed event (same id).
"""

from __future__ import annotations

import asyncio
import io
import uuid
import wave
from typing import Any

import numpy as np
import pytest

from services.common.contracts import (
    AudioReady,
    CompetencyModelRef,
    SpeechResults,
    StageStatus,
    dead_letter_topic,
    decode,
    encode,
    message_key,
    topic_for,
)
from services.common.objectstore import ObjectStore
from services.common.settings import Settings
from services.common.worker import StageWorker
from services.samples.script import ClipRequest
from services.samples.speech import EspeakSynthesizer
from services.speech.stage import (
    FLAG_NO_SCORING,
    FLAG_NO_TRANSCRIPTION,
    FLAG_QUESTION_READ,
    FLAG_UNKNOWN_MODEL,
    SpeechStage,
)
from tests.integration.kafka_helpers import (
    create_topics,
    distinct_events,
    isolated,
    publish,
    read_topic,
    terminal_statuses,
)
from tests.integration.stage_fixtures import example

IN = topic_for(AudioReady)
OUT = topic_for(SpeechResults)
STATUS = topic_for(StageStatus)
DLQ = dead_letter_topic("speech")
ANSWER = (
    "I was on call when our order service failed. I checked the logs and rolled back the deploy within ten "
    "minutes. Afterwards I wrote the postmortem."
)
LEAD_S = 0.8
THINK_S = 1.5  # silence between the question read aloud and the answer


def _wav(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(16000)
        writer.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def _event(
    store: ObjectStore, bucket: str, name: str, data: bytes, question_id: str = "incident", **context: Any
) -> AudioReady:
    template = example("audio-ready")
    key = f"speech-test/{name}.wav"
    stored = store.put_bytes(bucket, key, data, "audio/wav")
    ctx = dict(template["context"])  # type: ignore[arg-type]
    ctx["job"] = {**ctx["job"], "competency_model": {"id": "software-engineer", "version": "1.0"}}
    ctx.update(context)
    duration = max(len(data) - 44, 2) / 32000
    return AudioReady.model_validate(
        {
            **template,
            "event_id": str(uuid.uuid4()),
            "interview_id": f"INT-{name}-{uuid.uuid4().hex[:6]}",
            "context": ctx,
            "question_id": question_id,
            "start_s": 100.0,
            "end_s": 100.0 + duration,
            "object": {
                "bucket": bucket,
                "key": key,
                "sha256": stored.sha256,
                "size_bytes": stored.size,
                "content_type": "audio/wav",
            },
        }
    )


async def test_speech_stage_end_to_end(stack_settings: Settings) -> None:
    settings = isolated(stack_settings)
    await create_topics(settings.kafka, [IN, OUT, STATUS, DLQ])
    store = ObjectStore(settings.s3)
    bucket = f"work-{uuid.uuid4().hex[:12]}"
    store.ensure_bucket(bucket)
    speech = EspeakSynthesizer().synthesize(ClipRequest("en", "candidate", ANSWER, 1.0), 16000)
    audio = _wav(np.concatenate([np.zeros(int(LEAD_S * 16000), np.float32), speech, np.zeros(8000, np.float32)]))
    permitted = example("audio-ready")["context"]["permitted_analyses"]  # type: ignore[index]
    assert {"transcription", "automated_scoring", "audio_analysis"} <= set(permitted)

    full = _event(store, bucket, "full", audio)
    no_transcript = _event(store, bucket, "audio-only", audio, permitted_analyses=["audio_analysis"])
    unknown = _event(store, bucket, "unknown", audio)
    unknown = unknown.model_copy(
        update={
            "context": unknown.context.model_copy(
                update={
                    "job": unknown.context.job.model_copy(
                        update={"competency_model": CompetencyModelRef(id="astronaut", version="1.0")}
                    )
                }
            )
        }
    )
    corrupt = _event(store, bucket, "corrupt", b"RIFF\x24\x00\x00\x00WAVEfmt garbage" * 40)
    # A two-way interview: the window opens with the interviewer reading the question (q2 of the context).
    question = next(q.text for q in full.context.questions if q.question_id == "q2")
    asking = EspeakSynthesizer().synthesize(ClipRequest("en", "interviewer", question, 1.0), 16000)
    think = np.zeros(int(THINK_S * 16000), np.float32)
    asked = _event(store, bucket, "asked", _wav(np.concatenate([asking, think, speech, think])), question_id="q2")
    published = [full, no_transcript, unknown, corrupt, asked, full]  # full twice: a replay
    await publish(settings.kafka, IN, [(message_key(e), encode(e)) for e in published])

    greedy = settings.speech.model_copy(update={"beam_size": 1})  # accuracy is the unit tests' concern
    worker = StageWorker(SpeechStage(store, greedy), settings, group_id="g-speech")
    task = asyncio.create_task(worker.run())
    try:
        statuses = await read_topic(settings.kafka, STATUS, lambda r: len(terminal_statuses(r)) >= len(published), 240)
        records = await read_topic(settings.kafka, OUT, lambda r: len(r) >= 5, 30)
    finally:
        worker.stop()
        await asyncio.wait_for(task, 60)

    finals = {s.interview_id: s for s in terminal_statuses(statuses)}
    failed = finals[corrupt.interview_id]
    assert failed.state.value == "failed" and failed.reason is not None
    assert failed.reason.code == "not_media" and "WAV" in failed.reason.message
    assert all(s.state.value == "completed" for i, s in finals.items() if i != corrupt.interview_id)

    results = {r.interview_id: r for r in distinct_events(records, OUT) if isinstance(r, SpeechResults)}
    assert corrupt.interview_id not in results
    scored = results[full.interview_id]
    replayed = [e for e in (decode(OUT, r.value) for r in records) if e.interview_id == full.interview_id]
    assert len(replayed) == 2 and {r.event_id for r in replayed} == {scored.event_id}  # same id on replay

    # the scored answer: transcript, words on the media timeline, metrics, scores with quotes
    assert scored.language == "en" and scored.transcript is not None
    assert "rolled back" in scored.transcript.lower() and "postmortem" in scored.transcript.lower().replace("-", "")
    assert scored.words[0].start_s == pytest.approx(100.0 + LEAD_S, abs=0.4)
    assert scored.metrics.time_to_first_word_s == pytest.approx(LEAD_S, abs=0.3)
    assert 100 < scored.metrics.wpm < 250 and scored.metrics.word_count >= 20
    assert [c.competency_id for c in scored.competency_scores] == ["problem-solving", "ownership"]
    for score in scored.competency_scores:
        assert score.evidence and score.keywords_matched
        assert all(scored.start_s <= q.start_s < q.end_s <= scored.end_s + 0.5 for q in score.evidence)
        assert "action" in score.star_parts
    assert scored.flags == []
    assert set(scored.model_versions) >= {"asr_engine", "asr_model", "embeddings"}

    # audio analysis only: behaviour, but no words leave the stage and nothing is scored
    private = results[no_transcript.interview_id]
    assert private.transcript is None and private.words == [] and private.competency_scores == []
    assert set(private.flags) == {FLAG_NO_TRANSCRIPTION, FLAG_NO_SCORING}
    assert private.metrics.wpm == pytest.approx(scored.metrics.wpm, rel=0.05)

    # a competency model nobody configured: transcript and metrics, scores omitted with the flag
    lost = results[unknown.interview_id]
    assert lost.transcript and lost.competency_scores == [] and lost.flags == [FLAG_UNKNOWN_MODEL]

    # the question read aloud is not the candidate's: not in the transcript, words, rate or time to first word
    answered = results[asked.interview_id]
    assert FLAG_QUESTION_READ in answered.flags
    assert answered.transcript is not None and "rolled back" in answered.transcript.lower()
    assert "production job" not in answered.transcript.lower() and "night" not in answered.transcript.lower()
    question_s = len(asking) / 16000
    assert answered.words[0].start_s == pytest.approx(100.0 + question_s + THINK_S, abs=0.5)
    # from the end of the question's voice (the synthesiser leaves some silence after it) to the answer's
    quiet_after_question_s = question_s - float(np.flatnonzero(np.abs(asking) > 0.02)[-1]) / 16000
    assert 0 <= quiet_after_question_s < 1.0
    assert answered.metrics.time_to_first_word_s == pytest.approx(THINK_S + quiet_after_question_s, abs=0.4)
    assert answered.metrics.word_count == pytest.approx(scored.metrics.word_count, abs=3)
