"""The datacard of a refined product: what an exchange listing or a data-asset registration
asks for, in Chinese and English, as JSON and Markdown."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from medvalue.analyses._privacy import (
    PrivacyAssessment,
)
from medvalue.core._config import SMALL_CELL_THRESHOLD
from medvalue.core._config import VERSION as __version__
from medvalue.core._i18n import text

#: The environment variable holding the pseudonym key unless ``--secret-env`` names another.
from medvalue.product._changes import PROTECT_STEPS, Change
from medvalue.product._settings import DEFAULT_RESTRICTIONS, DEFAULT_USES, RefineSettings
from medvalue.read._dataset import Dataset
from medvalue.read._records import view
from medvalue.read._refined import FIX_STEPS
from medvalue.read._rows import Rows
from medvalue.value._assess import AssessOptions, assess


def datacard(
    ds: Dataset,
    prof: Any,
    before: PrivacyAssessment,
    after: PrivacyAssessment,
    changes: Sequence[Change],
    settings: RefineSettings,
    parameters: Mapping[str, Any],
    *,
    label: str | None = None,
    price: bool = True,
    comparables: str | Path | None = None,
    refinement: Mapping[str, Any] | None = None,
    small_cell: int = SMALL_CELL_THRESHOLD,
    span: tuple[str | None, str | None] | None = None,
) -> dict[str, Any]:
    """The datacard of a refined product, as ``{"zh": {...}, "en": {...}}``: what an
    exchange listing or a data-asset registration asks for."""
    options = AssessOptions(as_of=str(prof.as_of), small_cell=small_cell, label=label, strict=True,
                            price=price, comparables=str(comparables) if comparables else None)  # fmt: skip
    assessed = assess(ds, options, profile_result=prof, privacy_result=after, refinement=refinement)
    cov, ready, valuation = assessed.coverage, assessed.readiness, assessed.valuation
    meta = ds.spec.metadata
    size = prof.size
    risk = after.worst.summary.risk if after.worst is not None else None
    steps = sorted({c.step for c in changes if c.step in PROTECT_STEPS}, key=PROTECT_STEPS.index)
    fixes = {s: sum(c.values for c in changes if c.step == s) for s in FIX_STEPS}
    out: dict[str, Any] = {}
    first_month, last_month = span or time_span(ds, small_cell)
    for lang in ("zh", "en"):
        quality = prof.quality.to_dict(lang)
        covered = [c for c in cov.chapters if c.patients]
        top = cov.top_conditions[:5]
        card = {
            "product_name": settings.product_name
            or (meta.get("title_zh") if lang == "zh" else None)
            or meta.get("title")
            or Path(str(parameters["input"])).stem,
            "source": {
                "hospital": meta.get("hospital"),
                "hospital_tier": meta.get("hospital_tier"),
                "region": " ".join(v for v in (meta.get("province"), meta.get("city")) if v)
                or None,
            },
            "time_span": {
                "first_month": first_month,
                "last_month": last_month,
                "note": _shift_note(settings, lang),
            },
            "size": {
                "patients": size.patients,
                "records": size.rows,
                "tables": len(size.tables),
                "fields": size.columns,
                "bytes": size.bytes_on_disk,
            },
            "specialty": meta.get("specialty"),
            "coverage": {
                "headline": cov.headline(lang)[1],
                "chapters_covered": len(covered),
                "top_conditions": [
                    {
                        "code": c.key,
                        "title": (c.title_zh or c.title) if lang == "zh" else c.title,
                        "patients": c.patients,
                    }
                    for c in top
                ],
                "share_with_valid_code": cov.share_with_valid_code,
            },
            "quality": {
                "score": quality["score"],
                "grade": text("grades", prof.quality.grade, lang),
                "dimensions": {
                    k: {"name": d["name"], "score": d["score"]}
                    for k, d in quality["dimensions"].items()
                },
            },
            "ai_readiness": {
                "label": None if ready.label is None else ready.label.column,
                "score": None if ready.score is None else round(ready.score, 1),
            },
            "deidentification": {
                "methods": [text("refine_steps", s, lang) for s in steps],
                "k_anonymity": after.k_anonymity,
                "target_k": after.target_k,
                "prosecutor_risk_max": None if risk is None else round(risk.prosecutor_max, 6),
                "prosecutor_risk_mean": None if risk is None else round(risk.prosecutor_avg, 6),
                "direct_identifiers_remaining": len(after.direct_identifiers),
                "verdict": text("verdicts", after.verdict, lang),
                "verdict_before": text("verdicts", before.verdict, lang),
            },
            "quality_fixes": {s: n for s, n in fixes.items() if n},
            "intended_uses": list(settings.intended_uses) or DEFAULT_USES[lang],
            "restrictions": list(settings.restrictions) or DEFAULT_RESTRICTIONS[lang],
            "licence": meta.get("licence_intent"),
            "price_band": None
            if valuation is None
            else {
                "currency": valuation.currency,
                "low": round(valuation.band[0], -2),
                "mid": round(valuation.band[1], -2),
                "high": round(valuation.band[2], -2),
                "note": text("refine_labels", "price_note", lang),
            },
            "medvalue_version": __version__,
            "parameters": dict(parameters),
        }
        out[lang] = card
    return out


def time_span(ds: Dataset, small_cell: int = SMALL_CELL_THRESHOLD) -> tuple[str | None, str | None]:
    """First and last month of the data: the months of the ``small_cell``-th earliest and
    latest date over every date column but birth dates, so no single person's date is
    shown. Counted as dates per month (a few hundred rows, wherever the tables are)."""
    months = []
    for t in ds.table_names:
        for c, plan in ds.plans[t].items():
            # Birth dates say when people were born, not when the data was recorded.
            if plan.kind == "datetime" and ds.spec.role_of(t, c).role != "birth_date":
                dated = view(ds, Rows(t, (pl.col(c).cast(pl.Datetime("us")).alias("d"),)))
                months.append(dated.grouped([pl.col("d").dt.truncate("1mo").alias("month")]))
    if not months:
        return None, None
    per_month = (
        pl.concat(months)
        .drop_nulls("month")
        .group_by("month")
        .agg(pl.col("count").sum())
        .sort("month")
    )
    if per_month.is_empty():
        return None, None
    # The month holding the k-th earliest date; with fewer than k dates, the latest one's.
    reached = per_month.filter(pl.col("count").cum_sum() >= small_cell)["month"]
    first = reached[0] if reached.len() else per_month["month"][-1]
    from_top = per_month.reverse().filter(pl.col("count").cum_sum() >= small_cell)["month"]
    last = from_top[0] if from_top.len() else per_month["month"][0]
    return first.strftime("%Y-%m"), last.strftime("%Y-%m")


def _shift_note(settings: RefineSettings, lang: str) -> str | None:
    if settings.dates == "shift":
        return text("refine_labels", "shifted", lang, days=settings.max_shift_days)
    if settings.dates == "month":
        return text("refine_labels", "coarsened", lang)
    return None


def _card_label(lang: str, key: str, **params: Any) -> str:
    return text("refine_labels", key, lang, **params)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def _markdown_safe(value: Any) -> Any:
    """Every text of the card as literal Markdown: metadata from a spec (a product name, a
    hospital) can hold HTML or links (``javascript:``) that a viewer would render."""
    if isinstance(value, str):
        text_ = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        text_ = _MARKDOWN_SPECIAL.sub(r"\\\1", text_)
        return re.sub(r"(?i)javascript:", "javascript\\:", text_)
    if isinstance(value, Mapping):
        return {k: _markdown_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_markdown_safe(v) for v in value]
    return value


def datacard_markdown(card: Mapping[str, Any]) -> str:
    """The datacard as Markdown: Chinese first, then English."""
    parts = []
    for lang in ("zh", "en"):
        c = _markdown_safe(card[lang])
        t = functools.partial(_card_label, lang)
        lines = [f"# {t('title')}: {c['product_name']}", ""]
        src = c["source"]
        lines += [f"## {t('source')}", "",
                  f"- {t('hospital')}: {src['hospital'] or '-'} ({src['hospital_tier'] or '-'})",
                  f"- {t('region')}: {src['region'] or '-'}",
                  f"- {t('specialty')}: {c['specialty'] or '-'}", ""]  # fmt: skip
        span = c["time_span"]
        size = c["size"]
        lines += [f"## {t('size')}", "",
                  f"- {t('time_span')}: {span['first_month'] or '-'} – {span['last_month'] or '-'}"
                  + (f" ({span['note']})" if span["note"] else ""),
                  f"- {t('patients')}: {_n(size['patients'])}; {t('records')}: {_n(size['records'])}; "
                  f"{t('tables')}: {size['tables']}; {t('fields')}: {size['fields']}", ""]  # fmt: skip
        cov = c["coverage"]
        lines += [f"## {t('coverage')}", "", f"- {cov['headline']}"]
        for tc in cov["top_conditions"]:
            lines.append(f"  - {tc['code']} {tc['title'] or ''}: {_n(tc['patients'])}")
        q = c["quality"]
        lines += [
            "",
            f"## {t('quality')}",
            "",
            f"- {t('overall')}: {_n(q['score'])} ({q['grade']})",
        ]
        for d in q["dimensions"].values():
            lines.append(f"  - {d['name']}: {_n(d['score'])}")
        fixes = c["quality_fixes"]
        if fixes:
            lines.append(f"- {t('fixes')}: " + "; ".join(
                f"{text('refine_steps', s, lang)} {_n(n)}" for s, n in fixes.items()))  # fmt: skip
        r = c["ai_readiness"]
        lines += ["", f"## {t('readiness')}", "",
                  f"- {t('readiness_score')}: {_n(r['score'])}" + (f" ({t('label')}: {r['label']})" if r["label"] else f" ({t('no_label')})"),
                  ""]  # fmt: skip
        d = c["deidentification"]
        lines += [f"## {t('deidentification')}", ""]
        lines += [f"- {m}" for m in d["methods"]]
        lines += [f"- {t('k_result')}: k = {_n(d['k_anonymity'])} ({t('target')} {d['target_k']}); "
                  f"{t('risk')}: {_pct(d['prosecutor_risk_max'])} / {_pct(d['prosecutor_risk_mean'])}",
                  f"- {t('verdict')}: {d['verdict']} ({t('before')}: {d['verdict_before']})", ""]  # fmt: skip
        lines += [f"## {t('uses')}", ""] + [f"- {u}" for u in c["intended_uses"]] + [""]
        lines += [f"## {t('restrictions')}", ""] + [f"- {u}" for u in c["restrictions"]]
        if c["licence"]:
            lines.append(f"- {t('licence')}: {c['licence']}")
        lines.append("")
        band = c["price_band"]
        lines += [f"## {t('price')}", ""]
        if band:
            lines += [f"- {_n(band['low'])} – {_n(band['high'])} {band['currency']} "
                      f"({t('mid')} {_n(band['mid'])})", f"- {band['note']}", ""]  # fmt: skip
        else:
            lines += [f"- {t('not_priced')}", ""]
        p = c["parameters"]
        lines += [f"## {t('parameters')}", "", f"- medvalue {c['medvalue_version']}"]
        lines += [
            f"- {k}: {v}" for k, v in p.items() if v not in (None, [], "") and k != "medvalue"
        ]
        lines.append("")
        parts.append("\n".join(lines))
    return "\n---\n\n".join(parts)


def _n(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.1f}"
    return f"{int(v):,}"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"
