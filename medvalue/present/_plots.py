"""Plotly figures from analysis results. The only module that imports plotly.

Figures draw what the results already hold; nothing here computes a statistic. Every
figure uses a font stack that renders Chinese, and a stable ``div_id`` so the same input
gives the same HTML.
"""

from __future__ import annotations

import math
from functools import cache

import plotly.graph_objects as go
import polars as pl
from markupsafe import Markup
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from medvalue.analyses._coverage import Coverage
from medvalue.analyses._privacy import PrivacyAssessment
from medvalue.analyses._profile import Profile
from medvalue.analyses._quality import display_score
from medvalue.analyses._readiness import Readiness
from medvalue.analyses._targets import TargetProgress
from medvalue.core._codes import code_table
from medvalue.core._i18n import text
from medvalue.product._refine import Refined
from medvalue.read._refined import FIX_STEPS
from medvalue.value._pool import Pool
from medvalue.value._pricing import Valuation, short_money

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


def _money_axis(fig: go.Figure, values: list[float], lang: str, currency: str, log: bool) -> None:
    """An axis of money with ticks at 1, 2 and 5 times powers of ten, labelled as boards read
    them (万 and 亿 in Chinese, k and M in English): no bare minor ticks."""
    lo, hi = min(values), max(values)
    ticks: list[float] = []
    # A narrow range (less than a factor of ten) gets finer steps, each labelled.
    steps = (1, 2, 5) if lo <= 0 or hi / lo >= 10 else (1, 1.5, 2, 3, 4, 5, 6, 8)
    if lo > 0:
        for exp in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
            ticks += [m * 10**exp for m in steps]
    ticks = [t for t in ticks if lo * 0.8 <= t <= hi * 1.25] or [lo, hi]
    if not log and len(ticks) > 8:
        ticks = ticks[:: max(1, len(ticks) // 6)]
    fig.update_xaxes(type="log" if log else "linear", tickvals=ticks,
                     ticktext=[short_money(t, lang) for t in ticks], minor={"showgrid": False},
                     title=currency)  # fmt: skip
    if log and lo > 0:  # room on the right for the labels drawn beside the longest bar
        fig.update_xaxes(range=[math.log10(lo / 1.3), math.log10(hi * 2.2)])


#: Roles whose values are missing for most people by nature, not by failure.
EXPECTED_GAPS = ("death_date", "procedure_date")


def missing_by_column(p: Profile, lang: str = "en") -> go.Figure:
    """Horizontal bars: the share of rows missing in each column, worst first (expected gaps
    in grey)."""
    cols = sorted(p.columns, key=lambda c: (c.null_fraction, c.table, c.name))
    multi = len({c.table for c in cols}) > 1
    names = [f"{c.table}.{c.name}" if multi else c.name for c in cols]
    fig = go.Figure(
        go.Bar(
            x=[c.null_fraction for c in cols],
            y=names,
            orientation="h",
            # Columns that are empty for most people by nature (a death date, a procedure date)
            # are grey, not red: their gaps are expected.
            marker_color=[
                _GREY if c.role in EXPECTED_GAPS else _RED if c.null_fraction > 0.5 else _BLUE
                for c in cols
            ],
            hovertemplate="%{y}: %{x:.1%}<extra></extra>",
        )
    )
    fig.update_xaxes(tickformat=".0%", range=[0, 1], title=_label("axis_share_missing", lang))
    title = _label("chart_missing", lang)
    if any(c.role in EXPECTED_GAPS for c in cols):
        title += f"<br><sup>{_label('expected_gaps_note', lang)}</sup>"
    fig = _layout(fig, title, height=max(260, 22 * len(cols) + 110))
    fig.update_layout(margin={"t": 70})
    return fig


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
    dims = [(k, d.score) for k, d in p.quality.dimensions.items() if d.score is not None]
    scores = [display_score(score) for _, score in dims]
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
    # Room right of 100 for the label of a full score; ticks stop at 100.
    fig.update_xaxes(
        range=[low, 104], tickvals=list(range(int(low), 101, 5)), title=_label("axis_score", lang)
    )
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
        # The first and last bins are open-ended (everything beyond the 1st and 99th
        # percentiles): their bars say so.
        ends = [""] * len(centres)
        if len(ends) > 1:
            ends[0], ends[-1] = f"≤{h.edges[1]:.4g}", f"≥{h.edges[-2]:.4g}"
        fig.add_trace(
            go.Bar(
                x=centres,
                y=[n or 0 for n in h.counts],
                width=width,
                marker_color=_BLUE,
                text=ends,
                textposition="outside",
                cliponaxis=False,
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
    note = _label("suppressed_note", lang, threshold=p.small_cell)
    title = f"{_label('chart_distributions', lang)}<br><sup>{note}</sup>"
    fig = _layout(fig, title, height=110 + 230 * nrows)
    fig.update_layout(margin={"t": 90})
    return fig


def to_html(fig: go.Figure, div_id: str) -> Markup:
    """The figure as a <div> and <script> that use the page's single copy of plotly.js.

    Markup: plotly serialises the figure's texts as JSON inside its own script, so the
    report's templates place it as it is."""
    return Markup(
        fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=div_id,
            config={"displaylogo": False, "responsive": True},
        )
    )


@cache
def plotly_js() -> str:
    """plotly.js, bundled with the plotly package: inlined once per report, no network."""
    return get_plotlyjs()


def _wrap_label(label: str, lang: str, width: int = 18) -> str:
    """A long label on lines of about ``width`` characters, broken between words (Chinese: every
    ten characters), never cut."""
    if lang == "zh":
        return "<br>".join(label[i : i + 10] for i in range(0, len(label), 10))
    lines: list[str] = []
    for word in label.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


def coverage_sunburst(cov: Coverage, lang: str = "en") -> go.Figure:
    """Chapter > block > category, sized by patients (withheld cells are left out)."""
    table = code_table()
    block_of = dict(zip(table["category"], table["block"], strict=True))
    chapter_of_block = dict(zip(table["block"], table["chapter"], strict=True))
    ids, labels, parents, values = [], [], [], []
    for c in cov.chapters:
        if c.patients:
            ids.append(c.key)
            labels.append(
                _wrap_label(f"{c.key} {(c.title_zh if lang == 'zh' else c.title) or ''}", lang)
            )
            parents.append("")
            values.append(c.patients)
    shown_blocks = {b.key: b for b in cov.blocks if b.patients}
    for b in shown_blocks.values():
        chapter = chapter_of_block.get(b.key)
        if chapter in ids:
            ids.append(b.key)
            labels.append(b.key)
            parents.append(chapter)
            values.append(b.patients or 0)
    for c in cov.categories:
        if c.patients and block_of.get(c.key) in shown_blocks:
            ids.append(f"{block_of[c.key]}/{c.key}")
            labels.append(c.key)
            parents.append(block_of[c.key])
            values.append(c.patients)
    fig = go.Figure(go.Sunburst(ids=ids, labels=labels, parents=parents, values=values,
                                branchvalues="remainder", hovertemplate="%{label}: %{value}<extra></extra>"))  # fmt: skip
    return _layout(fig, _label_cov("chart_sunburst", lang), height=520)


def age_sex_pyramid(cov: Coverage, lang: str = "en") -> go.Figure:
    """Women to the left, men to the right, by five-year band."""
    bands = list(dict.fromkeys(b for b, _, _ in cov.demographics.pyramid))
    count = {(b, s): n for b, s, n in cov.demographics.pyramid}
    fig = go.Figure(
        [
            go.Bar(
                y=bands,
                x=[-(count[(b, "F")] or 0) for b in bands],
                orientation="h",
                name=_label_cov("female", lang),
                marker_color="#d53f8c",
                customdata=[count[(b, "F")] for b in bands],
                hovertemplate="%{y}: %{customdata}<extra></extra>",
            ),
            go.Bar(
                y=bands,
                x=[count[(b, "M")] or 0 for b in bands],
                orientation="h",
                name=_label_cov("male", lang),
                marker_color=_BLUE,
                customdata=[count[(b, "M")] for b in bands],
                hovertemplate="%{y}: %{customdata}<extra></extra>",
            ),
        ]
    )
    fig.update_layout(barmode="relative", bargap=0.05)
    fig = _layout(fig, _label_cov("chart_pyramid", lang), height=520)
    fig.update_layout(showlegend=True, legend={"orientation": "h", "y": -0.1})
    fig.update_xaxes(tickformat="~s", title=_label("axis_patients", lang))
    return fig


def coverage_comparison(table: pl.DataFrame, lang: str = "en") -> go.Figure:
    """Heat map of patients per chapter (rows) and dataset (columns)."""
    chapters = table.filter(pl.col("kind") == "chapter")
    datasets = [c for c in chapters.columns if c not in ("kind", "key")]
    z = [[row[d] for d in datasets] for row in chapters.iter_rows(named=True)]
    fig = go.Figure(go.Heatmap(z=z, x=datasets, y=chapters["key"].to_list(), colorscale="Blues",
                               hovertemplate="%{y} · %{x}: %{z}<extra></extra>"))  # fmt: skip
    return _layout(fig, _label_cov("chart_comparison", lang), height=560)


def _label_cov(key: str, lang: str) -> str:
    return text("coverage_labels", key, lang)


def _label_priv(key: str, lang: str, **params: object) -> str:
    return text("privacy_labels", key, lang, **params)


def class_sizes(a: PrivacyAssessment, lang: str = "en") -> go.Figure:
    """Share of people by the size of their group, one bar group per released table.

    Shares, not counts: the chart says how exposed people are, never how many a value holds.
    """
    fig = go.Figure()
    palette = (_RED, _AMBER, "#ecc94b", "#90cdf4", _BLUE)
    for t in a.tables:
        b = t.summary.buckets
        total = sum(b.values()) or 1
        labels = list(b)
        fig.add_trace(
            go.Bar(
                x=labels,
                y=[v / total for v in b.values()],
                name=t.table,
                marker_color=list(palette[: len(labels)]) if len(a.tables) == 1 else None,
                text=[f"{v / total:.1%}" for v in b.values()],
                textposition="outside",
                cliponaxis=False,
                hovertemplate=f"{t.table} · %{{x}}: %{{y:.1%}}<extra></extra>",
            )
        )
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    fig.update_xaxes(type="category")
    fig = _layout(fig, _label_priv("class_sizes", lang), height=320)
    fig.update_layout(showlegend=len(a.tables) > 1, barmode="group")
    return fig


def generalisation_steps(a: PrivacyAssessment, lang: str = "en") -> go.Figure:
    """Records still in groups under k, and precision lost, after each recommended step."""
    assert a.plan is not None
    steps = a.plan.steps
    first = a.worst.summary.risk.prosecutor_at_risk if a.worst else 1.0
    x = [
        "0",
        *[
            f"{i}. {s.column} → {text('generalisation_levels', s.level, lang)}"
            for i, s in enumerate(steps, 1)
        ],
    ]
    below = [first, *[s.share_below for s in steps]]
    lost = [0.0, *[s.information_loss for s in steps]]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=below, mode="lines+markers+text", name=_label_priv("below_target", lang),
                             line={"color": _RED}, text=[f"{v:.1%}" for v in below], textposition="top right",
                             hovertemplate="%{x}: %{y:.1%}<extra></extra>"))  # fmt: skip
    fig.add_trace(go.Scatter(x=x, y=lost, mode="lines+markers", name=_label_priv("loss", lang),
                             line={"color": _GREY, "dash": "dot"},
                             hovertemplate="%{x}: %{y:.0%}<extra></extra>"))  # fmt: skip
    fig.update_yaxes(tickformat=".0%", range=[0, 1.08])
    fig = _layout(fig, _label_priv("levels_chart", lang), height=340)
    fig.update_layout(showlegend=True, legend={"orientation": "h", "y": -0.25})
    return fig


def _label_ready(key: str, lang: str, **params: object) -> str:
    return text("readiness_labels", key, lang, **params)


def class_balance(r: Readiness, lang: str = "en") -> go.Figure:
    """Rows per label class; classes under the small-cell threshold are drawn empty."""
    assert r.label is not None
    names = [v for v, _ in r.label.classes]
    counts = [n or 0 for _, n in r.label.classes]
    labels = [
        _label_ready("hidden", lang, k=r.small_cell) if n is None else f"{n:,}"
        for _, n in r.label.classes
    ]
    fig = go.Figure(go.Bar(x=names, y=counts, marker_color=_BLUE, text=labels, textposition="outside",
                           cliponaxis=False, hovertemplate="%{x}: %{text}<extra></extra>"))  # fmt: skip
    fig.update_xaxes(type="category", title=r.label.column)
    return _layout(fig, _label_ready("class_balance", lang), height=300)


def learning_curve(r: Readiness, lang: str = "en") -> go.Figure:
    """Cross-validated metric by training rows, the fitted curve, and the 80% band at 2x/5x."""
    assert r.baseline is not None
    metric = _label_ready(f"metric_{r.baseline.metric}", lang)
    fig = go.Figure()
    xs = [p.n for p in r.learning_curve]
    fig.add_trace(go.Scatter(x=xs, y=[p.value for p in r.learning_curve], mode="lines+markers",
                             name=metric, line={"color": _BLUE},
                             hovertemplate="%{x:,} → %{y:.3f}<extra></extra>"))  # fmt: skip
    e = r.extrapolation
    if e is not None and xs:
        import numpy as np

        grid = np.geomspace(min(xs), max(m[1] for m in e.at), 60)
        fitted = np.minimum(e.a - e.b * grid ** (-e.c), 1.0)
        fig.add_trace(go.Scatter(x=grid, y=fitted, mode="lines", name=_label_ready("curve_fit", lang),
                                 line={"color": _GREY, "dash": "dot"}, hoverinfo="skip"))  # fmt: skip
        at_x = [n for _, n, _, _, _ in e.at]
        fig.add_trace(go.Scatter(
            x=at_x, y=[mid for *_, mid, _ in e.at], mode="markers+text", name=_label_ready("curve_band", lang),
            text=[_label_ready("times_rows", lang, m=f"{m:g}") for m, *_ in e.at],
            # Labels above their markers, the last one leaning left: never past the chart's edge.
            textposition=["top center"] * (len(e.at) - 1) + ["top left"],
            marker={"color": _AMBER, "size": 9}, cliponaxis=False,
            error_y={"type": "data", "symmetric": False,
                     "array": [hi - mid for *_, mid, hi in e.at], "arrayminus": [mid - lo for *_, lo, mid, _ in e.at]},
            hovertemplate="%{x:,} → %{y:.3f}<extra></extra>",
        ))  # fmt: skip
    fig.update_xaxes(type="log", title=_label_ready("curve_axis_n", lang))
    fig.update_yaxes(title=metric)
    fig = _layout(fig, _label_ready("learning_curve", lang), height=340)
    fig.update_layout(showlegend=True, legend={"orientation": "h", "y": -0.3})
    return fig


def sample_size_needed(r: Readiness, lang: str = "en") -> go.Figure:
    """Rows needed by each Riley criterion, the requirement, and what the dataset has."""
    assert r.sample_size is not None
    names = [_label_ready(f"crit_{c.name}", lang) for c in r.sample_size.criteria]
    values = [c.n for c in r.sample_size.criteria]
    names += [_label_ready("needed", lang), _label_ready("available", lang)]
    values += [r.sample_size.required_n, r.available_n]
    colours = [_GREY] * len(r.sample_size.criteria) + [_AMBER, _BLUE if r.adequate else _RED]
    fig = go.Figure(go.Bar(x=values, y=names, orientation="h", marker_color=colours,
                           text=[f"{v:,}" for v in values], textposition="outside", cliponaxis=False,
                           hovertemplate="%{y}: %{x:,}<extra></extra>"))  # fmt: skip
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, _label_ready("needed_vs_available", lang), height=300)


