"""Plain-text summaries for the console, in Chinese or English (rich renderables)."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table

from medvalue.analyses._coverage import Coverage
from medvalue.analyses._privacy import PrivacyAssessment
from medvalue.analyses._profile import Profile
from medvalue.analyses._quality import display_score
from medvalue.analyses._readiness import WEIGHTS, Readiness
from medvalue.analyses._targets import TargetProgress
from medvalue.core._i18n import catalogue, text
from medvalue.product._refine import Refined
from medvalue.value._pool import Pool
from medvalue.value._pricing import Valuation


def _console(lang: str) -> dict[str, str]:
    """The console's labels in ``lang``, from the one catalogue (messages.yaml)."""
    return {key: text("console", key, lang) for key in catalogue()["console"]}


def profile_summary(p: Profile, lang: str = "en") -> Group:
    """Size, quality by dimension and findings, as the console shows them."""
    lab = _console(lang)
    s = p.size
    span = f"{s.first_date} .. {s.last_date}" if s.first_date else "-"
    head = (
        f"[bold]{p.dataset}[/bold]  {lab['size']}: {s.rows:,} {lab['rows']}, {s.columns} "
        f"{lab['columns']}, {s.patients if s.patients is not None else '-'} {lab['patients']}, "
        f"{s.encounters if s.encounters is not None else '-'} {lab['encounters']}; {lab['span']} {span}"
    )
    q = p.quality
    grade = text("grades", q.grade, lang)
    dims = Table(
        title=f"{lab['quality']}: {display_score(q.score)} / 100 ({grade})", title_justify="left"
    )
    for h in ("dimension", "score", "evaluated", "failed"):
        dims.add_column(lab[h], justify="left" if h == "dimension" else "right")
    for key, d in q.dimensions.items():
        score = "-" if d.score is None else f"{display_score(d.score):.1f}"
        dims.add_row(text("dimensions", key, lang), score, f"{d.evaluated:,}", f"{d.failed:,}")
    findings = Table(title=f"{lab['findings']} ({len(p.findings)})", title_justify="left")
    for h in ("severity", "count", "message", "fix"):
        findings.add_column(lab[h], overflow="fold")
    for f in p.findings:
        findings.add_row(
            text("severity", f.severity, lang),
            f"{f.count:,}",
            f"{f.table}: {f.message(lang)}",
            f.fix(lang),
        )
    if not p.findings:
        return Group(head, dims, lab["none"])
    return Group(head, dims, findings)


def coverage_summary(c: Coverage, lang: str = "en") -> Group:
    """Patients, code status, chapters and code-list cohorts, as the console shows them."""
    zh = lang == "zh"
    lab = _console(lang)
    if not c.has_codes:
        return _people_summary(c, lang)
    status = ", ".join(f"{k} {v:,}" for k, v in c.code_status.items() if v)
    head = (
        f"[bold]{c.dataset}[/bold]  {lab['patients']}: {c.patients if c.patients is not None else '-'}; "
        f"{lab['with_valid_code']}: {_n(c.patients_with_valid_code)}; "
        f"{lab['codes']}: {status}"
    )
    chapters = Table(title="ICD-10 " + lab["chapters"], title_justify="left")
    for h in ("chapter", "title", "patients", "records"):
        chapters.add_column(h, justify="right" if h in ("patients", "records") else "left")
    for ch in c.chapters:
        if ch.patients != 0:
            chapters.add_row(
                ch.key, (ch.title_zh if zh else ch.title) or "", _n(ch.patients), _n(ch.records)
            )
    cohorts = Table(title=lab["code_lists"], title_justify="left")
    cohorts.add_column("name")
    cohorts.add_column("patients", justify="right")
    for cl in c.code_lists:
        cohorts.add_row((cl.title_zh if zh else cl.title) or cl.key, _n(cl.patients))
    if not c.concepts:
        return Group(head, chapters, cohorts)
    concepts = Table(title=text("coverage_labels", "concepts", lang), title_justify="left")
    for h in ("code", "name", "vocabulary", "patients", "records"):
        concepts.add_column(h, justify="right" if h in ("patients", "records") else "left")
    for cc in c.concepts[:20]:
        concepts.add_row(
            cc.code, cc.name or "", cc.vocabulary or "", _n(cc.patients), _n(cc.records)
        )
    if not any(ch.patients for ch in c.chapters):  # no ICD-10: the concepts are the coverage
        return Group(head, concepts)
    return Group(head, chapters, cohorts, concepts)


