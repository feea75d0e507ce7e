# ruff: noqa: RUF001  (Chinese text uses full-width punctuation on purpose)
"""The hands and posture section: what the palm, hand and pose models measured over the interview, each measure
next to what made it, and the motion-energy proxy labelled as the pixel measure it is.

A measure the recording could not support (no hand ever near a detected face, shoulders never in view) says so
instead of showing a zero; an interview whose hands and body were not analysed says that.
"""

from __future__ import annotations

from collections.abc import Callable

from services.vision.aggregate import aggregate
from services.vision.body_aggregate import BodyMeasures

from . import fmt
from .explanation import left_out_notice
from .i18n import Language
from .markup import Html, el
from .view import View

_TEXT: dict[str, tuple[str, str]] = {
    "title": ("Hands and posture", "手势与姿态"),
    "measure": ("Measure", "指标"),
    "value": ("Value", "数值"),
    "made_by": ("Measured by", "测量方式"),
    "not_analysed": (
        "Hands and posture were not analysed for this interview (the hand and pose models did not run); only the "
        "movement proxy below is available.",
        "本次面试未分析手势与姿态（手部与姿态模型未运行），仅有下方的动作代理指标。",
    ),
    "unsupported": ("not measurable in this recording", "本录像无法测量"),
    "hands_visible": ("Hands in view", "手部可见"),
    "touches": ("Hand-to-face touches", "手触碰面部"),
    "touches_value": ("{count} ({seconds})", "{count} 次（{seconds}）"),
    "gesturing": ("Gesturing (moving hands, share of time hands are in view)", "手势（手可见时手在移动的比例）"),
    "shoulders_visible": ("Shoulders in view", "双肩可见"),
    "tilt": ("Shoulder line tilt (mean)", "肩线倾斜（平均）"),
    "lean": ("Leaning forward / back (against the candidate's own usual distance)", "前倾 / 后仰（相对本人常态）"),
    "shifts": ("Posture shifts", "姿态变换"),
    "shifts_value": ("{count}", "{count} 次"),
    "slouch": ("Head sunk towards the shoulders (slouch proxy)", "头部下沉（驼背代理指标）"),
    "motion": ("Movement below the face (motion energy)", "面部下方的动作（运动能量）"),
    "by_hands": (
        "palm detector + 21-point hand landmarks (MediaPipe, lite)",
        "手掌检测 + 21 点手部关键点（MediaPipe 轻量版）",
    ),
    "by_pose": ("pose detector + 33-point body landmarks (MediaPipe)", "人体检测 + 33 点身体关键点（MediaPipe）"),
    "by_pose_proxy": (
        "body landmarks (MediaPipe); a proxy: a chin lowered to read notes looks the same",
        "身体关键点（MediaPipe）；代理指标：低头看笔记时也会如此",
    ),
    "by_no_model": (
        "no model: the pixel change between frames in the region below the face",
        "无模型：面部下方区域相邻帧之间的像素变化",
    ),
}


def _t(lang: Language, key: str, **values: object) -> str:
    english, chinese = _TEXT[key]
    return (chinese if lang == "zh" else english).format(**values)


def hands_and_posture(view: View) -> Html:
    lang = view.lang
    parts: list[Html] = [el("h2", _t(lang, "title"))]
    if not view.vision:
        return el("section", *parts, el("p", view.t("no_vision"), class_="notice"), id="body")
    left_out = left_out_notice(view, "posture_and_motion")
    if left_out is not None:
        return el("section", *parts, left_out, id="body")
    found = aggregate(view.vision, []).body
    rows: list[tuple[str, str | None, str]] = []
    if found is None or not found.measured:
        parts.append(el("p", _t(lang, "not_analysed"), class_="notice body-not-analysed"))
    else:
        rows += _measured_rows(lang, found.whole)
    motions = [v.summary.motion_energy for v in view.vision]
    rows.append((_t(lang, "motion"), f"{sum(motions) / len(motions):.3f}", _t(lang, "by_no_model")))
    header = el("tr", *(el("th", _t(lang, k)) for k in ("measure", "value", "made_by")))
    body_rows = [
        el("tr", el("td", name), el("td", value if value is not None else _t(lang, "unsupported")), el("td", by))
        for name, value, by in rows
    ]
    parts.append(el("table", header, *body_rows, class_="body-measures"))
    return el("section", *parts, id="body")


def _measured_rows(lang: Language, m: BodyMeasures) -> list[tuple[str, str | None, str]]:
    def shown(value: float | int | None, form: Callable[[float], str]) -> str | None:
        return None if value is None else form(value)

    hands, pose = _t(lang, "by_hands"), _t(lang, "by_pose")
    touches = None
    if m.hand_face_touches is not None and m.hand_face_touch_s is not None:
        touches = _t(lang, "touches_value", count=m.hand_face_touches, seconds=fmt.seconds(m.hand_face_touch_s))
    lean = None
    if m.lean_forward_ratio is not None and m.lean_back_ratio is not None:
        lean = f"{fmt.percent(m.lean_forward_ratio)} / {fmt.percent(m.lean_back_ratio)}"
    shifts = None if m.posture_shifts is None else _t(lang, "shifts_value", count=m.posture_shifts)
    return [
        (_t(lang, "hands_visible"), shown(m.hands_visible_ratio, fmt.percent), hands),
        (_t(lang, "touches"), touches, hands),
        (_t(lang, "gesturing"), shown(m.gesturing_ratio, fmt.percent), hands),
        (_t(lang, "shoulders_visible"), shown(m.body_visible_ratio, fmt.percent), pose),
        (_t(lang, "tilt"), shown(m.shoulder_tilt_deg, lambda v: f"{v:.1f}°"), pose),
        (_t(lang, "lean"), lean, pose),
        (_t(lang, "shifts"), shifts, pose),
        (_t(lang, "slouch"), shown(m.slouch_ratio, fmt.percent), _t(lang, "by_pose_proxy")),
    ]


__all__ = ["hands_and_posture"]
