"""Inline SVG charts drawn from numbers: a radar of scores, curves over the interview's timeline with
question boundaries, a strip of categories per second, and bar charts. No script, no external files."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .fmt import clock
from .markup import Html, el, join, num

# Colours the page and its tests rely on (the browser test looks for them in the screenshot).
RADAR_FILL = "#2b8cbe"
RADAR_LINE = "#08519c"
EYE_CONTACT = "#1f77b4"
SMILE = "#e6550d"
FACE_ABSENT = "#d62728"
SECOND_FACE = "#9467bd"
RATE_BAR = "#31a354"
SPEECH = "#4a6fa5"
PAUSE_MARK = "#f0a30a"
PAUSE_BAR = "#756bb1"
PRESSURE_BAND = "#fdebd3"
QUESTION_BAND = "#eef2f7"
LOOK_AWAY = "#7f7f7f"
EXPRESSION_COLOURS = {
    "neutral": "#9e9e9e",
    "happiness": "#f4c20d",
    "surprise": "#17becf",
    "sadness": "#6b8cce",
    "anger": "#b2182b",
    "disgust": "#8c6d31",
    "fear": "#7b4173",
    "contempt": "#637939",
}
OTHER_EXPRESSION = "#c7c7c7"
GRID = "#c8ccd2"
INK = "#333333"

_FONT = 12


def _text(x: float, y: float, content: str, *, anchor: str = "start", size: int = _FONT, **attrs: str) -> Html:
    return el("text", content, x=num(x), y=num(y), text_anchor=anchor, font_size=size, fill=INK, **attrs)


def _line(x1: float, y1: float, x2: float, y2: float, colour: str = GRID, width: float = 1.0, **attrs: str) -> Html:
    return el("line", x1=num(x1), y1=num(y1), x2=num(x2), y2=num(y2), stroke=colour, stroke_width=num(width), **attrs)


def _rect(x: float, y: float, w: float, h: float, fill: str, tooltip: str | None = None, **attrs: str) -> Html:
    title = el("title", tooltip) if tooltip else None
    return el("rect", title, x=num(x), y=num(y), width=num(max(w, 0.0)), height=num(max(h, 0.0)), fill=fill, **attrs)


def _svg(width: float, height: float, label: str, *children: Html, class_: str = "chart") -> Html:
    return el(
        "svg",
        el("title", label),
        *children,
        xmlns="http://www.w3.org/2000/svg",
        viewBox=f"0 0 {num(width)} {num(height)}",
        width=num(width),
        height=num(height),
        role="img",
        aria_label=label,
        class_=class_,
    )


# --- radar ---------------------------------------------------------------------------------------------------


def text_width(content: str, size: int = _FONT) -> float:
    """Rough rendered width: CJK characters are about square, Latin ones a little over half as wide."""
    return sum(size if ord(char) > 0x2E80 else size * 0.6 for char in content)


def radar_chart(axes: Sequence[tuple[str, float]], label: str) -> Html:
    """Scores 0-100 on one spoke each. Fewer than three spokes make no polygon: bars instead."""
    if len(axes) < 3:
        return bar_chart([(name, value, f"{value:.0f}") for name, value in axes], label, RADAR_FILL, 100.0)
    radius = 130.0
    margin = max(text_width(f"{name} 100") for name, _ in axes) + 12
    width, height = 2 * (radius + margin), 2 * radius + 60
    cx, cy = width / 2, height / 2
    angles = [-math.pi / 2 + 2 * math.pi * i / len(axes) for i in range(len(axes))]

    def point(angle: float, value: float) -> tuple[float, float]:
        r = radius * max(0.0, min(value, 100.0)) / 100
        return cx + r * math.cos(angle), cy + r * math.sin(angle)

    def ring(value: float) -> str:
        return " ".join(f"{num(x)},{num(y)}" for x, y in (point(a, value) for a in angles))

    grid = [el("polygon", points=ring(level), fill="none", stroke=GRID) for level in (25, 50, 75, 100)]
    spokes = [_line(cx, cy, *point(a, 100)) for a in angles]
    names = []
    for angle, (name, value) in zip(angles, axes, strict=True):
        x, y = point(angle, 108)
        anchor = "middle" if abs(math.cos(angle)) < 0.3 else ("start" if math.cos(angle) > 0 else "end")
        names.append(_text(x, y + 4 + 8 * math.sin(angle), f"{name} {value:.0f}", anchor=anchor))
    vertices = [point(angle, value) for angle, (_, value) in zip(angles, axes, strict=True)]
    shape = el(
        "polygon",
        points=" ".join(f"{num(x)},{num(y)}" for x, y in vertices),
        fill=RADAR_FILL,
        fill_opacity="0.35",
        stroke=RADAR_LINE,
        stroke_width="2.5",
    )
    dots = [el("circle", cx=num(x), cy=num(y), r="3.5", fill=RADAR_LINE) for x, y in vertices]
    scale = [_text(cx + 3, point(-math.pi / 2, level)[1] + 12, str(level), size=10) for level in (50, 100)]
    return _svg(width, height, label, *grid, *spokes, shape, *dots, *names, *scale, class_="chart radar")


# --- timeline ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """A curve: values 0-1 at media times; None leaves a gap (no face, no data)."""

    name: str
    colour: str
    points: Sequence[tuple[float, float | None]]


@dataclass(frozen=True)
class Band:
    """A question's window, shaded behind the curves."""

    label: str
    start_s: float
    end_s: float
    pressure: bool = False
    tooltip: str = ""


