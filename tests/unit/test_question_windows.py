"""Finding question windows: speech stretches, voices, turns, matching (pure functions, no models), the
contract's rule for untimed questions, fusion's use of the windows speech found, and the report of them."""

from __future__ import annotations

import re

import numpy as np
import pytest
from pydantic import ValidationError

from services.common.contracts import FoundAnswer, InterviewCompleted, InterviewContext, ProfileReady, SpeechResults
from services.frames.audio import UNTIMED_SEGMENT_S, plan_segments, untimed_segment_s
from services.fusion.found import found_questions, per_answer_speech, question_windows, search_flags
from services.report import render_html
from services.report.model import ReportInput
from services.speech.text import TimedWord
from services.speech.turns import Stretch, Turn, pieces, smooth, speech_stretches, turns, two_voices
from services.speech.voices import mel_filters, mel_frames
from services.speech.windows import (
    FLAG_BY_ORDER,
    FLAG_INCOMPLETE,
    FLAG_NOT_FOUND,
    FLAG_UNCERTAIN,
    FLAG_UNLISTED,
    Listed,
    answer_blocks,
    assign,
    one_voice_windows,
    text_between,
    two_voice_windows,
)
from tests.fusion_data import _example

RATE = 16_000


def _tone(seconds: float, hz: float = 220.0, level: float = 0.2) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.float32)


# --- stretches, pieces, voices, turns ------------------------------------------------------------------------


def test_speech_stretches_follow_the_sound_and_join_short_gaps() -> None:
    audio = np.concatenate([_silence(1.0), _tone(2.0), _silence(0.15), _tone(1.0), _silence(2.0), _tone(0.5)])
    found = speech_stretches(audio)
    assert len(found) == 2  # the 0.15 s gap is inside speech
    assert found[0].start_s == pytest.approx(1.0, abs=0.05) and found[0].end_s == pytest.approx(4.15, abs=0.05)
    assert found[1].start_s == pytest.approx(6.15, abs=0.05) and found[1].end_s == pytest.approx(6.65, abs=0.05)
    assert speech_stretches(_silence(3.0)) == []


def test_pieces_cut_stretches_evenly() -> None:
    parts = pieces([Stretch(0.0, 4.0), Stretch(5.0, 5.5)], piece_s=1.5)
    assert [(p.start_s, p.end_s) for p in parts[:3]] == [
        pytest.approx((0.0, 4 / 3)),
        pytest.approx((4 / 3, 8 / 3)),
        pytest.approx((8 / 3, 4.0)),
    ]
    assert (parts[3].start_s, parts[3].end_s) == (5.0, 5.5) and len(parts) == 4


def _unit(v: list[float]) -> np.ndarray:
    a = np.asarray(v, dtype=np.float32)
    return a / np.linalg.norm(a)


def test_two_voices_split_two_groups_and_see_one_voice_as_one() -> None:
    a, b = _unit([1, 0.1, 0]), _unit([0.1, 1, 0])
    rng = np.random.default_rng(0)
    mixed = np.stack([_unit(list((a if i % 3 else b) + rng.normal(0, 0.05, 3))) for i in range(12)])
    split = two_voices(mixed)
    assert split.two and split.centroid_cosine < 0.5
    assert len({split.labels[i] for i in range(12) if i % 3}) == 1 and split.labels[0] != split.labels[1]
    same = np.stack([_unit(list(a + rng.normal(0, 0.05, 3))) for _ in range(12)])
    assert not two_voices(same).two
    assert not two_voices(same[:1]).two
    # one speaker with a single stray piece (a cough, a pitch-shifted phrase): not a second voice
    stray = np.concatenate([same, same, b[None, :]])
    split = two_voices(stray)
    assert split.centroid_cosine < 0.5 and not split.two


