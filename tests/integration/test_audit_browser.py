"""The bias audit's page in headless chromium: it parses as written, loads nothing, and shows its flags."""

from __future__ import annotations

import re
from pathlib import Path

from services.audit.bias import BiasAudit
from services.audit.page import render_audit_html
from tests.integration.test_report_browser import chromium, colour_rows, console_messages, pytestmark, screenshot
from tests.unit.test_audit_bias import audit, population

__all__ = ["pytestmark"]  # chromium must be installed, as for the report

BLACK = "black_or_african_american"
FLAG_RED = "#8a1c1c"  # .review-note: the "under 0.8" mark in the rate tables


def dom_of(result: BiasAudit, tmp_path: Path, name: str) -> tuple[str, str]:
    html = render_audit_html(result)
    page = tmp_path / f"{name}.html"
    page.write_text(html, encoding="utf-8")
    run = chromium(page, tmp_path / f"profile-{name}", "--dump-dom")
    assert not console_messages(run.stderr), console_messages(run.stderr)
    return html, run.stdout


def test_the_audit_page_shows_the_flag_and_the_measure_behind_it(tmp_path: Path) -> None:
    biased = audit(population(3000, seed=11, eye_contact_drop={BLACK: 0.4}), human_decisions_recorded=False)
    html, dom = dom_of(biased, tmp_path, "biased")
    # The browser built the document that was written: every table and every flag.
    for pattern in (r"<table\b", r'<li class="flag"', r'class="flagged"'):
        assert len(re.findall(pattern, dom)) == len(re.findall(pattern, html)) > 0, pattern
    flags = re.findall(r'<li class="flag"[^>]*data-category="([^"]+)"[^>]*>(.*?)</li>', dom, flags=re.S)
    assert flags and all(BLACK in category for category, _ in flags)
    assert all("eye_contact_ratio" in text.split("Measures that differ most")[1] for _, text in flags)
    assert "No review decisions recorded." in dom
    for axis in ("sex", "race_ethnicity", "intersection"):
        assert f'data-rate="selection_suggested" data-axis="{axis}"' in dom
        assert f'data-rate="scoring" data-axis="{axis}"' in dom
    assert 'data-measure="eye_contact_ratio"' in dom


def test_a_flag_is_visible_on_screen_and_an_unbiased_audit_shows_none(tmp_path: Path) -> None:
    biased = audit(population(3000, seed=11, eye_contact_drop={BLACK: 0.4}))
    fair = audit(population(3000, seed=11))
    assert fair.flags == ()
    _, fair_dom = dom_of(fair, tmp_path, "fair")
    assert "No impact ratio under 0.8." in fair_dom and 'class="flag"' not in fair_dom
    assert len(colour_rows(screenshot(render_audit_html(biased), tmp_path, "biased"), FLAG_RED)) > 0
    assert len(colour_rows(screenshot(render_audit_html(fair), tmp_path, "fair"), FLAG_RED)) == 0
