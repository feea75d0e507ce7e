"""How the room is lit: normal, dim (a webcam in a dark room) or backlit (a bright window behind the candidate).

Dim: the sensor gets little light, so the picture is dark and its noise is strong (a webcam's automatic gain lifts
the noise with the signal). Backlit: a window fills the wall behind the candidate; the camera exposes for the
bright background, so the candidate (face, neck, body, a second person) is underexposed, and the glare of the
window spreads over the picture and lowers the contrast around it.

The renderer applies it in three places: the static background (`backdrop`), the people (`subject_gain`) and the
finished picture (`expose`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal, get_args

import cv2
import numpy as np
from numpy.typing import NDArray

U8 = NDArray[np.uint8]

Lighting = Literal["normal", "dim", "backlit"]
LIGHTINGS: tuple[Lighting, ...] = get_args(Lighting)

#: Dim room: the share of the normal exposure that reaches the picture, and the extra sensor noise (luma, chroma
#: standard deviation in 8-bit levels) the gain adds.
DIM_EXPOSURE = 0.25
DIM_NOISE = (4.0, 2.5)
#: Backlit: the people's exposure relative to normal, the window's level, and the glare's peak it spreads.
BACKLIT_SUBJECT = 0.3
WINDOW_LEVEL = 250
GLARE_PEAK = 30.0
#: Extra noise fields of a dim picture, cycled.
NOISE_FIELDS = 3


def read_only(a: U8) -> U8:
    """``a``, marked read-only (it is cached and shared between recordings)."""
    a.flags.writeable = False
    return a


@lru_cache(maxsize=4)
def noise_fields(
    seed: int, width: int, height: int, sd: tuple[float, float], count: int
) -> tuple[tuple[U8, ...], tuple[U8, ...]]:
    """``count`` sensor noise fields of luma and chroma standard deviation ``sd``, as positive and negative parts
    (cycled over the frames: drawing noise per frame would dominate the render time). Kept for the next
    recording of the same size and seed."""
    rng = np.random.default_rng(seed)
    pos: list[U8] = []
    neg: list[U8] = []
    for _ in range(count):
        luma = rng.normal(0.0, sd[0], (height, width, 1)).astype(np.float32)
        noise = np.rint(luma + rng.normal(0.0, sd[1], (height, width, 3)).astype(np.float32))
        pos.append(read_only(np.clip(noise, 0, 255).astype(np.uint8)))
        neg.append(read_only(np.clip(-noise, 0, 255).astype(np.uint8)))
    return tuple(pos), tuple(neg)


class SceneLighting:
    """The lighting of one recording, for a display picture of ``width`` x ``height``."""

    def __init__(self, lighting: Lighting, width: int, height: int, face_x: float, seed: int) -> None:
        self.lighting = lighting
        self.w, self.h = width, height
        self.face_x = face_x
        self.subject_gain = BACKLIT_SUBJECT if lighting == "backlit" else 1.0
        self._glare: U8 | None = None
        self._noise_pos: tuple[U8, ...] = ()
        self._noise_neg: tuple[U8, ...] = ()
        if lighting == "dim":
            self._noise_pos, self._noise_neg = noise_fields(seed + 13, width, height, DIM_NOISE, NOISE_FIELDS)
        if lighting == "backlit":
            mask = self._window_mask().astype(np.float32)
            sigma = 0.08 * max(width, height)
            glare = cv2.GaussianBlur(mask, (0, 0), sigma) * GLARE_PEAK
            self._glare = np.repeat(np.rint(glare).astype(np.uint8)[..., None], 3, axis=2)

    def _window_mask(self) -> NDArray[np.bool_]:
        """The window's panes behind the candidate: most of the wall above the desk, split by a frame cross."""
        w, h = self.w, self.h
        x0, x1 = int(w * max(0.02, self.face_x - 0.36)), int(w * min(0.98, self.face_x + 0.36))
        y0, y1 = int(h * 0.04), int(h * 0.78)
        mask = np.zeros((h, w), bool)
        mask[y0:y1, x0:x1] = True
        bar = max(2, min(w, h) // 60)
        mid_x, mid_y = (x0 + x1) // 2, int(h * 0.33)
        mask[:, mid_x - bar : mid_x + bar] = False
        mask[mid_y - bar : mid_y + bar, :] = False
        return mask

    def backdrop(self, background: U8) -> U8:
        """The static scene behind the candidate under this lighting (a window when backlit)."""
        if self.lighting != "backlit":
            return background
        out = background.copy()
        out[self._window_mask()] = WINDOW_LEVEL
        return out

    def subject(self, rgb: U8) -> U8:
        """A person's sprite colours under this lighting."""
        if self.subject_gain == 1.0:
            return rgb
        return np.asarray(cv2.convertScaleAbs(rgb, alpha=self.subject_gain), np.uint8)

    def expose(self, frame: U8, index: int) -> U8:
        """The finished picture as the camera records it (in place where possible)."""
        if self.lighting == "dim":
            frame = np.asarray(cv2.convertScaleAbs(frame, alpha=DIM_EXPOSURE), np.uint8)
            k = index % NOISE_FIELDS
            cv2.add(frame, self._noise_pos[k], dst=frame)
            cv2.subtract(frame, self._noise_neg[(k + 1) % NOISE_FIELDS], dst=frame)
        elif self._glare is not None:
            cv2.add(frame, self._glare, dst=frame)
        return frame


__all__ = ["LIGHTINGS", "Lighting", "SceneLighting", "noise_fields", "read_only"]
