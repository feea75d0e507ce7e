# ruff: noqa: RUF001  (Chinese text uses full-width punctuation)
"""The HR report page: content, escaping, languages, emotion data only where inferred, self-containment."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from services.common.contracts import FaceLandmarks
from services.report import charts as chart_colours
from services.report import render_html
from services.report.__main__ import main as report_cli
from tests.unit.test_report_inputs import (
    EN_Q1_QUOTE,
    EN_Q3_QUOTE,
    ZH_Q2_QUOTE,
    chinese_input,
    english_input,
    example,
)


class Page(HTMLParser):
    """The elements of a rendered page: tags with attributes, the text inside each element id."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text_parts: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text_parts.append(data)

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    def tags(self, name: str, **attrs: str) -> list[dict[str, str]]:
        return [a for t, a in self.elements if t == name and all(a.get(k) == v for k, v in attrs.items())]

    def with_class(self, cls: str) -> list[tuple[str, dict[str, str]]]:
        return [(t, a) for t, a in self.elements if cls in a.get("class", "").split()]


def section(html: str, section_id: str) -> str:
    """The markup of one top-level section of the page."""
    match = re.search(rf'<section[^>]* id="{section_id}"[^>]*>(.*?)</section>', html, re.S)
    assert match, f"no section {section_id}"
    return match.group(1)


def article(html: str, number: int) -> str:
    """The markup of the n-th question's article."""
    match = re.search(rf'<article[^>]* id="question-{number}"[^>]*>.*?</article>', html, re.S)
    assert match, f"no question {number}"
    return match.group(0)


def fills(markup: str) -> list[str]:
    return re.findall(r'fill="(#[0-9a-f]{6})"', markup)


def strip_seconds(markup: str, duration_s: float) -> dict[str, float]:
    """Seconds covered per colour in the expression strip, from the widths of its cells."""
    covered: dict[str, float] = {}
    for cell in Page(markup).tags("rect", **{"class": "cell"}):
        seconds = float(cell["width"]) * duration_s / chart_colours.TimeAxis(duration_s).width
        covered[cell["fill"]] = covered.get(cell["fill"], 0.0) + seconds
    return covered


@pytest.fixture(scope="module")
def en_html() -> str:
    return render_html(english_input())


@pytest.fixture(scope="module")
def zh_html() -> str:
    return render_html(chinese_input())


# --- self-contained and safe ------------------------------------------------------------------------------------


def test_page_loads_nothing_from_anywhere(en_html: str) -> None:
    page = Page(en_html)
    assert not page.tags("script") and not page.tags("link") and not page.tags("iframe")
    for _, attrs in page.elements:
        for name in ("src", "href"):
            if name in attrs:
                assert attrs[name].startswith("data:image/"), attrs
    csp = page.tags("meta", **{"http-equiv": "Content-Security-Policy"})
    assert csp and "default-src 'none'" in csp[0]["content"]
    # The only URL in the page is the SVG namespace, which is a name, not a request.
    assert set(re.findall(r"https?://[^\s\"'<>]+", en_html)) == {"http://www.w3.org/2000/svg"}


def test_user_text_is_escaped_everywhere() -> None:
    hostile = '<img src=x onerror=alert(1)> & "quoted"'
    report = english_input()
    context = report.profile.context
    job = context.job.model_copy(update={"title": f"Engineer {hostile}"})
    question = context.questions[0].model_copy(update={"text": f"Why? {hostile}"})
    context = context.model_copy(update={"job": job, "questions": [question, *context.questions[1:]]})
    profile = report.profile.model_copy(update={"context": context, "data_quality": ["<b>new_flag</b>"]})
    html = render_html(report.model_copy(update={"profile": profile}))
    page = Page(html)
    assert not page.tags("script")
    assert all(img["src"].startswith("data:image/jpeg;base64,") for img in page.tags("img"))
    assert "<b>new_flag</b>" not in html and "&lt;b&gt;new_flag&lt;/b&gt;" in html
    # The hostile text survives as text (title, job line, question heading, radar tooltip...).
    assert page.text.count(hostile) >= 2
    assert "<script>alert('x')</script>" not in html  # from the candidate's transcript
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html


# --- header, label, quality ------------------------------------------------------------------------------------


def test_header_shows_candidate_job_and_a_label_that_needs_a_person(en_html: str) -> None:
    page = Page(en_html)
    assert "cand_7f3a9c21e4" in page.text
    assert "Senior Data Engineer (REQ-1187)" in page.text
    verdict = Page(section(en_html, "verdict"))
    assert "Recommend" in verdict.text and "76.2" in verdict.text
    assert "needs confirmation by a person" in verdict.text


