"""Parse the date forms hospital systems export, as polars expressions.

Handled: ``2024-01-05``, ``2024/1/5``, ``2024.01.05``, ``20240105``, ``2024年1月5日``,
``2024-01-05 08:30[:15[.5]]``, ISO ``T`` separators and a trailing ``Z``, and Excel serial
day numbers (``45296``). Anything else, or an impossible calendar date such as 2024-02-30,
becomes null; callers count those as unparseable findings.

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


def parse_datetime(expr: pl.Expr) -> pl.Expr:
    """Return ``expr`` (strings) parsed to ``Datetime('us')``; unparseable values become null."""
    raw = expr.cast(pl.String)
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
