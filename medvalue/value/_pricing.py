"""The price band: market approach on comparable trades, hedonic regression, cost and
income approaches, triangulated and put through a seeded Monte Carlo.

Market approach (China Appraisal Society, Expert Guideline No. 9 style):
    V = P_comparable x K_tech x K_density x K_date x K_volume x K_other
for every usable comparable, combined with similarity weights. Hedonic: OLS of ln(price) on
ln(cases) and deal features (statsmodels), only with enough priced, sized rows. Cost:
reproduction cost x (1 - obsolescence) x (1 + margin) / (1 - exchange fee). Income:
discounted licence fees. Formulas, defaults and sources in docs/methods.md; the default
inputs (``data/pricing_defaults.yaml``) are illustrative and say so.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl
import yaml

from medvalue.analyses import _samplesize as samplesize
from medvalue.analyses._profile import profile as run_profile
from medvalue.core._config import PACKAGE_DATA
from medvalue.core._display import Displayed
from medvalue.core._errors import InputError, ParameterError
from medvalue.core._files import load_user_yaml, load_yaml
from medvalue.core._i18n import text
from medvalue.read._dataset import Dataset
from medvalue.value import _comparables as registry_io

APPROACHES = ("market", "hedonic", "cost", "income")
#: Hedonic regression only with at least this many priced, sized rows, and three per
#: coefficient (intercept included).
HEDONIC_MIN_ROWS = 10
_HOSPITAL_TIERS = ("tertiary", "secondary", "county")


@cache
def default_inputs() -> dict[str, Any]:
    return load_yaml((PACKAGE_DATA / "pricing_defaults.yaml").read_text(encoding="utf-8"))


def load_inputs(path: str | Path | None) -> dict[str, Any]:
    """The defaults, overridden key by key by a user YAML (``--costs``)."""
    return _merge_inputs(_read_inputs(path), path or "--costs")


def _read_inputs(path: str | Path | None) -> dict[str, Any]:
    """The user's inputs file as written (empty without one)."""
    if path is None:
        return {}
    p = Path(path)
    if not p.exists():
        raise InputError.at(path, "no such inputs file", "check the path, or omit --costs")
    try:
        user = load_user_yaml(p.read_text(encoding="utf-8"), p) or {}
    except yaml.YAMLError:
        raise InputError.at(path, "not valid YAML", "fix the indentation or quoting") from None
    if not isinstance(user, dict):
        raise InputError.at(
            path, "must be a mapping of sections", "start from medvalue/data/pricing_defaults.yaml"
        )
    return user


def _merge_inputs(user: Mapping[str, Any], path: str | Path) -> dict[str, Any]:
    """The defaults with the user's inputs laid over them, each key checked."""
    merged = copy.deepcopy(default_inputs())
    for section, values in user.items():
        if section not in merged:
            raise InputError.at(path, f"unknown section '{section}'", f"use {', '.join(merged)}")
        if isinstance(merged[section], dict):
            if not isinstance(values, dict):
                raise InputError.at(
                    path, f"section '{section}' must be a mapping", "indent its keys under it"
                )
            for key in values:
                if key not in merged[section]:
                    raise InputError.at(
                        path, f"unknown key '{section}.{key}'", f"use {', '.join(merged[section])}"
                    )
            merged[section].update(values)
        else:
            merged[section] = values
    return merged


@dataclass(frozen=True)
class Subject:
    """What is being priced: size, quality and the deal on offer."""

    name: str
    cases: int
    quality: float  # 0-1
    readiness: float | None  # 0-100
    density: float  # share of usable records, 0-1
    country: str = "CN"
    specialty: str = ""
    modality: str = "structured_ehr"
    exclusive: bool = False
    deal_type: str = "dataset_sale"
    as_of: str = ""
    #: The selling hospital's tier (the spec's metadata), for comparables "of its kind".
    tier: str = ""
    #: Who would license it (see :func:`buyer_groups`), and how old its newest record is.
    buyer_groups: tuple[str, ...] = ("research",)
    data_age_years: float | None = None
    #: What the density was measured on: coded (share of people with a recognised code),
    #: completeness (no diagnosis codes: the profile's completeness) or assumed (neither).
    density_basis: str = "coded"

    def to_dict(self) -> dict[str, object]:
        return {
            "density_basis": self.density_basis,
            "name": self.name, "cases": self.cases, "quality": round(self.quality, 4),
            "readiness": None if self.readiness is None else round(self.readiness, 1),
            # Two decimals: the exact share with the case count would give away a small
            # number of uncoded people.
            "density": round(self.density, 2), "country": self.country, "specialty": self.specialty,
            "modality": self.modality, "exclusive": self.exclusive, "deal_type": self.deal_type,
            "as_of": self.as_of, "tier": self.tier, "buyer_groups": list(self.buyer_groups),
            "data_age_years": None if self.data_age_years is None else round(self.data_age_years, 1),
        }  # fmt: skip


@dataclass(frozen=True)
class Adjusted:
    """One comparable and every factor applied to it."""

    id: str
    similarity: float
    used: bool
    price: float | None  # in the valuation currency
    factors: Mapping[str, float]
    value: float | None  # adjusted price
    reason: str | None = None  # why not used ("anchor": unsized, shown as a reference)
    #: Who, when, where and in which layer, as the registry says (for the report's table).
    about: Mapping[str, Any] = field(default_factory=dict)

    def seller(self, lang: str) -> str:
        """The seller's name in the report's language where the registry has one."""
        return self._in(lang, "seller") or self.id

    def venue(self, lang: str) -> str:
        """Where it traded, in the report's language where the registry says."""
        return self._in(lang, "venue")

    def _in(self, lang: str, name: str) -> str:
        # The registry's Chinese column (seller_zh, venue_zh) in Chinese, else the English one.
        named = self.about.get(f"{name}_zh") if lang == "zh" else None
        return str(named or self.about.get(name) or "")

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id, "similarity": round(self.similarity, 4), "used": self.used,
            "price": _money(self.price), "factors": {k: round(v, 4) for k, v in self.factors.items()},
            "adjusted_price": _money(self.value),
            "excluded_because": None if self.reason is None else self.reason.removeprefix("excl_"),
            **{k: self.about.get(k) for k in ABOUT},
        }  # fmt: skip