def test_overall_score_is_not_rounded_across_a_label_threshold() -> None:
    # 69.96 under a recommend-at-70 rule is 'pending': the page must not print 70 beside it.
    report = english_input(overall=69.96, label="pending")
    verdict = Page(section(render_html(report), "verdict")).text
    assert "69.9" in verdict and "70" not in verdict.replace("69.9", "") and "Pending" in verdict


def test_missing_overall_score_is_said_not_invented() -> None:
    report = english_input(overall=None, label="pending")
    verdict = Page(section(render_html(report), "verdict")).text
    assert "Pending" in verdict and "not available" in verdict


def test_quality_section_lists_flags_coverage_and_integrity_episodes(en_html: str) -> None:
    quality = Page(section(en_html, "quality")).text
    assert "emotion inference was not permitted" in quality
    assert "video chunks 10 of 10" in quality and "speech segments 3 of 3" in quality
    assert "Partial profile" not in quality
    # 117.2-121.0 s arrives as two pieces cut at the chunk boundary (120 s): one episode of 3.8 s.
    assert "face absent for 3.8 s in 1 episode(s): 1:57–2:01" in quality
    assert "a second face in view for 3.0 s in 1 episode(s): 3:20–3:23" in quality


def test_partial_profile_and_unknown_flags_are_reported() -> None:
    report = english_input(
        data_quality=["missing_vision_chunks", "brand_new_flag"],
        coverage={"vision_chunks": {"received": 8, "expected": 10}, "speech_segments": {"received": 3, "expected": 3}},
    )
    report = report.model_copy(update={"vision": report.vision[:8]})
    quality = Page(section(render_html(report), "quality")).text
    assert "Partial profile" in quality
    assert "some video chunks are missing" in quality and "brand_new_flag" in quality
    assert "video chunks 8 of 10" in quality


# --- dimensions ------------------------------------------------------------------------------------------------


def test_dimensions_show_radar_scores_and_evidence_with_times(en_html: str) -> None:
    dimensions = section(en_html, "dimensions")
    page = Page(dimensions)
    radar = page.with_class("radar")
    assert radar, "no radar chart"
    for name, score in (("problem-solving", 76), ("ownership", 82), ("Emotional stability", 69), ("Communication", 72)):
        assert f"{name} {score}" in page.text
    assert "I opened the Airflow logs" in page.text and "[1:44–1:50]" in page.text
    # The stability key frame is shown inline: its image is the one stored under the evidence's key.
    stability = next(d for d in english_input().profile.dimensions if d.dimension == "emotional_stability")
    stored = stability.evidence[1].object
    assert stored is not None
    frame = english_input().key_frame_by_object_key(stored.key)
    assert frame is not None
    assert page.tags("img", src="data:image/jpeg;base64," + base64.b64encode(frame.image).decode())


# --- behaviour and expressions ---------------------------------------------------------------------------------


def test_eye_contact_curve_has_question_boundaries_and_gaps_where_the_face_was_absent(en_html: str) -> None:
    behaviour = section(en_html, "behaviour")
    bands = Page(behaviour).tags("rect", **{"class": "question-band"})
    assert len(bands) == 3
    assert [band["fill"] == chart_colours.PRESSURE_BAND for band in bands] == [False, False, True]  # q3
    eye_paths = re.findall(rf'<path d="([^"]+)"[^>]*stroke="{chart_colours.EYE_CONTACT}"', behaviour)
    assert len(eye_paths) == 2  # broken at 117-121 s where no face was seen
    # The curve drops for the pressure question: its last points sit lower (larger y) than its first.
    first = [float(y) for y in re.findall(r"[ML][\d.]+,([\d.]+)", eye_paths[0])]
    last = [float(y) for y in re.findall(r"[ML][\d.]+,([\d.]+)", eye_paths[1])]
    assert last[-1] > first[0] + 50
    assert chart_colours.FACE_ABSENT in behaviour and chart_colours.SECOND_FACE in behaviour


def test_no_smile_or_expression_when_emotion_inference_was_not_performed(en_html: str) -> None:
    # The seconds carry smile intensities, but inference was prohibited: none of it may be shown.
    assert any(row.smile_intensity for event in english_input().vision for row in event.seconds)
    assert chart_colours.SMILE not in en_html
    expression = Page(section(en_html, "expression"))
    assert "Expression analysis was not performed: the jurisdiction does not allow it" in expression.text
    assert not expression.with_class("chart")
    assert not set(chart_colours.EXPRESSION_COLOURS.values()) & set(fills(en_html))


