"""What the report notebooks display: results turned into HTML blocks and charts.

Each function takes results (never data) and returns an object Jupyter displays. Every
text comes from the zh/en catalogue; the HTML comes from templates that escape every value
(:mod:`medvalue.present._html`); every count of people has already passed the small-cell
rule in the analysis that produced it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from markupsafe import Markup

from medvalue.analyses._coverage import Coverage
from medvalue.analyses._linkage import KEYS
from medvalue.analyses._privacy import PrivacyAssessment
from medvalue.analyses._profile import Profile
from medvalue.analyses._quality import display_score
from medvalue.analyses._readiness import WEIGHTS, Readiness
from medvalue.analyses._targets import TargetProgress
from medvalue.core._config import VERSION as __version__
from medvalue.core._i18n import catalogue, check_lang, text
from medvalue.core._suppression import suppress
from medvalue.present import _plots as plots
from medvalue.present._html import (
    badge,
    boxed,
    bullets,
    card,
    cards,
    h2,
    h3,
    link,
    markdown_outline,
    para,
    plotly_script,
    runs,
    section,
    style,
    table,
    verdict,
)
from medvalue.present._html import page_start as page_top
from medvalue.product._datacard import datacard_markdown
from medvalue.product._refine import Refined
from medvalue.value._assess import Assessment
from medvalue.value._comparables import SYNTHETIC_PRICE_MODEL
from medvalue.value._pool import Pool
from medvalue.value._pricing import Valuation, short_money

RESULTS_MIMETYPE = "application/vnd.medvalue.results+json"


class Html:
    """A block of HTML that Jupyter displays as is."""

    def __init__(self, body: str) -> None:
        self.body = body

    def _repr_html_(self) -> str:
        return self.body

    def __html__(self) -> str:  # a block placed in a template stays as it is
        return self.body

    def __str__(self) -> str:
        return self.body


class Results:
    """The analysis results as JSON, for the report runner; invisible in the HTML page."""

    def __init__(self, payload: Mapping[str, Any]) -> None:
        self.payload = json.loads(json.dumps(payload, default=str, ensure_ascii=False))

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {RESULTS_MIMETYPE: self.payload}

    def __repr__(self) -> str:
        keys = ", ".join(k for k, v in self.payload.items() if isinstance(v, dict))
        return f"medvalue results ({keys}); saved as the report's .json file"


def _l(key: str, lang: str, **params: Any) -> str:
    return text("labels", key, lang, **params)


def _table(
    head: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[int] = ()
) -> Markup:
    return table(head, rows, numeric)


def _wrap(parts: Sequence[Any]) -> Html:
    # One block given alone is one part, not a sequence of characters.
    return Html(section([parts] if isinstance(parts, str) else parts))


def _style() -> Markup:
    return style(plots.FONT_FAMILY)


_PLOTLY_SHOWN = False


def standalone(section: Html) -> Html:
    """A section as a result displays it on its own in a notebook: with the styles, and with
    plotly.js the first time in this process (charts need it once per page)."""
    global _PLOTLY_SHOWN
    script = Markup("") if _PLOTLY_SHOWN else plotly_script(plots.plotly_js())
    _PLOTLY_SHOWN = True
    return Html(_style() + script + Markup(str(section)))


def page_start(dataset: Any, lang: str, as_of: dt.date | str | None = None) -> Html:
    """Styles, the page's one copy of plotly.js, and the title block for a dataset."""
    check_lang(lang)
    meta = dataset.spec.metadata
    named = (meta.get("title_zh") if lang == "zh" else None) or dataset.spec.title
    title = f"{_l('report_title', lang)} · {named or dataset.name}"
    day = (
        as_of.isoformat() if isinstance(as_of, dt.date) else (as_of or dt.date.today().isoformat())
    )
    sub = _l("generated", lang, version=__version__, as_of=day)
    return Html(page_top(_style(), plots.plotly_js(), title, sub))


def _card(key: str, lang: str, value: str | None, sentence: str | None) -> Markup:
    if value is None:
        return card(_l(key, lang), _l("not_built_short", lang),
                    _l("not_built", lang, version=__version__), missing=True)  # fmt: skip
    return card(_l(key, lang), value, sentence)


def executive_summary(
    lang: str,
    profile: Profile | None = None,
    coverage: Any = None,
    readiness: Any = None,
    privacy: Any = None,
    valuation: Any = None,
) -> Html:
    """The first screen: one card per answer, each with one sentence; missing ones say so."""
    shown = []
    if valuation is not None and hasattr(valuation, "headline"):
        shown.append(_card("price_band", lang, *valuation.headline(lang)))
    else:
        shown.append(_card("price_band", lang, None, None))
    if profile is not None:
        q = profile.quality
        errors = sum(1 for f in profile.findings if f.severity == "error")
        warnings = sum(1 for f in profile.findings if f.severity == "warning")
        score = display_score(q.score)
        sentence = _l(
            "quality_sentence",
            lang,
            score=f"{score:.1f}",
            grade=text("grades", q.grade, lang),
            errors=errors,
            warnings=warnings,
        )
        shown.append(_card("quality_score", lang, f"{score:.1f}", sentence))
    for key, result in (
        ("coverage_headline", coverage),
        ("readiness_score", readiness),
        ("privacy_verdict", privacy),
    ):
        if result is not None and hasattr(result, "headline"):
            shown.append(_card(key, lang, *result.headline(lang)))
        else:
            shown.append(_card(key, lang, None, None))
    return _wrap([h2(_l("executive_summary", lang)), cards(shown)])


