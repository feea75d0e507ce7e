"""The audit as one self-contained HTML page in the report's style (services/report/page.py)."""

from __future__ import annotations

from services.report.markup import Html, el, join
from services.report.page import document

from .bias import (
    FOUR_FIFTHS,
    HUMAN,
    INTERSECTION,
    MIN_SHARE,
    RACE,
    SCORING,
    SEX,
    SMALL_SAMPLE,
    SUGGESTED,
    BiasAudit,
    CategoryRate,
    Flag,
    MeasureBreakdown,
    RateTable,
)

RATE_TITLES = {
    SUGGESTED: "Selection rate: suggested label (recommend = selected)",
    HUMAN: "Selection rate: the reviewer's final decision (recommend = selected)",
    SCORING: "Scoring rate: share above the median overall score",
}
AXIS_TITLES = {SEX: "Sex", RACE: "Race/ethnicity", INTERSECTION: "Intersection of sex and race/ethnicity"}


def _category(name: str) -> str:
    return name.replace("_", " ")


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _facts(audit: BiasAudit) -> Html:
    median = "no overall scores" if audit.median_overall is None else f"{audit.median_overall:.1f}"
    rows = [
        ("Tenant", audit.tenant_id),
        ("Job", audit.job_id or "all jobs"),
        ("Data window", f"{audit.data_from.isoformat()} to {audit.data_to.isoformat()} (interview dates)"),
        ("Distribution date", audit.distribution_date.isoformat() if audit.distribution_date else "not stated"),
        ("Audit generated", audit.generated_at.strftime("%Y-%m-%d %H:%M UTC")),
        ("Applicants", str(audit.applicants)),
        ("With an overall score", f"{audit.scored} (median {median})"),
        ("With a review decision", str(audit.reviewed)),
    ]
    return el("dl", *[join([el("dt", k), el("dd", v)]) for k, v in rows], class_="facts")


def _method() -> Html:
    return el(
        "p",
        "Rates and impact ratios as NYC Local Law 144's rules define them: each category's rate divided by the "
        f"rate of the most selected (highest scoring) category. Ratios under {FOUR_FIFTHS} are flagged (the "
        f"four-fifths rule). Categories under {MIN_SHARE:.0%} of the applicants are reported but left out of the "
        "ratios; applicants without a self-identification, or who declined to answer, are counted as unknown. "
        f"Fisher's exact test compares each category with the reference; under {SMALL_SAMPLE} applicants in "
        "either (or an expected count under 5) a ratio is marked as resting on a small sample.",
        class_="caption",
    )


def _driver_text(flag: Flag) -> Html:
    if not flag.drivers:
        return el("span", "No single measure differs by a medium effect or more.")
    parts = [
        f"{d.measure} (mean {d.category_mean:.2f} vs {d.reference_mean:.2f}, effect size {d.effect_size:+.2f})"
        for d in flag.drivers
    ]
    return el("span", "Measures that differ most: ", el("strong", ", ".join(parts)))


def _flags(audit: BiasAudit) -> Html:
    if not audit.flags:
        return el("section", el("h2", "Flags"), el("p", f"No impact ratio under {FOUR_FIFTHS}."), class_="flags")
    items = []
    for f in audit.flags:
        p = "" if f.fisher_p is None else f", Fisher p = {f.fisher_p:.3g}"
        warning = el("span", "small sample", class_="badge") if f.small_sample else None
        items.append(
            el(
                "li",
                el("strong", f"{AXIS_TITLES[f.axis]}: {_category(f.category)}"),
                f" — {RATE_TITLES[f.rate].split(':')[0].lower()} ratio {f.impact_ratio:.3f} against "
                f"{_category(f.reference)} ({f.applicants} applicants{p})",
                warning,
                ". ",
                _driver_text(f),
                class_="flag",
                data_axis=f.axis,
                data_category=f.category,
                data_rate=f.rate,
            )
        )
    return el("section", el("h2", f"Flags ({len(audit.flags)})"), el("ul", *items), class_="flags")