def test_expressions_are_shown_per_second_when_inferred(zh_html: str) -> None:
    assert chart_colours.SMILE in section(zh_html, "behaviour")
    expression = section(zh_html, "expression")
    seconds = strip_seconds(expression, 305)
    assert sum(seconds.values()) == pytest.approx(305, abs=0.1)  # every second of the interview
    colours = chart_colours.EXPRESSION_COLOURS
    assert seconds[colours["happiness"]] == pytest.approx(30, abs=0.1)  # seconds 10-39 of the fixture
    assert seconds[colours["surprise"]] == pytest.approx(len(range(245, 305, 7)), abs=0.1)
    share_chart = re.search(r'class="chart shares".*?</svg>', expression, re.S)
    assert share_chart
    shares = [int(p) for p in re.findall(r">(\d+)%</text>", share_chart.group(0))]
    assert 99 <= sum(shares) <= 101 and shares == sorted(shares, reverse=True)
    assert "高兴" in Page(expression).text


def test_expressions_missing_for_some_chunks_are_explained_and_left_out() -> None:
    report = chinese_input()
    chunk = report.vision[4]  # 120-150 s
    summary = chunk.summary.model_copy(
        update={
            "emotion_inference": chunk.summary.emotion_inference.model_copy(
                update={"performed": False, "reason": "no_face_detected"}
            ),
            "expression_distribution": None,
        }
    )
    vision = [*report.vision[:4], chunk.model_copy(update={"summary": summary}), *report.vision[5:]]
    html = render_html(report.model_copy(update={"vision": vision, "language": "en"}))
    expression = section(html, "expression")
    assert "not performed for 1 of 11 video chunks: no face was detected" in Page(expression).text
    assert sum(strip_seconds(expression, 305).values()) == pytest.approx(305 - 30, abs=0.1)
    smile_paths = re.findall(rf'<path d="[^"]+"[^>]*stroke="{chart_colours.SMILE}"', section(html, "behaviour"))
    assert len(smile_paths) == 2  # a gap over the chunk without inference


@pytest.mark.parametrize(
    ("reason", "shown"),
    [
        ("no_consent", "the candidate did not consent to it"),
        ("disabled", "it is disabled in this deployment"),
        ("permitted", "the reason was not recorded"),
        ("reason_from_a_newer_version", "reason_from_a_newer_version"),
    ],
)
def test_reason_for_no_expression_analysis_is_given(reason: str, shown: str) -> None:
    report = english_input()
    vision = []
    for chunk in report.vision:
        inference = chunk.summary.emotion_inference.model_copy(update={"reason": reason})
        vision.append(
            chunk.model_copy(update={"summary": chunk.summary.model_copy(update={"emotion_inference": inference})})
        )
    expression = Page(section(render_html(report.model_copy(update={"vision": vision})), "expression")).text
    assert f"Expression analysis was not performed: {shown}." in expression


# --- questions and speaking ------------------------------------------------------------------------------------


def test_each_question_shows_transcript_with_highlighted_timed_quotes(en_html: str) -> None:
    questions = section(en_html, "questions")
    marks = re.findall(r'<mark title="([^"]+)">([^<]+)</mark>', questions)
    assert ("0:40–0:43", EN_Q1_QUOTE) in marks
    assert ("4:30–4:33", EN_Q3_QUOTE) in marks
    assert (
        "1:44–1:50",
        "I opened the Airflow logs, found an unannounced schema change upstream, patched the parser",
    ) in marks
    page = Page(questions)
    assert page.text.count("pressure question") == 1
    assert len(page.tags("article")) == 3
    assert "eye contact 35%" in page.text  # q3's window, from the per-second rows
    assert "92 words/min" in page.text
    assert len(page.tags("img")) == 9  # start, middle and end of three questions
    # q2 comes with word timings: its answer is drawn as speech and the pauses between (0.62 s twice).
    q2 = Page(article(questions, 2))
    assert len(q2.tags("rect", **{"class": "pause"})) == 2 and len(q2.tags("rect", **{"class": "speech"})) == 3
    assert not Page(article(questions, 1)).with_class("speech-strip")  # no word timings for q1
    captions = re.findall(r"<figcaption>([^<]+)</figcaption>", questions)
    assert captions[:3] == [
        "start ≈ 0:04 · eye contact 85%",
        "middle ≈ 0:49 · eye contact 85%",
        "end ≈ 1:35 · eye contact 85%",
    ]
    assert captions[-1] == "end ≈ 4:44 · eye contact 35%"  # the pressure question