def profile_section(p: Profile, lang: str) -> Html:
    """Size, quality by dimension, findings, then charts and the column detail."""
    s = p.size
    span = f"{s.first_date} – {s.last_date}" if s.first_date else "–"
    rpp = s.records_per_patient
    size_rows = [
        (_l("rows", lang), f"{s.rows:,}"),
        (_l("columns", lang), f"{s.columns:,}"),
        (_l("patients", lang), "–" if s.patients is None else f"{s.patients:,}"),
        (_l("encounters", lang), "–" if s.encounters is None else f"{s.encounters:,}"),
        (_l("time_span", lang), span),
        (_l("bytes", lang), _bytes(s.bytes_on_disk)),
    ]
    if rpp:
        size_rows.append(
            (
                _l("records_per_patient", lang),
                f"{rpp['median']:g} / {rpp['p90']:g} / {rpp['max']:g}",
            )
        )
    tables = _table(
        [_l("table", lang), _l("kind", lang), _l("rows", lang), _l("columns", lang)],
        [(t.name, _term("table_kinds", t.kind, lang), f"{t.rows:,}", t.columns) for t in s.tables],
        numeric=(2, 3),
    )
    q = p.quality
    dims = _table(
        [_l("dimension", lang), _l("score", lang), _l("weight", lang), _l("basis", lang)],
        [
            (
                text("dimensions", k, lang),
                "–" if d.score is None else f"{display_score(d.score):.1f}",
                f"{d.weight:.0%}",
                _basis(k, d, lang),
            )
            for k, d in q.dimensions.items()
        ],
        numeric=(1, 2),
    )
    parts = [
        h2(_l("profile_section", lang)),
        h3(_l("size", lang)),
        _table([_l("size", lang), ""], size_rows, numeric=(1,)),
        tables,
        h3(
            f"{_l('quality_score', lang)}: {display_score(q.score):.1f} ({text('grades', q.grade, lang)})"
        ),
        dims,
        plots.to_html(plots.quality_dimensions(p, lang), "mv-quality"),
        h3(f"{_l('findings', lang)} ({len(p.findings)})"),
        _findings_table(p, lang),
        plots.to_html(plots.missing_by_column(p, lang), "mv-missing"),
    ]
    if p.patient_completeness:
        parts.append(plots.to_html(plots.patient_completeness(p, lang), "mv-patient-completeness"))
    if p.histograms:
        parts.append(plots.to_html(plots.distributions(p, lang), "mv-distributions"))
    parts += [h3(_l("columns_detail", lang)), _columns_table(p, lang)]
    return _wrap(parts)


def _basis(key: str, d: Any, lang: str) -> str:
    """What a dimension's score was computed from, so that the table's arithmetic holds:
    completeness averages its cells and its records; timeliness is the newest record's age."""
    if d.score is None:
        return "–"
    if key == "timeliness":
        return _l("basis_timeliness", lang, days=f"{d.detail.get('age_days', 0):,.0f}")
    if key == "completeness" and "record_completeness" in d.detail:
        return _l("basis_completeness", lang, passed=f"{d.evaluated - d.failed:,}", total=f"{d.evaluated:,}",
                  cells=f"{d.detail['element_completeness']:.1%}", records=f"{d.detail['record_completeness']:.1%}")  # fmt: skip
    return _l("basis_ratio", lang, passed=f"{d.evaluated - d.failed:,}", total=f"{d.evaluated:,}")


def _term(section: str, key: str, lang: str) -> str:
    """A catalogue word (a role, a kind of table or value) in ``lang``; the key itself where
    the catalogue has none (a kind a user's spec made up)."""
    return text(section, key, lang) if key in catalogue().get(section, {}) else key


#: The catalogue section that names the keys of each planner breakdown.
_BREAKDOWN_TERMS = {"specialty": "specialties", "modality": "modalities", "exchange": "exchanges"}


def _findings_table(p: Profile, lang: str) -> Markup:
    if not p.findings:
        return para(_l("no_findings", lang))
    rows = []
    for f in p.findings:
        sev = badge(text("severity", f.severity, lang), f"sev-{f.severity}")
        where = f.table if f.table != "*" else ""
        rows.append(
            (
                sev,
                f"{f.count:,}",
                f"{where}: {f.message(lang)}" if where else f.message(lang),
                f.fix(lang),
            )
        )
    return _table(
        [_l("severity", lang), _l("count", lang), _l("finding", lang), _l("fix", lang)],
        rows,
        numeric=(1,),
    )


def _ordinal(k: int, lang: str) -> str:
    if lang == "zh":
        return f"第 {k} "
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def _columns_table(p: Profile, lang: str) -> Markup:
    multi = len({c.table for c in p.columns}) > 1
    rows = []
    for c in p.columns:
        rng = "" if c.min is None else f"{_short(c.min)} – {_short(c.max)}"
        if rng and c.extremes_rank > 1:  # say that the ends are the k-th values, not extremes
            rng += " " + _l("kth_extremes", lang, k=_ordinal(c.extremes_rank, lang))
        top = ", ".join(f"{v} ({n:,})" for v, n in c.top_values[:6])
        rows.append(
            (
                f"{c.table}.{c.name}" if multi else c.name,
                _term("roles", c.role, lang),
                _term("kinds", c.dtype, lang),
                f"{c.null_fraction:.1%}",
                f"{c.n_unique:,}",
                rng,
                "" if c.mean is None else f"{c.mean:.4g}",
                top,
            )
        )
    head = [
        _l(k, lang)
        for k in ("column", "role", "type", "missing", "distinct", "range", "mean", "top_values")
    ]
    return table(head, rows, numeric=(3, 4, 6), compact=True)


