"""The sections over the interview's timeline: behaviour curves and expressions."""

from __future__ import annotations

from services.vision.aggregate import aggregate

from . import charts, facts, fmt
from .explanation import left_out_notice
from .i18n import emotion_reason_text, expression_text, list_separator
from .markup import Html, el, join
from .view import View

# --- behaviour over time -------------------------------------------------------------------------------------


def _performed_windows(view: View) -> list[tuple[float, float]]:
    return [(v.start_s, v.end_s) for v in view.vision if v.summary.emotion_inference.performed]


def _in_windows(second: int, windows: list[tuple[float, float]]) -> bool:
    return any(start <= second + 0.5 < end for start, end in windows)


def behaviour(view: View) -> Html:
    parts: list[Html] = [el("h2", view.t("behaviour"))]
    if not view.vision:
        return el("section", *parts, el("p", view.t("no_vision"), class_="notice"), id="behaviour")
    notices = [n for m in ("eye_contact", "expression") if (n := left_out_notice(view, m)) is not None]
    parts += notices
    rows = view.seconds
    series = []
    if "eye_contact" not in view.accommodated:
        eye = [(r.second + 0.5, r.eye_contact_ratio) for r in rows]
        series.append(charts.Series(view.t("eye_contact"), charts.EYE_CONTACT, eye))
    if view.emotion.performed and "expression" not in view.accommodated:
        # Smiles are expression data: shown only for the chunks where inference was allowed.
        performed = _performed_windows(view)
        smile = [(r.second + 0.5, r.smile_intensity if _in_windows(r.second, performed) else None) for r in rows]
        series.append(charts.Series(view.t("smile"), charts.SMILE, smile))
    episode_colours: list[tuple[facts.EpisodeKind, str]] = [
        ("face_absent", charts.FACE_ABSENT),
        ("second_face", charts.SECOND_FACE),
    ]
    if "eye_contact" not in view.accommodated:
        episode_colours.append(("look_away", charts.LOOK_AWAY))
    marks = [
        charts.Mark(r.start_s, r.end_s, colour, f"{view.t(kind)} {fmt.clock_range(r.start_s, r.end_s)}")
        for kind, colour in episode_colours
        for r in facts.episodes(view.vision, kind)
    ]
    parts.append(
        charts.time_chart(
            series,
            duration_s=view.duration_s,
            bands=view.bands,
            marks=marks,
            label=view.t("behaviour"),
            caption=view.t("time_axis"),
        )
    )
    legend = [(view.t(kind), colour) for kind, colour in episode_colours]
    parts.append(
        el(
            "p",
            *[join([el("span", "■", style=f"color:{colour}"), " ", name, "  "]) for name, colour in legend],
            el("span", "■", style=f"color:{charts.PRESSURE_BAND}"),
            " ",
            view.t("pressure"),
            class_="caption",
        )
    )
    return el("section", *parts, _landmarks(view), id="behaviour")


def _landmarks(view: View) -> Html | None:
    """The face mesh's measures over the interview in one line, or why the recording could not support them.
    Facial measures are left out where the candidate asked for the expression accommodation."""
    if "expression" in view.accommodated:
        return None
    marks = aggregate(view.vision, []).landmarks
    if marks is None:
        return None
    if not marks.supported:
        return el("p", view.t("landmarks_unsupported"), class_="caption")
    if marks.blink_rate_per_min is None:  # no face was measured at all (absent, or turned away)
        return None
    parts = [view.t("blinks", count=len(marks.blink_times_s), rate=f"{marks.blink_rate_per_min:.1f}")]
    if marks.mouth_opening_mean is not None:
        parts.append(view.t("mouth_opening", value=f"{marks.mouth_opening_mean:.1%}"))
    if marks.brow_lowering is not None:
        parts.append(view.t("brow_lowering", value=f"{marks.brow_lowering:.1%}"))
    return el("p", view.t("facial_landmarks"), ": ", " · ".join(parts), class_="caption")


def expression(view: View) -> Html:
    parts: list[Html] = [el("h2", view.t("expression"))]
    if not view.vision:
        return el("section", *parts, el("p", view.t("no_vision"), class_="notice"), id="expression")
    left_out = left_out_notice(view, "expression")
    if left_out is not None:
        return el("section", *parts, left_out, id="expression")
    status = view.emotion
    reasons = list_separator(view.lang).join(emotion_reason_text(view.lang, r) for r in status.reasons_not_performed)
    if not status.performed:
        note = view.t("emotion_not_performed", reasons=reasons or view.t("none"))
        return el("section", *parts, el("p", note, class_="notice emotion-not-performed"), id="expression")
    if not status.complete:
        missing = status.total_chunks - status.performed_chunks
        note = view.t("emotion_partly_performed", missing=missing, total=status.total_chunks, reasons=reasons)
        parts.append(el("p", note, class_="notice emotion-partly-performed"))
    performed = _performed_windows(view)
    cells = [
        (
            float(start),
            float(end),
            charts.EXPRESSION_COLOURS.get(name, charts.OTHER_EXPRESSION),
            f"{fmt.clock_range(start, end - 0.01)} {expression_text(view.lang, name)}",
        )
        for start, end, name in facts.expression_runs(view.seconds, performed)
    ]
    shares = facts.expression_shares(view.vision)
    legend = [
        (expression_text(view.lang, name), charts.EXPRESSION_COLOURS.get(name, charts.OTHER_EXPRESSION))
        for name in shares
    ]
    parts += [
        el("h3", view.t("dominant_expression")),
        charts.category_strip(
            cells,
            duration_s=view.duration_s,
            bands=view.bands,
            legend=legend,
            label=view.t("dominant_expression"),
            caption=view.t("time_axis"),
        ),
        el("h3", view.t("expression_share")),
        charts.share_bars(
            [(name, share, colour) for (name, colour), share in zip(legend, shares.values(), strict=True)],
            view.t("expression_share"),
        ),
    ]
    return el("section", *parts, id="expression")