def calibration_plot(r: Readiness, lang: str = "en") -> go.Figure:
    """Mean predicted risk against the observed share, by tenth of out-of-fold predictions
    (tenths holding fewer people than the small-cell threshold are left out)."""
    assert r.baseline is not None
    bins = [b for b in r.baseline.calibration_bins if b[2] >= r.small_cell]
    top = max([0.05, *[max(p, o) for p, o, _ in bins]]) * 1.1
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", line={"color": _GREY, "dash": "dot"},
                             hoverinfo="skip"))  # fmt: skip
    fig.add_trace(go.Scatter(x=[p for p, _, _ in bins], y=[o for _, o, _ in bins], mode="markers+lines",
                             marker={"color": _BLUE, "size": 8}, line={"color": _BLUE},
                             hovertemplate="%{x:.3f} → %{y:.3f}<extra></extra>"))  # fmt: skip
    fig.update_xaxes(title=_label_ready("predicted", lang), range=[0, top])
    fig.update_yaxes(title=_label_ready("observed", lang), range=[0, top])
    return _layout(fig, _label_ready("calibration", lang), height=340)


def _label_price(key: str, lang: str, **params: object) -> str:
    return text("pricing_labels", key, lang, **params)


def football_field(v: Valuation, lang: str = "en") -> go.Figure:
    """One bar per approach (its low to high, a tick at its mid), the final band shaded."""
    fig = go.Figure()
    low, mid, high = v.band
    fig.add_vrect(x0=low, x1=high, fillcolor="#bee3f8", opacity=0.5, line_width=0, layer="below")
    fig.add_vline(x=mid, line_color=_BLUE, line_dash="dot",
                  annotation_text=f"{_label_price('band', lang)} {short_money(mid, lang)}", annotation_position="top")  # fmt: skip
    names, lows, spans, mids, texts = [], [], [], [], []
    for key, est in v.methods.items():
        if not est.available or est.low is None or est.mid is None or est.high is None:
            continue
        names.append(f"{_label_price('method_' + key, lang)} ({v.weights[key]:.0%})")
        lows.append(est.low)
        spans.append(max(est.high - est.low, est.mid * 0.02))
        mids.append(est.mid)
        texts.append(f"{short_money(est.low, lang)} – {short_money(est.high, lang)}")
    fig.add_trace(go.Bar(y=names, x=spans, base=lows, orientation="h", marker_color=_GREY, text=texts,
                         textposition="auto", cliponaxis=False, name=_label_price("legend_range", lang),
                         hovertemplate="%{y}: %{text}<extra></extra>"))  # fmt: skip
    fig.add_trace(go.Scatter(y=names, x=mids, mode="markers", name=_label_price("legend_mid", lang),
                             marker={"color": "#1a202c", "symbol": "line-ns-open", "size": 18},
                             hovertemplate="%{y}: %{x:,.0f}<extra></extra>"))  # fmt: skip
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=_label_price("legend_band", lang),
                             marker={"color": "#bee3f8", "symbol": "square", "size": 14}))  # fmt: skip
    _money_axis(fig, [*lows, *[a + b for a, b in zip(lows, spans, strict=True)], low, high], lang,
                v.currency, log=True)  # fmt: skip
    fig.update_yaxes(autorange="reversed")
    fig = _layout(fig, _label_price("football", lang), height=360)
    fig.update_layout(showlegend=True, legend={"orientation": "h", "y": -0.25})
    return fig