def _short(v: Any) -> str:
    if isinstance(v, dt.datetime):
        return (
            v.date().isoformat()
            if v.time() == dt.time(0)
            else v.isoformat(sep=" ", timespec="minutes")
        )
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def methods(lang: str, threshold: int) -> Html:
    """How the numbers were computed, with sources."""
    return _wrap(
        [h2(_l("methods_section", lang)), para(_l("methods_text", lang, threshold=threshold))]
    )


def parameters(params: Mapping[str, Any], lang: str) -> Html:
    """The parameters this report was run with (paths shown by file name only)."""
    # Parameters left empty were not set and have no value to show.
    rows = [
        (k, Path(v).name if k.endswith("_path") else v)
        for k, v in params.items()
        if v is not None and v != ""
    ]
    return _wrap(
        [
            h2(_l("parameters_section", lang)),
            _table([_l("parameter", lang), _l("value", lang)], rows),
        ]
    )


def results(**named: Any) -> Results:
    """Bundle results for the report's JSON file: each is stored as its ``to_dict(lang)``."""
    lang = named.pop("lang", "en")
    payload: dict[str, Any] = {"medvalue_version": __version__}
    for key, value in named.items():
        if value is None or isinstance(value, str | int | float):
            payload[key] = value
        else:
            try:
                payload[key] = value.to_dict(lang=lang)
            except TypeError:
                payload[key] = value.to_dict()
    return Results(payload)


def _c(key: str, lang: str, **params: Any) -> str:
    return text("coverage_labels", key, lang, **params)


def coverage_section(cov: Coverage, lang: str) -> Html:
    """Codes, chapters, top conditions, cohorts, comorbidity pairs and people, with charts."""
    hidden = f"< {cov.small_cell}"

    def n(v: int | None) -> str:
        return hidden if v is None else f"{v:,}"

    summary = _table(
        [_c("patients_total", lang), ""],
        [
            (_c("patients_total", lang), n(cov.patients)),
            (_c("with_valid_code", lang), n(cov.patients_with_valid_code)),
        ],
        numeric=(1,),
    )
    status = _table(
        [_c("code_status", lang), _c("records", lang)],
        [(_c(f"status_{k}", lang), f"{v:,}") for k, v in cov.code_status.items() if v],
        numeric=(1,),
    )
    zh = lang == "zh"
    chapters = _table(
        ["", _c("name", lang), _l("patients", lang), _c("records", lang)],
        [
            (c.key, (c.title_zh if zh else c.title) or "", n(c.patients), n(c.records))
            for c in cov.chapters
            if c.patients != 0
        ],
        numeric=(2, 3),
    )
    top = _table(
        [_c("code", lang), _c("name", lang), _l("patients", lang)],
        [(c.key, c.condition(lang), n(c.patients)) for c in cov.top_conditions],
        numeric=(2,),
    )
    lists = _table(
        [_c("name", lang), _l("patients", lang)],
        [
            ((c.title_zh if zh else c.title) or c.key, n(c.patients))
            for c in cov.code_lists
            if c.patients != 0
        ],
        numeric=(1,),
    )
    pairs = _table(
        [_c("pair", lang), _l("patients", lang)],
        [(f"{a} + {b}", n(p)) for a, b, p in cov.comorbidity_pairs],
        numeric=(1,),
    )
    d = cov.demographics
    people = _table(
        [_c("sex", lang), _l("patients", lang)],
        [
            (
                _c("female" if c.key == "F" else "male", lang) if c.key in "FM" else "?",
                n(c.patients),
            )
            for c in d.sex
            if c.patients != 0
        ],
        numeric=(1,),
    ) + _table(
        [_c("age_broad", lang), _l("patients", lang)],
        [(c.key, n(c.patients)) for c in d.age_bands_broad],
        numeric=(1,),
    )
    if d.regions:
        people += _table(
            [_c("regions", lang), _l("patients", lang)],
            [(c.key, n(c.patients)) for c in d.regions],
            numeric=(1,),
        )
    if d.years:
        people += _table([_c("year", lang), _l("patients", lang), _c("records", lang)],
                         [(c.key, n(c.patients), n(c.records)) for c in d.years], numeric=(1, 2))  # fmt: skip
    if not cov.has_codes:  # a trial or registry: its people and outcomes are its coverage
        parts = [
            h2(_l('coverage_section', lang)),
            para(_c("no_codes", lang), "notbuilt"),
            _table([_c("patients_total", lang), ""], [(_c("patients_total", lang), n(cov.patients))],
                   numeric=(1,)),
        ]  # fmt: skip
        if cov.specialty:
            parts.append(para(f"{_c('specialty', lang)}: {cov.specialty}"))
        parts += [h3(_c("demographics", lang)), people]
        for label, counts in cov.outcomes.items():
            parts += [
                h3(f"{_c('outcome', lang)}: {label}"),
                _table([_c("value", lang), _l("patients", lang), _c("records", lang)],
                       [(c.key, n(c.patients), n(c.records)) for c in counts], numeric=(1, 2)),
            ]  # fmt: skip
        if d.pyramid:
            parts.append(plots.to_html(plots.age_sex_pyramid(cov, lang), "mv-coverage-pyramid"))
        return _wrap(parts)
    parts = [
        h2(_l('coverage_section', lang)), summary, status,
        h3(_c('chapters', lang)), chapters,
        plots.to_html(plots.coverage_sunburst(cov, lang), "mv-coverage-sunburst"),
        h3(_c('top_conditions', lang)), top,
        h3(_c('code_lists', lang)), lists,
        h3(_c('pairs', lang)), pairs,
        h3(_c('demographics', lang)), people,
    ]  # fmt: skip
    if len(cov.vocabularies) > 1:  # a mix of vocabularies: say how many rows and people each
        parts += [
            h3(_c('vocabularies', lang)),
            _table([_c("vocabulary", lang), _l("patients", lang), _c("records", lang)],
                   [(c.key, n(c.patients), n(c.records)) for c in cov.vocabularies], numeric=(1, 2)),
        ]  # fmt: skip
    if cov.concepts:
        parts += [
            h3(_c('concepts', lang)),
            _table([_c("code", lang), _c("name", lang), _c("vocabulary", lang), _l("patients", lang),
                    _c("records", lang)],
                   [(c.code, c.name or "", c.vocabulary or "", n(c.patients), n(c.records)) for c in cov.concepts],
                   numeric=(3, 4)),
        ]  # fmt: skip
    if d.pyramid:
        parts.append(plots.to_html(plots.age_sex_pyramid(cov, lang), "mv-coverage-pyramid"))
    if cov.reference is not None:
        parts.append(para(_c("reference", lang, tvd=f"{cov.reference.tvd:.3f}")))
    return _wrap(parts)


