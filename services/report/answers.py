"""The sections about the answers: each question with its transcript and key frames, and speaking charts."""

from __future__ import annotations

import math

from services.common.contracts import Question, SpeechResults

from . import charts, facts, fmt
from .explanation import left_out_notice
from .i18n import dimension_text, list_separator
from .markup import Html, el, join, void
from .model import KEY_FRAME_POSITIONS
from .transcript import excerpt, quote_mark
from .view import View, image_uri

# --- questions -------------------------------------------------------------------------------------------------


def _metrics_line(view: View, speech: SpeechResults) -> Html:
    m = speech.metrics
    rate = (
        view.t("rate_cpm", value=f"{m.cpm:.0f}") if view.uses_characters else view.t("rate_wpm", value=f"{m.wpm:.0f}")
    )
    items = [
        rate,
        view.t("pauses", count=m.pause_count, longest=fmt.seconds(m.pause_longest_s), ratio=fmt.percent(m.pause_ratio)),
        view.t("fillers", count=m.filler_count),
    ]
    if m.time_to_first_word_s is not None:
        items.append(view.t("first_word", value=fmt.seconds(m.time_to_first_word_s)))
    return el("p", f"{view.t('speaking')}: ", list_separator(view.lang).join(items), class_="metrics")


def _speech_strip(view: View, speech: SpeechResults) -> Html | None:
    if not speech.words:
        return None
    spoken, pauses = facts.speech_and_pauses(speech.words)
    label = view.t("speech_timeline")
    strip = charts.speech_strip(speech.start_s, speech.end_s, spoken, pauses, label=label, caption=view.t("time_axis"))
    return join([el("p", label, class_="caption"), strip])


def _competency_table(view: View, speech: SpeechResults) -> Html | None:
    if not speech.competency_scores:
        return None
    head = el("tr", *[el("th", view.t(k)) for k in ("competency", "score", "structure", "specificity")])
    rows = [
        el(
            "tr",
            el("td", dimension_text(view.lang, c.competency_id)),
            el("td", fmt.score(c.score)),
            el("td", fmt.percent(c.structure)),
            el("td", fmt.percent(c.specificity)),
        )
        for c in speech.competency_scores
    ]
    return join([el("h3", view.t("competency_scores")), el("table", el("thead", head), el("tbody", *rows))])


def _transcript(view: View, speech: SpeechResults | None) -> Html:
    if speech is None:
        return el("p", view.t("speech_missing"), class_="notice")
    if speech.transcript is None:
        return el("p", view.t("transcript_missing"), class_="caption")
    if not speech.transcript.strip():
        return el("p", view.t("transcript_empty"), class_="caption")
    quotes = [quote for score in speech.competency_scores for quote in score.evidence]
    body, unplaced = excerpt(speech.transcript, quotes)
    extra = el("ul", *[el("li", quote_mark(q.quote, q.start_s, q.end_s)) for q in unplaced]) if unplaced else None
    return join([el("h3", view.t("transcript")), el("blockquote", body, class_="transcript"), extra])


def _moment(view: View, at_s: float) -> str:
    """What the per-second timeline says about the candidate at a key frame's time."""
    row = next((r for r in view.seconds if r.second == math.floor(at_s)), None)
    if row is None:
        return ""
    if row.face_present_ratio == 0:
        return f" · {view.t('face_absent')}"
    parts = (
        [view.t("eye_contact_in_window", value=fmt.percent(row.eye_contact_ratio))]
        if row.eye_contact_ratio is not None and "eye_contact" not in view.accommodated
        else []
    )
    if row.faces_max > 1:
        parts.append(view.t("second_face"))
    return "".join(f" · {part}" for part in parts)


