"""``render_html``: one self-contained HTML page from a :class:`ReportInput`."""

from __future__ import annotations

from . import answers, behaviour, explanation, hands_posture, sections
from .markup import join
from .model import ReportInput
from .page import document
from .view import View


def render_html(report: ReportInput) -> str:
    """The whole report as one HTML document: style inline, charts as inline SVG, key frames as data: URIs,
    nothing fetched. Labels in the report's language (the interview locale unless overridden)."""
    view = View(report)
    body = join(
        [
            sections.header(view),
            sections.verdict(view),
            sections.quality(view),
            sections.dimensions(view),
            explanation.explanation(view),
            behaviour.behaviour(view),
            behaviour.expression(view),
            hands_posture.hands_and_posture(view),
            answers.questions(view),
            answers.speaking(view),
            sections.versions(view),
            sections.footer(view),
        ]
    )
    title = f"{view.t('title')} · {report.profile.context.candidate_ref} · {report.profile.context.job.title}"
    return str(document(view.lang, title, body))