def _p(key: str, lang: str, **params: Any) -> str:
    return text("privacy_labels", key, lang, **params)


def privacy_section(a: PrivacyAssessment, lang: str) -> Html:
    """Verdict and reasons, direct identifiers (kinds and counts only), risk per table,
    diversity of the sensitive attribute, and the recommended generalisations."""
    colour = {"anonymised": "#2f855a", "de_identified": "#b7791f", "identifiable": "#c53030"}[
        a.verdict
    ]
    parts = [
        h2(_l("privacy_section", lang)),
        verdict(_p("verdict", lang), text("verdicts", a.verdict, lang), colour),
        h3(_p("reasons", lang)),
        bullets(
            [r.text(lang) for r in a.reasons],
            bold=[i for i, r in enumerate(a.reasons) if r.blocking],
        ),
        h3(_p("direct_identifiers", lang)),
    ]
    if a.direct_identifiers:
        multi = len({f.table for f in a.direct_identifiers}) > 1
        parts.append(
            _table(
                [_p(h, lang) for h in ("column", "kind", "rows", "evidence")],
                [
                    (
                        f"{f.table}.{f.column}" if multi else f.column,
                        _p(f"kind_{f.kind}", lang),
                        f"{f.count:,}",
                        _p(f"evidence_{f.evidence}", lang),
                    )
                    for f in a.direct_identifiers
                ],
                numeric=(2,),
            )
        )
    else:
        parts.append(para(_p("none_found", lang)))
    if a.tables:
        parts.append(h3(_p("quasi_identifiers", lang)))
        parts.append(para(", ".join(q.name for q in a.quasi_identifiers)))
        head = [
            _p(h, lang)
            for h in (
                "table",
                "k",
                "people",
                "classes",
                "prosecutor_max",
                "prosecutor_avg",
                "marketer",
            )
        ]
        head += [_p("below", lang, b=b) for b in (2, 5, 11)]
        if a.population:
            head.append(_p("journalist_max", lang))
        rows = []
        for t in a.tables:
            s = t.summary
            row = [t.table, s.k, f"{s.records:,}", f"{s.classes:,}", f"{s.risk.prosecutor_max:.1%}",
                   f"{s.risk.prosecutor_avg:.1%}", f"{s.risk.marketer:.1%}",
                   *[f"{s.share_below(b):.1%}" for b in (2, 5, 11)]]  # fmt: skip
            if a.population:
                jm = s.risk.journalist_max
                row.append("–" if jm is None else f"{jm:.1%}")
            rows.append(row)
        parts.append(_table(head, rows, numeric=tuple(range(1, len(head)))))
        parts.append(plots.to_html(plots.class_sizes(a, lang), "mv-privacy-classes"))
        for t in a.tables:
            if t.diversity is not None:
                d = t.diversity
                parts.append(
                    para(
                        _p(
                            "diversity",
                            lang,
                            name=d.sensitive,
                            l=d.l_distinct,
                            le=f"{d.l_entropy:.2f}",
                            alpha=f"{d.alpha:.2f}",
                            t=f"{d.t_closeness:.3f}",
                        )
                    )
                )
    if a.plan is not None and a.plan.steps:
        parts.append(h3(_p("recommendations", lang, k=a.target_k)))
        parts.append(
            _table(
                [
                    _p(h, lang)
                    for h in ("step", "column", "generalise_to", "k_after", "below_target", "loss")
                ],
                [
                    (
                        i,
                        s.column,
                        text("generalisation_levels", s.level, lang),
                        s.k,
                        f"{s.share_below:.1%}",
                        f"{s.information_loss:.0%}",
                    )
                    for i, s in enumerate(a.plan.steps, 1)
                ],
                numeric=(0, 3, 4, 5),
            )
        )
        parts.append(para(a.plan_sentence(lang)))
        parts.append(plots.to_html(plots.generalisation_steps(a, lang), "mv-privacy-steps"))
    return _wrap(parts)