def _people_summary(c: Coverage, lang: str) -> Group:
    """Coverage of a dataset without diagnosis codes: who is in it, and its outcomes."""
    parts: list[Any] = [f"[bold]{c.dataset}[/bold]  {c.headline(lang)[1]}"]
    if c.specialty:
        parts.append(f"{text('coverage_labels', 'specialty', lang)}: {c.specialty}")
    people = Table(title=text("coverage_labels", "people", lang), title_justify="left")
    for h in ("", "", "patients"):
        people.add_column(h, justify="right" if h == "patients" else "left")
    for row in c.demographics.sex:
        people.add_row(text("coverage_labels", "sex", lang), row.key, _n(row.patients))
    for row in c.demographics.age_bands_broad:
        people.add_row(text("coverage_labels", "age", lang), row.key, _n(row.patients))
    parts.append(people)
    for label, counts in c.outcomes.items():
        table = Table(
            title=f"{text('coverage_labels', 'outcome', lang)}: {label}", title_justify="left"
        )
        for h in ("value", "patients", "records"):
            table.add_column(h, justify="left" if h == "value" else "right")
        for row in counts:
            table.add_row(row.key, _n(row.patients), _n(row.records))
        parts.append(table)
    return Group(*parts)


def _n(value: int | None) -> str:
    return "<5" if value is None else f"{value:,}"


def privacy_summary(a: PrivacyAssessment, lang: str = "en") -> Group:
    """Verdict with reasons, direct identifiers, risk per table and the recommendations."""

    def lab(key: str, **params: object) -> str:
        return text("privacy_labels", key, lang, **params)

    verdict = text("verdicts", a.verdict, lang)
    head = f"[bold]{a.dataset}[/bold]  {lab('verdict')}: [bold]{verdict}[/bold]"
    reasons = "\n".join(f"- {r.text(lang)}" for r in a.reasons)
    ids = Table(title=lab("direct_identifiers"), title_justify="left")
    for h in ("table", "column", "kind", "rows", "evidence"):
        ids.add_column(lab(h), justify="right" if h == "rows" else "left")
    for f in a.direct_identifiers:
        ids.add_row(
            f.table, f.column, lab(f"kind_{f.kind}"), f"{f.count:,}", lab(f"evidence_{f.evidence}")
        )
    risk = Table(title=lab("quasi_identifiers"), title_justify="left")
    for h in ("table", "k", "people", "classes", "prosecutor_max", "prosecutor_avg"):
        risk.add_column(lab(h), justify="left" if h == "table" else "right")
    risk.add_column(lab("below", b=a.target_k), justify="right")
    for t in a.tables:
        s = t.summary
        risk.add_row(
            t.table, str(s.k), f"{s.records:,}", f"{s.classes:,}",
            f"{s.risk.prosecutor_max:.1%}", f"{s.risk.prosecutor_avg:.1%}",
            f"{s.risk.prosecutor_at_risk:.1%}",
        )  # fmt: skip
    parts: list[Any] = [head, reasons, ids if a.direct_identifiers else lab("none_found"), risk]
    for t in a.tables:
        if t.diversity is not None:
            d = t.diversity
            parts.append(
                lab("diversity", name=d.sensitive, l=d.l_distinct, le=f"{d.l_entropy:.2f}",
                    alpha=f"{d.alpha:.2f}", t=f"{d.t_closeness:.3f}")
            )  # fmt: skip
    if a.plan is not None and a.plan.steps:
        steps = Table(title=lab("recommendations", k=a.target_k), title_justify="left")
        for h in ("step", "column", "generalise_to", "k_after", "below_target", "loss"):
            steps.add_column(
                lab(h), justify="right" if h in ("k_after", "below_target", "loss") else "left"
            )
        for i, step in enumerate(a.plan.steps, 1):
            steps.add_row(
                str(i), step.column, text("generalisation_levels", step.level, lang), str(step.k),
                f"{step.share_below:.1%}", f"{step.information_loss:.0%}",
            )  # fmt: skip
        parts.append(steps)
        parts.append(a.plan_sentence(lang))
    return Group(*parts)


