"""Question windows found by the speech stage, for an interview that came without them (pure).

Where the work lies: finding the windows needs the audio (voices) and the words (what was asked), which only
the speech stage has, so speech does it and reports each window with its answer's measures and scores
(speech-results ``answers``, `services.speech.windows`). Fusion, which sees every segment, turns them into
what it gets when windows are given: the questions with their windows, and one speech result per answer.
Everything downstream (per-question scoring, the report, the profile's context) then works unchanged; the
profile says the windows were found (``question_windows``) and how surely.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from services.common.contracts import (
    DataQualityFlag,
    FoundAnswer,
    InferredWindow,
    InterviewContext,
    Question,
    QuestionWindows,
    SpeechResults,
)

#: Flags of the speech stage's search that the profile passes on as data-quality flags.
SEARCH_FLAGS = (
    DataQualityFlag.QUESTION_WINDOWS_NOT_FOUND,
    DataQualityFlag.QUESTION_WINDOWS_INCOMPLETE,
    DataQualityFlag.QUESTION_MATCH_UNCERTAIN,
    DataQualityFlag.QUESTION_NOT_LISTED,
    DataQualityFlag.QUESTION_MATCHED_BY_ORDER,
)
#: Words belong to an answer from a little before its first word was placed.
_WORD_SLACK_S = 0.25


def windows_missing(context: InterviewContext) -> bool:
    return not context.questions


def found_answers(speech: Sequence[SpeechResults]) -> list[tuple[SpeechResults, FoundAnswer]]:
    """Every found answer with the segment it was found in, in time order; a question id found twice (in two
    segments of a long recording) keeps its first window."""
    seen: set[str] = set()
    out: list[tuple[SpeechResults, FoundAnswer]] = []
    pairs = sorted(((s, a) for s in speech for a in s.answers), key=lambda pair: pair[1].start_s)
    for segment, answer in pairs:
        if answer.question_id not in seen and (not out or answer.start_s >= out[-1][1].end_s):
            seen.add(answer.question_id)
            out.append((segment, answer))
    return out


def found_questions(
    context: InterviewContext, speech: Sequence[SpeechResults], pressure: Collection[str]
) -> list[Question]:
    """The questions with the windows found; pressure from the interview's list, else the job's model."""
    listed = {q.question_id: q.pressure for q in context.untimed_questions}
    return [
        Question(
            question_id=a.question_id,
            text=a.question_text[:1000],
            start_s=a.start_s,
            end_s=a.end_s,
            pressure=listed.get(a.question_id, a.question_id in pressure),
        )
        for _, a in found_answers(speech)
    ]


def per_answer_speech(speech: Sequence[SpeechResults]) -> list[SpeechResults]:
    """One speech result per found answer, as speech reports an answer cut to a given window: its words,
    transcript, measures and scores, and its window. They are numbered as segments of their own (readers such
    as the report keep one result per segment); the coverage counts the segments speech really reported."""
    out: list[SpeechResults] = []
    found = found_answers(speech)
    for index, (segment, answer) in enumerate(found):
        words = [
            w
            for w in segment.words
            if w.start_s >= answer.answer_start_s - _WORD_SLACK_S and (w.start_s + w.end_s) / 2 < answer.end_s
        ]
        joiner = "" if (segment.language or "").startswith("zh") else " "
        out.append(
            segment.model_copy(
                update={
                    "segment_index": index,
                    "total_segments": len(found),
                    "question_id": answer.question_id,
                    "start_s": answer.start_s,
                    "end_s": answer.end_s,
                    "words": words,
                    "transcript": joiner.join(w.word for w in words) if segment.transcript is not None else None,
                    "metrics": answer.metrics,
                    "competency_scores": answer.competency_scores,
                    "answers": [],
                }
            )
        )
    return out


def question_windows(speech: Sequence[SpeechResults]) -> QuestionWindows:
    """What the profile says of the search: the method and every window with its match confidence."""
    found = found_answers(speech)
    methods = {"one_voice" if "one_voice" in s.flags else "two_voices" for s in speech if s.answers}
    windows = [
        InferredWindow(
            question_id=a.question_id,
            start_s=a.start_s,
            end_s=a.end_s,
            match_confidence=a.match_confidence,
            listed=a.listed,
        )
        for _, a in found
    ]
    return QuestionWindows(
        method=methods.pop() if len(methods) == 1 else ("mixed" if methods else "none"),
        windows=windows,
        match_confidence=min((w.match_confidence for w in windows), default=None),
    )


def search_flags(speech: Sequence[SpeechResults]) -> list[str]:
    """``question_windows_inferred`` and the search's own flags (uncertain, unlisted, not found...)."""
    raised = {flag for s in speech for flag in s.flags}
    flags = [DataQualityFlag.QUESTION_WINDOWS_INFERRED.value]
    if not any(s.answers for s in speech):
        raised.add(DataQualityFlag.QUESTION_WINDOWS_NOT_FOUND.value)
    return flags + [flag.value for flag in SEARCH_FLAGS if flag.value in raised]


__all__ = [
    "found_answers",
    "found_questions",
    "per_answer_speech",
    "question_windows",
    "search_flags",
    "windows_missing",
]