def tornado(v: Valuation, lang: str = "en") -> go.Figure:
    """The mid price with each uncertain input at the low and at the high end of its range."""
    base = v.band[1]
    rows = list(v.tornado)[::-1]
    names = [
        _label_price(f"factor_{f}", lang)
        + (" " + _label_price("default_tag", lang) if v.is_default(f) else "")
        for f, _, _ in rows
    ]
    fig = go.Figure()
    fig.add_trace(go.Bar(y=names, x=[a - base for _, a, _ in rows], base=base, orientation="h",
                         name=_label_price("at_low", lang), marker_color=_AMBER,
                         hovertemplate="%{y}: %{x:,.0f}<extra></extra>"))  # fmt: skip
    fig.add_trace(go.Bar(y=names, x=[b - base for _, _, b in rows], base=base, orientation="h",
                         name=_label_price("at_high", lang), marker_color=_BLUE,
                         hovertemplate="%{y}: %{x:,.0f}<extra></extra>"))  # fmt: skip
    fig.add_vline(x=base, line_color="#4a5568")
    fig.update_layout(barmode="overlay")
    ends = [x for _, a, b in rows for x in (a, b)] or [base]
    _money_axis(fig, [*ends, base], lang, v.currency, log=False)
    fig = _layout(fig, _label_price("tornado", lang), height=320)
    fig.update_layout(showlegend=True, legend={"orientation": "h", "y": -0.25})
    return fig


