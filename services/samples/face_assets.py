"""Face sprites cut from ``skimage.data.astronaut()`` (public domain): head, neutral variant, second person.

Why repaint the mouth for the neutral variant: scikit-image ships no other frontal face of usable size (its
``lfw_subset`` faces are 25x25 pixels), and the astronaut smiles with visible teeth. So the neutral variant
inpaints the smile (teeth, raised lip corners) from the surrounding skin and paints closed, straight, narrower
lips. OpenCV's smile cascade then fires an order of magnitude less often on it (a test checks this).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from services.samples.blinks import close_eyes
from services.samples.spec import Variant

U8 = NDArray[np.uint8]

#: Head (hair, face, chin) region of the 512x512 astronaut image: x0, y0, x1, y1.
HEAD_CROP = (135, 0, 320, 215)
#: Haar face box of the astronaut in the full image: x, y, w, h.
FACE_BOX = (177, 66, 95, 95)
#: Mouth centre and half-size in the full image.
MOUTH = ((224, 147), (27, 12))


@dataclass(frozen=True)
class Sprite:
    """BGRA image with a soft alpha and the face box inside it (x, y, w, h in sprite pixels)."""

    bgra: U8
    face: tuple[float, float, float, float]

    @property
    def face_center(self) -> tuple[float, float]:
        x, y, w, h = self.face
        return x + w / 2, y + h / 2

    def scaled(self, s: float) -> Sprite:
        h, w = self.bgra.shape[:2]
        size = (max(2, round(w * s)), max(2, round(h * s)))
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
        img = np.ascontiguousarray(cv2.resize(self.bgra, size, interpolation=interp), dtype=np.uint8)
        sx, sy = size[0] / w, size[1] / h
        x, y, fw, fh = self.face
        return Sprite(img, (x * sx, y * sy, fw * sx, fh * sy))


def skimage_rgb(name: str) -> U8:
    """An RGB test image shipped with scikit-image (e.g. "astronaut", "coffee")."""
    from skimage import data

    loader: Callable[[], Any] = getattr(data, name)
    return np.asarray(loader(), dtype=np.uint8)


@lru_cache(maxsize=1)
def astronaut_bgr() -> U8:
    return np.ascontiguousarray(skimage_rgb("astronaut")[:, :, ::-1])


def neutralize_mouth(img: U8) -> U8:
    """Replace the open smile with closed, straight lips."""
    out = img.copy()
    (cx, cy), (ax, ay) = MOUTH
    mask = np.zeros(img.shape[:2], np.uint8)
    cv2.ellipse(mask, (cx, cy), (ax, ay), 0, 0, 360, 255, -1)
    out = np.asarray(cv2.inpaint(out, mask, 7, cv2.INPAINT_NS), np.uint8)
    # Closed lips: fuller lower lip, thin darker upper lip, a dark line where they meet.
    cv2.ellipse(out, (cx, cy + 3), (15, 3), 0, 0, 360, (118, 124, 184), -1, cv2.LINE_AA)
    cv2.ellipse(out, (cx, cy), (14, 2), 0, 0, 360, (104, 108, 168), -1, cv2.LINE_AA)
    cv2.line(out, (cx - 14, cy + 1), (cx + 14, cy + 1), (78, 82, 136), 1, cv2.LINE_AA)
    blurred = cv2.GaussianBlur(out, (5, 5), 0)
    return np.where(mask[..., None] > 0, blurred, out).astype(np.uint8)


@lru_cache(maxsize=1)
def _head_mask() -> U8:
    """Soft alpha of the head (hair, face, chin) inside HEAD_CROP, found with GrabCut."""
    x0, y0, x1, y1 = HEAD_CROP
    crop = astronaut_bgr()[y0:y1, x0:x1].copy()
    mask = np.full(crop.shape[:2], cv2.GC_PR_BGD, np.uint8)
    cv2.ellipse(mask, (88, 95), (72, 92), 0, 0, 360, cv2.GC_PR_FGD, -1)
    cv2.ellipse(mask, (88, 100), (45, 65), 0, 0, 360, cv2.GC_FGD, -1)
    mask[:, :6] = cv2.GC_BGD
    mask[:, -6:] = cv2.GC_BGD
    mask[:4, :] = cv2.GC_BGD
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(12345)
    cv2.grabCut(crop, mask, (0, 0, 0, 0), bgd, fgd, 5, cv2.GC_INIT_WITH_MASK)
    fg = np.where((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
    # Keep the largest blob, smooth the outline, feather the edge.
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg)
    if n > 1:
        biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        fg = np.where(labels == biggest, 255, 0).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    fg = np.asarray(cv2.morphologyEx(fg, cv2.MORPH_CLOSE, kernel), np.uint8)
    fg = np.asarray(cv2.erode(fg, np.ones((3, 3), np.uint8)), np.uint8)
    return np.asarray(cv2.GaussianBlur(fg, (5, 5), 0), dtype=np.uint8)


@lru_cache(maxsize=4)
def head_sprite(variant: Variant, eyes_closed: bool = False) -> Sprite:
    img = astronaut_bgr() if variant == "smiling" else neutralize_mouth(astronaut_bgr())
    if eyes_closed:
        img = close_eyes(img)
    x0, y0, x1, y1 = HEAD_CROP
    bgra = np.dstack([img[y0:y1, x0:x1], _head_mask()])
    fx, fy, fw, fh = FACE_BOX
    return Sprite(np.ascontiguousarray(bgra), (fx - x0, fy - y0, fw, fh))


def skin_tone() -> tuple[int, int, int]:
    """Mean BGR of the astronaut's cheeks (for the neck)."""
    img = astronaut_bgr()
    patch = np.concatenate([img[120:135, 190:205].reshape(-1, 3), img[120:135, 245:260].reshape(-1, 3)])
    b, g, r = (int(v) for v in patch.mean(axis=0))
    return b, g, r


