"""The interview-completed event made for a sample points at it and matches its ground truth."""

from __future__ import annotations

import hashlib
from pathlib import Path

from services.common.contracts import decode, encode, topic_for
from services.samples.event import interview_event, question_id
from services.samples.generate import generate_interview
from services.samples.spec import SampleSpec


def test_event_for_a_sample_is_a_valid_contract_with_its_checksum_and_questions(tmp_path: Path) -> None:
    result = generate_interview(SampleSpec(duration=14, fps=5, seed=4, audio=False), tmp_path, tts_cache=None)
    event = interview_event(result, tenant_id="acme", interview_id="iv-sample")
    again = decode(topic_for(event), encode(event))
    assert again.model_dump() == event.model_dump()
    media = event.media[0]
    assert media.uri == result.media_path.resolve().as_uri()
    assert media.kind == "video"
    assert media.checksum is not None
    assert media.checksum.value == hashlib.sha256(result.media_path.read_bytes()).hexdigest()
    assert [(q.question_id, q.start_s, q.end_s) for q in event.questions] == [
        (question_id(q.bank_id, q.repeat), q.start, q.end) for q in result.truth.questions
    ]
    assert event.job.competency_model.id == "software-engineer"
    assert event.event_id == interview_event(result, tenant_id="acme", interview_id="iv-sample").event_id
    assert event.event_id != interview_event(result, tenant_id="acme", interview_id="other").event_id


def test_questions_carry_bank_ids_and_the_models_pressure_flags(tmp_path: Path) -> None:
    result = generate_interview(SampleSpec(duration=45, fps=5, seed=7, audio=False), tmp_path, tts_cache=None)
    event = interview_event(result, interview_id="iv-pressure")
    assert [(q.question_id, q.pressure) for q in event.questions] == [("incident", True), ("motivation", False)]


def test_the_sample_candidate_consents_to_every_analysis(tmp_path: Path) -> None:
    from services.common.contracts import ConsentScope

    result = generate_interview(SampleSpec(duration=14, fps=5, seed=4, audio=False), tmp_path, tts_cache=None)
    event = interview_event(result, interview_id="iv-consent")
    assert set(event.consent.scopes) == {s.value for s in ConsentScope}


def test_the_declared_kind_and_type_follow_the_container(tmp_path: Path) -> None:
    declared = {}
    for name, options in {
        "phone": {"container": "mov"},
        "browser": {"container": "webm", "video_codec": "vp8"},
        "voice": {"video": False, "container": "webm"},
        "memo": {"video": False, "container": "mp3"},
    }.items():
        spec = SampleSpec(duration=14, fps=5, width=160, height=120, seed=4, audio=name != "browser", **options)
        media = interview_event(generate_interview(spec, tmp_path, name=name, tts_cache=None)).media[0]
        declared[name] = (media.kind, media.content_type, Path(media.uri).suffix)
    assert declared == {
        "phone": ("video_with_audio", "video/quicktime", ".mov"),
        "browser": ("video", "video/webm", ".webm"),
        "voice": ("audio", "audio/webm", ".webm"),
        "memo": ("audio", "audio/mpeg", ".mp3"),
    }