def _label_tgt(key: str, lang: str, **params: object) -> str:
    return text("targets_labels", key, lang, **params)


def burnup_grid(t: TargetProgress, lang: str = "en", columns: int = 3) -> go.Figure:
    """Every target's cumulative actual, its target line and year-end forecast band, as small
    multiples (one panel per region and metric, each on its own scale)."""
    keys = list(t.burnup)
    rows = -(-len(keys) // columns)
    titles = []
    for key in keys:
        region, metric = key.split("/")
        titles.append(f"{region} · {_label_tgt(f'metric_{metric}', lang)}")
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=titles,
                        horizontal_spacing=0.06, vertical_spacing=min(0.12, 0.6 / max(rows, 1)))  # fmt: skip
    month_now = f"{t.as_of:%Y-%m}"
    for i, key in enumerate(keys):
        r, c = i // columns + 1, i % columns + 1
        region, metric = key.split("/")
        series = t.burnup[key]
        prog = next(p for p in t.regions if p.region == region and p.metric == metric)
        shown = [(m, v) for m, v in series if m <= month_now]
        first = i == 0  # one legend for all panels
        fig.add_trace(go.Scatter(x=[m for m, _ in shown], y=[v for _, v in shown], mode="lines+markers",
                                 name=_label_tgt("actual_line", lang), line={"color": _BLUE}, marker={"size": 4},
                                 showlegend=first, legendgroup="actual"), row=r, col=c)  # fmt: skip
        fig.add_trace(go.Scatter(x=[series[0][0], series[-1][0]], y=[prog.target / 12, prog.target], mode="lines",
                                 name=_label_tgt("target_line", lang), line={"color": _GREY, "dash": "dash"},
                                 showlegend=first, legendgroup="target"), row=r, col=c)  # fmt: skip
        low, mid, high = prog.forecast
        fig.add_trace(go.Scatter(x=[series[-1][0]], y=[mid], mode="markers", name=_label_tgt("forecast_band", lang),
                                 marker={"color": _AMBER, "size": 8}, showlegend=first, legendgroup="forecast",
                                 error_y={"type": "data", "symmetric": False, "array": [high - mid],
                                          "arrayminus": [mid - low]}), row=r, col=c)  # fmt: skip
    fig.update_xaxes(type="category", tickangle=0, nticks=4)
    fig = _layout(fig, _label_tgt("burnups", lang), height=90 + 220 * rows)
    fig.update_layout(showlegend=True, legend={"orientation": "h", "y": -0.08}, margin={"t": 80})
    fig.update_annotations(font_size=11)
    return fig