def _rd(key: str, lang: str, **params: Any) -> str:
    return text("readiness_labels", key, lang, **params)


def readiness_section(r: Readiness, lang: str) -> Html:
    """Score and components in plain words, label balance, sample size needed versus
    available, the baseline, the learning curve with its extrapolation, calibration,
    leakage and the predictors."""
    parts = [h2(_l("readiness_section", lang))]
    if r.label is None:
        why = _rd("not_assessed", lang, problem=r.problem) if r.problem else _rd("no_label", lang)
        parts.append(para(why, "notbuilt"))
        return _wrap(parts)
    parts.append(h3(f"{_rd('score', lang)}: {r.score:.0f} / 100"))
    parts.append(
        _table(
            [_rd(h, lang) for h in ("component", "value", "weight", "meaning")],
            [
                (_rd(f"comp_{k}", lang), f"{v:.0f}", f"{WEIGHTS[k]:.0%}", r.explain(k, lang))
                for k, v in r.components.items()
            ],
            numeric=(1, 2),
        )
    )
    lab = r.label
    parts.append(
        runs(
            (f"{_rd('label', lang)}: ", False),
            (lab.column, True),
            (f" ({_rd('outcome_' + lab.outcome, lang)})", False),
        )
    )
    if lab.classes:
        parts.append(plots.to_html(plots.class_balance(r, lang), "mv-readiness-balance"))
    if r.sample_size is not None:
        parts.append(h3(_rd("sample_size", lang)))
        parts.append(plots.to_html(plots.sample_size_needed(r, lang), "mv-readiness-samplesize"))
        parts.append(
            para(
                _rd(
                    "supports",
                    lang,
                    available=f"{r.available_n:,}",
                    supported=r.supported_parameters,
                    parameters=r.parameters,
                )
            )
        )
    if r.baseline is not None:
        parts += [h3(_rd("baseline", lang)), para(r.baseline_sentence(lang))]
        if r.learning_curve:
            parts.append(plots.to_html(plots.learning_curve(r, lang), "mv-readiness-curve"))
        if r.extrapolation is not None:
            metric = _rd(f"metric_{r.baseline.metric}", lang)
            parts.append(bullets(
                _rd("at_more_data", lang, m=f"{m:g}", n=f"{n:,}", metric=metric, mid=f"{mid:.3f}",
                    low=f"{lo:.3f}", high=f"{hi:.3f}")
                for m, n, lo, mid, hi in r.extrapolation.at
            ))  # fmt: skip
        if r.baseline.calibration_bins:
            parts.append(plots.to_html(plots.calibration_plot(r, lang), "mv-readiness-calibration"))
    parts.append(h3(_rd("leakage", lang)))
    leaks = r.leak_sentences(lang)
    parts.append(bullets(leaks) if leaks else para(_rd("no_leakage", lang)))
    parts.append(h3(_rd("predictors", lang)))
    parts.append(
        _table(
            [_rd(h, lang) for h in ("column", "kind", "parameters", "completeness", "used")],
            [
                (
                    p.column,
                    _rd(f"kind_{p.kind}", lang),
                    p.parameters,
                    f"{p.completeness:.0%}",
                    _rd("used", lang)
                    if p.used
                    else _rd("excluded", lang, reason=_rd(f"reason_{p.reason}", lang)),
                )
                for p in r.predictors
            ],
            numeric=(2, 3),
        )
    )
    for note in r.note_sentences(lang):
        parts.append(para(note, "sub"))
    return _wrap(parts)


def _pl(key: str, lang: str, **params: Any) -> str:
    return text("pricing_labels", key, lang, **params)


def pricing_section(v: Valuation, lang: str) -> Html:
    """The band in one paragraph, the football field, each approach, the comparables with
    every correction factor, the tornado, and what to read before quoting."""
    low, mid, high = v.band
    parts = [
        h2(_l("pricing_section", lang)),
        runs(
            (f"{low:,.0f} – {high:,.0f} {v.currency}", True),
            (f" ({_pl('mid', lang)} {mid:,.0f})", False),
            cls="lead",
        ),
        para(v.paragraph(lang)),
        plots.to_html(plots.football_field(v, lang), "mv-pricing-football"),
    ]
    rows = []
    for key, est in v.methods.items():
        if est.available:
            rows.append(
                (
                    _pl(f"method_{key}", lang)
                    + (" " + _pl("default_tag", lang) if key in v.default_approaches else ""),
                    f"{est.low:,.0f}",
                    f"{est.mid:,.0f}",
                    f"{est.high:,.0f}",
                    f"{v.weights[key]:.0%}",
                )
            )
        else:
            rows.append(
                (
                    _pl(f"method_{key}", lang),
                    "–",
                    _pl("not_available", lang, reason=est.reason_text(lang)),
                    "–",
                    "0%",
                )
            )
    parts.append(
        _table(
            [_pl(h, lang) for h in ("approach", "low", "mid", "high", "weight")],
            rows,
            numeric=(1, 2, 3, 4),
        )
    )
    parts.append(h3(_pl("comparables", lang)))
    parts += _comparables_table(v, lang)
    parts.append(plots.to_html(plots.tornado(v, lang), "mv-pricing-tornado"))
    parts.append(h3(_pl("warnings", lang)))
    items = v.warning_texts(lang)
    parts.append(bullets(items))
    return _wrap(parts)


