"""The report's hands and posture section: each measure beside what made it, unsupported measures said, not zeroed."""

from __future__ import annotations

from services.common.contracts import BodySample
from services.report import render_html
from services.vision.litert_models import BODY_MODELS
from tests.unit.test_report import Page, section
from tests.unit.test_report_inputs import english_input


def _with_body(samples: list[BodySample]) -> str:
    report = english_input()
    versions = {m.name: m.version for m in BODY_MODELS}
    first = report.vision[0]
    chunk = first.model_copy(update={"body": samples, "model_versions": {**first.model_versions, **versions}})
    return render_html(report.model_copy(update={"vision": [chunk, *report.vision[1:]]}))


def test_without_hand_and_pose_models_only_the_labelled_motion_proxy_is_shown() -> None:
    text = Page(section(render_html(english_input()), "body")).text
    assert "Hands and posture were not analysed" in text
    assert "Movement below the face (motion energy)" in text
    assert "no model: the pixel change between frames" in text
    assert "Shoulder line tilt" not in text


def test_measures_carry_their_model_and_a_recording_without_shoulders_is_unsupported() -> None:
    # Two touches' worth of hand samples near the face, shoulders never in view.
    samples = [
        BodySample(t_s=i / 2, hands=1, hand_face_touch=i in (2, 3, 6, 7), hand_motion=0.1, body=False)
        for i in range(10)
    ]
    page = Page(section(_with_body(samples), "body"))
    rows = [r for r in page.text.split("\n") if r.strip()]
    text = " ".join(rows)
    assert "Hand-to-face touches" in text and "2 (2" in text
    assert "palm detector + 21-point hand landmarks" in text
    assert "Shoulder line tilt" in text and "not measurable in this recording" in text
    assert "Hands and posture were not analysed" not in text
