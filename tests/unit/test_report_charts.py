# ruff: noqa: RUF001  (time ranges use an en dash)
"""Chart geometry, derived facts, transcript excerpts and the markup builder of the report."""

from __future__ import annotations

import math
import re

import pytest

from services.common.contracts import Quote, Word
from services.report import charts
from services.report.facts import speech_and_pauses
from services.report.fmt import clock, clock_range
from services.report.markup import Html, el, esc, void
from services.report.transcript import CONTEXT_CHARS, ELLIPSIS, FULL_TRANSCRIPT_CHARS, excerpt


def _points(attr: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (pair.split(",") for pair in attr.split())]


def _svg_size(svg: str) -> tuple[float, float]:
    match = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg)
    assert match
    return float(match.group(1)), float(match.group(2))


# --- radar ---------------------------------------------------------------------------------------------------


def test_radar_vertices_sit_at_each_score_along_its_spoke() -> None:
    scores = [("a", 100.0), ("b", 50.0), ("c", 25.0), ("d", 0.0), ("e", 80.0)]
    svg = charts.radar_chart(scores, "scores")
    width, height = _svg_size(svg)
    centre = (width / 2, height / 2)
    polygon = re.search(rf'<polygon points="([^"]+)" fill="{charts.RADAR_FILL}"', svg)
    assert polygon
    vertices = _points(polygon.group(1))
    outer = math.dist(centre, vertices[0])  # score 100
    for (_, score), vertex, i in zip(scores, vertices, range(len(scores)), strict=True):
        assert math.dist(centre, vertex) == pytest.approx(outer * score / 100, abs=0.02)
        if score:
            angle = math.atan2(vertex[1] - centre[1], vertex[0] - centre[0])
            expected = -math.pi / 2 + 2 * math.pi * i / len(scores)
            assert math.cos(angle) == pytest.approx(math.cos(expected), abs=1e-3)
            assert math.sin(angle) == pytest.approx(math.sin(expected), abs=1e-3)


def test_radar_with_fewer_than_three_scores_draws_bars() -> None:
    svg = charts.radar_chart([("only", 40.0), ("two", 80.0)], "scores")
    heights = [float(h) for h in re.findall(r'<rect[^>]*height="([\d.]+)"[^>]*class="bar"', svg)]
    assert len(heights) == 2 and heights[1] == pytest.approx(2 * heights[0], abs=0.02)


def test_radar_leaves_room_for_long_and_chinese_labels() -> None:
    short = _svg_size(charts.radar_chart([("a", 1.0), ("b", 2.0), ("c", 3.0)], "x"))[0]
    latin = _svg_size(charts.radar_chart([("stakeholder-management", 1.0), ("b", 2.0), ("c", 3.0)], "x"))[0]
    chinese = _svg_size(charts.radar_chart([("利益相关方管理能力", 1.0), ("b", 2.0), ("c", 3.0)], "x"))[0]
    assert short < chinese and short < latin


# --- timeline ------------------------------------------------------------------------------------------------


def test_time_chart_maps_time_and_value_and_breaks_the_curve_at_gaps() -> None:
    points = [(0.5, 1.0), (1.5, 0.5), (2.5, None), (3.5, 0.0), (9.5, 0.25)]
    svg = charts.time_chart(
        [charts.Series("eye contact", charts.EYE_CONTACT, points)],
        duration_s=10,
        bands=[charts.Band("Q1", 0, 4), charts.Band("Q2", 5, 10, pressure=True)],
        marks=[charts.Mark(2.0, 3.0, charts.FACE_ABSENT, "face absent")],
        label="behaviour",
        caption="time",
    )
    paths = re.findall(rf'<path d="([^"]+)"[^>]*stroke="{charts.EYE_CONTACT}"', svg)
    assert len(paths) == 2
    axis = charts.TimeAxis(10)
    first = [tuple(map(float, p.split(","))) for p in re.findall(r"[\d.]+,[\d.]+", paths[0])]
    assert [x for x, _ in first] == pytest.approx([axis.x(0.5), axis.x(1.5)], abs=0.01)
    top, height = 24.0, 180.0
    assert [y for _, y in first] == pytest.approx([top, top + height / 2], abs=0.01)
    second = [tuple(map(float, p.split(","))) for p in re.findall(r"[\d.]+,[\d.]+", paths[1])]
    assert second[-1] == pytest.approx((axis.x(9.5), top + height * 0.75), abs=0.01)
    bands = re.findall(r'<rect x="([\d.]+)"[^>]*width="([\d.]+)"[^>]*fill="(#[0-9a-f]+)" class="question-band"', svg)
    assert len(bands) == 2 and bands[0][2] == charts.QUESTION_BAND
    assert float(bands[1][0]) == pytest.approx(axis.x(5), abs=0.01) and bands[1][2] == charts.PRESSURE_BAND
    assert re.search(rf'fill="{charts.FACE_ABSENT}" class="episode"', svg)


def test_a_lone_value_between_gaps_stays_visible() -> None:
    svg = charts.time_chart(
        [charts.Series("s", charts.SMILE, [(0.5, None), (1.5, 0.4), (2.5, None)])],
        duration_s=3,
        bands=[],
        label="l",
        caption="c",
    )
    (path,) = re.findall(rf'<path d="([^"]+)"[^>]*stroke="{charts.SMILE}"', svg)
    assert path.count("L") == 1  # a short dash, not an invisible single point