@lru_cache(maxsize=1)
def second_person_sprite() -> Sprite:
    """A different-looking person: the head mirrored, hair darkened, skin warmer, with shoulders."""
    head = head_sprite("smiling")
    bgr = head.bgra[:, :, :3].astype(np.float32)
    hsv = cv2.cvtColor(head.bgra[:, :, :3], cv2.COLOR_BGR2HSV).astype(np.float32)
    hair = (hsv[:, :, 1] > 90) & (hsv[:, :, 2] < 150)
    bgr[hair] *= 0.55
    bgr[:, :, 2] *= 1.06
    bgr[:, :, 0] *= 0.92
    face = np.clip(bgr, 0, 255).astype(np.uint8)
    hh, hw = face.shape[:2]
    # Canvas: head on top of shoulders.
    cw, ch = int(hw * 1.9), int(hh * 1.75)
    canvas = np.zeros((ch, cw, 4), np.uint8)
    ox = (cw - hw) // 2
    draw_torso(canvas, cw // 2, int(hh * 0.84), hw, (70, 88, 72), shoulders=0.2)
    alpha = head.bgra[:, :, 3:4].astype(np.float32) / 255.0
    region = canvas[0:hh, ox : ox + hw].astype(np.float32)
    region[:, :, :3] = region[:, :, :3] * (1 - alpha) + face.astype(np.float32) * alpha
    region[:, :, 3:4] = np.maximum(region[:, :, 3:4], head.bgra[:, :, 3:4].astype(np.float32))
    canvas[0:hh, ox : ox + hw] = region.astype(np.uint8)
    canvas = np.ascontiguousarray(canvas[:, ::-1])  # mirror
    canvas[:, :, 3] = cv2.GaussianBlur(canvas[:, :, 3], (3, 3), 0)
    fx, fy, fw, fh = head.face
    mirrored_x = cw - (ox + fx + fw)
    return Sprite(canvas, (mirrored_x, fy, fw, fh))


def draw_torso(
    canvas: U8,
    cx: int,
    neck_top: int,
    head_w: int,
    shirt: tuple[int, int, int],
    neck: bool = True,
    shoulders: float = 0.3,
) -> None:
    """Neck and shoulders under a head of width head_w whose chin is near neck_top (BGRA canvas, in place)."""
    h = canvas.shape[0]
    skin = tuple(int(c * 0.74) for c in skin_tone())  # neck and collar in the chin's shadow
    shade = tuple(int(c * 0.6) for c in skin_tone())
    nw = int(head_w * 0.16)
    sh_top = neck_top + int(head_w * shoulders)
    if neck:
        cv2.rectangle(canvas, (cx - nw, neck_top), (cx + nw, sh_top + nw), (*shade, 255), -1)
        cv2.rectangle(canvas, (cx - nw + 4, neck_top), (cx + nw - 2, sh_top + nw), (*skin, 255), -1)
    half = int(head_w * 0.95)
    cy = sh_top + int(head_w * 0.32)
    cv2.ellipse(canvas, (cx, cy), (half, int(head_w * 0.32)), 0, 180, 360, (*shirt, 255), -1, cv2.LINE_AA)
    cv2.rectangle(canvas, (cx - half, cy), (cx + half, h), (*shirt, 255), -1)
    # Collar: a V of skin and a darker outline.
    v = np.array([[cx - nw - 4, sh_top + 2], [cx + nw + 4, sh_top + 2], [cx, sh_top + int(head_w * 0.28)]], np.int32)
    cv2.fillConvexPoly(canvas, v, (*skin, 255), cv2.LINE_AA)
    dark = tuple(int(c * 0.6) for c in shirt)
    cv2.polylines(canvas, [v], False, (*dark, 255), 2, cv2.LINE_AA)
    # Soft shading toward the bottom (light from above).
    ys = np.arange(h, dtype=np.float32)[:, None]
    fade = 1.0 - 0.35 * np.clip((ys - sh_top) / max(1, h - sh_top), 0, 1)
    canvas[:, :, :3] = (canvas[:, :, :3].astype(np.float32) * fade[..., None]).astype(np.uint8)