def _key_frames(view: View, question: Question) -> Html | None:
    # The frames stage takes the sampled frame nearest to each point; the window's end is exclusive.
    middle = (question.start_s + question.end_s) / 2
    times = {"start": question.start_s, "middle": middle, "end": max(question.start_s, question.end_s - 0.5)}
    figures = []
    for position in KEY_FRAME_POSITIONS:
        frame = view.report.key_frame(question.question_id, position)
        if frame is None:
            continue
        at_s = times[position]
        caption = f"{view.t(f'key_frame.{position}')} ≈ {fmt.clock(at_s)}{_moment(view, at_s)}"
        figures.append(
            el("figure", void("img", src=image_uri(frame), alt=caption), el("figcaption", caption), class_="key-frame")
        )
    if not figures:
        return None
    return join([el("h3", view.t("key_frames")), el("div", *figures, class_="frames")])


def question_section(view: View, index: int, question: Question) -> Html:
    speech = view.speech_for(question.question_id)
    badge = el("span", view.t("pressure"), class_="badge") if question.pressure else None
    fluency = "speaking_fluency" not in view.accommodated
    window = f"{view.t('window')}: {fmt.clock_range(question.start_s, question.end_s)}"
    eye = facts.mean_eye_contact(view.seconds, question)
    if eye is not None and "eye_contact" not in view.accommodated:
        window += f" · {view.t('eye_contact_in_window', value=fmt.percent(eye))}"
    found = view.found_window(question.question_id)
    if found is not None:  # the interview came without windows: say this one was found, and how surely
        sure = view.t("window_found", value=fmt.percent(found.match_confidence))
        window += f" · {sure if found.listed else view.t('window_found_unlisted')}"
    return el(
        "article",
        el("h3", f"{view.question_label(index)} · ", question.text, badge),
        el("p", window, class_="caption"),
        _metrics_line(view, speech) if speech and fluency else None,
        _speech_strip(view, speech) if speech and fluency else None,
        _transcript(view, speech),
        _competency_table(view, speech) if speech else None,
        _key_frames(view, question),
        class_="question pressure" if question.pressure else "question",
        id=f"question-{index + 1}",
    )


def questions(view: View) -> Html:
    return el(
        "section",
        el("h2", view.t("questions")),
        *[question_section(view, i, q) for i, q in enumerate(view.questions)],
        id="questions",
    )


# --- speaking --------------------------------------------------------------------------------------------------


def speaking(view: View) -> Html:
    parts: list[Html] = [el("h2", view.t("speaking_charts"))]
    left_out = left_out_notice(view, "speaking_fluency")
    if left_out is not None:
        return el("section", *parts, left_out, id="speaking")
    answered = [(view.question_label(i), view.speech_for(q.question_id)) for i, q in enumerate(view.questions)]
    measured = [(name, s.metrics) for name, s in answered if s is not None]
    if not measured:
        return el("section", *parts, el("p", view.t("no_speech"), class_="notice"), id="speaking")
    rate = [(name, m.cpm if view.uses_characters else m.wpm) for name, m in measured]
    rate_label = view.t("speaking_rate_cpm" if view.uses_characters else "speaking_rate_wpm")
    parts.append(
        el(
            "div",
            el(
                "figure",
                charts.bar_chart([(n, v, f"{v:.0f}") for n, v in rate], rate_label, charts.RATE_BAR),
                el("figcaption", rate_label),
            ),
            el(
                "figure",
                charts.bar_chart(
                    [(n, m.pause_ratio, fmt.percent(m.pause_ratio)) for n, m in measured],
                    view.t("pause_ratio"),
                    charts.PAUSE_BAR,
                    max(0.5, max(m.pause_ratio for _, m in measured)),
                ),
                el("figcaption", view.t("pause_ratio")),
            ),
            el(
                "figure",
                charts.bar_chart(
                    [(n, m.pause_longest_s, f"{m.pause_longest_s:.1f}") for n, m in measured],
                    view.t("longest_pause"),
                    charts.PAUSE_BAR,
                ),
                el("figcaption", view.t("longest_pause")),
            ),
            class_="charts",
        )
    )
    return el("section", *parts, id="speaking")