#: Registry fields each comparable carries into the report and the JSON.
ABOUT = ("seller", "seller_zh", "date", "venue", "venue_zh", "layer", "deal_type", "cases",
         "price_original", "currency_original", "source_url")  # fmt: skip


def _about(row: Mapping[str, Any]) -> dict[str, Any]:
    date = row.get("date")
    return {
        "seller": row.get("seller"), "seller_zh": row.get("seller_zh"),
        "date": date.strftime("%Y-%m") if date is not None else None, "venue": row.get("venue"),
        "venue_zh": row.get("venue_zh"),
        "layer": row.get("layer") or "commercial", "deal_type": row.get("deal_type"),
        "cases": row.get("cases"), "price_original": row.get("price"),
        "currency_original": row.get("currency"), "source_url": row.get("source_url"),
    }  # fmt: skip


@dataclass(frozen=True)
class Estimate:
    """One approach's answer (or why it gave none)."""

    approach: str
    low: float | None
    mid: float | None
    high: float | None
    detail: Mapping[str, Any] = field(default_factory=dict)
    available: bool = True
    reason: str | None = None

    def reason_text(self, lang: str) -> str | None:
        return (
            None
            if self.reason is None
            else text("pricing_labels", self.reason, lang, **self.detail)
        )

    def to_dict(self, lang: str = "en") -> dict[str, object]:
        return {
            "available": self.available, "low": _money(self.low), "mid": _money(self.mid),
            "high": _money(self.high), "reason": self.reason_text(lang), **self.detail,
        }  # fmt: skip


@dataclass(frozen=True, repr=False)
class Valuation(Displayed):
    """What :func:`price` returns."""

    _view: ClassVar[str] = "pricing_section"

    dataset: str
    currency: str
    subject: Subject
    methods: Mapping[str, Estimate]
    weights: Mapping[str, float]
    band: tuple[float, float, float]  # low, mid, high
    distribution: tuple[float, float, float]  # P10, P50, P90
    tornado: tuple[tuple[str, float, float], ...]  # factor, mid at low input, mid at high input
    comparables: tuple[Adjusted, ...]
    warnings: tuple[tuple[str, Mapping[str, Any]], ...]  # catalogue key, parameters
    registry: str
    seed: int
    #: Inputs taken from the illustrative defaults (tornado factor names), and the approaches
    #: whose money inputs are defaults (cost, income).
    defaults: tuple[str, ...] = ()
    default_approaches: tuple[str, ...] = ()

    @property
    def default_share(self) -> float:
        """The share of the band's weight on approaches whose money inputs are defaults."""
        return sum(self.weights.get(k, 0.0) for k in self.default_approaches)

    def headline(self, lang: str) -> tuple[str, str]:
        low, mid, high = self.band
        value = f"{short_money(low, lang)} – {short_money(high, lang)} {self.currency}"
        sentence = text("pricing_labels", "headline", lang, mid=f"{mid:,.0f}", currency=self.currency,
                        n=sum(1 for c in self.comparables if c.used))  # fmt: skip
        if self.default_share > 0:
            sentence += text(
                "pricing_labels", "rests_on_defaults", lang, share=f"{self.default_share:.0%}"
            )
        return value, sentence

    def is_default(self, factor: str) -> bool:
        """Whether a tornado factor is an illustrative default rather than a given input."""
        return factor in self.defaults

    def paragraph(self, lang: str) -> str:
        low, mid, high = self.band
        used = [c for c in self.comparables if c.used]
        methods = ", ".join(
            text("pricing_labels", f"method_{k}", lang) for k, w in self.weights.items() if w > 0
        )
        out = text(
            "pricing_labels", "paragraph", lang, low=f"{low:,.0f}", mid=f"{mid:,.0f}", high=f"{high:,.0f}",
            currency=self.currency, methods=methods, cases=f"{self.subject.cases:,}",
            # the trades that moved the band: none when the market approach carries no weight
            n=len(used) if self.weights.get("market", 0) > 0 else 0,
            quality=f"{self.subject.quality * 100:.0f}", p10=f"{self.distribution[0]:,.0f}",
            p90=f"{self.distribution[2]:,.0f}",
        )  # fmt: skip
        for w in self.warning_texts(lang):
            out += " " + w
        return out

    def warning_texts(self, lang: str) -> list[str]:
        out = []
        for key, params in self.warnings:
            if key == "warn_privacy":  # the verdict itself in the reader's language
                params = {**params, "verdict": text("verdicts", str(params["verdict"]), lang)}
            if key == "warn_anchor" and lang == "zh":  # the seller's name as the reader knows it
                params = {**params, "seller": params["seller_zh"]}
            out.append(text("pricing_labels", key, lang, **params))
        return out

    def to_dict(self, lang: str = "en") -> dict[str, object]:
        low, mid, high = self.band
        return {
            "dataset": self.dataset,
            "currency": self.currency,
            "subject": self.subject.to_dict(),
            "band": {"low": _money(low), "mid": _money(mid), "high": _money(high)},
            "distribution": dict(
                zip(("p10", "p50", "p90"), (_money(x) for x in self.distribution), strict=True)
            ),
            "methods": {k: v.to_dict(lang) for k, v in self.methods.items()},
            "weights": {k: round(v, 4) for k, v in self.weights.items()},
            "tornado": [
                {"factor": f, "low": _money(a), "high": _money(b)} for f, a, b in self.tornado
            ],
            "comparables_used": [c.to_dict() for c in self.comparables if c.used],
            "comparables_considered": [c.to_dict() for c in self.comparables if not c.used],
            "registry": self.registry,
            "seed": self.seed,
            "paragraph": self.paragraph(lang),
            "warnings": self.warning_texts(lang),
            "default_inputs": list(self.defaults),
            "default_share": round(self.default_share, 4),
        }