def target_funnel(t: TargetProgress, lang: str = "en") -> go.Figure:
    stages = list(t.funnel)
    fig = go.Figure(go.Funnel(y=[_label_tgt(f"stage_{s}", lang) for s in stages], x=[t.funnel[s] for s in stages],
                              marker={"color": [_BLUE, "#4299e1", "#63b3ed", _AMBER]}))  # fmt: skip
    return _layout(fig, _label_tgt("funnel", lang), height=300)


def target_ranking(t: TargetProgress, lang: str = "en") -> go.Figure:
    rows = sorted(t.regions, key=lambda p: p.p_meet)
    names = [f"{p.region} · {_label_tgt('metric_' + p.metric, lang)}" for p in rows]
    fig = go.Figure(go.Bar(x=[p.p_meet for p in rows], y=names, orientation="h",
                           marker_color=[_RED if p.p_meet < 0.5 else _BLUE for p in rows],
                           text=[f"{p.p_meet:.0%}" for p in rows], textposition="outside", cliponaxis=False))  # fmt: skip
    fig.update_xaxes(range=[0, 1.05], tickformat=".0%")
    return _layout(fig, _label_tgt("ranking", lang), height=max(260, 28 * len(rows) + 80))


def monthly_transactions(t: TargetProgress, lang: str = "en") -> go.Figure:
    fig = go.Figure(
        go.Bar(x=[m for m, _, _ in t.monthly], y=[n for _, n, _ in t.monthly], marker_color=_BLUE)
    )
    fig.update_xaxes(type="category")
    return _layout(fig, _label_tgt("monthly", lang), height=280)