def test_smoothing_and_turns() -> None:
    assert smooth([0, 0, 1, 0, 0, 1, 1]) == [0, 0, 0, 0, 0, 1, 1]
    parts = [Stretch(float(i), i + 0.9) for i in range(5)]
    assert turns(parts, [0, 0, 1, 1, 0]) == [Turn(0, 0.0, 1.9), Turn(1, 2.0, 3.9), Turn(0, 4.0, 4.9)]


def test_mel_features_have_the_encoders_shape() -> None:
    bank = mel_filters()
    assert bank.shape == (40, 201) and np.all(bank >= 0) and np.all(bank.sum(axis=1) > 0)
    frames = mel_frames(_tone(1.0, hz=1000.0))
    assert frames.shape == (101, 40)
    assert int(np.argmax(frames[50])) == int(np.argmax(bank[:, round(1000 / 40)]))  # energy in the 1 kHz band


# --- matching and windows --------------------------------------------------------------------------------------


def test_assign_is_one_to_one_and_says_how_sure() -> None:
    similarity = np.array([[0.95, 0.84, 0.83], [0.86, 0.93, 0.82], [0.81, 0.82, 0.83]])
    matches = assign(similarity)
    assert matches[0][0] == 0 and matches[1][0] == 1
    assert matches[0][1] == 1.0 and matches[1][1] == 1.0  # a margin of 0.07 or more is certain
    assert matches[2] == (None, 0.0)  # nothing like it listed
    close = assign(np.array([[0.90, 0.89]]))
    assert close[0][0] == 0 and 0.5 < close[0][1] < 0.7
    assert assign(np.zeros((2, 0))) == [(None, 0.0), (None, 0.0)]


def _words(*spans: tuple[str, float, float]) -> list[TimedWord]:
    out = []
    for text, start, end in spans:
        tokens = text.split()
        step = (end - start) / len(tokens)
        out += [TimedWord(f" {t}", start + i * step, start + (i + 1) * step) for i, t in enumerate(tokens)]
    return out


LISTED = [Listed("intro", "tell me about yourself"), Listed("incident", "describe an incident")]


def _embed(texts: list[str] | tuple[str, ...]) -> np.ndarray:
    """Bag-of-letters vectors lifted towards 1 like e5's cosines: the same words score 1, others about 0.8."""
    vectors = []
    for text in texts:
        counts = np.zeros(27, dtype=np.float32)
        for ch in text.lower():
            counts[ord(ch) - 97 if "a" <= ch <= "z" else 26] += 1
        v = counts / max(float(np.linalg.norm(counts)), 1e-9)
        vectors.append(np.concatenate([v, [1.0]]).astype(np.float32))
    m = np.stack(vectors)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_two_voice_windows_open_at_each_question_and_close_after_the_answer() -> None:
    talk = [Turn(1, 0.5, 2.5), Turn(0, 3.5, 20.0), Turn(1, 21.0, 23.0), Turn(0, 24.0, 40.0), Turn(1, 41.0, 42.0)]
    words = _words(
        ("describe an incident", 0.5, 2.5),
        ("we had an outage and I fixed it", 3.5, 20.0),
        ("tell me about yourself", 21.0, 23.0),
        ("I am an engineer", 24.0, 40.0),
        ("thanks goodbye", 41.0, 42.0),
    )
    found = two_voice_windows(talk, words, LISTED, _embed)
    assert found.method == "two_voices" and found.flags == []
    assert [(w.question_id, w.start_s, w.answer_start_s, w.end_s) for w in found.windows] == [
        ("incident", 0.5, 3.5, 20.0),
        ("intro", 21.0, 24.0, 40.0),
    ]  # the closing remark nobody answers opens no window
    assert all(w.listed and w.match_confidence > 0.9 for w in found.windows)


