"""The summary sections of the report: header, verdict, data quality, dimensions and versions."""

from __future__ import annotations

from services.common.contracts import Evidence, TimeRange

from . import charts, facts, fmt
from .i18n import dimension_text, flag_text, list_separator
from .markup import Html, el, join, void
from .transcript import quote_mark
from .view import View, image_uri

# --- header and verdict ----------------------------------------------------------------------------------------


def header(view: View) -> Html:
    profile = view.report.profile
    context = profile.context
    job = context.job
    rows = [
        (view.t("candidate"), context.candidate_ref),
        (view.t("job"), f"{job.title} ({job.job_id})"),
        (view.t("interview"), f"{profile.tenant_id} / {profile.interview_id}"),
        (view.t("date"), context.interview_started_at.isoformat()),
        (view.t("locale"), context.locale),
        (view.t("jurisdiction"), context.jurisdiction),
        (view.t("profile_version"), str(profile.profile_version)),
    ]
    facts_list = el("dl", *[join([el("dt", k), el("dd", v)]) for k, v in rows], class_="facts")
    return join([el("h1", f"{view.t('title')} · {context.candidate_ref}"), facts_list])


def verdict(view: View) -> Html:
    profile = view.report.profile
    label = str(profile.label)
    overall = fmt.overall(profile.overall) if profile.overall is not None else view.t("overall_missing")
    return el(
        "section",
        el(
            "div",
            el("div", view.t("label"), class_="caption"),
            el("span", view.t(f"label.{label}"), class_=f"label label-{label}"),
        ),
        el("div", el("div", view.t("overall"), class_="caption"), el("span", overall, class_="overall")),
        el("p", view.t("review_note"), class_="review-note"),
        class_="verdict",
        id="verdict",
    )


# --- data quality ----------------------------------------------------------------------------------------------


def _episode_list(view: View, ranges: list[TimeRange]) -> str:
    return list_separator(view.lang).join(fmt.clock_range(r.start_s, r.end_s) for r in ranges)


def quality(view: View) -> Html:
    profile = view.report.profile
    flags = [el("li", flag_text(view.lang, str(flag)), class_=f"flag flag-{flag}") for flag in profile.data_quality]
    coverage = profile.coverage
    parts: list[Html] = [el("h2", view.t("quality"))]
    if facts.is_partial(view.report):
        parts.append(el("p", view.t("partial"), class_="notice partial"))
    parts.append(el("ul", *flags, class_="flags") if flags else el("p", view.t("quality_none")))
    parts.append(
        el(
            "p",
            f"{view.t('coverage')}: ",
            view.t(
                "coverage_vision", received=coverage.vision_chunks.received, expected=coverage.vision_chunks.expected
            ),
            list_separator(view.lang),
            view.t(
                "coverage_speech",
                received=coverage.speech_segments.received,
                expected=coverage.speech_segments.expected,
            ),
        )
    )
    integrity: list[Html] = []
    kinds: list[tuple[facts.EpisodeKind, str]] = [
        ("face_absent", "face_absent_total"),
        ("second_face", "second_face_total"),
    ]
    for kind, key in kinds:
        ranges = facts.episodes(view.vision, kind)
        if ranges:
            summary = view.t(key, seconds=fmt.seconds(facts.total_seconds(ranges)), count=len(ranges))
            integrity.append(el("li", summary, ": ", _episode_list(view, ranges), class_=f"integrity-{kind}"))
    if view.vision and not integrity:
        integrity.append(el("li", view.t("integrity_clean")))
    if integrity:
        parts += [el("h3", view.t("integrity")), el("ul", *integrity, class_="integrity")]
    return el("section", *parts, id="quality")


# --- dimensions ------------------------------------------------------------------------------------------------


def _evidence_item(view: View, item: Evidence) -> Html:
    kind = view.t(f"evidence.{item.kind}")
    when = el("span", f"[{fmt.clock_range(item.start_s, item.end_s)}]", class_="ts")
    if item.kind == "quote" and item.text:
        return el("li", f"{kind}: ", quote_mark(item.text, item.start_s, item.end_s), class_="evidence-quote")
    image: Html | None = None
    if item.object is not None:
        frame = view.report.key_frame_by_object_key(item.object.key)
        if frame is not None:
            image = void("img", src=image_uri(frame), alt=item.text or kind, class_="evidence-frame")
    return el("li", f"{kind}: ", item.text or "", " ", when, image, class_=f"evidence-{item.kind}")


def dimensions(view: View) -> Html:
    profile = view.report.profile
    axes = [(dimension_text(view.lang, d.dimension), d.score) for d in profile.dimensions]
    radar = charts.radar_chart(axes, view.t("dimensions"))
    head = el("tr", *[el("th", view.t(k)) for k in ("dimension", "kind", "score", "confidence", "evidence")])
    rows = []
    for d in profile.dimensions:
        evidence = (
            el("ul", *[_evidence_item(view, e) for e in d.evidence])
            if d.evidence
            else el("span", view.t("no_evidence"), class_="caption")
        )
        bar = el("span", class_="score-bar", style=f"width:{d.score:.0f}px")
        rows.append(
            el(
                "tr",
                el("td", dimension_text(view.lang, d.dimension)),
                el("td", view.t(f"kind.{d.kind}")),
                el("td", fmt.score(d.score), " ", bar, class_="score"),
                el("td", fmt.percent(d.confidence)),
                el("td", evidence),
            )
        )
    table = el("table", el("thead", head), el("tbody", *rows), class_="dimensions")
    return el("section", el("h2", view.t("dimensions")), radar, table, id="dimensions")


# --- versions and footer ---------------------------------------------------------------------------------------


def versions(view: View) -> Html:
    names = {key: view.t(key) for key in ("scoring_model", "competency_model", "policy")}
    rows = [el("tr", el("td", names.get(c, c)), el("td", v)) for c, v in facts.model_versions(view.report)]
    head = el("tr", el("th", view.t("component")), el("th", view.t("version")))
    return el(
        "section",
        el("h2", view.t("versions")),
        el("table", el("thead", head), el("tbody", *rows), class_="versions"),
        id="versions",
    )


def footer(view: View) -> Html:
    return el("footer", el("p", view.t("footer")))