def refine_changes(r: Refined, lang: str = "en") -> go.Figure:
    """Horizontal bars: values touched by each refinement step, fixes blue, protection amber."""
    totals: dict[str, int] = {}
    for c in r.changes:
        totals[c.step] = totals.get(c.step, 0) + c.values
    steps = sorted(totals, key=lambda s: totals[s])
    fig = go.Figure(go.Bar(x=[totals[s] for s in steps], y=[text("refine_steps", s, lang) for s in steps],
                           orientation="h", marker_color=[_BLUE if s in FIX_STEPS else _AMBER for s in steps],
                           text=[f"{totals[s]:,}" for s in steps], textposition="outside", cliponaxis=False))  # fmt: skip
    fig.update_xaxes(type="log", title=text("refine_labels", "col_values", lang))
    title = text("refine_labels", "chart", lang)
    return _layout(fig, title, height=max(260, 30 * len(steps) + 90))


def _label_pool(key: str, lang: str, **params: object) -> str:
    return text("pool_labels", key, lang, **params)


def pool_overlap(p: Pool, lang: str = "en") -> go.Figure:
    """Site x site: people both hold (hidden small counts shown blank, labelled)."""
    names = _site_labels(p, lang)
    z = [[None if v is None else v for v in row] for row in p.overlap]
    hidden = f"<{p.small_cell}"
    labels = [[hidden if v is None else f"{v:,}" for v in row] for row in p.overlap]
    fig = go.Figure(
        go.Heatmap(z=z, x=names, y=names, text=labels, texttemplate="%{text}",
                   colorscale="Blues", showscale=False, hoverinfo="skip", xgap=2, ygap=2)
    )  # fmt: skip
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, _label_pool("chart_overlap", lang), height=120 + 60 * len(names))