def _money(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 2)


def short_money(x: float, lang: str) -> str:
    """12,345,678 as 1,234.6万 (zh) or 12.3M (en): boards read round numbers."""
    if lang == "zh":
        if abs(x) >= 1e8:
            return f"{x / 1e8:,.2f}亿"
        if abs(x) >= 1e4:
            return f"{x / 1e4:,.1f}万"
        return f"{x:,.0f}"
    if abs(x) >= 1e6:
        return f"{x / 1e6:,.2f}M"
    if abs(x) >= 1e3:
        return f"{x / 1e3:,.0f}k"
    return f"{x:,.0f}"


# --- the subject ----------------------------------------------------------------------------

#: The least value density a dataset is priced at: some records are always usable.
MIN_DENSITY = 0.01


def subject_of(
    ds: Dataset,
    rows: int,
    *,
    profile: Any = None,
    readiness: Any = None,
    coverage: Any = None,
    exclusive: bool = False,
    as_of: str | None = None,
) -> Subject:
    """Size from distinct patients (rows if none); quality from the profile's score; value
    density from the share of patients with a valid diagnosis code (else completeness).
    ``rows`` is the dataset's row count over all tables (the caller has it)."""
    # The profile has counted the patients already (the same distinct ids).
    size = getattr(profile, "size", None)
    patients = size.patients if size is not None else ds.distinct_count("patient_id")
    cases = int(patients or rows)
    quality = (
        profile.quality.score / 100
        if profile is not None
        else default_inputs()["market"]["comparable_quality"]
    )
    density, basis = 1.0, "assumed"
    coded = coverage is not None and getattr(coverage, "has_codes", True)
    # Value density from any recognised vocabulary (ICD-10, SNOMED, LOINC, a standard's
    # concepts): SNOMED-coded data is as usable as ICD-coded data.
    share = getattr(coverage, "coded_share", None) if coded else None
    if coded and share is None:
        share = coverage.share_with_valid_code
    if coded and share is not None:
        density, basis = float(share), "coded"
    elif profile is not None and profile.quality.dimensions.get("completeness") is not None:
        score = profile.quality.dimensions["completeness"].score
        if score is not None:
            density, basis = score / 100, "completeness"
    # A density of 0 would make every comparable worth nothing (and its logarithm -inf).
    density = max(density, MIN_DENSITY)
    meta = ds.spec.metadata
    modality = (meta.get("modality") or "structured EHR").lower().replace(" ", "_")
    return Subject(
        name=ds.name,
        cases=cases,
        quality=float(quality),
        readiness=None if readiness is None or readiness.score is None else float(readiness.score),
        density=float(density),
        specialty=(meta.get("specialty") or "").lower(),
        modality=modality,
        exclusive=exclusive,
        as_of=as_of or "",
        density_basis=basis,
        tier=hospital_tier(meta.get("hospital_tier")),
    )


def hospital_tier(value: str | None) -> str:
    """The registry's tier words for a spec's hospital tier, as hospitals write it: 3a, 三甲,
    三级 and tertiary are tertiary; 2a, 二级 secondary; 县级 and county county."""
    v = (value or "").strip().lower()
    if not v:
        return ""
    if v[0] in "3三" or "tertiary" in v:
        return "tertiary"
    if v[0] in "2二" or "secondary" in v:
        return "secondary"
    if "县" in v or "county" in v:
        return "county"
    if v[0] in "1一" or "primary" in v:
        return "primary"
    return v


# --- market approach ------------------------------------------------------------------------

_DEAL_SIMILARITY = {
    "dataset_sale": 1.0,
    "licence": 0.9,
    "access_fee": 0.6,
    "analysis_report": 0.5,
    "equity": 0.3,
    "acquisition": 0.2,
}


def similarity(subject: Subject, row: Mapping[str, Any]) -> float:
    """0-1: the geometric mean of six resemblances (deal type, country, modality, specialty,
    seller type, size); shown for every comparable."""
    parts = [
        _DEAL_SIMILARITY.get(row["deal_type"], 0.3),
        1.0 if (row["country"] or "") == subject.country else 0.4,
        1.0 if subject.modality and subject.modality in (row["modality"] or "") else 0.4,
        1.0 if _overlap(subject.specialty, row["specialty"] or "") else 0.7,
        1.0 if row["seller_tier"] in _HOSPITAL_TIERS else 0.6,
        math.exp(-abs(math.log10(subject.cases / row["cases"])) / 2) if row["cases"] else 0.5,
    ]
    return float(np.prod(parts) ** (1 / len(parts)))


def _overlap(a: str, b: str) -> bool:
    words = {w.strip() for w in a.replace(";", ",").split(",") if w.strip()}
    return any(w and w in b for w in words)


