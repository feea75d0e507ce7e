"""The report's explanation for the candidate: what was looked at, what weighed most, what was left out and why
(from the profile's `explanation`, worded in the report's language)."""

from __future__ import annotations

from .i18n import accommodation_text, dimension_text, list_separator, measure_text, not_measured_reason_text
from .markup import Html, el
from .view import View


def left_out_notice(view: View, measure: str) -> Html | None:
    """The notice standing in for a measure an accommodation left out of the assessment; None when it was not."""
    reason = view.accommodated.get(measure)
    if reason is None:
        return None
    text = view.t(
        "left_out", measure=measure_text(view.lang, measure), reason=not_measured_reason_text(view.lang, reason)
    )
    return el("p", text, class_=f"notice left-out left-out-{measure}")


def explanation(view: View) -> Html:
    found = view.report.profile.explanation
    if found is None:
        return Html("")
    lang, sep = view.lang, list_separator(view.lang)
    parts: list[Html] = [el("h2", view.t("explanation"))]
    if found.looked_at:
        looked = sep.join(measure_text(lang, m) for m in found.looked_at)
        parts.append(el("p", view.t("explanation_looked_at", measures=looked), class_="looked-at"))
    else:
        parts.append(el("p", view.t("explanation_nothing_scored")))
    if found.weights:
        items = [
            el(
                "li",
                view.t("explanation_item", name=dimension_text(lang, w.dimension), value=f"{w.share * 100:.0f}%"),
                data_dimension=w.dimension,
            )
            for w in found.weights
        ]
        parts += [el("p", view.t("explanation_weights")), el("ul", *items, class_="weights")]
    if found.not_measured:
        items = [
            el(
                "li",
                view.t(
                    "explanation_item",
                    name=measure_text(lang, n.measure),
                    value=not_measured_reason_text(lang, n.reason),
                ),
                data_measure=n.measure,
            )
            for n in found.not_measured
        ]
        parts += [el("p", view.t("explanation_not_measured")), el("ul", *items, class_="not-measured")]
    else:
        parts.append(el("p", view.t("explanation_all_measured")))
    if found.accommodations:
        names = sep.join(accommodation_text(lang, str(a)) for a in found.accommodations)
        parts.append(el("p", view.t("explanation_accommodations", items=names), class_="notice accommodations"))
    return el("section", *parts, id="explanation")