@dataclass(frozen=True)
class Mark:
    """An episode drawn as a strip under the curves (face absent, a second face)."""

    start_s: float
    end_s: float
    colour: str
    tooltip: str


@dataclass(frozen=True)
class TimeAxis:
    """Maps media seconds in [start_s, start_s + duration_s] to x over the plot area."""

    duration_s: float
    left: float = 44.0
    width: float = 820.0
    start_s: float = 0.0

    def x(self, seconds: float) -> float:
        offset = max(0.0, min(seconds - self.start_s, self.duration_s))
        return self.left + self.width * offset / max(self.duration_s, 1e-9)

    def tick_times(self) -> list[float]:
        """Round media times, at most about ten of them, inside the axis."""
        steps = (5, 10, 15, 30, 60, 120, 300, 600, 1200, 1800)
        step = next((s for s in steps if self.duration_s / s <= 10), 3600)
        first = math.ceil(self.start_s / step) * step
        return [float(t) for t in range(first, int(self.start_s + self.duration_s) + 1, step)]


def _bands(axis: TimeAxis, bands: Sequence[Band], top: float, height: float) -> list[Html]:
    parts: list[Html] = []
    for band in bands:
        x0, x1 = axis.x(band.start_s), axis.x(band.end_s)
        fill = PRESSURE_BAND if band.pressure else QUESTION_BAND
        parts.append(_rect(x0, top, x1 - x0, height, fill, band.tooltip or band.label, class_="question-band"))
        parts.append(_line(x0, top, x0, top + height, "#8a94a6", 1.0, stroke_dasharray="3,3"))
        parts.append(_text(x0 + 3, top + 12, band.label, size=11, font_weight="bold"))
    return parts


def _axis(axis: TimeAxis, top: float, height: float, caption: str) -> list[Html]:
    bottom = top + height
    parts = [_line(axis.left, bottom, axis.left + axis.width, bottom, INK)]
    for t in axis.tick_times():
        x = axis.x(t)
        parts += [_line(x, bottom, x, bottom + 4, INK), _text(x, bottom + 16, clock(t), anchor="middle", size=10)]
    parts.append(_text(axis.left + axis.width, bottom + 30, caption, anchor="end", size=10))
    return parts


def _curve(axis: TimeAxis, series: Series, top: float, height: float) -> Html:
    """A polyline per run of known values; a lone value becomes a short dash so it stays visible."""
    runs: list[list[tuple[float, float]]] = [[]]
    for t, value in series.points:
        if value is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((axis.x(t), top + height * (1 - max(0.0, min(value, 1.0)))))
    paths = []
    for run in runs:
        if not run:
            continue
        if len(run) == 1:
            run = [(run[0][0] - 2, run[0][1]), (run[0][0] + 2, run[0][1])]
        d = "M" + " L".join(f"{num(x)},{num(y)}" for x, y in run)
        paths.append(el("path", d=d, fill="none", stroke=series.colour, stroke_width="2.5", stroke_linejoin="round"))
    return el("g", el("title", series.name), *paths, class_="series")


def time_chart(
    series: Sequence[Series],
    *,
    duration_s: float,
    bands: Sequence[Band],
    marks: Sequence[Mark] = (),
    label: str,
    caption: str,
    height: float = 180.0,
) -> Html:
    """Curves 0-1 over the interview, question windows shaded (pressure questions warmer), episodes as
    strips underneath, a legend on top."""
    axis = TimeAxis(duration_s)
    top, mark_h = 24.0, 8.0
    plot_bottom = top + height
    parts: list[Html] = _bands(axis, bands, top, height)
    for level in (0.0, 0.5, 1.0):
        y = top + height * (1 - level)
        parts += [
            _line(axis.left, y, axis.left + axis.width, y),
            _text(axis.left - 6, y + 4, f"{level:.0%}", anchor="end", size=10),
        ]
    parts += [_curve(axis, s, top, height) for s in series]
    for mark in marks:
        x0, x1 = axis.x(mark.start_s), axis.x(mark.end_s)
        parts.append(_rect(x0, plot_bottom + 2, max(x1 - x0, 2.0), mark_h, mark.colour, mark.tooltip, class_="episode"))
    parts += _axis(axis, plot_bottom + mark_h + 4, 0, caption)
    legend_x = axis.left
    for s in series:
        parts += [_rect(legend_x, 6, 14, 4, s.colour), _text(legend_x + 18, 12, s.name, size=11)]
        legend_x += 30 + text_width(s.name, 11)
    total_h = plot_bottom + mark_h + 40
    return _svg(axis.left + axis.width + 16, total_h, label, *parts, class_="chart timeline")


