"""Parse the date forms hospital systems export, as polars expressions.

Handled: ``2024-01-05``, ``2024/1/5``, ``2024.01.05``, ``20240105``, ``2024年1月5日``,
``2024-01-05 08:30[:15[.5]]``, ISO ``T`` separators and a trailing ``Z``, Excel serial
day numbers (``45296``), and year-last forms ``05/01/2024`` / ``05-01-2024`` read day first
or month first as the column's *order* says (:func:`date_order` decides it from the values).
Anything else, or an impossible calendar date such as 2024-02-30, becomes null; callers
count those as unparseable findings.

One regular expression splits the parts and the calendar is checked arithmetically, so a
column is read in one pass (four chained ``strptime`` attempts cost three times as much).
"""

from __future__ import annotations

import polars as pl

# Compact YYYYMMDD first becomes YYYY-MM-DD, so one pattern with separators covers all.
_COMPACT = r"^\s*(\d{4})(\d{2})(\d{2})(\D|$)"
_PARTS = (
    r"^\s*(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})[日号]?"
    r"(?:[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.\d+)?)?)?Z?\s*$"
)
# Excel counts days from 1899-12-30 (its 1900 leap-year bug folded in). Five digits cover
# 1927 to 2173, the range hospital data uses; fractions are the time of day.
_EXCEL_EPOCH = pl.datetime(1899, 12, 30)
_SERIAL = r"^\s*\d{5}(\.\d+)?\s*$"
_DAY_US = 86_400_000_000
# Year last: 05/01/2024, 5-1-2024, 05.01.2024 14:30. Which of the two leading numbers is the
# day is the column's order; the expression rewrites the value year first.
YEAR_LAST = r"^\s*(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})((?:[ T]+\d{1,2}:\d{1,2}(?::\d{1,2}(?:\.\d+)?)?)?Z?)\s*$"
#: Orders a column of year-last dates can have: ``dmy`` (day first) or ``mdy`` (month first).
#: ``ymd`` reads year-first forms only.
ORDERS = ("ymd", "dmy", "mdy")


def parse_datetime(expr: pl.Expr, order: str = "dmy") -> pl.Expr:
    """Return ``expr`` (strings) parsed to ``Datetime('us')``; unparseable values become null.

    Year-first forms are read whatever ``order`` is; year-last forms (``05/01/2024``) are read
    day first (``dmy``, the default) or month first (``mdy``), and not at all for ``ymd``."""
    if order not in ORDERS:
        msg = f"unknown date order {order!r}; use one of {', '.join(ORDERS)}"
        raise ValueError(msg)
    raw = expr.cast(pl.String)
    if order != "ymd":
        first, second = ("$2", "$1") if order == "dmy" else ("$1", "$2")
        raw = raw.str.replace(YEAR_LAST, f"$3-{first}-{second}$4")
    # All arithmetic happens inside one struct (pl.field), so the regex runs once per value.
    y, m, d = pl.field("y"), pl.field("m"), pl.field("d")
    hh, mm, ss = pl.field("hh"), pl.field("mm"), pl.field("ss")
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    month_days = (
        pl.when(m == 2)
        .then(28 + leap.cast(pl.Int32))
        .when(m.is_in([4, 6, 9, 11]))
        .then(30)
        .otherwise(31)
    )
    valid = (
        m.is_between(1, 12)
        & d.is_between(1, month_days)
        & hh.is_between(0, 23)
        & mm.is_between(0, 59)
        & ss.is_between(0, 59)
    )
    ok = pl.when(pl.field("valid"))  # pl.datetime raises on impossible components
    calendar = (
        raw.str.replace(_COMPACT, "$1-$2-$3$4")
        .str.extract_groups(_PARTS)
        .struct.with_fields(
            y=pl.field("1").cast(pl.Int32, strict=False),
            m=pl.field("2").cast(pl.Int32, strict=False),
            d=pl.field("3").cast(pl.Int32, strict=False),
            hh=pl.field("4").cast(pl.Int32, strict=False).fill_null(0),
            mm=pl.field("5").cast(pl.Int32, strict=False).fill_null(0),
            ss=pl.field("6").cast(pl.Int32, strict=False).fill_null(0),
        )
        .struct.with_fields(valid=valid)
        .struct.with_fields(
            t=pl.datetime(
                ok.then(y),
                ok.then(m),
                ok.then(d),
                ok.then(hh),
                ok.then(mm),
                ok.then(ss),
                time_unit="us",
            )
        )
        .struct.field("t")
    )
    serial = pl.when(raw.str.contains(_SERIAL)).then(
        _EXCEL_EPOCH
        + pl.duration(
            microseconds=(raw.str.strip_chars().cast(pl.Float64, strict=False) * _DAY_US)
            .round()
            .cast(pl.Int64)
        )
    )
    return pl.coalesce(calendar, serial).cast(pl.Datetime("us"))


def date_order(expr: pl.Expr) -> pl.Expr:
    """Aggregations over a string column saying how its year-last dates are written: a struct
    of ``shaped`` (values in the year-last form), ``day_first`` (values whose first number
    exceeds 12, so it must be the day) and ``month_first`` (second number exceeds 12).

    A column is day first when some value proves it and none proves the opposite, month first
    the other way round, and ambiguous when no value settles it (or values contradict).
    """
    parts = expr.cast(pl.String).str.extract_groups(YEAR_LAST)
    a = parts.struct.field("1").cast(pl.Int32, strict=False)
    b = parts.struct.field("2").cast(pl.Int32, strict=False)
    return pl.struct(
        a.is_not_null().sum().alias("shaped"),
        (a > 12).sum().alias("day_first"),
        (b > 12).sum().alias("month_first"),
    )


def decide_order(shaped: int, day_first: int, month_first: int) -> tuple[str, bool]:
    """(order, ambiguous) from the counts of :func:`date_order`. Without evidence, day first:
    it is the form of most of the world outside the United States."""
    if not shaped:
        return "dmy", False
    if day_first and not month_first:
        return "dmy", False
    if month_first and not day_first:
        return "mdy", False
    return "dmy", True


def is_serial(expr: pl.Expr) -> pl.Expr:
    """True for a bare five-digit number, which the parser reads as an Excel serial day: a
    column of them is a date only when its name says so (charges 10000-99999 are not)."""
    return expr.cast(pl.String).str.contains(_SERIAL).fill_null(False)
