"""The HR report in a real browser (Debian's headless chromium) and in the object store.

The page must parse into the same document that was written, log nothing to the console (the page's
Content-Security-Policy turns any attempt to load something into a console error), and its screenshot
must show the charts: their colours appear, in the order of the sections, and a report without
features shows none of them.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from services.common.contracts import ProfileReady
from services.common.objectstore import ObjectStore
from services.common.settings import Settings
from services.report import ReportInput, render_html, render_report_to_store, report_key
from services.report import charts as chart_colours
from services.report.markup import el, join
from services.report.page import document
from tests.unit.test_report_inputs import chinese_input, english_input

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (scripts/ensure-system-packages.sh)"
    ),
]

#: Windows tall enough for the whole page (the English report is about 4,300 px tall at this width).
FULL_PAGE = (1000, 4800)
SHORT_PAGE = (1000, 2800)
SECTIONS = ("verdict", "quality", "dimensions", "behaviour", "expression", "questions", "speaking", "versions")


def chromium(page: Path, profile_dir: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """Run headless chromium on a local file with console messages logged to stderr."""
    command = [
        CHROMIUM,
        "--headless",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-extensions",
        "--enable-logging=stderr",
        "--v=0",
        f"--user-data-dir={profile_dir}",
        *flags,
        page.as_uri(),
    ]
    if os.geteuid() == 0:
        command.insert(1, "--no-sandbox")  # chromium refuses to run as root with its sandbox (containers, CI)
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def screenshot(html: str, tmp_path: Path, name: str, size: tuple[int, int] = FULL_PAGE) -> np.ndarray:
    page = tmp_path / f"{name}.html"
    page.write_text(html, encoding="utf-8")
    shot = tmp_path / f"{name}.png"
    result = chromium(page, tmp_path / f"profile-{name}", f"--screenshot={shot}", f"--window-size={size[0]},{size[1]}")
    assert not console_messages(result.stderr), console_messages(result.stderr)
    image = cv2.imread(str(shot), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[:2] == (size[1], size[0])
    return image


def colour_rows(image: np.ndarray, hex_colour: str, tolerance: int = 12) -> np.ndarray:
    """Row numbers of the pixels that have (about) this colour."""
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    distance = np.abs(image.astype(np.int16) - np.array([b, g, r], np.int16)).max(axis=2)
    return np.nonzero(distance <= tolerance)[0]


def test_report_parses_as_written_and_logs_no_console_errors(tmp_path: Path) -> None:
    html = render_html(english_input())
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    result = chromium(page, tmp_path / "profile", "--dump-dom")
    assert not console_messages(result.stderr), console_messages(result.stderr)
    dom = result.stdout
    for section_id in SECTIONS:
        assert f'id="{section_id}"' in dom, section_id
    # The browser built the same document: as many charts, images and highlighted quotes as were written.
    for pattern in (r"<svg\b", r"<img\b", r"<mark\b", r"<article\b", r'class="question-band"'):
        assert len(re.findall(pattern, dom)) == len(re.findall(pattern, html)) > 0, pattern
    assert "&lt;script&gt;alert(" in dom and "<script>alert(" not in dom


def test_a_page_that_tries_to_load_something_is_caught(tmp_path: Path) -> None:
    """The console check above can fail: the report's policy reports a remote image as an error."""
    leaky = document("en", "leak", el("p", "x")).replace("</main>", '<img src="http://example.invalid/x.png"></main>')
    page = tmp_path / "leaky.html"
    page.write_text(leaky, encoding="utf-8")
    messages = console_messages(chromium(page, tmp_path / "profile", "--dump-dom").stderr)
    assert any("Content Security Policy" in line for line in messages), messages


def test_screenshot_shows_the_charts_in_section_order(tmp_path: Path) -> None:
    full = english_input()
    image = screenshot(render_html(full), tmp_path, "full")
    empty = ReportInput(profile=full.profile)  # no vision, speech or key frames: no curves, no bars
    bare = screenshot(render_html(empty), tmp_path, "bare", SHORT_PAGE)

    assert float(image.std()) > 20, "the page is blank"
    charts = {
        "radar": chart_colours.RADAR_LINE,
        "eye contact": chart_colours.EYE_CONTACT,
        "speaking rate": chart_colours.RATE_BAR,
        "pauses": chart_colours.PAUSE_BAR,
    }
    rows = {name: colour_rows(image, colour) for name, colour in charts.items()}
    for name, found in rows.items():
        assert found.size > 300, f"{name} chart not visible ({found.size} pixels)"
    # Top to bottom: dimensions (radar), behaviour (eye contact), then the speaking charts.
    assert np.median(rows["radar"]) < np.median(rows["eye contact"]) < np.median(rows["speaking rate"])
    assert abs(float(np.median(rows["speaking rate"]) - np.median(rows["pauses"]))) < 300  # same row of charts
    # The radar is drawn from the profile alone, so both pages have it; the feature charts only the full one.
    assert colour_rows(bare, chart_colours.RADAR_LINE).size > 300
    for name in ("eye contact", "speaking rate", "pauses"):
        assert colour_rows(bare, charts[name]).size < 20, name
    # Expression data was not permitted in this interview: no smile curve anywhere on screen.
    assert colour_rows(image, chart_colours.SMILE, tolerance=6).size < 20


def test_chinese_report_renders_with_real_glyphs(tmp_path: Path) -> None:
    """Without a CJK font every character is the same empty box, so two different words would look
    alike; with one they differ. Both words are drawn on one page, in the report's fonts."""
    line = "position:absolute;left:0;height:80px;font-size:48px;line-height:80px;top:{}px"
    words = join([el("div", "面试报告", style=line.format(0)), el("div", "维度得分", style=line.format(100))])
    image = screenshot(str(document("zh", "glyphs", words)), tmp_path, "glyphs", (800, 600))
    first, second = image[0:80], image[100:180]
    ink = [int((word < 128).any(axis=2).sum()) for word in (first, second)]
    assert min(ink) > 500, "nothing was drawn"
    assert int(np.abs(first.astype(np.int16) - second).max(axis=2).astype(bool).sum()) > 0.2 * max(ink)

    report = screenshot(render_html(chinese_input()), tmp_path, "zh")
    assert colour_rows(report, chart_colours.SMILE).size > 300  # expressions were permitted in this interview


def test_rendered_report_is_stored_where_the_profile_points(stack_settings: Settings) -> None:
    store = ObjectStore(stack_settings.s3)
    bucket = stack_settings.s3.report_bucket
    store.ensure_bucket(bucket)
    report = chinese_input()
    ref = render_report_to_store(store, bucket, report_key(report), report)

    stored = store.get_bytes(bucket, ref.key)
    assert stored.decode("utf-8") == render_html(report)
    assert ref.sha256 == hashlib.sha256(stored).hexdigest() and ref.size_bytes == len(stored)
    assert ref.key == "huaxin-cn/HX-20250314-0087/report/profile-v1.html"
    assert store.stat(bucket, ref.key).content_type == "text/html"
    # The reference is what profile-ready carries.
    updated = ProfileReady.model_validate(report.profile.model_dump() | {"report": ref.model_dump()})
    assert updated.report == ref
