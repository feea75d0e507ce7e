"""Number and time formats shared by the charts and the page."""

from __future__ import annotations

import math


def clock(seconds: float) -> str:
    """Media time as ``m:ss`` (``h:mm:ss`` from an hour on), truncated like a player's position."""
    whole = max(0, math.floor(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def clock_range(start_s: float, end_s: float) -> str:
    return clock(start_s) if math.floor(start_s) == math.floor(end_s) else f"{clock(start_s)}\u2013{clock(end_s)}"


def percent(ratio: float) -> str:
    return f"{ratio * 100:.0f}%"


def seconds(value: float) -> str:
    return f"{value:.1f} s"


def score(value: float) -> str:
    return f"{value:.0f}"


def overall(value: float) -> str:
    """One decimal, cut rather than rounded: 69.96 under a recommend-at-70 rule must not read as 70."""
    return f"{math.floor(value * 10) / 10:.1f}"
