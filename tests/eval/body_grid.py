"""Hands and posture over a grid of real photographs (the `body` part of `make eval`).

Shoulder tilt: scikit-image's astronaut turned by known angles, full frame and shrunk onto a 16:9 canvas on the
left third, the middle and the right third; the error is the measured change of tilt against the turn (the photo's
own tilt is not known, so the upright copy of each framing is the reference). Hands: the real hand photo pasted
into the astronaut photo at known places, sizes and angles, on the face or beside the body; recall is hands found,
touch agreement is the sample's touch flag against where the script put the hand. The truth is the script.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from services.frames.geometry import Image
from services.samples.face_assets import FACE_BOX, skimage_rgb
from services.samples.hands import paste_hand
from services.vision.body import touches
from services.vision.hands import find_hands
from services.vision.posture import find_bodies

TURNS = (-20.0, -10.0, -5.0, 5.0, 10.0, 20.0)
FRAMINGS = ("full", "left", "centre", "right")
HAND_HEIGHTS = (120, 160, 200)
HAND_ANGLES = (-30.0, 0.0, 30.0)


def _astronaut() -> Image:
    return np.ascontiguousarray(cv2.cvtColor(skimage_rgb("astronaut"), cv2.COLOR_RGB2BGR))


def _turned(image: Image, degrees: float) -> Image:
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return np.asarray(cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE), np.uint8)


def _framed(image: Image, framing: str) -> Image:
    if framing == "full":
        return image
    canvas = np.full((720, 1280, 3), 200, np.uint8)
    small = cv2.resize(image, (480, 480), interpolation=cv2.INTER_AREA)
    x = {"left": 100, "centre": 400, "right": 700}[framing]
    canvas[240:720, x : x + 480] = small
    return canvas


def tilt_rows() -> list[dict[str, Any]]:
    photo = _astronaut()
    rows = []
    for framing in FRAMINGS:
        frames = [_framed(_turned(photo, turn), framing) for turn in (0.0, *TURNS)]
        bodies = find_bodies(frames)
        upright = bodies[0].shoulder_tilt_deg if bodies[0] is not None else None
        for turn, body in zip(TURNS, bodies[1:], strict=True):
            tilt = body.shoulder_tilt_deg if body is not None else None
            change = None if tilt is None or upright is None else tilt - upright
            # Turning the picture counter-clockwise (positive) raises the image's right side: tilt falls by the turn.
            error = None if change is None else round(abs(change + turn), 1)
            rows.append({"framing": framing, "turn_deg": turn, "tilt_change_deg": change, "error_deg": error})
    return rows


def hand_rows() -> list[dict[str, Any]]:
    photo = _astronaut()
    x0, y0, w, h = FACE_BOX
    face = (x0 / 512, y0 / 512, (x0 + w) / 512, (y0 + h) / 512)
    places = {"face": (x0 + w / 2, y0 + h / 2), "beside": (430.0, 300.0), "chest": (250.0, 400.0)}
    rows = []
    for where, centre in places.items():
        for height in HAND_HEIGHTS:
            frames = [paste_hand(photo, centre, height, angle) for angle in HAND_ANGLES]
            for angle, hands in zip(HAND_ANGLES, find_hands(frames), strict=True):
                touching = any(touches(hand.landmarks / 512, face) for hand in hands)
                rows.append(
                    {
                        "place": where,
                        "hand_px": height,
                        "angle_deg": angle,
                        "found": bool(hands),
                        "touch_right": (touching == (where == "face")) if hands else None,
                    }
                )
    return rows


def summarise(tilts: list[dict[str, Any]], hands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    errors = [r["error_deg"] for r in tilts if r["error_deg"] is not None]
    found = [r for r in hands if r["found"]]
    return [
        {
            "measure": "shoulder tilt change, mean abs error (deg)",
            "result": round(float(np.mean(errors)), 1) if errors else None,
            "n": f"{len(errors)}/{len(tilts)} measured",
        },
        {"measure": "hand recall (pasted real hand)", "result": round(len(found) / len(hands), 2), "n": len(hands)},
        {
            "measure": "touch flag agreement (hands found)",
            "result": round(sum(1 for r in found if r["touch_right"]) / len(found), 2) if found else None,
            "n": len(found),
        },
    ]


def run() -> dict[str, Any]:
    tilts, hands = tilt_rows(), hand_rows()
    return {"tilt": tilts, "hands": hands, "summary": summarise(tilts, hands)}


__all__ = ["run"]