def test_time_axis_ticks_stay_readable_for_long_interviews() -> None:
    for duration in (45, 300, 1800, 5400):
        ticks = charts.TimeAxis(duration).tick_times()
        assert 2 <= len(ticks) <= 11 and ticks[0] == 0 and ticks[-1] <= duration


def test_bar_heights_are_proportional_and_capped() -> None:
    svg = charts.bar_chart([("Q1", 0.1, "10%"), ("Q2", 0.4, "40%"), ("Q3", 0.9, "90%")], "pauses", "#123456", 0.5)
    heights = [float(h) for h in re.findall(r'height="([\d.]+)" fill="#123456"', svg)]
    assert heights[1] == pytest.approx(4 * heights[0], abs=0.02)
    assert heights[2] == pytest.approx(heights[1] / 0.8, abs=0.02)  # 0.9 is capped at the 0.5 maximum


# --- transcript ----------------------------------------------------------------------------------------------


def test_short_transcript_is_shown_whole_with_quotes_marked() -> None:
    text = "First I listened. Then I measured the churn. Finally I shipped."
    body, missing = excerpt(text, [Quote(start_s=61.0, end_s=64.5, quote="then I measured the churn")])
    assert not missing
    assert body.startswith("First I listened. ")
    assert '<mark title="1:01–1:04">Then I measured the churn</mark> <span class="ts">[1:01–1:04]</span>' in body
    assert body.endswith(". Finally I shipped.")


def test_long_transcript_keeps_context_around_each_quote() -> None:
    filler = "blah " * 400
    text = f"{filler}FIRST QUOTE here {filler}SECOND QUOTE there {filler}"
    assert len(text) > FULL_TRANSCRIPT_CHARS
    quotes = [Quote(start_s=5, end_s=6, quote="FIRST QUOTE"), Quote(start_s=9, end_s=10, quote="SECOND QUOTE")]
    body, missing = excerpt(text, quotes)
    assert not missing
    assert body.count(ELLIPSIS) == 3  # before the first window, between the two, after the last
    assert body.count("<mark") == 2
    shown = re.sub(r"<[^>]+>|\[[^\]]+\]", "", body)
    assert len(shown) < 2 * (2 * CONTEXT_CHARS + 20) + 10


def test_quotes_not_in_the_transcript_are_returned_apart() -> None:
    body, missing = excerpt("We shipped it.", [Quote(start_s=1, end_s=2, quote="never said this")])
    assert body == "We shipped it."
    assert [q.quote for q in missing] == ["never said this"]


def test_transcript_text_is_escaped() -> None:
    body, _ = excerpt("a <b>bold</b> claim & more", [Quote(start_s=1, end_s=2, quote="claim & more")])
    assert "<b>" not in body and "&lt;b&gt;bold&lt;/b&gt;" in body
    assert "<mark" in body and "claim &amp; more</mark>" in body


# --- markup and formats --------------------------------------------------------------------------------------


def test_markup_escapes_text_and_attributes_but_not_markup() -> None:
    inner = el("b", "<i>")
    assert inner == "<b>&lt;i&gt;</b>"
    assert el("p", inner, "&", title='x" onload="y') == '<p title="x&quot; onload=&quot;y"><b>&lt;i&gt;</b>&amp;</p>'
    assert void("img", alt="a", hidden=True, title=None) == '<img alt="a" hidden>'
    assert el("g", class_="c", stroke_width="2") == '<g class="c" stroke-width="2"></g>'
    assert isinstance(esc("<"), Html) and esc(esc("<")) == "&lt;"


def test_clock_formats_media_time() -> None:
    assert clock(0) == "0:00" and clock(59.6) == "0:59" and clock(3725) == "1:02:05"
    assert clock_range(104.58, 110.13) == "1:44–1:50" and clock_range(240.2, 240.2) == "4:00"


# --- speech and pauses ---------------------------------------------------------------------------------------


def _word(start: float, end: float) -> Word:
    return Word(word="w", start_s=start, end_s=end, probability=0.9)


def test_speech_is_split_by_pauses_longer_than_half_a_second() -> None:
    words = [_word(10.0, 10.4), _word(10.5, 11.0), _word(11.4, 11.9), _word(13.0, 13.5), _word(13.9, 14.2)]
    speech, pauses = speech_and_pauses(words)
    assert speech == [(10.0, 11.9), (13.0, 14.2)]  # gaps of 0.1 and 0.4 s keep going; 1.1 s is a pause
    assert pauses == [(11.9, 13.0)]
    assert speech_and_pauses([]) == ([], [])


def test_speech_strip_places_speech_and_pauses_on_the_answer_window() -> None:
    svg = charts.speech_strip(100.0, 140.0, [(101.0, 110.0), (112.0, 139.0)], [(110.0, 112.0)], label="s", caption="t")
    axis = charts.TimeAxis(40.0, start_s=100.0)
    pause = re.search(r'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"[^>]*class="pause"', svg)
    assert pause
    assert float(pause.group(1)) == pytest.approx(axis.x(110.0), abs=0.01)
    assert float(pause.group(2)) == pytest.approx(axis.x(112.0) - axis.x(110.0), abs=0.01)
    assert len(re.findall(r'class="speech"', svg)) == 2
    assert [float(t) for t in axis.tick_times()] == [100.0, 105.0, 110.0, 115.0, 120.0, 125.0, 130.0, 135.0, 140.0]