def factors(
    subject: Subject, row: Mapping[str, Any], market: Mapping[str, Any], as_of: Any
) -> dict[str, float]:
    """The five correction factors for one comparable."""
    q_c = float(row.get("quality") or market["comparable_quality"])
    r_c = float(market["comparable_readiness"])
    tech = subject.quality / q_c
    if subject.readiness is not None:
        tech *= (0.5 + subject.readiness / 200) / (0.5 + r_c / 200)
    density = subject.density / float(market["comparable_density"])
    years = (as_of - row["date"]).days / 365.25 if row["date"] else 0.0
    date = (1 + float(market["annual_price_index"])) ** years
    volume = (subject.cases / row["cases"]) ** float(market["volume_elasticity"])
    other = float(market["deal_type_factor"].get(row["deal_type"], 1.0))
    premium = float(market["exclusivity_premium"])
    if subject.exclusive and row["exclusivity"] != "exclusive":
        other *= premium
    elif not subject.exclusive and row["exclusivity"] == "exclusive":
        other /= premium
    return {"tech": tech, "density": density, "date": date, "volume": volume, "other": other}


#: The price layers that are comparables for a dataset sold or licensed to a company or an
#: institute; public cost-recovery fees, acquisitions of data businesses and context rows
#: (estimates, list brokers) are listed with the reason, never used.
MARKET_LAYERS = ("commercial",)


def of_its_kind(subject: Subject, row: Mapping[str, Any]) -> bool:
    """A trade of the subject's kind: the same country, and the same hospital tier or an
    overlapping specialty. An unsized commercial trade of its kind cannot be scaled, but it
    says what such products sell for: the report puts the band beside it (an anchor)."""
    return (row.get("country") or "") == subject.country and (
        (bool(subject.tier) and row.get("seller_tier") == subject.tier)
        or _overlap(subject.specialty, row.get("specialty") or "")
    )


def market_approach(
    subject: Subject, comps: pl.DataFrame, market: Mapping[str, Any], as_of: Any
) -> tuple[Estimate, tuple[Adjusted, ...]]:
    out = []
    for row in comps.iter_rows(named=True):
        sim = similarity(subject, row)
        price = row.get("price_converted")
        about = _about(row)
        layer = about["layer"]
        if layer not in MARKET_LAYERS:
            out.append(
                Adjusted(row["id"], sim, False, price, {}, None, f"excl_layer_{layer}", about)
            )
            continue
        if price is None or row["price"] is None:
            out.append(Adjusted(row["id"], sim, False, None, {}, None, "excl_no_price", about))
            continue
        if not row["cases"]:
            reason = "anchor" if of_its_kind(subject, row) else "excl_no_size"
            out.append(Adjusted(row["id"], sim, False, price, {}, None, reason, about))
            continue
        if row["date"] is None:
            out.append(Adjusted(row["id"], sim, False, price, {}, None, "excl_no_date", about))
            continue
        f = factors(subject, row, market, as_of)
        value = price * math.prod(f.values())
        similar = sim >= float(market["min_similarity"])
        out.append(
            Adjusted(
                row["id"], sim, similar, price, f, value,
                None if similar else "excl_dissimilar", about,
            )
        )  # fmt: skip
    used = [a for a in out if a.used]
    if not used:
        return Estimate(
            "market", None, None, None, available=False, reason="reason_no_comparable"
        ), tuple(out)
    w = np.array([a.similarity for a in used])
    v = np.array([a.value for a in used], dtype=float)
    mid = float(np.exp(np.sum(w * np.log(v)) / w.sum()))  # similarity-weighted geometric mean
    detail = {"comparables": len(used), "combination": "similarity-weighted geometric mean",
              "layers": list(MARKET_LAYERS)}  # fmt: skip
    return Estimate("market", float(v.min()), mid, float(v.max()), detail), tuple(out)


# --- hedonic regression ---------------------------------------------------------------------

_HEDONIC_TERMS = ("log_cases", "country_cn", "report", "equity_or_acquisition", "exclusive")


def _design(frame: pl.DataFrame) -> np.ndarray:
    return np.column_stack([
        np.ones(frame.height),
        np.log(frame["cases"].to_numpy().astype(float)),
        (frame["country"] == "CN").to_numpy().astype(float),
        (frame["deal_type"] == "analysis_report").to_numpy().astype(float),
        frame["deal_type"].is_in(["equity", "acquisition"]).to_numpy().astype(float),
        (frame["exclusivity"] == "exclusive").to_numpy().astype(float),
    ])  # fmt: skip