def _notes(c: CategoryRate) -> Html:
    notes: list[Html | str | None] = []
    if c.reference:
        notes.append("reference (most selected)")
    if c.excluded:
        notes.append(f"under {MIN_SHARE:.0%}: not compared")
    if c.flagged:
        notes.append(el("span", f"under {FOUR_FIFTHS}", class_="review-note"))
    if c.small_sample:
        notes.append(el("span", "small sample", class_="badge"))
    if c.fisher_p is not None:
        notes.append(f"Fisher p = {c.fisher_p:.3g}")
    separated: list[Html | str | None] = []
    for i, note in enumerate(notes):
        separated += [note] if i == 0 else ["; ", note]
    return join(separated)


def _rate_table(table: RateTable) -> Html:
    head = el("tr", *[el("th", h) for h in ("Category", "Applicants", "Selected", "Rate", "Impact ratio", "Notes")])
    rows = [
        el(
            "tr",
            el("td", _category(c.category)),
            el("td", str(c.applicants)),
            el("td", str(c.selected)),
            el("td", f"{c.rate:.3f}"),
            el("td", _ratio(c.impact_ratio)),
            el("td", _notes(c)),
            class_="flagged" if c.flagged else None,
            data_category=c.category,
        )
        for c in table.categories
    ]
    rows.append(el("tr", el("td", "unknown"), el("td", str(table.unknown)), el("td", ""), el("td", ""), el("td", ""),
                    el("td", "not in the rates")))  # fmt: skip
    return join(
        [el("h3", AXIS_TITLES[table.axis]), el("table", head, *rows, data_rate=table.rate, data_axis=table.axis)]
    )


def _rates(audit: BiasAudit, rate: str) -> Html:
    tables = [t for t in audit.tables if t.rate == rate]
    body: list[Html] = [el("h2", RATE_TITLES[rate])]
    if rate == HUMAN and not tables:
        where = "" if not audit.human_decisions_recorded else " for the applicants of this window"
        body.append(el("p", f"No review decisions recorded{where}.", class_="notice"))
    elif not tables:
        body.append(el("p", "No applicant in the window has an overall score.", class_="notice"))
    body += [_rate_table(t) for t in tables]
    return el("section", *body, id=rate)


def _measures(audit: BiasAudit, axis: str) -> Html:
    breakdowns: list[MeasureBreakdown] = [m for m in audit.measures if m.axis == axis]
    if not breakdowns:
        return Html("")
    categories = sorted({s.category for m in breakdowns for s in m.categories})
    head = el("tr", el("th", "Measure"), *[el("th", _category(c)) for c in categories])
    rows = []
    for m in breakdowns:
        by_category = {s.category: s for s in m.categories}
        cells = []
        for c in categories:
            s = by_category.get(c)
            text = "" if s is None else f"{s.mean:.2f} ({s.p25:.2f} to {s.p75:.2f}), n={s.n}"
            cells.append(el("td", text))
        rows.append(el("tr", el("td", m.measure), *cells, data_measure=m.measure))
    return join([el("h3", AXIS_TITLES[axis]), el("table", head, *rows, class_="measures", data_axis=axis)])


def render_audit_html(audit: BiasAudit) -> str:
    title = f"Bias audit · {audit.tenant_id} · {audit.job_id or 'all jobs'}"
    body = join(
        [
            el("h1", "Bias audit (NYC Local Law 144 format)"),
            _facts(audit),
            _method(),
            _flags(audit),
            *[_rates(audit, rate) for rate in (SUGGESTED, HUMAN, SCORING)],
            el(
                "section",
                el("h2", "Measures by category"),
                el("p", "Mean (25th to 75th percentile) and count of each score and measure.", class_="caption"),
                *[_measures(audit, axis) for axis in (SEX, RACE, INTERSECTION)],
                id="measures",
            ),
            el("footer", "Self-identified demographics are read only for this audit, by the auditor role."),
        ]
    )
    return str(document("en", title, body))


__all__ = ["render_audit_html"]
