"""Regional planner: data products against a region's yearly targets, with a year-end forecast.

The registry is an event table (CSV or Excel), one row per status change of a product:
product id, name, hospital, tier, province, city, county, specialty, modality, exchange,
``event`` (planned, registered, listed, traded, withdrawn), ``date``, and for trades the
buyer type and price. A product is *released* when it is listed; a *transaction* is a traded
event (a product may be traded several times).

Forecast: events arrive as a Poisson process whose yearly rate has a gamma posterior
(a weak prior, Gamma(0.5, 0.01 year), so the year's own data dominates within weeks). The events still to come by 31 December are negative binomial; the year-end
forecast is the count so far plus their median, with an 80% interval and the probability of meeting
the target. At the year's end nothing remains: the forecast is the actual and p_meet is 0 or 1.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import polars as pl
from scipy import stats

from medvalue.core._display import Displayed
from medvalue.core._errors import InputError, ParameterError
from medvalue.core._files import load_user_yaml
from medvalue.core._i18n import text
from medvalue.read._tables import read_user_table

EVENTS = ("planned", "registered", "listed", "traded", "withdrawn")
FUNNEL = ("planned", "registered", "listed", "traded")
METRICS = {"products": "listed", "transactions": "traded"}
REGISTRY_COLUMNS = (
    "product_id", "name", "hospital", "hospital_tier", "province", "city", "county", "specialty",
    "modality", "exchange", "event", "date", "buyer_type", "price",
)  # fmt: skip
#: Gamma prior on the yearly event rate: shape and rate (in years). Half an event over about
#: four days of exposure: weak enough that a few weeks of data dominate it.
PRIOR = (0.5, 0.01)
VALUE_DRAWS = 4000


@dataclass(frozen=True)
class Finding:
    key: str  # unknown_event | dates_out_of_order | conflicting_product | trade_before_listing | target_without_products | duplicate_event
    count: int
    example: str  # a product id or region (never a person)

    def text(self, lang: str) -> str:
        return text(
            "targets_labels", f"finding_{self.key}", lang, count=self.count, example=self.example
        )

    def to_dict(self, lang: str = "en") -> dict[str, object]:
        return {
            "finding": self.key,
            "count": self.count,
            "example": self.example,
            "text": self.text(lang),
        }


@dataclass(frozen=True)
class Progress:
    """One region, year and metric."""

    region: str
    level: str  # city | province | county
    year: int
    metric: str  # products | transactions | value
    target: float
    actual: float
    expected_to_date: float
    pace_needed: float | None  # per month for the rest of the year
    forecast: tuple[float, float, float]  # low (P10), mid, high (P90)
    p_meet: float

    @property
    def gap(self) -> float:
        return self.actual - self.expected_to_date

    def to_dict(self) -> dict[str, object]:
        low, mid, high = self.forecast
        return {
            "region": self.region, "level": self.level, "year": self.year, "metric": self.metric,
            "target": self.target, "actual": round(self.actual, 2),
            "expected_to_date": round(self.expected_to_date, 2), "gap": round(self.gap, 2),
            "pace_needed_per_month": None if self.pace_needed is None else round(self.pace_needed, 2),
            "forecast": {"low": round(low, 2), "mid": round(mid, 2), "high": round(high, 2)},
            "p_meet": round(self.p_meet, 4),
        }  # fmt: skip


@dataclass(frozen=True, repr=False)
class TargetProgress(Displayed):
    """What :func:`targets` returns."""

    _view: ClassVar[str] = "targets_section"

    as_of: dt.date
    regions: tuple[Progress, ...]
    funnel: Mapping[str, int]
    monthly: tuple[tuple[str, int, float], ...]  # month, transactions, value
    breakdowns: Mapping[
        str, tuple[tuple[str, int, int, float], ...]
    ]  # by -> (key, listed, traded, value)
    burnup: Mapping[str, tuple[tuple[str, int], ...]]  # "region/metric" -> cumulative by month
    findings: tuple[Finding, ...] = ()
    currency: str = "CNY"

    @property
    def laggards(self) -> tuple[Progress, ...]:
        """Targets unlikely to be met (under an even chance) and behind their pace today."""
        behind = (p for p in self.regions if p.p_meet < 0.5 and p.gap < 0)
        return tuple(sorted(behind, key=lambda p: p.p_meet))

    def title(self, lang: str) -> str:
        """The report's title from the registry: its regions and the targets' year."""
        names = list(dict.fromkeys(p.region for p in self.regions))
        years = sorted({p.year for p in self.regions})
        joined = ("、" if lang == "zh" else ", ").join(names[:4])
        if len(names) > 4:
            joined = text("targets_labels", "more_regions", lang, first=joined, n=len(names))
        span = (
            ""
            if not years
            else str(years[0])
            if years[0] == years[-1]
            else f"{years[0]}–{years[-1]}"
        )
        return text("targets_labels", "page_title", lang, regions=joined, year=span)

    def headline(self, lang: str) -> tuple[str, str]:
        on_track = sum(1 for p in self.regions if p.p_meet >= 0.5)
        return f"{on_track} / {len(self.regions)}", text(
            "targets_labels", "headline", lang, on_track=on_track, total=len(self.regions)
        )

    def to_dict(self, lang: str = "en") -> dict[str, object]:
        return {
            "as_of": self.as_of.isoformat(),
            "regions": [p.to_dict() for p in self.regions],
            "laggards": [f"{p.region}/{p.metric}" for p in self.laggards],
            "funnel": dict(self.funnel),
            "monthly": [
                {"month": m, "transactions": n, "value": round(v, 2)} for m, n, v in self.monthly
            ],
            "breakdowns": {
                k: [
                    {"key": key, "listed": a, "traded": b, "value": round(v, 2)}
                    for key, a, b, v in rows
                ]
                for k, rows in self.breakdowns.items()
            },
            "currency": self.currency,
            "findings": [f.to_dict(lang) for f in self.findings],
        }


# --- inputs ---------------------------------------------------------------------------------


def load_registry(path: str | Path) -> pl.DataFrame:
    """The product-event registry (CSV or Excel), checked: events lower-cased, dates parsed."""
    frame = read_user_table(
        path, "registry", REGISTRY_COLUMNS, f"use the columns {', '.join(REGISTRY_COLUMNS)}"
    )
    out = frame.with_columns(
        pl.col("event").str.to_lowercase(),
        pl.col("date").str.strptime(pl.Date, "%Y-%m-%d", strict=False).alias("date"),
        pl.col("price").cast(pl.Float64, strict=False),
    )
    bad = out.filter(pl.col("date").is_null())
    if bad.height:
        raise InputError.at(
            path,
            f"column 'date': {bad.height} unreadable date(s), e.g. product {bad['product_id'][0]}",
            "write dates as YYYY-MM-DD",
        )
    return out


def load_targets(path: str | Path) -> pl.DataFrame:
    """Targets: region, year, products, transactions, value (YAML list or CSV)."""
    p = Path(path)
    if not p.exists():
        raise InputError.at(path, "no such targets file", "check the path")
    if p.suffix.lower() in (".yaml", ".yml"):
        doc = load_user_yaml(p.read_text(encoding="utf-8"), p) or {}
        rows = doc.get("targets") if isinstance(doc, dict) else doc
        if not isinstance(rows, list):
            raise InputError.at(
                path,
                "expected a list under 'targets'",
                "write targets: - {region: 温州市, year: 2026, products: 45, transactions: 10}",
            )
        frame = pl.DataFrame([{k: r.get(k) for k in ("region", "year", "products", "transactions", "value")} for r in rows],
                             schema={"region": pl.String, "year": pl.Int64, "products": pl.Float64, "transactions": pl.Float64, "value": pl.Float64})  # fmt: skip
    else:
        frame = pl.read_csv(p, infer_schema=False)
        for c in ("region", "year"):
            if c not in frame.columns:
                raise InputError.at(
                    path, f"missing column '{c}'", "use region, year, products, transactions, value"
                )
        frame = frame.select(
            "region", pl.col("year").cast(pl.Int64, strict=False),
            *[pl.col(c).cast(pl.Float64, strict=False) if c in frame.columns else pl.lit(None, dtype=pl.Float64).alias(c)
              for c in ("products", "transactions", "value")],
        )  # fmt: skip
    if frame["year"].is_null().any() or frame["region"].is_null().any():
        raise InputError.at(path, "every target needs a region and a year", "fill them in")
    return frame


# --- analysis -------------------------------------------------------------------------------


def targets(
    registry: pl.DataFrame | str | Path,
    target_table: pl.DataFrame | str | Path,
    *,
    as_of: dt.date | str | None = None,
    seed: int = 0,
) -> TargetProgress:
    """Progress of every region against its targets, with year-end forecasts."""
    reg = registry if isinstance(registry, pl.DataFrame) else load_registry(registry)
    tgt = target_table if isinstance(target_table, pl.DataFrame) else load_targets(target_table)
    try:
        day = (
            dt.date.fromisoformat(as_of)
            if isinstance(as_of, str) and as_of
            else (as_of or dt.date.today())
        )
    except ValueError:
        msg = f"the date must be YYYY-MM-DD, got '{as_of}'"
        raise ParameterError(msg) from None
    findings = _findings(reg, tgt)
    clean = reg.filter(pl.col("event").is_in(EVENTS) & (pl.col("date") <= day))
    rng = np.random.default_rng(seed)
    progress = []
    for row in tgt.iter_rows(named=True):
        level, members = _members(clean, row["region"])
        for metric in ("products", "transactions", "value"):
            target = row.get(metric)
            if target is None:
                continue
            progress.append(
                _progress(
                    members, row["region"], level, int(row["year"]), metric, float(target), day, rng
                )
            )
    return TargetProgress(
        as_of=day,
        regions=tuple(progress),
        funnel=_funnel(clean),
        monthly=_monthly(clean, day),
        breakdowns={
            k: _breakdown(clean, k) for k in ("hospital", "specialty", "modality", "exchange")
        },
        burnup=_burnup(clean, tgt),
        findings=tuple(findings),
    )


def _members(frame: pl.DataFrame, region: str) -> tuple[str, pl.DataFrame]:
    for level in ("city", "province", "county"):
        hit = frame.filter(pl.col(level) == region)
        if hit.height:
            return level, hit
    return "city", frame.head(0)


def _year_fraction(day: dt.date, year: int) -> float:
    start, end = dt.date(year, 1, 1), dt.date(year + 1, 1, 1)
    if day < start:
        return 0.0
    if day >= end:
        return 1.0
    return ((day - start).days + 1) / (end - start).days


def _events(members: pl.DataFrame, metric: str, year: int) -> pl.DataFrame:
    kind = METRICS.get(metric, "traded")
    return members.filter((pl.col("event") == kind) & (pl.col("date").dt.year() == year))


def _progress(members: pl.DataFrame, region: str, level: str, year: int, metric: str, target: float,
              day: dt.date, rng: np.random.Generator) -> Progress:  # fmt: skip
    events = _events(members, metric, year)
    if metric == "products":
        events = events.unique("product_id")  # a product is released once
    actual = (
        float(events["price"].fill_null(0).sum()) if metric == "value" else float(events.height)
    )
    elapsed = _year_fraction(day, year)
    remaining = 1 - elapsed
    expected = target * elapsed
    months_left = remaining * 12
    pace = (max(target - actual, 0) / months_left) if months_left > 0 else None
    count = events.height
    shape, rate = PRIOR[0] + count, PRIOR[1] + elapsed  # per year
    if remaining <= 0:
        forecast = (actual, actual, actual)
        p_meet = 1.0 if actual >= target else 0.0
    elif metric != "value":
        # Events still to come: Poisson(lambda * remaining) with lambda ~ Gamma(shape, rate)
        # is negative binomial with n = shape, p = rate / (rate + remaining).
        p = rate / (rate + remaining)
        dist = stats.nbinom(shape, p)
        forecast = (actual + dist.ppf(0.1), actual + dist.ppf(0.5), actual + dist.ppf(0.9))
        needed = target - actual
        p_meet = 1.0 if needed <= 0 else float(dist.sf(np.ceil(needed) - 1))
    else:
        prices = events["price"].drop_nulls().to_numpy()
        if len(prices) == 0:
            prices = members.filter(pl.col("event") == "traded")["price"].drop_nulls().to_numpy()
        lam = rng.gamma(shape, 1 / rate, VALUE_DRAWS)
        n_more = rng.poisson(lam * remaining)
        if len(prices):
            more = np.array([rng.choice(prices, k).sum() if k else 0.0 for k in n_more])
        else:
            more = np.zeros(VALUE_DRAWS)
        totals = actual + more
        forecast = (
            float(np.percentile(totals, 10)),
            float(totals.mean()),
            float(np.percentile(totals, 90)),
        )
        p_meet = float((totals >= target).mean())
    return Progress(
        region,
        level,
        year,
        metric,
        target,
        actual,
        expected,
        pace,
        (float(forecast[0]), float(forecast[1]), float(forecast[2])),
        p_meet,
    )


def _funnel(frame: pl.DataFrame) -> dict[str, int]:
    reached = frame.group_by("event").agg(pl.col("product_id").n_unique())
    counts = dict(reached.iter_rows())
    return {stage: int(counts.get(stage, 0)) for stage in FUNNEL}


def _monthly(frame: pl.DataFrame, day: dt.date) -> tuple[tuple[str, int, float], ...]:
    """Transactions and value by month, from the first trade's month to the progress date:
    a month without a trade is there, as zero."""
    traded = frame.filter(pl.col("event") == "traded").with_columns(
        pl.col("date").dt.strftime("%Y-%m").alias("month")
    )
    rows = traded.group_by("month").agg(pl.len(), pl.col("price").fill_null(0).sum()).sort("month")
    found = {m: (int(n), float(v)) for m, n, v in rows.iter_rows()}
    if not found:
        return ()
    first = dt.date.fromisoformat(f"{min(found)}-01")
    months = pl.date_range(first, max(day, first), "1mo", eager=True).dt.strftime("%Y-%m").to_list()
    months = sorted(set(months) | set(found))
    return tuple((m, *found.get(m, (0, 0.0))) for m in months)


def _breakdown(frame: pl.DataFrame, by: str) -> tuple[tuple[str, int, int, float], ...]:
    rows = (
        frame.group_by(by)
        .agg(
            pl.col("product_id").filter(pl.col("event") == "listed").n_unique().alias("listed"),
            (pl.col("event") == "traded").sum().alias("traded"),
            pl.col("price").filter(pl.col("event") == "traded").fill_null(0).sum().alias("value"),
        )
        .sort(["listed", by], descending=[True, False])
    )
    return tuple((str(k), int(a), int(b), float(v)) for k, a, b, v in rows.iter_rows())


def _burnup(frame: pl.DataFrame, tgt: pl.DataFrame) -> dict[str, tuple[tuple[str, int], ...]]:
    out = {}
    for row in tgt.iter_rows(named=True):
        _, members = _members(frame, row["region"])
        for metric in ("products", "transactions"):
            if row.get(metric) is None:
                continue
            ev = _events(members, metric, int(row["year"]))
            if metric == "products":
                ev = ev.unique("product_id")
            by_month = dict(ev.group_by(pl.col("date").dt.month().alias("m")).len().iter_rows())
            total, series = 0, []
            for m in range(1, 13):
                total += int(by_month.get(m, 0))
                series.append((f"{row['year']}-{m:02d}", total))
            out[f"{row['region']}/{metric}"] = tuple(series)
    return out


def _findings(reg: pl.DataFrame, tgt: pl.DataFrame) -> list[Finding]:
    out = []
    unknown = reg.filter(~pl.col("event").is_in(EVENTS))
    if unknown.height:
        out.append(Finding("unknown_event", unknown.height, str(unknown["product_id"][0])))
    attrs = [
        c
        for c in ("name", "hospital", "province", "city", "county", "specialty")
        if c in reg.columns
    ]
    conflicting = (
        reg.group_by("product_id")
        .agg([pl.col(c).n_unique().alias(c) for c in attrs])
        .filter(pl.any_horizontal([pl.col(c) > 1 for c in attrs]))
    )
    if conflicting.height:
        out.append(
            Finding("conflicting_product", conflicting.height, str(conflicting["product_id"][0]))
        )
    dupes = reg.filter(
        pl.struct("product_id", "event", "date", "price").is_duplicated()
        & (pl.col("event") != "traded")
    )
    if dupes.height:
        out.append(Finding("duplicate_event", dupes.height, str(dupes["product_id"][0])))
    first = (
        reg.filter(pl.col("event").is_in(FUNNEL))
        .group_by("product_id", "event")
        .agg(pl.col("date").min())
    )
    wide = first.pivot(on="event", index="product_id", values="date")
    order_bad = []
    for a, b in itertools.pairwise(FUNNEL):
        if a in wide.columns and b in wide.columns:
            order_bad += wide.filter(pl.col(b) < pl.col(a))["product_id"].to_list()
    if order_bad:
        out.append(
            Finding("dates_out_of_order", len(set(order_bad)), str(sorted(set(order_bad))[0]))
        )
    if "listed" in wide.columns and "traded" in wide.columns:
        early = wide.filter(pl.col("traded") < pl.col("listed")).height
        no_listing = wide.filter(pl.col("traded").is_not_null() & pl.col("listed").is_null())
        if early or no_listing.height:
            example = (
                no_listing["product_id"][0]
                if no_listing.height
                else wide.filter(pl.col("traded") < pl.col("listed"))["product_id"][0]
            )
            out.append(Finding("trade_before_listing", early + no_listing.height, str(example)))
    for region in tgt["region"].unique().sort().to_list():
        if _members(reg, region)[1].height == 0:
            out.append(Finding("target_without_products", 1, region))
    return out


def simulate_year(
    rate_per_year: float, target: float, as_of_fraction: float, seed: int
) -> tuple[float, tuple[float, float, float], float]:
    """For tests and the docs: a year of Poisson events; returns (final count, forecast at
    ``as_of_fraction`` of the year, p_meet)."""
    rng = np.random.default_rng(seed)
    n = rng.poisson(rate_per_year)
    times = np.sort(rng.uniform(0, 1, n))
    year = 2025
    dates = [dt.date(year, 1, 1) + dt.timedelta(days=int(t * 365)) for t in times]
    reg = pl.DataFrame({c: [""] * n for c in REGISTRY_COLUMNS if c not in ("date", "price", "event")}).with_columns(
        pl.Series("product_id", [f"P{i}" for i in range(n)]), pl.Series("city", ["测试市"] * n),
        pl.Series("event", ["traded"] * n), pl.Series("date", dates, dtype=pl.Date), pl.Series("price", [1.0] * n, dtype=pl.Float64),
    ) if n else pl.DataFrame(schema={**{c: pl.String for c in REGISTRY_COLUMNS}, "date": pl.Date, "price": pl.Float64})  # fmt: skip
    tgt = pl.DataFrame({"region": ["测试市"], "year": [year], "products": [None], "transactions": [target], "value": [None]},
                       schema={"region": pl.String, "year": pl.Int64, "products": pl.Float64, "transactions": pl.Float64, "value": pl.Float64})  # fmt: skip
    day = dt.date(year, 1, 1) + dt.timedelta(days=max(0, int(as_of_fraction * 365) - 1))
    prog = targets(reg, tgt, as_of=day, seed=seed).regions[0]
    return float(n), prog.forecast, prog.p_meet
