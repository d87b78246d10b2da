"""HTML from templates with autoescaping.

Every text placed in a report goes through a jinja2 environment with ``autoescape=True``:
a patient's value, a column name or a translated sentence is escaped wherever it lands.
Only :class:`~markupsafe.Markup` passes unescaped, and Markup is made in two places: the
macros of ``templates/html/blocks.html.j2`` and the charts plotly draws
(:func:`medvalue.present._plots.to_html`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

_TEMPLATES = Path(__file__).resolve().parent / "templates" / "html"
#: Tables with more columns than this are set compact.
WIDE_COLUMNS = 6


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def _blocks() -> Any:
    return _environment().get_template("blocks.html.j2").module


def render_page(name: str, **context: Any) -> str:
    """A whole page from the template ``name`` (autoescaped)."""
    return _environment().get_template(name).render(**context)


@cache
def style(font: str) -> Markup:
    """The report's ``<style>`` element."""
    return Markup(_environment().get_template("style.html.j2").render(font=font))


def heading(level: int, text: Any) -> Markup:
    return Markup(_blocks().heading(level, text))


def h2(text: Any) -> Markup:
    return heading(2, text)


def h3(text: Any) -> Markup:
    return heading(3, text)


def para(text: Any, cls: str | None = None) -> Markup:
    return Markup(_blocks().para(text, cls))


def runs(*parts: tuple[Any, bool], cls: str | None = None) -> Markup:
    """One paragraph of (text, bold) runs."""
    return Markup(_blocks().runs(list(parts), cls))


def bullets(items: Iterable[Any], bold: Iterable[int] = ()) -> Markup:
    return Markup(_blocks().bullets(list(items), tuple(bold)))


def badge(text: Any, cls: str) -> Markup:
    return Markup(_blocks().badge(text, cls))


def link(text: Any, href: str | None) -> Markup:
    return Markup(_blocks().link(text, href or ""))


def verdict(label: Any, value: Any, colour: str) -> Markup:
    return Markup(_blocks().verdict(label, value, colour))


def table(
    head: Sequence[Any],
    rows: Iterable[Sequence[Any]],
    numeric: Sequence[int] = (),
    *,
    compact: bool = False,
) -> Markup:
    """A table; compact (smaller type, tighter cells, long words broken) when asked or when it
    has more than six columns, so that it fits the width of A4."""
    wide = compact or len(head) > WIDE_COLUMNS
    return Markup(_blocks().table(list(head), [list(r) for r in rows], tuple(numeric), wide))


def card(key: Any, value: Any, sentence: Any, *, missing: bool = False) -> Markup:
    return Markup(_blocks().card(key, value, sentence, missing))


def cards(items: Iterable[Markup]) -> Markup:
    return Markup(_blocks().cards(list(items)))


def boxed(content: Markup) -> Markup:
    return Markup(_blocks().boxed(content))


def section(parts: Iterable[Any]) -> Markup:
    return Markup(_blocks().section(list(parts)))


def plotly_script(plotly_js: str) -> Markup:
    # plotly.js is the library's own file, shipped with plotly: trusted as is.
    return Markup(_blocks().plotly_script(Markup(plotly_js)))


def page_start(style_: Markup, plotly_js: str, title: Any, sub: Any) -> Markup:
    # plotly.js is the library's own file, shipped with plotly: trusted as is.
    return Markup(_blocks().page_start(style_, Markup(plotly_js), title, sub))


def markdown_outline(text: str) -> Markup:
    """Headings, paragraphs and two levels of bullets (the datacard's Markdown) as HTML,
    every line's text escaped."""
    out: list[Markup] = []
    depth = 0
    for line in text.strip().splitlines():
        level = 2 if line.startswith("  - ") else 1 if line.startswith("- ") else 0
        while depth > level:
            out.append(Markup("</ul>"))
            depth -= 1
        while depth < level:
            out.append(Markup("<ul>"))
            depth += 1
        if level:
            out.append(Markup("<li>{}</li>").format(line.strip()[2:]))
        elif line.startswith("## "):
            out.append(heading(4, line[3:]))
        elif line.startswith("# "):
            out.append(heading(3, line[2:]))
        elif line.strip():
            out.append(para(line))
    out += [Markup("</ul>")] * depth
    return Markup("").join(out)