def test_two_voice_windows_keep_an_unlisted_question_and_flag_it() -> None:
    talk = [Turn(1, 0.0, 2.0), Turn(0, 3.0, 10.0), Turn(1, 11.0, 13.0), Turn(0, 14.0, 20.0)]
    words = _words(("describe an incident", 0.0, 2.0), ("why do you want this job", 11.0, 13.0))
    found = two_voice_windows(talk, words, LISTED, _embed)
    assert [w.question_id for w in found.windows] == ["incident", "unlisted-2"]
    unlisted = found.windows[1]
    assert not unlisted.listed and unlisted.match_confidence == 0.0 and "why do you want" in unlisted.question_text
    assert found.flags == [FLAG_UNLISTED]
    assert two_voice_windows([Turn(0, 0.0, 5.0)], [], LISTED, _embed).flags == [FLAG_NOT_FOUND]
    # the interview's own list in the order asked, as many questions as windows: the order names them
    ordered = two_voice_windows(talk, words, LISTED[::-1], _embed, ordered=True)
    assert [w.question_id for w in ordered.windows] == ["incident", "intro"] and ordered.flags == [FLAG_BY_ORDER]


def test_answer_blocks_split_at_long_silences_and_join_to_the_expected_count() -> None:
    speech = [Stretch(0.0, 5.0), Stretch(6.0, 10.0), Stretch(13.0, 20.0), Stretch(25.0, 30.0)]
    assert answer_blocks(speech, None) == [Stretch(0.0, 10.0), Stretch(13.0, 20.0), Stretch(25.0, 30.0)]
    assert answer_blocks(speech, 2) == [Stretch(0.0, 20.0), Stretch(25.0, 30.0)]
    assert answer_blocks([], 3) == []


def test_one_voice_windows_match_by_content_or_by_the_listed_order() -> None:
    speech = [Stretch(1.0, 10.0), Stretch(14.0, 20.0)]
    words = _words(("about yourself I am an engineer", 1.0, 10.0), ("the incident was an outage", 14.0, 20.0))
    found = one_voice_windows(speech, words, LISTED, _embed)
    assert [w.question_id for w in found.windows] == ["intro", "incident"]
    assert [(w.start_s, w.answer_start_s, w.end_s) for w in found.windows] == [(0.0, 1.0, 10.0), (11.0, 14.0, 20.0)]
    # content that cannot tell: flagged, or (with the interview's own ordered list) decided by the order
    vague = _words(("well it was fine", 1.0, 10.0), ("yes it went well", 14.0, 20.0))
    unsure = one_voice_windows(speech, vague, LISTED, _embed)
    assert FLAG_UNCERTAIN in unsure.flags
    ordered = one_voice_windows(speech, vague, LISTED, _embed, ordered=True)
    assert [w.question_id for w in ordered.windows] == ["intro", "incident"] and FLAG_BY_ORDER in ordered.flags
    assert all(w.match_confidence == 0.5 for w in ordered.windows)
    # two answers without a pause between them: one window for two listed questions, and the result says so
    run_on = one_voice_windows([Stretch(1.0, 10.0), Stretch(10.5, 20.0)], vague, LISTED, _embed, ordered=True)
    assert len(run_on.windows) == 1 and FLAG_INCOMPLETE in run_on.flags


def test_text_between_takes_the_words_whose_middle_is_inside() -> None:
    words = _words(("one two", 0.0, 2.0), ("three", 5.0, 6.0))
    assert text_between(words, 0.0, 1.0) == "one"  # "two" (1.0-2.0) has its middle past the end and the slack
    assert text_between(words, 0.0, 1.3) == "one two"
    assert text_between(words, 5.2, 6.0) == "three"  # its middle (5.5) is inside


# --- contract ------------------------------------------------------------------------------------------------


def test_untimed_questions_only_without_windows() -> None:
    event = _example("interview-completed.en-IE")
    untimed = [{"question_id": "q1", "text": "Tell me about yourself."}]
    with pytest.raises(ValidationError, match="untimed_questions must be empty"):
        InterviewCompleted.model_validate({**event, "untimed_questions": untimed})
    parsed = InterviewCompleted.model_validate({**event, "questions": [], "untimed_questions": untimed})
    assert parsed.untimed_questions[0].question_id == "q1" and parsed.questions == []
    assert InterviewCompleted.model_validate({**event, "questions": []}).untimed_questions == []