def readiness_summary(r: Readiness, lang: str = "en") -> Group:
    """Score with its components, label, sample size, baseline, learning curve, leakage."""

    def lab(key: str, **params: object) -> str:
        return text("readiness_labels", key, lang, **params)

    if r.label is None:
        why = lab("not_assessed", problem=r.problem) if r.problem else lab("no_label")
        return Group(f"[bold]{r.dataset}[/bold]  {why}")
    head = f"[bold]{r.dataset}[/bold]  {lab('score')}: [bold]{r.score:.0f} / 100[/bold]"
    comps = Table(title=lab("score"), title_justify="left")
    for h in ("component", "value", "weight", "meaning"):
        comps.add_column(lab(h), overflow="fold")
    for key, value in r.components.items():
        comps.add_row(
            lab(f"comp_{key}"), f"{value:.0f}", f"{WEIGHTS[key]:.0%}", r.explain(key, lang)
        )
    lines: list[Any] = [head, comps]
    lines.append(
        f"{lab('label')}: {r.label.column} ({lab('outcome_' + r.label.outcome)}); "
        + ", ".join(
            f"{v}: {'<' + str(r.small_cell) if n is None else f'{n:,}'}" for v, n in r.label.classes
        )
    )
    if r.sample_size is not None:
        crit = Table(title=lab("sample_size"), title_justify="left")
        crit.add_column(lab("criterion"))
        crit.add_column("n", justify="right")
        for c in r.sample_size.criteria:
            crit.add_row(lab(f"crit_{c.name}"), f"{c.n:,}")
        crit.add_row(lab("needed"), f"{r.sample_size.required_n:,}")
        crit.add_row(lab("available"), f"{r.available_n:,}")
        lines.append(crit)
        lines.append(
            lab(
                "supports",
                available=f"{r.available_n:,}",
                supported=r.supported_parameters,
                parameters=r.parameters,
            )
        )
    if r.baseline is not None:
        lines.append(r.baseline_sentence(lang))
    if r.extrapolation is not None and r.baseline is not None:
        for m, n, lo, mid, hi in r.extrapolation.at:
            lines.append(
                lab("at_more_data", m=f"{m:g}", n=f"{n:,}", metric=lab(f"metric_{r.baseline.metric}"),
                    mid=f"{mid:.3f}", low=f"{lo:.3f}", high=f"{hi:.3f}")
            )  # fmt: skip
    lines.append(lab("leakage") + ": " + ("; ".join(r.leak_sentences(lang)) or lab("no_leakage")))
    lines += r.note_sentences(lang)
    return Group(*lines)


def pricing_summary(v: Valuation, lang: str = "en") -> Group:
    """The band, each approach, the comparables used, and the warnings."""

    def lab(key: str, **params: object) -> str:
        return text("pricing_labels", key, lang, **params)

    low, mid, high = v.band
    head = f"[bold]{v.dataset}[/bold]  {lab('section')}: [bold]{low:,.0f} – {high:,.0f} {v.currency}[/bold] ({lab('mid')} {mid:,.0f})"
    methods = Table(title=lab("approach"), title_justify="left")
    for h in ("approach", "low", "mid", "high", "weight"):
        methods.add_column(lab(h), justify="left" if h == "approach" else "right")
    for key, est in v.methods.items():
        if est.available:
            methods.add_row(
                lab(f"method_{key}"),
                f"{est.low:,.0f}",
                f"{est.mid:,.0f}",
                f"{est.high:,.0f}",
                f"{v.weights[key]:.0%}",
            )
        else:
            methods.add_row(
                lab(f"method_{key}"),
                "",
                lab("not_available", reason=est.reason_text(lang)),
                "",
                "0%",
            )
    comps = Table(title=lab("comparables"), title_justify="left")
    for h in ("id", "similarity", "price", "adjusted"):
        comps.add_column(lab(h), justify="left" if h == "id" else "right")
    for c in v.comparables:
        if c.used:
            comps.add_row(c.id, f"{c.similarity:.2f}", f"{c.price:,.0f}", f"{c.value:,.0f}")
    return Group(head, v.paragraph(lang), methods, comps)