def hedonic_approach(subject: Subject, comps: pl.DataFrame, *, alpha: float = 0.2) -> Estimate:
    """ln(price) = b0 + b1 ln(cases) + country, report, equity/acquisition and exclusivity
    terms; the subject's prediction interval at 1 - ``alpha``."""
    import statsmodels.api as sm

    layer = (
        pl.col("layer").fill_null("commercial")
        if "layer" in comps.columns
        else pl.lit("commercial")
    )
    rows = comps.filter(
        pl.col("price_converted").is_not_null()
        & pl.col("cases").is_not_null()
        & pl.col("date").is_not_null()
        & layer.is_in(MARKET_LAYERS)
    )
    needed = max(HEDONIC_MIN_ROWS, 3 * (len(_HEDONIC_TERMS) + 1))
    if rows.height < needed:
        return Estimate("hedonic", None, None, None, {"rows": rows.height, "needed": needed},
                        available=False, reason="reason_hedonic_rows")  # fmt: skip
    x = _design(rows)
    keep = x.std(axis=0) > 0
    keep[0] = True
    x = x[:, keep]
    y = np.log(rows["price_converted"].to_numpy())
    fit = sm.OLS(y, x).fit()
    subject_x = _design(pl.DataFrame({
        "cases": [subject.cases], "country": [subject.country], "deal_type": [subject.deal_type],
        "exclusivity": ["exclusive" if subject.exclusive else "non_exclusive"],
    }))[:, keep]  # fmt: skip
    frame = fit.get_prediction(subject_x).summary_frame(alpha=alpha)
    mid = float(np.exp(frame["mean"].iloc[0]))
    low, high = (
        float(np.exp(frame["obs_ci_lower"].iloc[0])),
        float(np.exp(frame["obs_ci_upper"].iloc[0])),
    )
    influence_of = fit.get_influence()
    influence = influence_of.cooks_distance[0]
    # Leave-one-out errors without refitting: e_i / (1 - h_ii) for ordinary least squares.
    loo = np.abs(fit.resid / (1 - influence_of.hat_matrix_diag))
    names = ["intercept", *[t for t, k in zip(_HEDONIC_TERMS, keep[1:], strict=True) if k]]
    detail = {
        "rows": rows.height,
        "r2": round(float(fit.rsquared), 4),
        "residual_sd": round(float(np.sqrt(fit.scale)), 4),
        "coefficients": {n: round(float(b), 4) for n, b in zip(names, fit.params, strict=True)},
        "influential": [rows["id"][int(i)] for i in np.flatnonzero(influence > 4 / rows.height)],
        # A trade left out is predicted within this factor half the time (median of exp|e|).
        "loo_median_factor": round(float(np.exp(np.median(loo))), 3),
        "loo_rmse_log": round(float(np.sqrt(np.mean(loo**2))), 4),
        "interval": f"{1 - alpha:.0%} prediction interval",
    }
    return Estimate("hedonic", low, mid, high, detail)


def hedonic_interval(
    train: pl.DataFrame, target: Mapping[str, Any], alpha: float = 0.2
) -> tuple[float, float]:
    """The prediction interval for one registry row from a fit on the others (leave-one-out)."""
    subject = Subject("row", int(target["cases"]), 1.0, None, 1.0, country=target["country"],
                      exclusive=target["exclusivity"] == "exclusive", deal_type=target["deal_type"])  # fmt: skip
    est = hedonic_approach(subject, train, alpha=alpha)
    if not est.available:
        return float("nan"), float("nan")
    return est.low, est.high  # type: ignore[return-value]


# --- cost and income ------------------------------------------------------------------------


def cost_approach(
    subject: Subject, rows: int, cost: Mapping[str, Any], scale: float = 1.0
) -> Estimate:
    day = float(cost["staff_day_rate"])
    refinement = cost.get("refinement")
    if refinement:
        # Measured: the refinement's fixes to review and its machine time (medvalue refine),
        # billed by the started hour, so the same refinement is priced the same each run.
        hours = math.ceil(float(refinement["seconds"]) / 3600)
        cleaning = (
            float(cost["refine_setup_days"])
            + float(refinement["fixes"]) / 10_000 * float(cost["review_days_per_10k_fixes"])
        ) * day + hours * float(cost["compute_cost_per_hour"])
    else:
        cleaning = float(cost["cleaning_days_per_10k_rows"]) * rows / 10_000 * day
    parts = {
        "extraction": float(cost["extraction_days"]) * day,
        "cleaning": cleaning,
        "annotation": float(cost["annotation_per_record"]) * subject.cases,
        "deidentification_review": float(cost["deidentification_review"]),
        "storage_platform": float(cost["storage_platform_per_year"])
        * float(cost["years_of_storage"]),
    }
    parts = {k: v * scale for k, v in parts.items()}
    reproduction = sum(parts.values())
    value = (
        reproduction
        * (1 - float(cost["obsolescence"]))
        * (1 + float(cost["margin"]))
        / (1 - float(cost["exchange_seller_fee"]))
    )
    detail = {"components": {k: round(v, 2) for k, v in parts.items()}, "reproduction_cost": round(reproduction, 2),
              "cleaning_basis": "refinement" if refinement else "rows",
              "obsolescence": cost["obsolescence"], "margin": cost["margin"], "exchange_seller_fee": cost["exchange_seller_fee"]}  # fmt: skip
    return Estimate("cost", value * 0.8, value, value * 1.25, detail)


def income_scale(subject: Subject, income: Mapping[str, Any]) -> float:
    """What this dataset is worth to a licensee against the reference dataset the fee is
    quoted for: (cases / reference) ^ elasticity x quality ratio x density ratio."""
    cases = float(income.get("reference_cases", subject.cases))
    volume = (subject.cases / cases) ** float(income.get("volume_elasticity", 0.5))
    quality = subject.quality / float(income.get("reference_quality", subject.quality or 1.0))
    density = subject.density / float(income.get("reference_density", 1.0))
    return volume * quality * density


def simple_model_minimum(income: Mapping[str, Any]) -> int | None:
    """Riley's minimum sample size for the simple model the inputs describe."""
    spec = income.get("simple_model")
    if not spec:
        return None

    return samplesize.binary(
        int(spec["parameters"]), float(spec["prevalence"]), cstatistic=float(spec["cstatistic"])
    ).required_n


#: A disease focus: the largest condition holds at least this share of the coded people.
FOCUS_SHARE = 0.2
#: The readiness score from which a dataset is offered for model training.
TRAINABLE_SCORE = 50