def test_frames_cut_an_untimed_interview_as_one_segment() -> None:
    assert [(s.start_s, s.end_s, s.question_id) for s in plan_segments([], 95.0, untimed_segment_s(95.0))] == [
        (0.0, 95.0, None)
    ]
    assert len(plan_segments([], 2.5 * UNTIMED_SEGMENT_S, untimed_segment_s(2.5 * UNTIMED_SEGMENT_S))) == 3


# --- fusion --------------------------------------------------------------------------------------------------


def _found_speech() -> SpeechResults:
    base = SpeechResults.model_validate(_example("speech-results"))
    context = InterviewContext.model_validate(
        {
            **base.context.model_dump(),
            "questions": [],
            "untimed_questions": [
                {"question_id": "intro", "text": "Tell me about yourself.", "pressure": False},
                {"question_id": "incident", "text": "Describe an incident.", "pressure": True},
            ],
        }
    )
    words = [w.model_copy(update={"start_s": 4.0 + i, "end_s": 4.5 + i}) for i, w in enumerate(base.words[:4])]
    words += [w.model_copy(update={"start_s": 31.0 + i, "end_s": 31.5 + i}) for i, w in enumerate(base.words[4:8])]
    answers = [
        FoundAnswer(
            question_id=qid,
            question_text=text,
            listed=True,
            start_s=start,
            answer_start_s=answer,
            end_s=end,
            match_confidence=confidence,
            metrics=base.metrics,
            competency_scores=base.competency_scores,
        )
        for qid, text, start, answer, end, confidence in (
            ("intro", "Tell me about yourself.", 0.5, 4.0, 25.0, 0.9),
            ("incident", "Describe an incident.", 27.0, 31.0, 50.0, 0.55),
        )
    ]
    return base.model_copy(
        update={
            "context": context,
            "question_id": None,
            "start_s": 0.0,
            "end_s": 60.0,
            "words": words,
            "answers": answers,
            "flags": [FLAG_UNCERTAIN],
        }
    )


def test_fusion_takes_the_found_windows_as_questions_and_answers() -> None:
    speech = [_found_speech()]
    questions = found_questions(speech[0].context, speech, pressure=frozenset())
    assert [(q.question_id, q.start_s, q.end_s, q.pressure) for q in questions] == [
        ("intro", 0.5, 25.0, False),
        ("incident", 27.0, 50.0, True),
    ]
    answers = per_answer_speech(speech)
    assert [(a.question_id, a.start_s, a.end_s, len(a.words)) for a in answers] == [
        ("intro", 0.5, 25.0, 4),
        ("incident", 27.0, 50.0, 4),
    ]
    assert all(a.answers == [] and a.competency_scores for a in answers)
    assert [(a.segment_index, a.total_segments) for a in answers] == [(0, 2), (1, 2)]  # the report keeps each
    windows = question_windows(speech)
    assert windows.method == "two_voices" and windows.match_confidence == 0.55
    assert search_flags(speech) == ["question_windows_inferred", FLAG_UNCERTAIN]
    assert search_flags([speech[0].model_copy(update={"answers": [], "flags": []})]) == [
        "question_windows_inferred",
        FLAG_NOT_FOUND,
    ]


# --- report --------------------------------------------------------------------------------------------------


def test_report_of_found_windows_shows_each_answer_and_how_it_was_found() -> None:
    """From the examples a real run produced: every question has its answer, and says it was found."""
    profile = ProfileReady.model_validate(_example("profile-ready.found-windows"))
    speech = SpeechResults.model_validate(_example("speech-results.found-windows"))
    assert profile.question_windows is not None
    html = render_html(ReportInput(profile=profile, vision=[], speech=per_answer_speech([speech])))
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "No speech results were received" not in text
    assert text.count("found in the recording, question recognised 100%") == len(profile.context.questions) == 2
    assert "the question windows were not given: they were found in the recording" in text
