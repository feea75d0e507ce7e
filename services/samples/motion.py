"""Head and scene pose as a pure function of time, driven by the ground-truth events.

The renderer draws whatever :meth:`MotionModel.pose` says, so the pixels follow the truth by construction.
Offsets are fractions of the display (upright) picture: ``dx`` of its width, ``dy`` of its height.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass

from services.samples.blinks import BlinkTrack
from services.samples.ground_truth import Events, GroundTruth, LookAway, Nod, NoFace, SecondFace, Shake

#: How far the candidate moves sideways to leave the frame (fraction of display width).
LEAVE_SHIFT = 1.15
#: Horizontal shift and 3-D head turn (degrees) of a look-away at full extent. A real look-away turns the head,
#: moving the nose against the eyes; a flat squash of the picture would not, and a pose estimator rightly reads
#: it as a face still looking into the lens.
LOOK_SHIFT = 0.04
LOOK_TURN_DEG = 50.0


@dataclass(frozen=True)
class Pose:
    dx: float = 0.0
    dy: float = 0.0
    yaw: float = 0.0  # -1..1, negative: the face turns toward image-left
    pitch: float = 0.0  # 0..1, 1: chin fully down during a nod
    body_dx: float = 0.0
    second_face: float = 0.0  # 0: absent, 1: fully in frame
    second_side: str = "right"
    gain: float = 1.0  # global brightness (auto-exposure drift)
    turn_deg: float = 0.0  # head turned in 3-D about the vertical axis, degrees; positive as yaw (image-right)
    eyes_closed: bool = False  # a scripted blink (services/samples/blinks.py)


def smoothstep(x: float) -> float:
    x = min(1.0, max(0.0, x))
    return x * x * (3.0 - 2.0 * x)


def ramp(t: float, start: float, end: float, move: float) -> float:
    """0 outside [start, end], 1 inside [start+move, end-move], smooth in between."""
    if t <= start or t >= end:
        return 0.0
    return min(smoothstep((t - start) / move), smoothstep((end - t) / move))


Event = Nod | Shake | LookAway | NoFace | SecondFace


def _outer(e: Event) -> tuple[float, float]:
    if isinstance(e, NoFace):
        return e.leave_start, e.back_end
    if isinstance(e, SecondFace):
        return e.enter_start, e.exit_end
    return e.start, e.end


class MotionModel:
    """Pose of the candidate (and of the person behind) at any time."""

    def __init__(self, truth: GroundTruth) -> None:
        ev: Events = truth.events
        items: list[Event] = [*ev.nods, *ev.shakes, *ev.look_aways, *ev.no_face, *ev.second_face]
        items.sort(key=lambda e: _outer(e)[0])
        self._events = items
        self._blinks = BlinkTrack(ev.blinks)
        self._starts = [_outer(e)[0] for e in items]
        #: Head motion is drawn in display fractions for the default framing; a smaller face moves less.
        self._head_scale = truth.spec.head_scale
        rng = random.Random(truth.spec.seed * 104729 + 3)
        self._phase = [rng.uniform(0, 2 * math.pi) for _ in range(6)]

    def _active(self, t: float) -> Event | None:
        i = bisect.bisect_right(self._starts, t) - 1
        if i < 0:
            return None
        e = self._events[i]
        start, end = _outer(e)
        return e if start <= t < end else None

    def pose(self, t: float) -> Pose:
        p = self._phase
        tau = 2 * math.pi
        # Idle: slow sway, breathing, tiny turns, auto-exposure drift.
        dx = 0.006 * math.sin(tau * t / 7.3 + p[0]) + 0.003 * math.sin(tau * t / 3.1 + p[1])
        dy = 0.003 * math.sin(tau * t / 4.2 + p[2])
        yaw = 0.04 * math.sin(tau * t / 9.7 + p[3])
        gain = 1.0 + 0.025 * math.sin(tau * t / 23.0 + p[4]) + 0.01 * math.sin(tau * t / 5.3 + p[5])
        pitch = 0.0
        body_dx = dx * 0.5
        second = 0.0
        side = "right"
        turn = 0.0
        e = self._active(t)
        if isinstance(e, Nod):
            u = (t - e.start) / e.period_s
            c = (1 - math.cos(tau * u)) / 2
            dy += e.amplitude * c
            pitch = c
        elif isinstance(e, Shake):
            u = (t - e.start) / e.period_s
            s = math.sin(tau * u)
            dx += e.amplitude * s
            yaw += 0.5 * s
        elif isinstance(e, LookAway):
            sign = -1.0 if e.direction == "left" else 1.0
            f = ramp(t, e.start, e.end, e.turn_s)
            dx += sign * LOOK_SHIFT * f
            dy += 0.008 * f
            turn = sign * LOOK_TURN_DEG * f
            body_dx += sign * 0.02 * f
        k = self._head_scale
        dx, dy, body_dx = dx * k, dy * k, body_dx * k
        if isinstance(e, NoFace):
            # Leaving the picture is a move across the frame, whatever the face's size.
            sign = -1.0 if e.side == "left" else 1.0
            f = ramp(t, e.leave_start, e.back_end, e.start - e.leave_start)
            dx += sign * LEAVE_SHIFT * f
            body_dx += sign * LEAVE_SHIFT * f
            yaw += sign * 0.3 * min(1.0, 4 * f) * (1 - f)
        elif isinstance(e, SecondFace):
            second = ramp(t, e.enter_start, e.exit_end, e.start - e.enter_start)
            side = e.side
        return Pose(dx, dy, yaw, pitch, body_dx, second, side, gain, turn, self._blinks.closed(t))
