"""The comparables registry: publicly reported health-data trades, one row each, and the
dated exchange rates that put their prices in one currency.

The registry is validated on load (CSV or Excel) with errors naming the file, the row, the
column and the fix. Unpriced rows stay: they describe the market (who sells what to whom),
even though only priced rows enter the market approach. Exchange rates are the user's (no
network): for a trade, the latest rate dated on or before it, else the earliest after it;
for an undated trade, the latest rate.

Every trade belongs to one price *layer* (see docs/methods.md, "Price layers"); mixing them
is the classic error of pricing health data:

- ``public_fee``: cost-recovery fees of public data services (CPRD, NHS DARS, HCUP, SEER);
- ``commercial``: sales and licences of datasets to companies and institutes;
- ``acquisition``: purchases of whole data businesses (the price buys staff, software and
  customers too): context, never a comparable for a dataset;
- ``context``: estimates and data-broker list prices, shown for scale only.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from medvalue.core._config import PACKAGE_DATA
from medvalue.core._errors import InputError
from medvalue.read._tables import read_user_table

_DATE = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")

# Runtime data ships inside the package (a wheel has no data/sample beside it).
PUBLIC_REGISTRY = PACKAGE_DATA / "comparables.csv"
FX_RATES = PACKAGE_DATA / "fx_rates.csv"

COLUMNS = (
    "id", "synthetic", "reliability", "date", "country", "region", "venue", "seller",
    "seller_tier", "buyer_type", "specialty", "modality", "cases", "price", "currency",
    "deal_type", "exclusivity", "intended_use", "source_url",
)  # fmt: skip
#: Columns a registry may add; when absent they are blank (``layer``: commercial, so that a
#: registry of one's own trades works as before).
OPTIONAL = ("seller_zh", "venue_zh", "case_unit", "price_high", "layer", "evidence")
DEAL_TYPES = (
    "dataset_sale", "licence", "analysis_report", "access_fee", "equity", "acquisition",
    "listing", "per_record",
)  # fmt: skip
LAYERS = ("public_fee", "commercial", "acquisition", "context")
EXCLUSIVITY = ("exclusive", "non_exclusive", "unknown")
RELIABILITY = ("reported", "listed", "estimated", "secondary", "unverified_date", "synthetic")


def load_registry(path: str | Path = PUBLIC_REGISTRY) -> pl.DataFrame:
    """Read and check a registry; types: cases Int64, price Float64, date Date, synthetic Boolean."""
    frame = read_user_table(
        path,
        "comparables",
        COLUMNS,
        f"use the columns of {PUBLIC_REGISTRY.name}: {', '.join(COLUMNS)}",
        optional=OPTIONAL,
    )
    frame = frame.with_columns(
        pl.lit(None, dtype=pl.String).alias(c) for c in OPTIONAL if c not in frame.columns
    ).with_columns(pl.col("layer").fill_null("commercial").replace("", "commercial"))
    _check_values(path, frame)
    # A month is its first day; a year alone (an old price list) is its middle.
    day = (
        pl.col("date")
        .str.replace(r"^(\d{4}-\d{2})$", "$1-01")
        .str.replace(r"^(\d{4})$", "$1-07-01")
    )
    return frame.with_columns(
        (pl.col("synthetic").str.to_lowercase() == "true").alias("synthetic"),
        day.str.strptime(pl.Date, "%Y-%m-%d", strict=False).alias("date"),
        pl.col("cases").cast(pl.Float64, strict=False).cast(pl.Int64),
        pl.col("price").cast(pl.Float64, strict=False),
        pl.col("price_high").cast(pl.Float64, strict=False),
        pl.col("currency").str.to_uppercase(),
    )


def _check_values(path: str | Path, frame: pl.DataFrame) -> None:
    def fail(i: int, column: str, problem: str, fix: str) -> None:
        raise InputError.at(path, f"row {i + 2}, column '{column}': {problem}", fix)

    ids = frame["id"].to_list()
    seen: set[str] = set()
    for i, row in enumerate(frame.iter_rows(named=True)):
        if not row["id"]:
            fail(i, "id", "empty", "give every trade an id")
        if row["id"] in seen:
            fail(i, "id", f"'{row['id']}' appears twice", "make ids unique")
        seen.add(row["id"])
        if (row["synthetic"] or "").lower() not in ("true", "false"):
            fail(i, "synthetic", f"'{row['synthetic']}'", "write true or false")
        if not row["source_url"] and (row["synthetic"] or "").lower() != "true":
            fail(i, "source_url", "empty", "every public trade needs its source")
        if row["reliability"] not in RELIABILITY:
            fail(
                i, "reliability", f"'{row['reliability']}'", f"use one of {', '.join(RELIABILITY)}"
            )
        if row["date"] and not _DATE.fullmatch(row["date"]):
            fail(
                i,
                "date",
                f"'{row['date']}'",
                "write YYYY-MM-DD, YYYY-MM or YYYY (blank if unknown)",
            )
        if row["layer"] not in LAYERS:
            fail(i, "layer", f"'{row['layer']}'", f"use one of {', '.join(LAYERS)}")
        if row["deal_type"] not in DEAL_TYPES:
            fail(i, "deal_type", f"'{row['deal_type']}'", f"use one of {', '.join(DEAL_TYPES)}")
        if row["exclusivity"] not in EXCLUSIVITY:
            fail(
                i, "exclusivity", f"'{row['exclusivity']}'", f"use one of {', '.join(EXCLUSIVITY)}"
            )
        for column in ("cases", "price", "price_high"):
            value = row[column]
            if value:
                try:
                    number = float(value.replace(",", ""))
                except ValueError:
                    fail(
                        i,
                        column,
                        f"'{value}' is not a number",
                        "write a plain number, or leave it blank if undisclosed",
                    )
                if number <= 0:
                    fail(i, column, f"{value} is not positive", "leave it blank if undisclosed")
        if row["price"] and not row["currency"]:
            fail(i, "currency", "empty for a priced trade", "write the ISO code, e.g. CNY or USD")
    del ids


def load_rates(path: str | Path = FX_RATES) -> pl.DataFrame:
    """Dated exchange rates: date, currency, per_unit_in, rate (1 currency = rate per_unit_in)."""
    frame = read_user_table(
        path, "exchange-rate", ("date", "currency", "per_unit_in", "rate"),
        "give --rates a CSV of date, currency, per_unit_in, rate",
    )  # fmt: skip
    out = frame.select(
        pl.col("date").str.strptime(pl.Date, "%Y-%m-%d", strict=False),
        pl.col("currency").str.to_uppercase(),
        pl.col("per_unit_in").str.to_uppercase(),
        pl.col("rate").cast(pl.Float64, strict=False),
    )
    if out["date"].is_null().any() or out["rate"].is_null().any() or (out["rate"] <= 0).any():
        raise InputError.at(
            path,
            "a date or rate is not readable",
            "write dates as YYYY-MM-DD and rates as positive numbers",
        )
    return out


def convert(registry: pl.DataFrame, rates: pl.DataFrame, currency: str) -> pl.DataFrame:
    """Add ``price_converted`` (in ``currency``) and ``rate_used``; null where no rate fits."""
    currency = currency.upper()
    direct = rates.filter(pl.col("per_unit_in") == currency).select("date", "currency", "rate")
    inverse = rates.filter(pl.col("currency") == currency).select(
        "date", pl.col("per_unit_in").alias("currency"), (1 / pl.col("rate")).alias("rate")
    )
    table = pl.concat([direct, inverse]).sort("date")
    priced = registry.with_row_index("_row")
    same = priced.filter(pl.col("currency") == currency).with_columns(
        pl.lit(1.0).alias("rate_used")
    )
    other = priced.filter((pl.col("currency") != currency) & pl.col("date").is_not_null()).sort(
        "date"
    )
    if other.height:
        # The latest rate on or before the trade; failing that, the earliest after it.
        before = other.join_asof(
            table.rename({"rate": "before"}),
            on="date",
            by="currency",
            strategy="backward",
            check_sortedness=False,
        )
        after = other.join_asof(
            table.rename({"rate": "after"}),
            on="date",
            by="currency",
            strategy="forward",
            check_sortedness=False,
        )
        other = before.with_columns(
            pl.coalesce(pl.col("before"), after["after"]).alias("rate_used")
        ).drop("before")
    undated = priced.filter((pl.col("currency") != currency) & pl.col("date").is_null())
    if undated.height:  # an undated trade (an old price list): the latest rate
        latest = table.group_by("currency").agg(pl.col("rate").sort_by("date").last())
        undated = undated.join(latest, on="currency", how="left").rename({"rate": "rate_used"})
    unknown = priced.filter(pl.col("currency").is_null()).with_columns(
        pl.lit(None, dtype=pl.Float64).alias("rate_used")
    )
    rest = pl.concat([undated, unknown], how="diagonal_relaxed")
    out = pl.concat([same, other, rest], how="diagonal_relaxed").sort("_row").drop("_row")
    return out.with_columns((pl.col("price") * pl.col("rate_used")).alias("price_converted"))


#: The model data/sample/comparables_synthetic.csv is drawn from (natural log of the price in
#: CNY): the hedonic-regression tutorial shows its estimates next to these true values.
SYNTHETIC_PRICE_MODEL = {
    "intercept": 4.0,
    "log_cases": 0.6,
    "country_cn": -0.7,
    "deal_analysis_report": -0.9,
    "deal_equity_or_acquisition": 1.2,
    "exclusive": 0.9,
    "sigma": 0.45,
}