def _tg(key: str, lang: str, **params: Any) -> str:
    return text("targets_labels", key, lang, **params)


def targets_page_start(title: str, lang: str, as_of: Any) -> Html:
    """Styles, plotly.js and the title block of the planner's report (no dataset)."""
    check_lang(lang)
    sub = _l("generated", lang, version=__version__, as_of=str(as_of))
    return Html(page_top(_style(), plots.plotly_js(), f"{_tg('title', lang)} · {title}", sub))


def targets_section(t: TargetProgress, lang: str) -> Html:
    """Progress per region and metric, the burn-up charts, ranking, funnel, monthly
    transactions, breakdowns, laggards and registry problems."""
    value, sentence = t.headline(lang)
    parts = [
        h2(_tg("progress", lang)),
        runs((value, True), (f" · {sentence}", False), cls="lead"),
    ]
    rows = []
    for p in t.regions:
        low, mid, high = p.forecast
        fmt = lambda x: f"{x:,.0f}"  # noqa: E731
        rows.append((p.region, _tg(f"metric_{p.metric}", lang), fmt(p.target), fmt(p.actual), fmt(p.expected_to_date),
                     f"{p.gap:+,.0f}", "–" if p.pace_needed is None else f"{p.pace_needed:,.1f}",
                     f"{fmt(mid)} ({fmt(low)}–{fmt(high)})", f"{p.p_meet:.0%}"))  # fmt: skip
    head = [
        _tg(k, lang)
        for k in (
            "region",
            "metric",
            "target",
            "actual",
            "expected",
            "gap",
            "pace",
            "forecast",
            "p_meet",
        )
    ]
    parts.append(_table(head, rows, numeric=(2, 3, 4, 5, 6, 7, 8)))
    parts.append(plots.to_html(plots.target_ranking(t, lang), "mv-targets-ranking"))
    if t.burnup:
        parts.append(plots.to_html(plots.burnup_grid(t, lang), "mv-targets-burnup"))
    parts.append(plots.to_html(plots.target_funnel(t, lang), "mv-targets-funnel"))
    if t.monthly:
        parts.append(plots.to_html(plots.monthly_transactions(t, lang), "mv-targets-monthly"))
    parts.append(h3(_tg("laggards", lang)))
    lag = t.laggards
    parts.append(
        bullets(f"{p.region} · {_tg('metric_' + p.metric, lang)}: {p.p_meet:.0%}" for p in lag)
        if lag else para(_tg('no_laggards', lang))
    )  # fmt: skip
    for by, rows_by in t.breakdowns.items():
        parts.append(h3(_tg("breakdown", lang, by=_tg("by_" + by, lang))))
        parts.append(_table(["", _tg("listed", lang), _tg("traded", lang), _tg("value", lang)],
                            [(_term(_BREAKDOWN_TERMS.get(by, ""), k, lang), a, b, f"{v:,.0f}") for k, a, b, v in rows_by[:15]],
                            numeric=(1, 2, 3)))  # fmt: skip
    parts.append(h3(_tg("findings", lang)))
    parts.append(
        bullets(f.text(lang) for f in t.findings)
        if t.findings else para(_tg('no_findings', lang))
    )  # fmt: skip
    parts.append(para(_tg("method", lang), "sub"))
    return _wrap(parts)


def _po(key: str, lang: str, **params: Any) -> str:
    return text("pool_labels", key, lang, **params)


def pool_page_start(p: Pool, lang: str, as_of: Any) -> Html:
    """Styles, plotly.js and the title block of a pooled product's report."""
    check_lang(lang)
    sub = _l("generated", lang, version=__version__, as_of=str(as_of or dt.date.today()))
    return Html(page_top(_style(), plots.plotly_js(), _po("page_title", lang, name=p.name), sub))


def _count(v: int | None, threshold: int) -> str:
    return f"<{threshold}" if v is None else f"{v:,}"


def _key_text(key: tuple[str, ...], lang: str) -> str:
    if key == ("pseudonym",):
        return _po("key_pseudonym", lang)
    for name, fields in KEYS.items():
        if key == fields:
            return _po(f"key_{name}", lang)
    return _po("key_other", lang, fields=" + ".join(key))