def buyer_groups(
    subject: Subject, coverage: Any, readiness: Any, minimum: int | None
) -> tuple[str, ...]:
    """Who licenses a dataset like this one: research institutes always; medical-AI
    developers when it can train a model (a label, a readiness score of at least 50, and at
    least Riley's minimum for a simple model); drug and device makers when it has a disease
    focus (its largest condition holds a fifth of the coded people, or the spec names a
    specialty)."""
    groups = ["research"]
    score = getattr(readiness, "score", None)
    if (
        score is not None
        and score >= TRAINABLE_SCORE
        and (minimum is None or subject.cases >= minimum)
    ):
        groups.append("ai")
    top = getattr(coverage, "top_conditions", ()) or ()
    people = getattr(coverage, "patients", None)
    focused = bool(top and people and top[0].patients and top[0].patients / people >= FOCUS_SHARE)
    if focused or subject.specialty:
        groups.append("pharma_device")
    return tuple(groups)


def horizon(subject: Subject, income: Mapping[str, Any]) -> int:
    """Licence years: the full horizon for data whose newest record is under two years old,
    one year fewer for each two years more, at least one."""
    full = int(income["horizon_years"])
    if subject.data_age_years is None:
        return full
    return max(1, full - int(max(subject.data_age_years, 0.0) // 2))


def buyers_per_year(subject: Subject, income: Mapping[str, Any]) -> float:
    """Buyers a year: the inputs' number when given, else one per buyer group."""
    given = income.get("buyers_per_year")
    if given is not None:
        return float(given)
    return len(subject.buyer_groups) * float(income.get("buyers_per_group", 1))


def income_approach(
    subject: Subject,
    income: Mapping[str, Any],
    fee_scale: float = 1.0,
    buyers: float | None = None,
    rate: float | None = None,
) -> Estimate:
    """Licence fees over the horizon, discounted: the fee scaled to this dataset, the buyers
    and the horizon derived from it (``buyers`` scales the buyers per year)."""
    quoted = float(income["fee_per_buyer"]) * fee_scale
    fee = quoted * income_scale(subject, income)
    n_buyers = buyers_per_year(subject, income) * (1.0 if buyers is None else buyers)
    r = float(income["discount_rate"] if rate is None else rate)
    years = horizon(subject, income)
    annuity = sum(1 / (1 + r) ** t for t in range(1, years + 1))
    non_exclusive = fee * n_buyers * annuity
    exclusive = fee * float(income["exclusive_multiplier"]) * annuity
    mid = exclusive if subject.exclusive else non_exclusive
    detail = {"non_exclusive": round(non_exclusive, 2), "exclusive": round(exclusive, 2), "fee_per_buyer": quoted,
              "dataset_scale": round(income_scale(subject, income), 4), "dataset_fee": round(fee, 2),
              "buyers_per_year": n_buyers, "horizon_years": years, "discount_rate": r,
              "buyer_groups": list(subject.buyer_groups),
              "buyers_basis": "given" if income.get("buyers_per_year") is not None else "derived"}  # fmt: skip
    low = min(non_exclusive, exclusive) if not subject.exclusive else exclusive * 0.8
    return Estimate(
        "income",
        min(low, mid),
        mid,
        max(non_exclusive, exclusive) if not subject.exclusive else exclusive * 1.25,
        detail,
    )


# --- the band -------------------------------------------------------------------------------


def price(
    ds: Dataset,
    *,
    comparables: str | Path | pl.DataFrame | None = None,
    costs: str | Path | Mapping[str, Any] | None = None,
    rates: str | Path | pl.DataFrame | None = None,
    currency: str | None = None,
    profile: Any = None,
    readiness: Any = None,
    coverage: Any = None,
    privacy: Any = None,
    exclusive: bool = False,
    as_of: str | None = None,
    seed: int | None = None,
    refinement: Mapping[str, Any] | None = None,
) -> Valuation:
    """A price band for the dataset from the comparables registry (the public one by
    default), the cost and the income approaches. ``profile``, ``readiness`` and
    ``coverage`` results refine quality and value density when given; a ``privacy``
    assessment that is not "anonymised" adds a warning that the band assumes the data is
    made releasable first (its cost is in the cost approach's de-identification review).
    ``refinement`` (``fixes`` and ``seconds`` of a ``medvalue refine`` run, see
    :func:`medvalue.read._refined.load_refinement`) replaces the rows-based cleaning cost by the
    measured work."""
    import datetime as dt

    # The file is read once: its keys say which inputs are the hospital's, not defaults.
    user = costs if isinstance(costs, Mapping) else _read_inputs(costs)
    inputs = user if isinstance(costs, Mapping) else _merge_inputs(user, costs or "--costs")
    cur = (currency or inputs.get("currency") or "CNY").upper()
    day = dt.date.fromisoformat(as_of) if as_of else dt.date.today()
    if profile is None:
        profile = run_profile(ds, as_of=day)
    if isinstance(comparables, pl.DataFrame):
        reg, registry_name = comparables, "given"
    else:
        path = comparables or registry_io.PUBLIC_REGISTRY
        reg, registry_name = registry_io.load_registry(path), Path(path).name
    fx = (
        rates
        if isinstance(rates, pl.DataFrame)
        else registry_io.load_rates(rates or registry_io.FX_RATES)
    )
    comps = registry_io.convert(reg, fx, cur) if "price_converted" not in reg.columns else reg
    inputs = _in_currency(inputs, cur, fx, day)
    if refinement:
        inputs = {**inputs, "cost": {**inputs["cost"], "refinement": dict(refinement)}}
    # Every table's rows, counted once (a CSV is scanned to count them).
    rows = sum(ds.row_count(t) for t in ds.table_names)
    subj = subject_of(
        ds,
        rows,
        profile=profile,
        readiness=readiness,
        coverage=coverage,
        exclusive=exclusive,
        as_of=day.isoformat(),
    )
    minimum = simple_model_minimum(inputs["income"])
    last = getattr(getattr(profile, "size", None), "last_date", None)
    if isinstance(last, dt.datetime):
        last = last.date()
    age = (day - last).days / 365.25 if isinstance(last, dt.date) else None
    subj = replace(subj, buyer_groups=buyer_groups(subj, coverage, readiness, minimum),
                   data_age_years=age)  # fmt: skip
    warnings: list[tuple[str, Mapping[str, Any]]] = []
    if reg["synthetic"].any():
        warnings.append(("warn_synthetic", {}))
    missing_rate = comps.filter(
        pl.col("price").is_not_null() & pl.col("price_converted").is_null()
    )["id"].to_list()
    if missing_rate:
        warnings.append(("warn_missing_rate", {"currency": cur, "ids": ", ".join(missing_rate)}))
    methods, adjusted = _methods(subj, comps, inputs, day, rows)
    weights = _weights(methods, inputs["band"]["weights"])
    if not any(weights.values()):
        msg = "no approach could value this dataset; check the inputs file"
        raise ParameterError(msg)
    priced_sized = sum(1 for a in adjusted if a.used)
    draws = _monte_carlo(subj, comps, inputs, day, rows, methods, adjusted, int(inputs["band"]["monte_carlo_draws"]),
                         seed if seed is not None else int(inputs["band"]["seed"]))  # fmt: skip
    p10, p50, p90 = (float(np.percentile(draws, q)) for q in (10, 50, 90))
    low, mid, high = p10, p50, p90
    if priced_sized < int(inputs["band"]["few_comparables"]):
        widen = float(inputs["band"]["widen"])
        low, high = low * (1 - widen), high * (1 + widen)
        warnings.append(("warn_few", {"n": priced_sized, "widen": f"{widen:.0%}"}))
    if not methods["market"].available:
        warnings.append(("warn_no_market", {}))
    if minimum is not None and subj.cases < minimum:
        warnings.append(
            ("warn_below_minimum", {"cases": f"{subj.cases:,}", "minimum": f"{minimum:,}"})
        )
    context = {
        layer: sum(1 for c in adjusted if c.about.get("layer") == layer)
        for layer in ("public_fee", "acquisition", "context")
    }
    if any(context.values()):
        warnings.append(("note_layers", {k: str(v) for k, v in context.items()}))
    for anchor in adjusted:
        if anchor.reason != "anchor" or not anchor.price:
            continue
        warnings.append(("warn_anchor", {
            "seller": anchor.seller("en"), "seller_zh": anchor.seller("zh"),
            "price": f"{anchor.price:,.0f}", "currency": cur, "date": anchor.about.get("date") or "-",
            "ratio": f"{mid / anchor.price:.0%}",
        }))  # fmt: skip
    if subj.density_basis != "coded":
        warnings.append(("warn_density_" + subj.density_basis, {"density": f"{subj.density:.0%}"}))
    if privacy is not None and getattr(privacy, "verdict", "anonymised") != "anonymised":
        warnings.append(("warn_privacy", {"verdict": privacy.verdict}))
    tornado = _tornado(subj, comps, inputs, day, rows)
    given = {f"{section}.{key}" for section, values in user.items()
             if isinstance(values, Mapping) for key in values}  # fmt: skip
    defaults = tuple(f for f, _, _ in tornado if not given & set(_FACTOR_INPUTS.get(f, ())))
    resting = tuple(k for k, keys in _APPROACH_INPUTS.items() if not given & set(keys))
    default_share = sum(weights.get(k, 0.0) for k in resting)
    if default_share > 0:
        warnings.insert(0, ("warn_defaults", {"share": f"{default_share:.0%}"}))
    return Valuation(
        dataset=ds.name, currency=cur, subject=subj, methods=methods, weights=weights,
        band=(low, mid, high), distribution=(p10, p50, p90), tornado=tornado, comparables=adjusted,
        warnings=tuple(warnings), registry=registry_name,
        seed=seed if seed is not None else int(inputs["band"]["seed"]),
        defaults=defaults, default_approaches=resting,
    )  # fmt: skip


#: The inputs behind each tornado factor and each approach: given in a --costs file, they
#: are the hospital's; otherwise they are illustrative defaults, and the report says so.
_FACTOR_INPUTS = {
    "annual_price_index": ("market.annual_price_index", "uncertainty.annual_price_index"),
    "volume_elasticity": ("market.volume_elasticity", "uncertainty.volume_elasticity"),
    "comparable_quality": ("market.comparable_quality", "uncertainty.comparable_quality"),
    "cost_scale": ("cost.staff_day_rate", "uncertainty.cost_scale"),
    "fee_per_buyer_scale": ("income.fee_per_buyer", "uncertainty.fee_per_buyer_scale"),
    "buyers_scale": ("income.buyers_per_year", "uncertainty.buyers_scale"),
    "discount_rate": ("income.discount_rate", "uncertainty.discount_rate"),
}
_APPROACH_INPUTS = {"cost": ("cost.staff_day_rate",), "income": ("income.fee_per_buyer",)}


_MONEY = {"cost": ("staff_day_rate", "annotation_per_record", "deidentification_review", "storage_platform_per_year",
                  "compute_cost_per_hour"),
          "income": ("fee_per_buyer",)}  # fmt: skip


def _in_currency(
    inputs: Mapping[str, Any], currency: str, fx: pl.DataFrame, day: Any
) -> dict[str, Any]:
    """Cost and income inputs converted from the inputs file's currency at the valuation date."""
    source = str(inputs.get("currency") or "CNY").upper()
    out = copy.deepcopy(dict(inputs))
    if source == currency:
        return out
    probe = pl.DataFrame({"id": ["inputs"], "date": [day], "price": [1.0], "currency": [source]})
    rate = registry_io.convert(probe, fx, currency)["rate_used"].item()
    if rate is None:
        msg = f"no exchange rate from {source} (the inputs' currency) to {currency}; add one to the rates file"
        raise ParameterError(msg)
    for section, keys in _MONEY.items():
        for key in keys:
            out[section][key] = float(out[section][key]) * rate
    out["currency"] = currency
    return out


def _methods(subj: Subject, comps: pl.DataFrame, inputs: Mapping[str, Any], day: Any, rows: int, *,
             cost_scale: float = 1.0, fee_scale: float = 1.0, buyers: float | None = None,
             rate: float | None = None) -> tuple[dict[str, Estimate], tuple[Adjusted, ...]]:  # fmt: skip
    market, adjusted = market_approach(subj, comps, inputs["market"], day)
    return {
        "market": market,
        "hedonic": hedonic_approach(subj, comps),
        "cost": cost_approach(subj, rows, inputs["cost"], cost_scale),
        "income": income_approach(subj, inputs["income"], fee_scale, buyers, rate),
    }, adjusted


def _weights(methods: Mapping[str, Estimate], base: Mapping[str, float]) -> dict[str, float]:
    raw = {
        k: float(base.get(k, 0)) if methods[k].available and methods[k].mid else 0.0
        for k in APPROACHES
    }
    total = sum(raw.values())
    return {k: (v / total if total else 0.0) for k, v in raw.items()}


def _combine(methods: Mapping[str, Estimate], weights: Mapping[str, float]) -> float:
    """Weighted geometric mean of the approaches' mid values: prices are multiplicative."""
    logs = [(w, math.log(mid)) for k, w in weights.items() if w > 0 and (mid := methods[k].mid)]
    return math.exp(sum(w * v for w, v in logs) / sum(w for w, _ in logs))


def _monte_carlo(
    subj: Subject,
    comps: pl.DataFrame,
    inputs: Mapping[str, Any],
    day: Any,
    rows: int,
    base_methods: Mapping[str, Estimate],
    base_adjusted: tuple[Adjusted, ...],
    draws: int,
    seed: int,
) -> np.ndarray:
    """Mid values under uncertain inputs (uniform over the documented ranges), with the
    used comparables resampled each draw; ``base_methods`` and ``base_adjusted`` are the
    approaches at the inputs as given (the caller's)."""
    rng = np.random.default_rng(seed)
    u = inputs["uncertainty"]
    weights = _weights(base_methods, inputs["band"]["weights"])
    hedonic = base_methods["hedonic"]
    # Which trades are used depends on similarity, layer, price and size, none of which the
    # draws vary: each draw re-corrects only those (the same answer, without re-scoring all).
    used_ids = [a.id for a in base_adjusted if a.used]
    comps = comps.filter(pl.col("id").is_in(used_ids))
    out = np.empty(draws)
    for i in range(draws):
        trial = copy.deepcopy(inputs)
        m = trial["market"]
        m["annual_price_index"] = rng.uniform(*u["annual_price_index"])
        m["volume_elasticity"] = rng.uniform(*u["volume_elasticity"])
        m["comparable_quality"] = rng.uniform(*u["comparable_quality"])
        market, adjusted = market_approach(subj, comps, m, day)
        values: dict[str, float | None] = {}
        if market.available:
            used = [a for a in adjusted if a.used]
            pick = [used[j] for j in rng.integers(0, len(used), len(used))]
            w = np.array([a.similarity for a in pick])
            values["market"] = float(np.exp(np.sum(w * np.log([a.value for a in pick])) / w.sum()))
        if hedonic.available and hedonic.high and hedonic.mid:
            # Log-normal draw matching the prediction interval (P10-P90 = mid x e^(+-1.2816 s)).
            s = math.log(hedonic.high / hedonic.mid) / 1.2816
            values["hedonic"] = hedonic.mid * math.exp(rng.normal(0, s))
        values["cost"] = cost_approach(subj, rows, trial["cost"], rng.uniform(*u["cost_scale"])).mid
        values["income"] = income_approach(
            subj, trial["income"], rng.uniform(*u["fee_per_buyer_scale"]),
            rng.uniform(*u["buyers_scale"]), rng.uniform(*u["discount_rate"]),
        ).mid  # fmt: skip
        logs = [(w, math.log(v)) for k, w in weights.items() if w > 0 and (v := values.get(k))]
        out[i] = math.exp(sum(w * v for w, v in logs) / sum(w for w, _ in logs))
    return out


def _tornado(
    subj: Subject, comps: pl.DataFrame, inputs: Mapping[str, Any], day: Any, rows: int
) -> tuple[tuple[str, float, float], ...]:
    """The combined mid with one input at the low and then the high end of its range."""
    u = inputs["uncertainty"]
    out = []

    def mid_with(**change: Any) -> float:
        trial = copy.deepcopy(inputs)
        scales = {}
        for key, value in change.items():
            if key in trial["market"]:
                trial["market"][key] = value
            elif key == "discount_rate":
                scales["rate"] = value
            elif key == "buyers_scale":
                scales["buyers"] = value
            elif key == "cost_scale":
                scales["cost_scale"] = value
            elif key == "fee_per_buyer_scale":
                scales["fee_scale"] = value
        methods, _ = _methods(subj, comps, trial, day, rows, **scales)
        return _combine(methods, _weights(methods, inputs["band"]["weights"]))

    for key in ("annual_price_index", "volume_elasticity", "comparable_quality", "cost_scale",
                "fee_per_buyer_scale", "buyers_scale", "discount_rate"):  # fmt: skip
        lo, hi = u[key]
        out.append((key, mid_with(**{key: lo}), mid_with(**{key: hi})))
    out.sort(key=lambda t: -abs(t[2] - t[1]))
    return tuple(out)