def test_speaking_charts_use_words_in_english_and_characters_in_chinese(en_html: str, zh_html: str) -> None:
    en_speaking = Page(section(en_html, "speaking"))
    assert "Speaking rate (words/min)" in en_speaking.text
    assert all(f"{q}: {rate}" in en_speaking.text for q, rate in (("Q1", 131), ("Q2", 144), ("Q3", 92)))
    zh_speaking = Page(section(zh_html, "speaking"))
    assert "语速（字/分钟）" in zh_speaking.text
    assert all(f"{q}: {rate}" in zh_speaking.text for q, rate in (("Q1", 212), ("Q2", 245), ("Q3", 268)))
    bars = Page(section(en_html, "speaking")).tags("rect", fill=chart_colours.PAUSE_BAR, **{"class": "bar"})
    assert len(bars) == 6  # pause share and longest pause for three questions


def test_model_versions_of_every_stage_are_listed(en_html: str) -> None:
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td></tr>", section(en_html, "versions"))
    report = english_input()
    model = report.profile.context.job.competency_model
    expected = {("scoring model", report.profile.scoring_model_version), ("jurisdiction policy", "policy-2025.02")}
    expected.add(("competency model", f"{model.id}@{model.version}"))  # which weights scored it (calibration)
    expected |= set(report.profile.feature_versions.items())
    for event in [*report.vision, *report.speech]:
        expected |= set(event.model_versions.items())
    assert set(rows) == expected
    assert len(rows) == len(expected)  # each once, though every chunk repeats them


# --- languages -------------------------------------------------------------------------------------------------


def test_language_follows_the_locale_and_can_be_overridden(en_html: str, zh_html: str) -> None:
    assert Page(en_html).tags("html", lang="en") and "Interview report" in en_html
    zh = Page(zh_html)
    assert zh.tags("html", lang="zh-CN")
    for label in (
        "面试报告",
        "建议结论",
        "待定",
        "此结论仅为建议",
        "各维度得分",
        "问题与回答",
        "模型与版本",
        "压力问题",
    ):
        assert label in zh.text, label
    assert "Interview report" not in zh.text
    assert ZH_Q2_QUOTE in zh.text
    overridden = Page(render_html(chinese_input().model_copy(update={"language": "en"})))
    assert overridden.tags("html", lang="en") and "Interview report" in overridden.text
    assert "Pending" in overridden.text and ZH_Q2_QUOTE in overridden.text  # the candidate's words stay


def test_redelivered_events_do_not_change_the_report(en_html: str) -> None:
    report = english_input()
    doubled = report.model_copy(update={"vision": report.vision * 2, "speech": list(reversed(report.speech * 2))})
    assert render_html(doubled) == en_html


def test_report_without_features_says_what_is_missing() -> None:
    report = english_input().model_copy(update={"vision": [], "speech": [], "key_frames": []})
    html = render_html(report)
    assert "No video features were received." in Page(section(html, "behaviour")).text
    assert "No speech results were received." in Page(section(html, "speaking")).text
    assert Page(section(html, "questions")).text.count("No speech results were received for this question.") == 3
    assert not Page(html).tags("img")


# --- command line --------------------------------------------------------------------------------------------


def test_cli_renders_a_report_input_file(tmp_path: Path) -> None:
    source, out = tmp_path / "input.json", tmp_path / "report.html"
    source.write_text(chinese_input().model_dump_json(), encoding="utf-8")
    assert report_cli([str(source), "--out", str(out), "--language", "en"]) == 0
    assert out.read_text(encoding="utf-8") == render_html(chinese_input().model_copy(update={"language": "en"}))


def test_cli_rejects_an_invalid_file_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "input.json"
    broken: dict[str, Any] = {"profile": example("profile-ready.json") | {"label": "maybe"}}
    source.write_text(json.dumps(broken), encoding="utf-8")
    assert report_cli([str(source), "--out", str(tmp_path / "out.html")]) == 2
    assert "not a valid report input" in capsys.readouterr().err
    assert not (tmp_path / "out.html").exists()
    assert report_cli([str(tmp_path / "missing.json"), "--out", str(tmp_path / "out.html")]) == 2


def test_behaviour_shows_the_face_mesh_measures_or_why_the_recording_could_not_support_them() -> None:
    report = english_input()
    marks = [v.summary.face_landmarks for v in report.vision]
    blinks = len({(r.start_s, r.end_s) for m in marks if m is not None for r in m.eyes_closed})
    text = Page(section(render_html(report), "behaviour")).text
    assert f"{blinks} blinks" in text and "per minute" in text and "mouth opening" in text
    small = [
        v.model_copy(
            update={
                "summary": v.summary.model_copy(
                    update={
                        "face_landmarks": FaceLandmarks(
                            frames_measured=0, frames_too_small=140, supported=False, measured_s=0.0
                        )
                    }
                )
            }
        )
        for v in report.vision
    ]
    text = Page(section(render_html(report.model_copy(update={"vision": small})), "behaviour")).text
    assert "not measured, the face was too small in the picture" in text and "per minute" not in text