def pool_section(p: Pool, lang: str) -> Html:
    """Sites and their overlap, linkage checks, pooling and k, each site's Shapley values
    and the revenue split; the union's own sections follow in the report."""
    t = p.small_cell
    value, sentence = p.headline(lang)
    parts: list[Any] = [
        h2(_po("title", lang)),
        runs((value, True), (f" · {sentence}", False), cls="lead"),
    ]
    parts.append(h3(_po("sites", lang)))
    head = [_po(k, lang) for k in ("site", "rows", "people", "unique_people", "categories",
                                   "unique_categories", "k_alone", "unique_alone")]  # fmt: skip
    rows: list[Any] = [(s.name, f"{s.rows:,}", _count(s.people, t), _count(s.unique_people, t), s.categories,
             s.unique_categories, "–" if s.k_alone is None else s.k_alone,
             "–" if s.unique_share_alone is None else f"{s.unique_share_alone:.0%}")
            for s in p.sites]  # fmt: skip
    parts.append(_table(head, rows, numeric=(1, 2, 3, 4, 5, 6, 7)))
    parts.append(h3(_po("linkage", lang)))
    parts.append(para(_po("linkage_sentence", lang, linkage=_key_text(p.key, lang),
                          several=_count(p.people_in_several, t))))  # fmt: skip
    parts.append(plots.to_html(plots.pool_overlap(p, lang), "mv-pool-overlap"))
    parts.append(para(_po("overlap_note", lang, threshold=t), "sub"))
    checks = [
        (s.name, _count(suppress(s.checks.people, t), t), _count(suppress(s.checks.without_key, t), t),
         "–" if s.checks.invalid_resident_id is None else _count(suppress(s.checks.invalid_resident_id, t), t))
        for s in p.sites
    ]  # fmt: skip
    parts.append(_table([_po("site", lang), _po("people", lang), _po("without_key", lang),
                         _po("invalid_id", lang)], checks, numeric=(1, 2, 3)))  # fmt: skip
    parts.append(para(_po("conflicts", lang, n=_count(p.conflicts, t))))
    parts.append(para(_po("typo_note", lang), "sub"))
    if p.quasi_identifiers:
        parts.append(h3(_po("privacy", lang)))
        unique = "–" if p.unique_share_pooled is None else f"{p.unique_share_pooled:.0%}"
        parts.append(para(_po("privacy_sentence", lang, qis=", ".join(p.quasi_identifiers),
                              k=p.k_pooled, unique=unique)))  # fmt: skip
        if p.k_pooled_generalised is not None:
            levels = ", ".join(
                f"{q} {text('generalisation_levels', lv, lang)}"
                for q, lv in p.generalisation.items()
            )
            alone = ", ".join(f"{s.name} {s.k_alone_generalised}" for s in p.sites)
            parts.append(para(_po("privacy_generalised", lang, levels=levels, k=p.k_pooled_generalised,
                                  alone=alone)))  # fmt: skip
    parts.append(h3(_po("contributions", lang)))
    games = list(p.shapley)
    head = [_po("site", lang), *[_po(f"game_{g}", lang) for g in games]]
    rows = []
    for i, site in enumerate(p.sites):
        cells: list[Any] = [site.name]
        for g in games:
            share = p.split.by_game[g][i]
            sv = p.shapley[g]
            cell = f"{share:.0%}"
            if g != "people":
                cell += f" ({sv.values[i]:+.3f})" if g == "model" else f" ({sv.values[i]:.1f})"
            if sv.standard_errors is not None and g != "people":
                cell += f" ± {sv.standard_errors[i]:.3f}"
            cells.append(cell)
        rows.append(cells)
    parts.append(_table(head, rows, numeric=tuple(range(1, len(head)))))
    methods = {sv.method: sv for sv in p.shapley.values()}
    notes = [_po(f"method_{m}", lang, coalitions=sv.coalitions, permutations=sv.permutations)
             for m, sv in methods.items()]  # fmt: skip
    metric = {"auc": "AUC", "c_index": "C-index", "r2": "R²"}.get(p.model_metric or "", "AUC")
    parts.append(
        para(_po("contributions_note", lang, metric=metric) + " " + " ".join(notes), "sub")
    )
    parts.append(h3(_po("split", lang)))
    split = p.split
    currency = split.currency or ""
    head = [
        _po("site", lang),
        _po("recommended", lang),
        _po("by_rows", lang),
        _po("by_people", lang),
    ]
    if split.band is not None:
        head += [_po("amount", lang, currency=currency), _po("amount_range", lang)]
    rows = []
    for i, name in enumerate(split.sites):
        row: list[Any] = [
            name,
            f"{split.recommended[i]:.1%}",
            f"{split.by_rows[i]:.1%}",
            f"{split.by_people[i]:.1%}",
        ]
        if split.band is not None:
            low, mid, high = (b * split.recommended[i] for b in split.band)
            row += [short_money(mid, lang), f"{short_money(low, lang)}–{short_money(high, lang)}"]
        rows.append(row)
    parts.append(_table(head, rows, numeric=tuple(range(1, len(head)))))
    parts.append(plots.to_html(plots.pool_split(p, lang), "mv-pool-split"))
    weights = ", ".join(f"{_po('weight_' + g, lang)} {w:.0%}" for g, w in split.weights.items())
    parts.append(para(_po("split_note", lang, weights=weights), "sub"))
    if split.band is None:
        parts.append(para(_po("no_price", lang)))
    parts.append(para(_po("method", lang), "sub"))
    return _wrap(parts)


