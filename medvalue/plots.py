"""Plotly figures from analysis results. The only module that imports plotly.

Figures draw what the results already hold; nothing here computes a statistic. Every
figure uses a font stack that renders Chinese, and a stable ``div_id`` so the same input
gives the same HTML.
"""

from __future__ import annotations

from functools import cache

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from medvalue.i18n import text
from medvalue.profile import Profile
from medvalue.quality import display_score

FONT_FAMILY = (
    '"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", '
    '"WenQuanYi Micro Hei", "Helvetica Neue", Arial, sans-serif'
)
_BLUE, _GREY, _RED, _AMBER = "#2b6cb0", "#a0aec0", "#c53030", "#d69e2e"


def _label(key: str, lang: str, **params: object) -> str:
    return text("labels", key, lang, **params)


def _layout(fig: go.Figure, title: str, height: int = 360) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}},
        font={"family": FONT_FAMILY, "size": 12},
        height=height,
        margin={"l": 10, "r": 20, "t": 50, "b": 40},
        plot_bgcolor="white",
        paper_bgcolor="white",
        showlegend=False,
    )
    fig.update_xaxes(gridcolor="#edf2f7", zerolinecolor="#cbd5e0", automargin=True)
    fig.update_yaxes(gridcolor="#edf2f7", zerolinecolor="#cbd5e0", automargin=True)
    return fig


def missing_by_column(p: Profile, lang: str = "en") -> go.Figure:
    """Horizontal bars: the share of rows missing in each column, worst first."""
    cols = sorted(p.columns, key=lambda c: (c.null_fraction, c.table, c.name))
    multi = len({c.table for c in cols}) > 1
    names = [f"{c.table}.{c.name}" if multi else c.name for c in cols]
    fig = go.Figure(
        go.Bar(
            x=[c.null_fraction for c in cols],
            y=names,
            orientation="h",
            marker_color=[_RED if c.null_fraction > 0.5 else _BLUE for c in cols],
            hovertemplate="%{y}: %{x:.1%}<extra></extra>",
        )
    )
    fig.update_xaxes(tickformat=".0%", range=[0, 1], title=_label("axis_share_missing", lang))
    return _layout(fig, _label("chart_missing", lang), height=max(260, 22 * len(cols) + 90))


def patient_completeness(p: Profile, lang: str = "en") -> go.Figure:
    """Horizontal bars: the share of patients with at least one value of each key field."""
    rows = sorted(p.patient_completeness, key=lambda r: (r.share, r.column))
    fig = go.Figure(
        go.Bar(
            x=[r.share for r in rows],
            y=[r.column for r in rows],
            orientation="h",
            marker_color=_BLUE,
            hovertemplate="%{y}: %{x:.1%}<extra></extra>",
        )
    )
    fig.update_xaxes(tickformat=".0%", range=[0, 1], title=_label("axis_share_patients", lang))
    return _layout(
        fig, _label("chart_patient_completeness", lang), height=max(240, 24 * len(rows) + 90)
    )


def quality_dimensions(p: Profile, lang: str = "en") -> go.Figure:
    """Horizontal bars for the quality dimensions over the grade bands (poor/fair/good/excellent).

    Scores of clinical exports cluster near 100, so the axis starts a little below the lowest
    score (never hiding where it starts: the bands and tick labels show it).
    """
    dims = [(k, d) for k, d in p.quality.dimensions.items() if d.score is not None]
    scores = [display_score(d.score) for _, d in dims]
    names = [text("dimensions", k, lang) for k, _ in dims]
    overall = display_score(p.quality.score)
    low = max(0.0, min([*scores, overall]) - 5)
    low = 5 * (low // 5)
    fig = go.Figure(
        go.Bar(
            x=scores[::-1],
            y=names[::-1],
            orientation="h",
            marker_color=[_BLUE if s >= 95 else _AMBER if s >= 80 else _RED for s in scores[::-1]],
            text=[f"{s:.1f}" for s in scores[::-1]],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x:.1f}<extra></extra>",
        )
    )
    bands = ((0, 60, "#fff5f5"), (60, 80, "#fffaf0"), (80, 95, "#fefcbf"), (95, 100, "#f0fff4"))
    for a, b, colour in bands:
        if b > low:
            fig.add_vrect(x0=max(a, low), x1=b, fillcolor=colour, line_width=0, layer="below")
    fig.add_vline(
        x=overall,
        line_dash="dot",
        line_color="#4a5568",
        annotation_text=f"{_label('overall', lang)} {overall:.1f}",
        annotation_position="top",
    )
    fig.update_xaxes(range=[low, 100.5], title=_label("axis_score", lang))
    return _layout(fig, _label("chart_quality", lang), height=300)


def distributions(p: Profile, lang: str = "en") -> go.Figure:
    """Histograms of the key numeric columns in one figure, two per row.

    Bins hidden by the small-cell rule are drawn as short grey stubs.
    """
    hs = list(p.histograms)
    ncols = 2 if len(hs) > 1 else 1
    nrows = -(-len(hs) // ncols)
    fig = make_subplots(
        rows=nrows,
        cols=ncols,
        subplot_titles=[h.column for h in hs],
        horizontal_spacing=0.08,
        vertical_spacing=min(0.12, 0.5 / max(nrows, 1)),
    )
    for i, h in enumerate(hs):
        r, c = i // ncols + 1, i % ncols + 1
        centres = [(a + b) / 2 for a, b in zip(h.edges[:-1], h.edges[1:], strict=True)]
        width = (h.edges[1] - h.edges[0]) * 0.95
        peak = max((n for n in h.counts if n is not None), default=1)
        fig.add_trace(
            go.Bar(
                x=centres,
                y=[n or 0 for n in h.counts],
                width=width,
                marker_color=_BLUE,
                hovertemplate="%{x:.4g}: %{y}<extra></extra>",
            ),
            row=r,
            col=c,
        )
        fig.add_trace(
            go.Bar(
                x=centres,
                y=[peak * 0.02 if n is None else 0 for n in h.counts],
                width=width,
                marker_color=_GREY,
                hovertemplate=f"%{{x:.4g}}: {_label('suppressed', lang)}<extra></extra>",
            ),
            row=r,
            col=c,
        )
    fig.update_layout(barmode="overlay")
    fig = _layout(fig, _label("chart_distributions", lang), height=90 + 230 * nrows)
    fig.add_annotation(
        text=_label("suppressed_note", lang, threshold=p.small_cell),
        xref="paper",
        yref="paper",
        x=0,
        y=1.0,
        yshift=30,
        showarrow=False,
        xanchor="left",
        font={"size": 11, "color": "#718096"},
    )
    fig.update_layout(margin={"t": 80})
    return fig


def to_html(fig: go.Figure, div_id: str) -> str:
    """The figure as a <div> and <script> that use the page's single copy of plotly.js."""
    return fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
    )


@cache
def plotly_js() -> str:
    """plotly.js, bundled with the plotly package: inlined once per report, no network."""
    return get_plotlyjs()