def pool_split(p: Pool, lang: str = "en") -> go.Figure:
    """Each site's revenue share under each method, side by side."""
    s = p.split
    methods = [("recommended", s.recommended, _BLUE), ("by_rows", s.by_rows, _GREY),
               ("by_people", s.by_people, "#718096")]  # fmt: skip
    methods += [
        (f"game_{g}", v, c)
        for (g, v), c in zip(s.by_game.items(), ("#90cdf4", "#63b3ed", "#4299e1"), strict=False)
    ]
    fig = go.Figure()
    names = _site_labels(p, lang)
    for key, shares, colour in methods:
        fig.add_bar(name=_label_pool(key, lang), x=names, y=list(shares), marker_color=colour,
                    text=[f"{v:.0%}" for v in shares], textposition="outside")  # fmt: skip
    _layout(fig, _label_pool("chart_split", lang), height=380)
    fig.update_layout(barmode="group", showlegend=True, legend={"orientation": "h", "y": -0.2})
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return fig


def _site_labels(p: Pool, lang: str) -> list[str]:
    # Site names are as the pool spec writes them: Chinese names wrap by characters.
    cjk = lambda n: any("\u4e00" <= ch <= "\u9fff" for ch in n)  # noqa: E731
    return [_wrap_label(n, "zh" if cjk(n) else lang, 12) for n in p.site_names]