def hedonic_tutorial(v: Valuation, lang: str) -> Html:
    """The hedonic regression fitted on the synthetic registry, next to the model that drew it."""

    model = SYNTHETIC_PRICE_MODEL
    est = v.methods["hedonic"]
    parts = [
        h3(_pl("tutorial", lang)),
        para(_pl("tutorial_note", lang), "notbuilt"),
    ]
    if not est.available:
        parts.append(para(_pl("not_available", lang, reason=est.reason_text(lang))))
    return _wrap(parts)
    true = {"intercept": model["intercept"], "log_cases": model["log_cases"], "country_cn": model["country_cn"],
            "report": model["deal_analysis_report"], "equity_or_acquisition": model["deal_equity_or_acquisition"],
            "exclusive": model["exclusive"]}  # fmt: skip
    coefs = est.detail["coefficients"]
    parts.append(_table([_pl("coefficient", lang), _pl("estimated", lang), _pl("true_value", lang)],
                        [(k, f"{c:.3f}", f"{true.get(k, float('nan')):.3f}") for k, c in coefs.items()],
                        numeric=(1, 2)))  # fmt: skip
    parts.append(
        para(
            _pl(
                "fit",
                lang,
                n=est.detail["rows"],
                r2=est.detail["r2"],
                sd=est.detail["residual_sd"],
                true_sd=model["sigma"],
                influential=", ".join(est.detail["influential"]) or "-",
                low=f"{est.low:,.0f}",
                high=f"{est.high:,.0f}",
                currency=v.currency,
            )
        )
    )
    if "loo_median_factor" in est.detail:
        parts.append(para(_pl("loo", lang, factor=f"{est.detail['loo_median_factor']:.2f}")))
    return _wrap(parts)


def _rf(key: str, lang: str, **params: Any) -> str:
    return text("refine_labels", key, lang, **params)


def refine_section(r: Refined, lang: str) -> Html:
    """Before and after, the refinement log with its chart, the data dictionary and the
    datacard as the exchange will read it."""
    card = r.datacard[lang]
    d = card["deidentification"]
    k_before = "–" if r.before.k_anonymity is None else r.before.k_anonymity
    counts = _rf("counts", lang, fixes=f"{r.fixes:,}", protected=f"{r.protected_values:,}",
                 seconds=f"{r.seconds.get('total', 0):.1f}")  # fmt: skip
    parts = [
        h2(_rf("section", lang)),
        runs(
            (_rf("before_after", lang), True),
            (f": k {k_before} → {d['k_anonymity']}; {d['verdict_before']} → ", False),
            (d["verdict"], True),
            (f"; {counts}", False),
        ),
        plots.to_html(plots.refine_changes(r, lang), "mv-refine-changes"),
        h3(_rf("log", lang)),
        _table(
            [_rf(f"col_{h}", lang) for h in ("step", "table", "column", "rows", "values")],
            [
                (
                    text("refine_steps", c.step, lang),
                    c.table,
                    c.column or "–",
                    f"{c.rows:,}",
                    f"{c.values:,}",
                )
                for c in r.changes
            ],
            numeric=(3, 4),
        ),
    ]
    rows = r.dictionary_rows()
    parts += [h3(_rf("dictionary", lang)), _table(rows[0], rows[1:], numeric=(6,))]
    block = datacard_markdown(r.datacard).split("\n---\n")[0 if lang == "zh" else 1]
    parts += [
        h3(_rf("datacard_heading", lang)),
        boxed(markdown_outline(block)),
        para(f"{_rf('files', lang)}: {', '.join(r.files)}"),
    ]
    return _wrap(parts)


def assessment_section(a: Assessment, lang: str) -> Html:
    """A whole assessment as the valuation report shows it: the executive summary, then one
    section per analysis and the price band."""
    parts = [
        executive_summary(lang, profile=a.profile, coverage=a.coverage, readiness=a.readiness,
                          privacy=a.privacy, valuation=a.valuation),
        profile_section(a.profile, lang),
        coverage_section(a.coverage, lang),
        readiness_section(a.readiness, lang),
        privacy_section(a.privacy, lang),
    ]  # fmt: skip
    if a.valuation is not None:
        parts.append(pricing_section(a.valuation, lang))
    return Html(Markup("").join(Markup(p.body) for p in parts))


_FACTORS = ("tech", "density", "date", "volume", "other")


def _comparables_table(v: Valuation, lang: str) -> list[Markup]:
    """The commercial trades (used first, then anchors, then the rest), each with its seller,
    date, venue, price in the report's unit, similarity and correction factors; the other
    layers are counted in the note below the band, not listed."""
    shown = [c for c in v.comparables if c.about.get("layer", "commercial") == "commercial"]
    shown.sort(key=lambda c: (0 if c.used else 1 if c.reason == "anchor" else 2, -c.similarity))
    rows = []
    for c in shown:
        f = c.factors
        status = (
            _pl("used_yes", lang) if c.used
            else _pl("anchor", lang) if c.reason == "anchor"
            else _pl("used_no", lang, reason=_pl(c.reason or "excl_dissimilar", lang))
        )  # fmt: skip
        rows.append((
            link(c.seller(lang), c.about.get("source_url")), c.about.get("date") or "–",
            c.venue(lang) or "–",
            "–" if c.price is None else short_money(c.price, lang),
            f"{c.similarity:.2f}", *(f"{f[k]:.2f}" if k in f else "–" for k in _FACTORS),
            "–" if c.value is None else short_money(c.value, lang), status,
        ))  # fmt: skip
    money = f"{_pl('price', lang)} ({v.currency})"
    head = [
        _pl("col_seller", lang),
        _pl("col_date", lang),
        _pl("col_venue", lang),
        money,
        _pl("similarity", lang),
    ]
    head += [_pl(f"k_{k}", lang) for k in _FACTORS]
    head += [f"{_pl('adjusted', lang)} ({v.currency})", _pl("used", lang)]
    market = v.methods["market"].detail if v.methods.get("market") else {}
    explain = [_pl(f"explain_{k}", lang) for k in _FACTORS]
    if market.get("layers"):
        explain.insert(0, _pl("explain_layers", lang))
    return [table(head, rows, numeric=tuple(range(3, 11)), compact=True), bullets(explain)]
