"""A tiny safe-by-construction HTML/SVG builder.

Every piece of text that is not already :class:`Html` is escaped when it is placed in an element or an
attribute, so candidate answers, job titles and question texts can never inject markup into a report.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

#: Attribute values: text, numbers (formatted compactly), or None/False to leave the attribute out.
AttrValue = str | int | float | bool | None


class Html(str):
    """Markup that is already safe to emit verbatim."""

    __slots__ = ()


def esc(value: object) -> Html:
    """``value`` as text, escaped for element content and quoted attribute values alike."""
    if isinstance(value, Html):
        return value
    return Html(html.escape(str(value), quote=True))


def num(value: float) -> str:
    """A coordinate or size: at most two decimals, no trailing zeros (keeps the SVG small)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _attr(name: str, value: AttrValue) -> str:
    if value is None or value is False:
        return ""
    attr_name = name.rstrip("_").replace("_", "-")
    if value is True:
        return f" {attr_name}"
    text = num(value) if isinstance(value, float) else str(value)
    return f' {attr_name}="{esc(text)}"'


def join(children: Iterable[Html | str | int | float | None]) -> Html:
    """Concatenate children, escaping every one that is not already markup; None is skipped."""
    return Html("".join(esc(child) for child in children if child is not None))


def el(name: str, /, *children: Html | str | int | float | None, **attrs: AttrValue) -> Html:
    """``<name attrs>children</name>``. Attribute names use ``_`` for ``-`` (``stroke_width``) and a
    trailing ``_`` for Python keywords (``class_``)."""
    attributes = "".join(_attr(key, value) for key, value in attrs.items())
    return Html(f"<{name}{attributes}>{join(children)}</{name}>")


def void(name: str, /, **attrs: AttrValue) -> Html:
    """An element without content (``<img>``, ``<meta>``)."""
    attributes = "".join(_attr(key, value) for key, value in attrs.items())
    return Html(f"<{name}{attributes}>")