def targets_summary(t: TargetProgress, lang: str = "en") -> Group:
    """Progress per region and metric, the funnel, laggards and registry problems."""

    def lab(key: str, **params: object) -> str:
        return text("targets_labels", key, lang, **params)

    value, sentence = t.headline(lang)
    table = Table(title=lab("progress"), title_justify="left")
    for h in ("region", "metric", "target", "actual", "expected", "forecast", "p_meet"):
        table.add_column(lab(h), justify="left" if h in ("region", "metric") else "right")
    for p in t.regions:
        low, mid, high = p.forecast
        table.add_row(p.region, lab(f"metric_{p.metric}"), f"{p.target:,.0f}", f"{p.actual:,.0f}",
                      f"{p.expected_to_date:,.0f}", f"{mid:,.0f} ({low:,.0f}-{high:,.0f})", f"{p.p_meet:.0%}")  # fmt: skip
    funnel = " → ".join(f"{lab('stage_' + k)} {v}" for k, v in t.funnel.items())
    problems = [f"[yellow]{f.text(lang)}[/yellow]" for f in t.findings]
    return Group(f"[bold]{value}[/bold] {sentence}", table, funnel, *problems)


def refine_summary(r: Refined, lang: str = "en") -> Group:
    """What changed (rows and values per step), the resulting k and verdict, the files."""

    def lab(key: str, **params: object) -> str:
        return text("refine_labels", key, lang, **params)

    table = Table(title=lab("log"), title_justify="left")
    for h in ("step", "table", "column", "rows", "values"):
        table.add_column(lab(f"col_{h}"), justify="right" if h in ("rows", "values") else "left")
    for c in r.changes:
        table.add_row(
            text("refine_steps", c.step, lang),
            c.table,
            c.column or "-",
            f"{c.rows:,}",
            f"{c.values:,}",
        )
    card = r.datacard[lang]
    d = card["deidentification"]
    band = card["price_band"]
    lines = [
        f"[bold]{lab('result', k=_n(d['k_anonymity']), target=d['target_k'], verdict=d['verdict'])}[/bold]",
        lab("counts", fixes=f"{r.fixes:,}", protected=f"{r.protected_values:,}", seconds=f"{r.seconds.get('total', 0):.1f}"),
    ]  # fmt: skip
    if band:
        lines.append(f"{lab('price')}: {band['low']:,.0f} – {band['high']:,.0f} {band['currency']}")
    lines.append(lab("wrote", out=str(r.out), n=len(r.files)))
    return Group(table, *lines)


def pool_summary(p: Pool, lang: str = "en") -> Group:
    """Sites, the overlap, each site's Shapley shares and the revenue split."""

    def lab(key: str, **params: object) -> str:
        return text("pool_labels", key, lang, **params)

    value, sentence = p.headline(lang)
    t = p.small_cell
    sites = Table(title=lab("sites"), title_justify="left")
    for h in (
        "site",
        "rows",
        "people",
        "unique_people",
        "categories",
        "unique_categories",
        "k_alone",
    ):
        sites.add_column(lab(h), justify="left" if h == "site" else "right")
    for s in p.sites:
        sites.add_row(s.name, f"{s.rows:,}", _n(s.people) if s.people is not None else f"<{t}",
                      f"<{t}" if s.unique_people is None else f"{s.unique_people:,}", str(s.categories),
                      str(s.unique_categories), "-" if s.k_alone is None else str(s.k_alone))  # fmt: skip
    split = Table(title=lab("split"), title_justify="left")
    split.add_column(lab("site"))
    games = list(p.split.by_game)
    for h in ("recommended", "by_rows", "by_people", *[f"game_{g}" for g in games]):
        split.add_column(lab(h), justify="right")
    for i, name in enumerate(p.site_names):
        split.add_row(name, f"{p.split.recommended[i]:.1%}", f"{p.split.by_rows[i]:.1%}",
                      f"{p.split.by_people[i]:.1%}", *[f"{p.split.by_game[g][i]:.1%}" for g in games])  # fmt: skip
    lines: list[Any] = [f"[bold]{value}[/bold] {sentence}", sites, split]
    if p.split.band is not None:
        low, mid, high = p.split.band
        lines.append(
            f"{lab('band', currency=p.split.currency)}: {mid:,.0f} ({low:,.0f}-{high:,.0f})"
        )
    lines.append(lab("conflicts", n=f"<{t}" if p.conflicts is None else p.conflicts))
    return Group(*lines)
