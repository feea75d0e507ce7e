# ruff: noqa: RUF001  (Chinese text uses full-width punctuation on purpose)
"""The report explains the assessment to the candidate, in English and Chinese."""

from __future__ import annotations

import re

from services.common.contracts import Accommodation, DimensionWeight, Explanation, NotMeasured
from services.report import render_html
from tests.unit.test_report_inputs import chinese_input, english_input


def section(html: str) -> str:
    found = re.search(r'<section id="explanation">(.*?)</section>', html, re.S)
    assert found, "no explanation section"
    return found.group(1)


def test_english_report_says_what_was_looked_at_what_weighed_and_what_was_left_out() -> None:
    text = section(render_html(english_input()))
    assert "How this assessment was made" in text
    assert "The assessment looked at: what the answers said (content and structure), speaking fluency" in text
    weights = re.findall(r'<li data-dimension="([^"]+)">([^<]+)</li>', text)
    assert weights == [
        ("problem-solving", "problem-solving: 40%"),
        ("ownership", "ownership: 30%"),
        ("communication", "Communication: 8%"),
        ("confidence", "Confidence: 8%"),
        ("emotional_stability", "Emotional stability: 8%"),
        ("logic_structure", "Logic and structure: 8%"),
    ]
    assert '<li data-measure="expression">facial expression: the candidate did not consent to it' in text
    assert "Accommodations applied" not in text


def test_chinese_report_explains_an_accommodation() -> None:
    report = chinese_input()
    explained = Explanation(
        looked_at=["answer_content", "voice", "eye_contact", "expression", "posture_and_motion"],
        weights=[
            DimensionWeight(dimension="stakeholder-management", share=0.7),
            DimensionWeight(dimension="communication", share=0.3),
        ],
        not_measured=[NotMeasured(measure="speaking_fluency", reason="accommodation_stutter")],
        accommodations=[Accommodation.STUTTER],
    )
    profile = report.profile.model_copy(update={"explanation": explained})
    text = section(render_html(report.model_copy(update={"profile": profile})))
    assert "评估说明" in text and "本次评估考察了：回答内容（内容与结构）、语音生动度（音高与音量）" in text
    assert "stakeholder-management：70%" in text and "沟通表达：30%" in text
    assert "表达流畅度（语速、停顿、填充词）：针对口吃的便利措施" in text
    assert "已采用的便利措施：口吃。" in text


def test_a_profile_without_an_explanation_has_no_section() -> None:
    report = english_input()
    profile = report.profile.model_copy(update={"explanation": None})
    assert 'id="explanation"' not in render_html(report.model_copy(update={"profile": profile}))


def test_what_an_accommodation_left_out_is_not_shown_to_the_reviewer_either() -> None:
    from services.report import charts
    from tests.unit.test_report import section as report_section

    report = english_input()
    plain = render_html(report)
    assert charts.EYE_CONTACT in report_section(plain, "behaviour") and "eye contact" in plain
    assert 'class="metrics"' in plain
    left_out = [
        NotMeasured(measure="speaking_fluency", reason="accommodation_stutter"),
        NotMeasured(measure="eye_contact", reason="accommodation_facial_difference"),
        NotMeasured(measure="expression", reason="accommodation_facial_difference"),
    ]
    explained = report.profile.explanation.model_copy(  # type: ignore[union-attr]
        update={"not_measured": left_out, "accommodations": [Accommodation.STUTTER, Accommodation.FACIAL_DIFFERENCE]}
    )
    html = render_html(
        report.model_copy(update={"profile": report.profile.model_copy(update={"explanation": explained})})
    )
    behaviour = report_section(html, "behaviour")
    assert charts.EYE_CONTACT not in behaviour and charts.LOOK_AWAY not in behaviour
    assert charts.FACE_ABSENT in behaviour  # integrity is still shown
    notice = "Not shown: eye contact and looking away, left out of the assessment because of an accommodation"
    assert notice in behaviour
    assert 'class="notice left-out left-out-expression"' in report_section(html, "expression")
    speaking = report_section(html, "speaking")
    assert "left-out-speaking_fluency" in speaking and "<svg" not in speaking
    questions = report_section(html, "questions")
    assert "eye contact" not in questions and 'class="metrics"' not in questions
