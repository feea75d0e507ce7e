"""The document around the sections: inline style and a policy that forbids loading anything."""

from __future__ import annotations

from .i18n import Language
from .markup import Html, el, void

#: The report is one file: nothing may be fetched (no network, no script), images come as data: URIs.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_STYLE = """
:root { --ink: #222; --muted: #5b6472; --line: #d9dde3; --accent: #08519c; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; color: var(--ink); background: #fff;
  font: 14px/1.5 "Noto Sans CJK SC", "WenQuanYi Micro Hei", "Source Han Sans SC", "DejaVu Sans", sans-serif; }
main { max-width: 960px; margin: 0 auto; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
.verdict { display: flex; gap: 24px; align-items: center; padding: 12px 16px; margin: 16px 0;
  border: 1px solid var(--line); border-radius: 6px; background: #f8fafc; }
.verdict .label { font-size: 20px; font-weight: 700; padding: 2px 12px; border-radius: 4px; color: #fff; }
.label-recommend { background: #2e7d32; } .label-pending { background: #8d6e00; } .label-reject { background: #b23b3b; }
.verdict .overall { font-size: 28px; font-weight: 700; }
.review-note { font-weight: 600; color: #8a1c1c; }
.notice { padding: 8px 12px; border-left: 4px solid #c77700; background: #fff7e6; margin: 8px 0; }
.flags li { margin: 2px 0; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
.charts figure { margin: 0; }
td ul { margin: 0; padding-left: 16px; }
svg.chart { max-width: 100%; height: auto; display: block; }
mark { background: #fff0a6; padding: 0 2px; }
.ts { color: var(--muted); font-size: 12px; white-space: nowrap; }
.badge { display: inline-block; font-size: 12px; padding: 0 6px; border-radius: 3px; background: #fdebd3;
  color: #8a4b00; margin-left: 6px; }
.question { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px 12px; margin: 12px 0; }
.question blockquote { margin: 6px 0; padding: 6px 10px; background: #fafafa; border-left: 3px solid var(--line); }
.metrics { color: var(--muted); }
.frames { display: flex; gap: 10px; flex-wrap: wrap; }
.frames figure { margin: 0; }
.frames img { width: 200px; height: auto; border-radius: 4px; border: 1px solid var(--line); }
.frames figcaption, .caption { font-size: 12px; color: var(--muted); }
.evidence-frame { width: 160px; height: auto; display: block; margin-top: 4px; }
td.score { white-space: nowrap; }
.score-bar { display: inline-block; height: 8px; background: #2b8cbe; border-radius: 2px; vertical-align: middle; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
"""


def document(language: Language, title: str, body: Html) -> Html:
    """A complete HTML5 page in ``language`` with the report's style inlined."""
    head = el(
        "head",
        void("meta", charset="utf-8"),
        void("meta", http_equiv="Content-Security-Policy", content=CONTENT_SECURITY_POLICY),
        void("meta", name="viewport", content="width=device-width, initial-scale=1"),
        el("title", title),
        el("style", Html(_STYLE)),
    )
    return Html(
        "<!DOCTYPE html>\n" + el("html", head, el("body", el("main", body)), lang="zh-CN" if language == "zh" else "en")
    )
