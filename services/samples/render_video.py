"""Renders the webcam-like picture of the interview, one frame at a time (nothing is kept across frames).

Scene (built once): a lit wall with a bookshelf and a framed picture, a desk edge at the bottom, vignette.
Per frame: the candidate's torso and head follow :class:`MotionModel`; the head is warped with a small
perspective to suggest pitch (nods) and yaw (shakes, look-aways); a second person may lean in from one side;
auto-exposure drift and sensor noise are applied; then the picture is rotated into the stored orientation.

`SceneRenderer.render_pose` draws any pose; a pose with ``turn_deg`` turns the head in 3-D (`turn_head`), which the
scripted motion never does: the 2-D squash of `head_quad` keeps the landmarks where they are relative to each other,
a real turn moves the nose against the eyes.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from functools import cached_property, lru_cache

import cv2
import numpy as np
from numpy.typing import NDArray

from services.samples.face_assets import Sprite, draw_torso, head_sprite, second_person_sprite, skimage_rgb, skin_tone
from services.samples.ground_truth import GroundTruth
from services.samples.lighting import SceneLighting, noise_fields, read_only
from services.samples.motion import MotionModel, Pose
from services.samples.spec import SampleSpec

U8 = NDArray[np.uint8]
F32 = NDArray[np.float32]

#: Resting face centre height as a fraction of the display height (the horizontal place is the spec's face_x).
FACE_Y = 0.43
#: The sensor's noise in good light (luma, chroma standard deviation in 8-bit levels).
SENSOR_NOISE = (1.8, 1.0)
#: Second person: face size relative to the candidate's, centre height.
SECOND_SCALE = 0.62
SECOND_Y = 0.34
#: Depth model of the head for 3-D turns, in face widths: a vertical cylinder (a head's cross-section is
#: roughly round) and a ridge for the nose, from between the eyes to its tip, standing out in front of it.
HEAD_RADIUS = 0.6
NOSE_HEIGHT = 0.22
NOSE_HALF_WIDTH = 0.07

_PALETTES = [
    ((196, 206, 214), (150, 162, 172)),  # warm beige wall (BGR)
    ((214, 208, 196), (168, 160, 150)),  # cool grey-blue
    ((190, 210, 200), (140, 160, 150)),  # pale green
]


def _soft_noise(rng: np.random.Generator, h: int, w: int, scale: int) -> F32:
    small = rng.standard_normal((max(2, h // scale), max(2, w // scale))).astype(np.float32)
    return np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), dtype=np.float32)


@lru_cache(maxsize=2)
def build_background(w: int, h: int, seed: int) -> U8:
    """Static scene behind the candidate: wall, lamp light, shelf, picture, vignette (no desk); read-only, kept for
    the next recording of the same size and seed."""
    rng = np.random.default_rng(seed + 101)
    top, bottom = _PALETTES[seed % len(_PALETTES)]
    ys = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    wall = np.asarray(top, np.float32) * (1 - ys) + np.asarray(bottom, np.float32) * ys
    wall = np.broadcast_to(wall, (h, w, 3)).copy()
    # Lamp on one side: brighter there, falling off across the wall.
    lamp_x = 0.15 if seed % 2 == 0 else 0.85
    xs = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
    light = 0.82 + 0.28 * np.exp(-((xs - lamp_x) ** 2) / 0.18) * (1.0 - 0.4 * ys[:, :, 0])
    wall *= light[..., None]
    wall += (_soft_noise(rng, h, w, 24) * 4.0)[..., None]
    img = np.clip(wall, 0, 255).astype(np.uint8)
    u = min(w, h)
    # Bookshelf on the side away from the lamp.
    sx0 = int(w * (0.80 if lamp_x < 0.5 else 0.04))
    sw, sy0 = int(w * 0.16), int(h * 0.18)
    wood = (52, 78, 110)
    for k in range(3):
        y = sy0 + k * int(u * 0.16)
        cv2.rectangle(img, (sx0, y + int(u * 0.13)), (sx0 + sw, y + int(u * 0.145)), wood, -1)
        x = sx0 + 2
        while x < sx0 + sw - 6:
            bw = int(rng.integers(max(3, u // 90), max(5, u // 40)))
            bh = int(u * rng.uniform(0.07, 0.12))
            color = tuple(int(c) for c in rng.integers(40, 200, 3))
            cv2.rectangle(img, (x, y + int(u * 0.13) - bh), (x + bw, y + int(u * 0.13)), color, -1)
            x += bw + 1
    # Framed picture (no faces in it) on the lamp side.
    pic = skimage_rgb("coffee")[:, :, ::-1]
    pw, ph = int(u * 0.26), int(u * 0.19)
    px = int(w * (0.05 if lamp_x < 0.5 else 0.95)) - (0 if lamp_x < 0.5 else pw)
    py = int(h * 0.12)
    cv2.rectangle(img, (px - 6, py - 6), (px + pw + 6, py + ph + 6), (40, 40, 44), -1)
    img[py : py + ph, px : px + pw] = cv2.resize(pic, (pw, ph), interpolation=cv2.INTER_AREA)
    # Vignette of a small webcam lens.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
    vig = (1.0 - 0.22 * r2).astype(np.float32)
    return read_only(np.clip(img.astype(np.float32) * vig[..., None], 0, 255).astype(np.uint8))


def build_desk(w: int, h: int) -> tuple[int, U8]:
    """Desk edge in front of the candidate: (top row, pixels)."""
    dh = max(4, int(h * 0.1))
    ys = np.linspace(0.0, 1.0, dh, dtype=np.float32)[:, None, None]
    base = np.asarray((58, 92, 128), np.float32) * (1.1 - 0.35 * ys)
    desk = np.broadcast_to(base, (dh, w, 3)).copy()
    desk[: max(1, dh // 12)] = (120, 150, 180)  # lit edge
    return h - dh, np.clip(desk, 0, 255).astype(np.uint8)


def head_depth(shape: tuple[int, ...], face: tuple[float, float, float, float]) -> F32:
    """How far each pixel of a head sprite of ``shape`` stands out toward the camera, in pixels, from the
    vertical axis through the centre of ``face`` (x, y, w, h in sprite pixels)."""
    fx, fy, fw, fh = face
    cx = fx + fw / 2
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    depth = np.sqrt(np.clip((HEAD_RADIUS * fw) ** 2 - (xs - cx) ** 2, 0.0, None))
    bridge_y, tip_y = fy + 0.3 * fh, fy + 0.62 * fh
    # The nose: a ridge rising from the bridge to the tip, ending just below it.
    along = np.clip((ys - bridge_y) / (tip_y - bridge_y), 0.0, 1.0)
    below_tip = np.clip(ys - tip_y, 0.0, None) / (0.05 * fh)
    across = (xs - cx) / (NOSE_HALF_WIDTH * fw)
    depth += NOSE_HEIGHT * fw * along * np.exp(-0.5 * (below_tip**2 + across**2))
    return np.asarray(depth, np.float32)


def turn_head(premul: U8, depth: F32, centre_x: float, turn_deg: float) -> U8:
    """A head sprite turned by ``turn_deg`` about the vertical axis at ``centre_x`` (positive: the face turns
    toward the image's right), seen from afar: every pixel moves with its depth, the parts turning away are
    hidden behind nearer ones, and one cheek narrows while the other widens as on a real turned head."""
    h, w = premul.shape[:2]
    angle = math.radians(turn_deg)
    direction = 1 if angle >= 0 else -1
    xs = np.arange(w, dtype=np.float32)
    moved = centre_x + (xs - centre_x) * math.cos(angle) + depth * math.sin(angle)  # (h, w): where each pixel goes
    # Scanning from the side that comes nearer (opposite the turn), a pixel shows only beyond all before it.
    scan = slice(None, None, direction)
    ahead = direction * moved[:, scan]
    source = xs[scan]
    map_x = np.empty((h, w), np.float32)
    for y in range(h):
        visible = np.r_[True, ahead[y, 1:] > np.maximum.accumulate(ahead[y])[:-1]]
        map_x[y] = np.interp(direction * xs, ahead[y][visible], source[visible], left=-1.0, right=-1.0)
    map_y = np.repeat(np.arange(h, dtype=np.float32)[:, None], w, axis=1)
    turned = cv2.remap(premul, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.asarray(turned, np.uint8)


def _blend(frame: U8, fg: U8, alpha: F32, x: int, y: int) -> None:
    """Alpha-blend fg (h, w, 3) with weights alpha (h, w) into frame at (x, y), clipped to the frame."""
    fh, fw = alpha.shape
    H, W = frame.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + fw), min(H, y + fh)
    if x1 <= x0 or y1 <= y0:
        return
    a = alpha[y0 - y : y1 - y, x0 - x : x1 - x]
    f = fg[y0 - y : y1 - y, x0 - x : x1 - x]
    roi = frame[y0:y1, x0:x1]
    roi[:] = cv2.blendLinear(np.ascontiguousarray(f), roi, np.ascontiguousarray(a), 1.0 - a)


def _premultiplied(sprite: Sprite) -> U8:
    """The sprite premultiplied (colour * alpha): warping it interpolates correctly and blending is two uint8 ops."""
    hb = sprite.bgra.astype(np.float32)
    premul = np.dstack([hb[:, :, :3] * hb[:, :, 3:4] / 255.0, hb[:, :, 3:4]])
    return np.ascontiguousarray(np.rint(premul).astype(np.uint8))


class SceneRenderer:
    """Draws frames of one interview at display (upright) size and returns them in stored orientation."""

    def __init__(self, spec: SampleSpec, truth: GroundTruth) -> None:
        self.spec = spec
        self.motion = MotionModel(truth)
        w, h = spec.display_size
        self.w, self.h = w, h
        self.light = SceneLighting(spec.lighting, w, h, spec.face_x, spec.seed)
        self.bg = self.light.backdrop(build_background(w, h, spec.seed))
        self.desk_y, self.desk = build_desk(w, h)
        face_px = spec.face_side_px
        self.head = head_sprite(spec.variant).scaled(face_px / head_sprite(spec.variant).face[3])
        self.face_px = face_px
        self.cx, self.cy = spec.face_x * w, FACE_Y * h
        # Candidate torso: a sprite that moves with the body.
        hw = self.head.bgra.shape[1]
        neck_top = int(self.cy + 0.42 * face_px)
        bw = int(hw * 2.2)
        body = np.zeros((h - neck_top + 4, bw, 4), np.uint8)
        rng = random.Random(spec.seed)
        shirt = rng.choice([(92, 60, 38), (110, 110, 112), (170, 170, 168), (60, 70, 110)])
        draw_torso(body, bw // 2, 0, hw, shirt, neck=False)
        self.body_rgb = self.light.subject(np.ascontiguousarray(body[:, :, :3]))
        self.body_alpha = body[:, :, 3].astype(np.float32) / 255.0
        self.body_x0, self.body_y0 = int(self.cx - bw / 2), neck_top
        self.neck_w = int(hw * 0.16)
        self.neck_len = int(hw * 0.32)
        # The neck sits in the chin's shadow: darker than the face.
        self.skin = tuple(int(c * 0.74) for c in skin_tone())
        self.skin_shade = tuple(int(c * 0.6) for c in skin_tone())
        self.head_premul = _premultiplied(self.head)
        # The same head with the eyes shut, drawn during scripted blinks.
        shut = head_sprite(spec.variant, eyes_closed=True)
        self.head_shut_premul = _premultiplied(shut.scaled(face_px / shut.face[3]))
        self._cache: OrderedDict[tuple[int, int, int], U8] = OrderedDict()
        self._cache_cap = max(4, (192 << 20) // (w * h * 3))
        self.second = second_person_sprite().scaled(SECOND_SCALE * face_px / second_person_sprite().face[3])
        self.second_rgb = self.light.subject(np.ascontiguousarray(self.second.bgra[:, :, :3]))
        self.second_alpha = self.second.bgra[:, :, 3].astype(np.float32) / 255.0
        self.noise_pos, self.noise_neg = noise_fields(
            spec.seed + 7, w, h, SENSOR_NOISE, 4 if w * h <= 1920 * 1080 else 2
        )

    # -- geometry -------------------------------------------------------------------------------------------

    def head_quad(self, pose: Pose) -> NDArray[np.float32]:
        """Where the head sprite's corners land in the display picture (TL, TR, BR, BL)."""
        hh, hw = self.head.bgra.shape[:2]
        fcx, fcy = self.head.face_center
        cx = self.cx + pose.dx * self.w
        cy = self.cy + pose.dy * self.h
        # Pitch: vertical squash, forehead nearer (wider) than chin. Yaw: horizontal squash, near side taller.
        sy = 1.0 - 0.10 * pose.pitch
        sx = 1.0 - 0.22 * abs(pose.yaw)
        top_w, bot_w = 1.0 + 0.05 * pose.pitch, 1.0 - 0.05 * pose.pitch
        left_h, right_h = 1.0 + 0.07 * pose.yaw, 1.0 - 0.07 * pose.yaw
        pts = []
        for x, y in ((0.0, 0.0), (hw, 0.0), (hw, hh), (0.0, hh)):
            rx, ry = (x - fcx) * sx, (y - fcy) * sy
            rx *= top_w if y == 0 else bot_w
            ry *= left_h if x == 0 else right_h
            pts.append((cx + rx, cy + ry))
        return np.asarray(pts, np.float32)

    def face_box(self, t: float) -> tuple[float, float, float, float] | None:
        """Approximate face box (x, y, w, h) in display pixels at time t; None when the face is out of frame."""
        pose = self.motion.pose(t)
        q = self.head_quad(pose)
        hh, hw = self.head.bgra.shape[:2]
        fx, fy, fw, fh = self.head.face
        m = cv2.getPerspectiveTransform(np.asarray([[0, 0], [hw, 0], [hw, hh], [0, hh]], np.float32), q)
        box = np.asarray([[[fx, fy]], [[fx + fw, fy]], [[fx + fw, fy + fh]], [[fx, fy + fh]]], np.float32)
        pts = cv2.perspectiveTransform(box, m).reshape(-1, 2)
        x0, y0 = pts.min(axis=0)
        x1, y1 = pts.max(axis=0)
        if x1 <= 0 or y1 <= 0 or x0 >= self.w or y0 >= self.h:
            return None
        return float(x0), float(y0), float(x1 - x0), float(y1 - y0)

    # -- drawing --------------------------------------------------------------------------------------------

    def render(self, t: float, index: int = 0) -> U8:
        """The upright picture at time t (display size, BGR)."""
        return self.render_pose(self.motion.pose(t), index)

    def render_pose(self, pose: Pose, index: int = 0) -> U8:
        """The upright picture of ``pose`` (display size, BGR); ``index`` picks the sensor noise."""
        bx = self.body_x0 + round(pose.body_dx * self.w)
        by = self.body_y0 + round(pose.dy * self.h * 0.3)
        gq = round((pose.gain - 1.0) * 250)  # exposure in steps of 0.4 %
        gain = 1.0 + gq / 250
        if pose.second_face > 0:
            frame = self._backdrop(bx, by, gain, pose)
        else:
            key = (bx, by, gq)
            cached = self._cache.get(key)
            if cached is None:
                cached = self._backdrop(bx, by, gain, pose)
                self._cache[key] = cached
                if len(self._cache) > self._cache_cap:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(key)
            frame = cached.copy()
        self._draw_head(frame, pose, gain * self.light.subject_gain, by - self.body_y0)
        frame = self.light.expose(frame, index)
        k = (index * 5 + 1) % len(self.noise_pos)
        cv2.add(frame, self.noise_pos[k], dst=frame)
        cv2.subtract(frame, self.noise_neg[(k + 1) % len(self.noise_neg)], dst=frame)
        return frame

    def _backdrop(self, bx: int, by: int, gain: float, pose: Pose) -> U8:
        """Everything but the head: wall, second person, torso, desk, with the exposure applied."""
        frame = self.bg.copy()
        if pose.second_face > 0:
            self._draw_second(frame, pose)
        _blend(frame, self.body_rgb, self.body_alpha, bx, by)
        frame[self.desk_y :] = self.desk
        if gain != 1.0:
            frame = np.asarray(cv2.convertScaleAbs(frame, alpha=gain), np.uint8)
        return frame

    def _draw_head(self, frame: U8, pose: Pose, gain: float, body_dy: int) -> None:
        q = self.head_quad(pose)
        # Neck: from under the chin down into the collar, following the head sideways.
        ncx = round(self.cx + pose.dx * self.w)
        ny0 = int(self.cy + pose.dy * self.h + 0.3 * self.face_px)
        ny1 = self.body_y0 + body_dy + self.neck_len
        if ny1 > ny0 and -self.neck_w < ncx < self.w + self.neck_w:
            skin = tuple(c * gain for c in self.skin)
            shade = tuple(c * gain for c in self.skin_shade)
            cv2.rectangle(frame, (ncx - self.neck_w, ny0), (ncx + self.neck_w, ny1), shade, -1)
            cv2.rectangle(frame, (ncx - self.neck_w + 4, ny0), (ncx + self.neck_w - 2, ny1), skin, -1)
        hh, hw = self.head.bgra.shape[:2]
        head = self.head_shut_premul if pose.eyes_closed else self.head_premul
        if pose.turn_deg:
            head = turn_head(head, self._head_depth, self.head.face_center[0], pose.turn_deg)
        if pose.pitch < 0.01 and abs(pose.yaw) < 0.06:
            # Near-frontal (most frames): the sprite is pasted at a whole-pixel position, no resampling.
            fcx, fcy = self.head.face_center
            x = round(self.cx + pose.dx * self.w - fcx)
            y = round(self.cy + pose.dy * self.h - fcy)
            self._paste_premul(frame, head, x, y, gain)
            return
        x0, y0 = np.floor(q.min(axis=0)).astype(int)
        x1, y1 = np.ceil(q.max(axis=0)).astype(int)
        cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(self.w, x1), min(self.h, y1)
        if cx1 <= cx0 or cy1 <= cy0:
            return
        src = np.asarray([[0, 0], [hw, 0], [hw, hh], [0, hh]], np.float32)
        dst = q - np.asarray([cx0, cy0], np.float32)
        size = (cx1 - cx0, cy1 - cy0)
        m = cv2.getPerspectiveTransform(src, dst)
        warped = np.asarray(cv2.warpPerspective(head, m, size, flags=cv2.INTER_LINEAR), np.uint8)
        self._paste_premul(frame, warped, cx0, cy0, gain)

    @staticmethod
    def _paste_premul(frame: U8, premul: U8, x: int, y: int, gain: float) -> None:
        """Composite a premultiplied BGRA image at (x, y), clipped: frame = frame * (1 - a) + colour."""
        H, W = frame.shape[:2]
        h, w = premul.shape[:2]
        x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
        if x1 <= x0 or y1 <= y0:
            return
        part = premul[y0 - y : y1 - y, x0 - x : x1 - x]
        color = cv2.cvtColor(part, cv2.COLOR_BGRA2BGR)
        if gain != 1.0:
            color = cv2.convertScaleAbs(color, alpha=gain)
        inv = cv2.cvtColor(np.ascontiguousarray(255 - part[:, :, 3]), cv2.COLOR_GRAY2BGR)
        roi = frame[y0:y1, x0:x1]
        cv2.multiply(roi, inv, dst=roi, scale=1 / 255)
        cv2.add(roi, color, dst=roi)

    @cached_property
    def _head_depth(self) -> F32:
        return head_depth(self.head.bgra.shape, self.head.face)

    def _draw_second(self, frame: U8, pose: Pose) -> None:
        _sh, sw = self.second_alpha.shape
        fcx, fcy = self.second.face_center
        # Fully in: face centre far enough from the edge that the face is whole; out: sprite beyond the edge.
        in_x = max(0.13 * self.w, self.second.face[2] * 0.8)
        out_x = -(sw - fcx) - 2
        x_left = out_x + (in_x - out_x) * pose.second_face
        fx = x_left if pose.second_side == "left" else self.w - x_left
        x = round(fx - fcx)
        y = round(SECOND_Y * self.h - fcy)
        _blend(frame, self.second_rgb, self.second_alpha, x, y)

    def stored(self, frame: U8) -> U8:
        """Rotate the upright picture into the stored orientation (a player rotates it back)."""
        r = self.spec.rotation
        if r == 90:
            return np.asarray(cv2.rotate(frame, cv2.ROTATE_90_COUNTERCLOCKWISE), np.uint8)
        if r == 180:
            return np.asarray(cv2.rotate(frame, cv2.ROTATE_180), np.uint8)
        if r == 270:
            return np.asarray(cv2.rotate(frame, cv2.ROTATE_90_CLOCKWISE), np.uint8)
        return frame

    def i420(self, t: float, index: int) -> bytes:
        """Frame at time t, stored orientation, as raw YUV 4:2:0 bytes for the encoder."""
        yuv = cv2.cvtColor(self.stored(self.render(t, index)), cv2.COLOR_BGR2YUV_I420)
        return bytes(yuv.data)


def frame_times(spec: SampleSpec) -> list[float]:
    """Presentation time of every frame. Constant rate, or for VFR irregular with dropped frames.

    VFR mimics a phone under load: frames are dropped in short bursts and the remaining ones jitter; times are
    whole milliseconds (the stream's time base).
    """
    n = max(1, round(spec.duration * spec.fps))
    if not spec.vfr:
        return [i / spec.fps for i in range(n)]
    rng = random.Random(spec.seed * 31 + 5)
    step = 1.0 / spec.fps
    out: list[float] = []
    i = 0
    last_ms = -1
    while i < n:
        if i > 0 and rng.random() < 0.12:
            i += rng.randint(1, 3)  # a burst of dropped frames
            continue
        jitter = rng.uniform(-0.2, 0.2) * step if i > 0 else 0.0
        ms = round((i * step + jitter) * 1000)
        if ms > last_ms and ms < spec.duration * 1000:
            out.append(ms / 1000.0)
            last_ms = ms
        i += 1
    return out