def category_strip(
    cells: Sequence[tuple[float, float, str, str]],
    *,
    duration_s: float,
    bands: Sequence[Band],
    legend: Sequence[tuple[str, str]],
    label: str,
    caption: str,
) -> Html:
    """One coloured cell per (start, end, colour, tooltip): the dominant expression second by second."""
    axis = TimeAxis(duration_s)
    top, height = 24.0, 28.0
    parts: list[Html] = _bands(axis, bands, top, height)
    for start, end, colour, tooltip in cells:
        x0, x1 = axis.x(start), axis.x(end)
        parts.append(
            _rect(
                x0,
                top + 14,
                max(x1 - x0, 1.0),
                height - 14,
                colour,
                tooltip,
                class_="cell",
                shape_rendering="crispEdges",
            )
        )
    parts += _axis(axis, top + height, 0, caption)
    legend_x = axis.left
    for name, colour in legend:
        parts += [_rect(legend_x, 4, 10, 10, colour), _text(legend_x + 14, 13, name, size=11)]
        legend_x += 26 + text_width(name, 11)
    return _svg(axis.left + axis.width + 16, top + height + 40, label, *parts, class_="chart strip")


def speech_strip(
    start_s: float,
    end_s: float,
    speech: Sequence[tuple[float, float]],
    pauses: Sequence[tuple[float, float]],
    *,
    label: str,
    caption: str,
) -> Html:
    """An answer window as one bar: stretches of speech dark, long pauses highlighted, the rest silence."""
    axis = TimeAxis(end_s - start_s, start_s=start_s)
    top, height = 6.0, 18.0
    parts: list[Html] = [_rect(axis.left, top, axis.width, height, QUESTION_BAND)]
    for kind, colour, ranges in (("speech", SPEECH, speech), ("pause", PAUSE_MARK, pauses)):
        for start, end in ranges:
            x0, x1 = axis.x(start), axis.x(end)
            tooltip = f"{clock(start)}-{clock(end)} ({end - start:.1f} s)"
            parts.append(_rect(x0, top, max(x1 - x0, 1.0), height, colour, tooltip, class_=kind))
    parts += _axis(axis, top + height, 0, caption)
    return _svg(axis.left + axis.width + 16, top + height + 40, label, *parts, class_="chart speech-strip")


# --- bars ----------------------------------------------------------------------------------------------------


def bar_chart(bars: Sequence[tuple[str, float, str]], label: str, colour: str, max_value: float | None = None) -> Html:
    """Vertical bars (name, value, value as shown), scaled to ``max_value`` or the largest value."""
    width, height, top, left = 300.0, 150.0, 18.0, 16.0
    peak = max_value or max((value for _, value, _ in bars), default=0.0) or 1.0
    slot = (width - left - 10) / max(len(bars), 1)
    parts: list[Html] = [_line(left, top + height, width - 10, top + height, INK)]
    for i, (name, value, shown) in enumerate(bars):
        bar_h = height * max(0.0, min(value / peak, 1.0))
        x = left + i * slot + slot * 0.2
        parts += [
            _rect(x, top + height - bar_h, slot * 0.6, bar_h, colour, f"{name}: {shown}", class_="bar"),
            _text(x + slot * 0.3, top + height - bar_h - 4, shown, anchor="middle", size=11),
            _text(x + slot * 0.3, top + height + 16, name, anchor="middle", size=11),
        ]
    return _svg(width, top + height + 26, label, *parts, class_="chart bars")


def share_bars(items: Sequence[tuple[str, float, str]], label: str) -> Html:
    """Horizontal bars of shares 0-1 (name, share, colour), one per row."""
    row_h, name_w, bar_w = 22.0, 110.0, 300.0
    parts: list[Html] = []
    for i, (name, share, colour) in enumerate(items):
        y = 4 + i * row_h
        parts += [
            _text(name_w - 6, y + 13, name, anchor="end", size=11),
            _rect(
                name_w,
                y + 3,
                bar_w * max(0.0, min(share, 1.0)),
                row_h - 8,
                colour,
                f"{name}: {share:.0%}",
                class_="bar",
            ),
            _text(name_w + bar_w * max(0.0, min(share, 1.0)) + 6, y + 13, f"{share:.0%}", size=11),
        ]
    return _svg(name_w + bar_w + 50, 8 + row_h * len(items), label, join(parts), class_="chart shares")
